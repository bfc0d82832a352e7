"""Memory of a programmed, drifted analog model against its FP32 weights (issue 16 §3).

For each workload and perturbation precision: convert with ``rasch2023`` (the standard
crossbar of arXiv:2302.08469), calibrate input ranges on one random batch, ``program``,
``set_time(1 day)``, run one ``no_grad`` forward pass (so every lazily built cache exists),
then count the bytes of all parameters and buffers:

* ``ratio_model``  = bytes of the analog model / bytes of the FP32 model (digital layers such
  as the LSTM's embedding included on both sides);
* ``ratio_analog`` = bytes held by the analog layers / FP32 bytes of those layers' weights
  and biases — the figure the issue's ≤ 2.5× target is about;
* ``breakdown``: analog-layer bytes per tensor kind, in units of the layers' FP32 bytes.

``stored`` rows keep the programmed devices as tensors (``aimc.store_programmed_state``,
the layout before the programming record): the saving of the record. ``set_time`` is timed
for both layouts interleaved (``common.time_group``, ``--repeats`` rounds; median and min):
the difference is the redraw of programming noise and ν that the record costs.

Usage: python benchmarks/bench_memory.py [--json OUT.json] [--md OUT.md]
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from common import MODELS, env_info, time_group, write_json, write_lines  # noqa: E501  (sets threads before torch)
from bench_training import _git_commit

import torch
from torch import nn

import aimc
from aimc.models import build_model

T_INFERENCE = 86400.0
PRECISIONS = ("native", "bfloat16")


def _images(shape: tuple[int, ...]) -> Callable[[int], torch.Tensor]:
    return lambda n: torch.randn(n, *shape, generator=torch.Generator().manual_seed(n))


def _tokens(vocab: int, length: int) -> Callable[[int], torch.Tensor]:
    return lambda n: torch.randint(1, vocab, (n, length),
                                   generator=torch.Generator().manual_seed(n))


def workloads() -> dict[str, tuple[Callable[[], nn.Module], Callable[[int], torch.Tensor]]]:
    """name → (FP model factory, input batch of n samples)."""
    return {
        "mlp_784_256_128_10": (MODELS["mlp"][0], _images(MODELS["mlp"][1])),
        "cnn_3x32x32": (MODELS["cnn"][0], _images(MODELS["cnn"][1])),
        "resnet20_cifar": (lambda: build_model("resnet20_cifar"), _images((3, 32, 32))),
        "lstm_ptb": (lambda: build_model("lstm_ptb"), _tokens(10_000, 35)),
        "transformer_sst2": (lambda: build_model("transformer_sst2"), _tokens(1000, 32)),
    }


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _kind(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("weight_now", "g_programmed", "drift_nu"):
        return leaf
    return "parameters" if leaf.startswith(("weight", "bias")) else "other"


def _analog_breakdown(model: nn.Module) -> dict[str, int]:
    """Bytes per tensor kind held by the analog layers (parameters, state, caches)."""
    kinds: dict[str, int] = {}
    for _, layer in aimc.analog_layers(model):
        for name, t in [*layer.named_parameters(), *layer.named_buffers()]:
            kinds[_kind(name)] = kinds.get(_kind(name), 0) + t.numel() * t.element_size()
    return kinds


def _layer_fp_bytes(fp_model: nn.Module, analog: nn.Module) -> int:
    """FP32 bytes of the digital parameters that the analog layers replaced."""
    names = {n for n, _ in aimc.analog_layers(analog)}
    mods = dict(fp_model.named_modules())
    return sum(_nbytes(list(mods[n].parameters())) for n in names if n in mods)


def _programmed(name: str, precision: str, stored: bool) -> tuple[nn.Module, nn.Module]:
    """(FP32 model, the same converted, calibrated and programmed) for one layout."""
    factory, batch = workloads()[name]
    torch.manual_seed(0)
    fp = factory().eval()
    cfg = aimc.presets.rasch2023()
    cfg = cfg.replace(runtime=cfg.runtime.replace(perturbation_precision=precision))
    torch.manual_seed(0)
    analog = aimc.convert_to_analog(factory(), cfg).eval()
    analog.load_state_dict(fp.state_dict(), strict=False)
    aimc.calibrate_input_ranges(analog, [batch(16)])
    aimc.program(analog, generator=torch.Generator().manual_seed(1))
    if stored:
        aimc.store_programmed_state(analog)
    return fp, analog


def measure(name: str, precision: str, repeats: int) -> list[dict[str, Any]]:
    """Both layouts of one workload and precision; set_time timed interleaved."""
    batch = workloads()[name][1]
    models = {layout: _programmed(name, precision, layout == "stored")
              for layout in ("record", "stored")}
    gen = torch.Generator()
    timing = time_group({layout: (lambda m=m: aimc.set_time(m, T_INFERENCE, generator=gen))
                         for layout, (_, m) in models.items()},
                        repeats=repeats, warmup=1, target_sample_s=0.0)
    rows = []
    for layout, (fp, analog) in models.items():
        with torch.no_grad():
            analog(batch(64))
        kinds = _analog_breakdown(analog)
        layer_fp = _layer_fp_bytes(fp, analog)
        fp_bytes = _nbytes([*fp.parameters(), *fp.buffers()])
        total = _nbytes([*analog.parameters(), *analog.buffers()])
        rows.append({"workload": name, "precision": precision, "layout": layout,
                     "fp32_model_bytes": fp_bytes, "fp32_analog_layer_bytes": layer_fp,
                     "model_bytes": total, "ratio_model": total / fp_bytes,
                     "ratio_analog": sum(kinds.values()) / layer_fp,
                     "breakdown": {k: v / layer_fp for k, v in sorted(kinds.items())},
                     "set_time_median_s": timing[layout]["median_s"],
                     "set_time_min_s": timing[layout]["min_s"]})
    return rows


def write_markdown(path: str, out: dict[str, Any]) -> None:
    env = out["env_start"]
    lines = ["# Memory of programmed, drifted models (rasch2023, t = 1 day)", "",
             f"Command: `{out['command']}`  ",
             f"Date: {out['date']}; code: {out['code']}  ",
             f"Machine: {env['cpu']}, {env['threads']} threads, torch {env['torch']}; load "
             f"average at start {env['loadavg']}, at end {out['env_end']['loadavg']}.", "",
             "Analog = bytes held by the analog layers ÷ FP32 bytes of their weights and "
             "biases (target ≤ 2.5×); model = all bytes ÷ the FP32 model's. `record`: the "
             "programmed devices kept as a recipe and redrawn (default); `stored`: kept as "
             "tensors (`aimc.store_programmed_state`). Breakdown in units of the layers' FP32 "
             "bytes.", "",
             "| workload | perturbation dtype | layout | analog | model | weight_now | "
             "g_programmed + ν | set_time median ms | set_time min ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in out["results"]:
        b = r["breakdown"]
        dev = b.get("g_programmed", 0.0) + b.get("drift_nu", 0.0)
        lines.append(f"| {r['workload']} | {r['precision']} | {r['layout']} | "
                     f"{r['ratio_analog']:.2f}× | {r['ratio_model']:.2f}× | "
                     f"{b.get('weight_now', 0.0):.2f} | {dev:.2f} | "
                     f"{1e3 * r['set_time_median_s']:.1f} | {1e3 * r['set_time_min_s']:.1f} |")
    write_lines(path, lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(workloads()))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    env0 = env_info()
    results = []
    for name in args.workloads.split(","):
        for precision in PRECISIONS:
            for row in measure(name, precision, args.repeats):
                print(f"{name} {precision} {row['layout']}: analog {row['ratio_analog']:.2f}x "
                      f"model {row['ratio_model']:.2f}x set_time median "
                      f"{1e3 * row['set_time_median_s']:.1f} ms", flush=True)
                results.append(row)
    out = {"benchmark": "memory", "date": datetime.now(timezone.utc).strftime(
               "%Y-%m-%d %H:%M UTC"),
           "command": " ".join(["python", "benchmarks/bench_memory.py", *sys.argv[1:]]),
           "code": _git_commit() or "unknown", "env_start": env0, "env_end": env_info(),
           "results": results}
    if args.json:
        write_json(args.json, out)
    if args.md:
        write_markdown(args.md, out)


if __name__ == "__main__":
    main()
