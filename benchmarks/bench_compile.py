"""Eager vs ``torch.compile``: converted models against the plain FP32 model, same run.

Workloads of the peer harnesses (``common.py``): MLP 784-256-128-10 and the CNN of three
3×3 convs + Linear(2048, 10) for inference; MLP 784-256-10 and the same CNN for the HWA
training step.

Inference (after ``calibrate_input_ranges`` on one batch, ``program`` + ``set_time(3600)``,
eval, ``no_grad``), per config — ``rasch2023`` (the standard crossbar of arXiv:2302.08469),
``rasch_light`` (the same without IR drop and PCM read noise), ``ideal`` — and batch:
  fp32          the plain torch model, eager
  fp32_compiled the plain torch model under ``torch.compile`` (the compiled floor)
  eager         the converted model
  compiled      the converted model under ``aimc.compile`` (inductor, eager random numbers)

HWA training step (``rasch2023_hwa``, batch 64, cross-entropy on random labels, SGD lr 0.01
with ``attach_hwa_constraints``; input ranges calibrated first, so the step is the steady
state): one step = zero_grad + forward + loss + backward + step. ``fp32`` is the plain step.

Timing: interleaved rounds, medians (``common.time_group``); ratio = median / median(fp32)
of the same model and batch in the same run. Compile time = wall time of the first call(s)
of a compiled model (``torch._dynamo.reset()`` before each case; inductor's on-disk caches
may shorten repeated runs of the same command). Bytes per parameter: parameters + buffers
of the programmed model / FP32 weight bytes.

Usage: python benchmarks/bench_compile.py [--batches 1,64] [--repeats 15]
       [--json OUT.json] [--md OUT.md]
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from common import MODELS, env_info, time_group, write_json, write_lines  # noqa: E501  (sets threads before torch)
from bench_training import _git_commit

import torch
from torch import nn

import aimc
from aimc.train import attach_hwa_constraints

T_INFERENCE = 3600.0


def inference_configs() -> dict[str, aimc.AnalogConfig]:
    std = aimc.presets.rasch2023()
    light = std.replace(forward=std.forward.replace(ir_drop=None, read_noise=0.0))
    return {"rasch2023": std, "rasch_light": light, "ideal": aimc.presets.ideal()}


def _first_calls(fn: Callable[[], Any], n: int = 2) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def _bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size()
               for t in list(model.parameters()) + list(model.buffers()))


def bench_inference(name: str, batches: list[int], repeats: int) -> list[dict[str, Any]]:
    builder, in_shape = MODELS[name]
    torch.manual_seed(0)
    fp = builder().eval()
    fp_bytes = _bytes(fp)
    rows = []
    for bs in batches:
        torch.manual_seed(2)
        x = torch.randn(bs, *in_shape)
        torch._dynamo.reset()
        fp_c = torch.compile(fp)
        with torch.no_grad():
            fp_compile_s = _first_calls(lambda m=fp_c, x=x: m(x))
        for cname, cfg in inference_configs().items():
            analog = aimc.convert_to_analog(copy.deepcopy(fp), cfg)
            aimc.calibrate_input_ranges(analog, [torch.randn(64, *in_shape)], num_batches=1)
            analog.eval()
            g = torch.Generator().manual_seed(0)
            aimc.program(analog, generator=g)
            aimc.set_time(analog, T_INFERENCE, generator=g)
            torch._dynamo.reset()
            fp_c = torch.compile(fp)
            compiled = aimc.compile(analog)
            with torch.no_grad():
                compile_s = _first_calls(lambda m=compiled, x=x: m(x))
                _first_calls(lambda m=fp_c, x=x: m(x))
                stats = time_group({"fp32": lambda x=x: fp(x),
                                    "fp32_compiled": lambda m=fp_c, x=x: m(x),
                                    "eager": lambda m=analog, x=x: m(x),
                                    "compiled": lambda m=compiled, x=x: m(x)},
                                   repeats=repeats, warmup=3)
            base = stats["fp32"]["median_s"]
            row = {"kind": "inference", "model": name, "config": cname, "batch": bs,
                   "compile_s": compile_s, "fp32_compile_s": fp_compile_s,
                   "bytes_per_fp32_weight_byte": _bytes(analog) / fp_bytes,
                   **{f"{k}_median_s": v["median_s"] for k, v in stats.items()},
                   **{f"{k}_ratio": v["median_s"] / base for k, v in stats.items()}}
            rows.append(row)
            print(f"inference {name:4s} {cname:12s} b{bs:<4d} eager {row['eager_ratio']:6.2f}x "
                  f"compiled {row['compiled_ratio']:6.2f}x (fp32 compiled "
                  f"{row['fp32_compiled_ratio']:.2f}x; fp32 {1e3 * base:.3f} ms; compile "
                  f"{compile_s:.1f} s)", flush=True)
    return rows


def _train_model(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)), (784,)
    builder, in_shape = MODELS[name]
    return builder(), in_shape


def bench_training(name: str, batch: int, repeats: int) -> dict[str, Any]:
    torch.manual_seed(0)
    fp, in_shape = _train_model(name)
    fp.train()
    torch.manual_seed(2)
    x = torch.randn(batch, *in_shape)
    labels = torch.randint(0, 10, (batch,))
    analog = aimc.convert_to_analog(copy.deepcopy(fp), aimc.presets.rasch2023_hwa())
    aimc.calibrate_input_ranges(analog, [torch.randn(64, *in_shape)], num_batches=1)
    analog.train()
    torch._dynamo.reset()
    compiled = aimc.compile(analog)

    def stepper(model: nn.Module, run: Callable[[torch.Tensor], torch.Tensor],
                hwa: bool) -> Callable[[], None]:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        if hwa:
            attach_hwa_constraints(opt, model)

        def step() -> None:
            opt.zero_grad()
            nn.functional.cross_entropy(run(x), labels).backward()
            opt.step()
        return step

    eager_model = copy.deepcopy(analog)
    fns = {"fp32": stepper(fp, fp, False), "eager": stepper(eager_model, eager_model, True),
           "compiled": stepper(analog, compiled, True)}
    compile_s = _first_calls(fns["compiled"])
    stats = time_group(fns, repeats=repeats, warmup=3)
    base = stats["fp32"]["median_s"]
    row = {"kind": "hwa_training_step", "model": name, "config": "rasch2023_hwa",
           "batch": batch, "compile_s": compile_s,
           **{f"{k}_median_s": v["median_s"] for k, v in stats.items()},
           **{f"{k}_ratio": v["median_s"] / base for k, v in stats.items()}}
    print(f"hwa step  {name:4s} b{batch:<4d} eager {row['eager_ratio']:6.2f}x compiled "
          f"{row['compiled_ratio']:6.2f}x (fp32 {1e3 * base:.3f} ms; compile {compile_s:.1f} s)",
          flush=True)
    return row


def write_markdown(path: str, out: dict[str, Any], command: str) -> None:
    env = out["env_start"]
    lines = ["# Eager vs torch.compile: converted models against plain FP32", "",
             f"Command: `{command}`  ",
             f"Date: {out['date']}; code: {out['code']}  ",
             f"Machine: {env['cpu']}, {env['threads']} threads, torch {env['torch']}; load "
             f"average at start {env['loadavg']}, at end {out['env_end']['loadavg']}.", "",
             "Ratio = median time / median of the plain eager FP32 model (same model, batch "
             "and run, timed interleaved). Compiled = `aimc.compile` (inductor, eager random "
             "numbers).", "",
             "## Inference (programmed, t = 1 h, no_grad)", "",
             "| model | config | batch | eager | compiled | FP32 compiled | FP32 ms | "
             "compile s | bytes / FP32 weight byte |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in out["results"]:
        if r["kind"] == "inference":
            lines.append(f"| {r['model']} | {r['config']} | {r['batch']} | "
                         f"{r['eager_ratio']:.2f}× | {r['compiled_ratio']:.2f}× | "
                         f"{r['fp32_compiled_ratio']:.2f}× | {1e3 * r['fp32_median_s']:.3g} | "
                         f"{r['compile_s']:.1f} | {r['bytes_per_fp32_weight_byte']:.2f} |")
    lines += ["", "## HWA training step (rasch2023_hwa, SGD + constraints)", "",
              "| model | batch | eager | compiled | FP32 ms | compile s |",
              "|---|---|---|---|---|---|"]
    for r in out["results"]:
        if r["kind"] == "hwa_training_step":
            lines.append(f"| {r['model']} | {r['batch']} | {r['eager_ratio']:.2f}× | "
                         f"{r['compiled_ratio']:.2f}× | {1e3 * r['fp32_median_s']:.3g} | "
                         f"{r['compile_s']:.1f} |")
    write_lines(path, lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    env0 = env_info()
    print(f"env={env0}")
    batches = [int(b) for b in args.batches.split(",")]
    models = args.models.split(",")
    results: list[dict[str, Any]] = []
    for name in models:
        results += bench_inference(name, batches, args.repeats)
    for name in models:
        results.append(bench_training(name, 64, args.repeats))
    command = " ".join(["python", "benchmarks/bench_compile.py", *sys.argv[1:]])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = {"benchmark": "compile", "command": command, "date": date,
           "code": _git_commit() or "unknown", "env_start": env0, "env_end": env_info(),
           "results": results}
    if args.json:
        write_json(args.json, out)
    if args.md:
        write_markdown(args.md, out, command)


if __name__ == "__main__":
    main()
