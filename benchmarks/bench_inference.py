"""Inference forward-pass benchmark: aimc vs plain torch FP32 (same models as the peers).

Workloads (``../shared/peers/aihwkit/bench_inference.py``): MLP 784-256-128-10 and a CNN of
three 3×3 convs (32/64/128) + Linear(2048, 10) on 3×32×32; batch 1, 64, 512.

Configs, each converted from the same FP model, input ranges calibrated on one batch,
``aimc.program`` + ``aimc.set_time(3600)``, eval mode, ``torch.no_grad``:
  fp32        the plain torch model
  rasch2023   ``aimc.presets.rasch2023()`` (the standard crossbar of arXiv:2302.08469)
  rasch_light the same with IR drop and PCM read noise off
  ideal       ``aimc.presets.ideal()`` (the cost of the layer plumbing alone)

Timing: interleaved rounds, medians (``common.time_group``); ratio = median / median(fp32).
Also reports parameters+buffers bytes of the converted, programmed model against the FP32
model, with the breakdown per tensor kind.

Usage: python benchmarks/bench_inference.py [--model mlp|cnn|all] [--batches 1,64,512]
       [--repeats 15] [--device cpu|cuda] [--json OUT.json]
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import copy
import time
from collections import defaultdict

from common import MODELS, env_info, time_group, write_json  # sets threads before torch

import torch

import aimc

T_INFERENCE = 3600.0


def configs() -> dict[str, aimc.AnalogConfig]:
    std = aimc.presets.rasch2023()
    light = std.replace(forward=std.forward.replace(ir_drop=None, read_noise=0.0))
    return {"rasch2023": std, "rasch_light": light, "ideal": aimc.presets.ideal()}


def make_analog(fp_model: torch.nn.Module, cfg: aimc.AnalogConfig, x: torch.Tensor,
                device: str) -> tuple[torch.nn.Module, float]:
    model = aimc.convert_to_analog(copy.deepcopy(fp_model), cfg).to(device)
    aimc.calibrate_input_ranges(model, [x], num_batches=1)
    model.eval()
    t0 = time.perf_counter()
    g = torch.Generator(device=device).manual_seed(0)
    aimc.program(model, generator=g)
    aimc.set_time(model, T_INFERENCE, generator=g)
    if device == "cuda":
        torch.cuda.synchronize()
    return model, time.perf_counter() - t0


def memory_breakdown(model: torch.nn.Module) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        out[name.rsplit(".", 1)[-1]] += t.numel() * t.element_size()
    out["total"] = sum(v for k, v in out.items())
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all", choices=["mlp", "cnn", "all"])
    ap.add_argument("--batches", default="1,64,512")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None, help="also write a Markdown summary here")
    args = ap.parse_args()
    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    results, memory = [], {}
    env0 = env_info()
    print(f"env={env0}")
    print(f"{'model':5s} {'config':12s} {'batch':>5s} {'median_ms':>10s} {'ratio_med':>9s} "
          f"{'ratio_min':>9s} {'rel_err':>8s}")
    for name in (["mlp", "cnn"] if args.model == "all" else [args.model]):
        builder, in_shape = MODELS[name]
        torch.manual_seed(0)
        fp_model = builder().eval().to(device)
        torch.manual_seed(1)
        calib = torch.randn(64, *in_shape, device=device)
        analog = {k: make_analog(fp_model, c, calib, device) for k, c in configs().items()}
        fp_bytes = memory_breakdown(fp_model)["total"]
        memory[name] = {k: {**memory_breakdown(m), "ratio_vs_fp32":
                            memory_breakdown(m)["total"] / fp_bytes}
                        for k, (m, _) in analog.items()}
        memory[name]["fp32"] = {"total": fp_bytes}
        for bs in [int(b) for b in args.batches.split(",")]:
            torch.manual_seed(2)
            x = torch.randn(bs, *in_shape, device=device)
            cases = {"fp32": fp_model, **{k: m for k, (m, _) in analog.items()}}

            def call(m: torch.nn.Module, x: torch.Tensor = x) -> None:
                m(x)
                sync()

            with torch.no_grad():
                y_fp = fp_model(x)
                stats = time_group({c: (lambda m=m: call(m)) for c, m in cases.items()},
                                   repeats=args.repeats, warmup=3)
                for cname, m in cases.items():
                    err = 0.0 if cname == "fp32" else float(
                        (m(x) - y_fp).norm() / y_fp.norm().clamp(min=1e-12))
                    r = {"model": name, "config": cname, "batch": bs, **stats[cname],
                         "rel_err_vs_fp32": err,
                         "ratio_vs_fp32_median": stats[cname]["median_s"]
                         / stats["fp32"]["median_s"],
                         "ratio_vs_fp32_min": stats[cname]["min_s"] / stats["fp32"]["min_s"]}
                    if cname in analog:
                        r["program_plus_set_time_s"] = analog[cname][1]
                    results.append(r)
                    print(f"{name:5s} {cname:12s} {bs:5d} {1e3 * r['median_s']:10.3f} "
                          f"{r['ratio_vs_fp32_median']:9.2f} {r['ratio_vs_fp32_min']:9.2f} "
                          f"{err:8.4f}", flush=True)
    print("memory (params + buffers) vs FP32:")
    for name, per in memory.items():
        for cname, m in per.items():
            if cname != "fp32":
                print(f"  {name:5s} {cname:12s} {m['ratio_vs_fp32']:.2f}x  "
                      + ", ".join(f"{k}={v}" for k, v in m.items()
                                  if k not in ("ratio_vs_fp32",)))
    out = {"benchmark": "inference_forward", "t_inference_s": T_INFERENCE, "device": device,
           "env_start": env0, "env_end": env_info(), "results": results, "memory": memory}
    if args.json:
        write_json(args.json, out)
        print("wrote", args.json)
    if args.md:
        write_markdown(args.md, out, " ".join(["python", "benchmarks/bench_inference.py",
                                               *__import__("sys").argv[1:]]))
        print("wrote", args.md)


def write_markdown(path: str, out: dict, command: str) -> None:
    """A table of median ratios per (model, config, batch) plus the memory breakdown."""
    rows = [r for r in out["results"] if r["config"] != "fp32"]
    batches = sorted({r["batch"] for r in rows})
    env = out["env_start"]
    lines = [
        "# Inference forward pass: aimc vs plain torch FP32",
        "",
        f"Command: `{command}`  ",
        f"Machine: {env['cpu']}, {env['threads']} threads, torch {env['torch']}, device "
        f"{out['device']}; load average at start {env['loadavg']}.",
        "",
        "Ratio = median time per forward / median of the plain torch FP32 model, timed "
        "interleaved in the same run (after `program` + `set_time(3600)`, eval, no_grad).",
        "",
        "| model | config | " + " | ".join(f"batch {b}" for b in batches) + " |",
        "|---|---|" + "---|" * len(batches),
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        for cfg in dict.fromkeys(r["config"] for r in rows):
            cells = []
            for b in batches:
                hit = [r for r in rows if (r["model"], r["config"], r["batch"]) == (model, cfg, b)]
                cells.append(f"{hit[0]['ratio_vs_fp32_median']:.2f}× "
                             f"({1e3 * hit[0]['median_s']:.3g} ms)" if hit else "–")
            lines.append(f"| {model} | {cfg} | " + " | ".join(cells) + " |")
    fp = {(r["model"], r["batch"]): r["median_s"] for r in out["results"]
          if r["config"] == "fp32"}
    lines += ["", "FP32 medians: " + ", ".join(f"{m} b{b}: {1e3 * t:.3g} ms"
                                                for (m, b), t in fp.items()), "",
              "## Memory of the converted, programmed model (parameters + buffers)", "",
              "| model | config | ratio vs FP32 | breakdown (bytes) |", "|---|---|---|---|"]
    for model, per in out["memory"].items():
        for cfg, mem in per.items():
            if cfg == "fp32":
                continue
            parts = ", ".join(f"{k} {v}" for k, v in mem.items()
                              if k not in ("total", "ratio_vs_fp32") and v)
            lines.append(f"| {model} | {cfg} | {mem['ratio_vs_fp32']:.2f}× | {parts} |")
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    __import__("os").replace(tmp, path)


if __name__ == "__main__":
    main()
