"""Training-step benchmark: aimc HWA training vs plain torch SGD (and aihwkit-lightning).

Workloads of the peer harnesses (``../shared/peers/aihwkit/bench_training.py`` and
``bench_lightning.py``): MLP 784-256-10 and the CNN of ``common.py`` (three 3×3 convs
32/64/128 + Linear(2048, 10) on 3×32×32); random inputs x ~ N(0, 1), random labels (10
classes), cross-entropy, ``torch.optim.SGD`` lr 0.01; batch 1, 16, 64. One step =
zero_grad + forward + loss + backward + optimizer.step() (+ the config's constraints, which
run as a post-step hook of the optimizer).

Configs, each converted from the same FP model (same initial weights), in ``train()`` mode:
  fp_sgd              the plain torch model
  aimc_rasch2023_hwa  ``aimc.presets.rasch2023_hwa()``: the full standard crossbar (8-bit DAC
                      and ADC, output noise, PCM read noise, IR drop, learned input ranges)
                      plus learnable output scales and the channel-wise remap after every step
                      (``aimc.train.attach_hwa_constraints``); like aihwkit's
                      StandardHWATrainingPreset it has no extra weight-noise modifier
  aimc_rasch2023_hwa_strong
                      the same plus the "stronger recipe" of the preset's docstring:
                      programming-shaped weight noise (``ProgrammingWeightNoise()``) drawn
                      every step and ``GaussianClip(sigma=2.5)`` after every step
  aimc_rasch2023      ``aimc.presets.rasch2023()`` forward (learned input ranges), no weight
                      noise, no output scales, no constraints
  aimc_matched        the lighter recipe of ``bench_lightning.py``: 8-bit DAC with a learned
                      input range (init 3.0), output noise 0.04, 8-bit ADC bound 10, additive
                      Gaussian weight noise std 0.02, 512-row tiles, no IR drop, no read
                      noise, ideal device, no clipping
  lightning_hwa       aihwkit-lightning ``TorchInferenceRPUConfig`` with the same recipe, built
                      exactly as ``bench_lightning.py`` does (``AnalogOptimizer(SGD, ...)``);
                      skipped with a note when aihwkit_lightning is not importable

Warm-up: every config first runs ``--warmup-steps`` steps (default 110) so that the timed
steps are steady-state training steps: both aimc and lightning initialise the input ranges
from the first 100 batches (a std and a host sync per tile per step) and stop afterwards.

Timing: interleaved rounds, medians (``common.time_group``); ratio = median / median(fp_sgd)
of the same model and batch in the same run. The CPU time other processes used while a case
was timed is measured (/proc/stat minus this process) and reported; a case during which they
used more than ``--busy-cores`` cores is timed again (up to ``--max-attempts``; the attempt
with the least foreign load is kept).

Usage: python benchmarks/bench_training.py [--model mlp|cnn|all] [--batches 1,16,64]
       [--repeats 21] [--only CFG,...] [--busy-cores 0.25] [--max-attempts 4]
       [--json OUT.json] [--md OUT.md]
       [--profile mlp:16,cnn:64 --profile-config aimc_rasch2023_hwa]
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from common import MODELS, env_info, time_group, write_json  # threads before torch

import torch

import aimc
from aimc.config import (
    GaussianClip, GaussianWeightNoise, HWATraining, IdealDevice, InputRange,
    ProgrammingWeightNoise,
)

try:  # optional peer, never a dependency of aimc
    from aihwkit_lightning.nn.conversion import convert_to_analog as light_convert
    from aihwkit_lightning.optim import AnalogOptimizer as LightOptimizer
    from aihwkit_lightning.simulator.configs import (
        TorchInferenceRPUConfig as LightConfig, WeightNoiseInjectionType,
    )
    import aihwkit_lightning

    LIGHTNING: str | None = getattr(aihwkit_lightning, "__version__", "installed")
    LIGHTNING_ERR = ""
except ImportError as exc:  # pragma: no cover - depends on the environment
    LIGHTNING = None
    LIGHTNING_ERR = f"{type(exc).__name__}: {exc}"

LR = 0.01
# the matched light HWA recipe of ../shared/peers/aihwkit/bench_lightning.py
INP_RES = 254
OUT_RES = 254
OUT_NOISE = 0.04
OUT_BOUND = 10.0
W_NOISE = 0.02
MAX_IN = 512
IR_INIT = 3.0


def mlp_784_256_10() -> torch.nn.Module:
    """The MLP of the peer training benchmarks (``../shared/peers/aihwkit/common.py``)."""
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )


TRAIN_MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...]]] = {
    "mlp": (mlp_784_256_10, (784,)),
    "cnn": MODELS["cnn"],
}


def aimc_matched() -> aimc.AnalogConfig:
    """aimc's version of bench_lightning.py's matched light recipe."""
    base = aimc.presets.rasch2023()
    return base.replace(
        device=IdealDevice(),
        forward=base.forward.replace(
            dac=base.forward.dac.replace(steps=INP_RES, bound=1.0),
            adc=base.forward.adc.replace(steps=OUT_RES, bound=OUT_BOUND),
            out_noise=OUT_NOISE, read_noise=0.0, ir_drop=None),
        mapping=base.mapping.replace(tiles=base.mapping.tiles.replace(max_rows=MAX_IN)),
        input_range=InputRange(init_value=IR_INIT, learn=True),
        training=HWATraining(weight_noise=GaussianWeightNoise(std=W_NOISE)),
    )


def rasch2023_hwa_strong() -> aimc.AnalogConfig:
    """rasch2023_hwa plus the "stronger recipe" of its docstring (weight noise + clip)."""
    base = aimc.presets.rasch2023_hwa()
    return base.replace(training=base.training.replace(
        weight_noise=ProgrammingWeightNoise(), clip=GaussianClip(sigma=2.5)))


def aimc_configs() -> dict[str, tuple[aimc.AnalogConfig, bool]]:
    """name → (config, attach the HWA constraints hook)."""
    return {"aimc_rasch2023_hwa": (aimc.presets.rasch2023_hwa(), True),
            "aimc_rasch2023_hwa_strong": (rasch2023_hwa_strong(), True),
            "aimc_rasch2023": (aimc.presets.rasch2023(), False),
            "aimc_matched": (aimc_matched(), False)}


def light_matched() -> Any:
    """Exactly as ``light_matched`` in ../shared/peers/aihwkit/bench_lightning.py."""
    cfg = LightConfig()
    cfg.forward.inp_res = INP_RES
    cfg.forward.out_res = OUT_RES
    cfg.forward.out_noise = OUT_NOISE
    cfg.forward.out_bound = OUT_BOUND
    cfg.pre_post.input_range.enable = True
    cfg.pre_post.input_range.init_value = IR_INIT
    cfg.modifier.noise_type = WeightNoiseInjectionType.ADD_NORMAL
    cfg.modifier.std_dev = W_NOISE
    cfg.mapping.max_input_size = MAX_IN
    return cfg


def make_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor, update: bool = True) -> Callable[[], torch.Tensor]:
    """One training step: zero_grad + forward + loss + backward + ``opt.step()`` (without
    the last when ``update`` is False: the cost of a step before its update)."""
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> torch.Tensor:
        opt.zero_grad()  # AnalogSGD: also drops the (x, δ) recorded by the last backward
        loss = loss_fn(model(x), y)
        loss.backward()
        if update:
            opt.step()
        return loss.detach()
    return step


def fp_sgd_step(fp_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                update: bool = True) -> Callable[[], torch.Tensor]:
    """The plain torch step (``torch.optim.SGD``) on a copy of ``fp_model``, after one
    untimed step (every config gets the same one)."""
    m = copy.deepcopy(fp_model).train()
    step = make_step(m, torch.optim.SGD(m.parameters(), lr=LR), x, y, update=update)
    step()
    return step


def build_steps(fp_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                only: set[str] | None) -> tuple[dict[str, Callable[[], torch.Tensor]],
                                                dict[str, str]]:
    """One step function per config; every model starts from a copy of ``fp_model``."""
    steps: dict[str, Callable[[], torch.Tensor]] = {"fp_sgd": fp_sgd_step(fp_model, x, y)}
    skipped: dict[str, str] = {}
    for name, (cfg, constraints) in aimc_configs().items():
        if only and name not in only:
            continue
        am = aimc.convert_to_analog(copy.deepcopy(fp_model), cfg).train()
        opt = torch.optim.SGD(am.parameters(), lr=LR)
        if constraints:
            aimc.train.attach_hwa_constraints(opt, am)
        steps[name] = make_step(am, opt, x, y)
        steps[name]()  # one step for every config (as the lightning smoke test below)
    want_lightning = not only or "lightning_hwa" in only
    if want_lightning and LIGHTNING is None:
        skipped["lightning_hwa"] = f"aihwkit_lightning not importable ({LIGHTNING_ERR})"
    elif want_lightning:
        try:
            lm = light_convert(copy.deepcopy(fp_model), light_matched()).train()
            opt = LightOptimizer(torch.optim.SGD, lm.analog_layers, lm.parameters(), lr=LR)
            steps["lightning_hwa"] = make_step(lm, opt, x, y)
            steps["lightning_hwa"]()  # smoke test
        except Exception as exc:  # noqa: BLE001
            skipped["lightning_hwa"] = f"{type(exc).__name__}: {exc}"[:300]
            steps.pop("lightning_hwa", None)
    return steps, skipped


def _cpu_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (/proc/stat), None where unavailable."""
    try:
        with open("/proc/stat") as fh:
            f = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """CPU cores used by *other* processes while a case was timed (machine busy − own)."""

    def __enter__(self) -> ForeignLoad:
        self.t0, self.busy0, self.own0 = time.perf_counter(), _cpu_busy_s(), _own_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        busy1 = _cpu_busy_s()
        wall = time.perf_counter() - self.t0
        self.cores = (None if busy1 is None or self.busy0 is None else
                      max(0.0, (busy1 - self.busy0 - (_own_cpu_s() - self.own0)) / wall))


def time_least_disturbed(steps: dict[str, Callable[[], Any]], *, repeats: int,
                         max_attempts: int, busy_cores: float, label: str,
                         sample_s: float = 0.002
                         ) -> tuple[dict[str, dict[str, Any]], ForeignLoad, int]:
    """Time ``steps`` interleaved; on a shared machine, time again while other processes
    used more than ``busy_cores`` cores (up to ``max_attempts``), keeping the attempt with
    the least foreign load. ``sample_s``: the target duration of one timing sample (steps
    are repeated back to back to fill it). Returns (stats, its ForeignLoad, attempt number)."""
    best: tuple[dict[str, dict[str, Any]], ForeignLoad, int] | None = None
    for attempt in range(1, max_attempts + 1):
        with ForeignLoad() as foreign:
            stats = time_group(steps, repeats=repeats, warmup=3, target_sample_s=sample_s)
        if best is None or (foreign.cores or 0.0) < (best[1].cores or 0.0):
            best = (stats, foreign, attempt)
        if foreign.cores is None or foreign.cores <= busy_cores or attempt == max_attempts:
            break
        print(f"      ({label}: other processes used {_fmt_cores(foreign.cores)} CPU cores; "
              "timing again)", flush=True)
    assert best is not None
    return best


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _git_commit() -> str | None:
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def make_case(name: str, bs: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    builder, shape = TRAIN_MODELS[name]
    torch.manual_seed(0)
    fp_model = builder()
    torch.manual_seed(1)
    x = torch.randn(bs, *shape)
    y = torch.randint(0, 10, (bs,))
    return fp_model, x, y


def profile_case(name: str, bs: int, config: str, steps_n: int, warmup_steps: int,
                 top: int) -> str:
    """torch.profiler table (top ops by self CPU time) of ``steps_n`` training steps."""
    fp_model, x, y = make_case(name, bs)
    steps, _ = build_steps(fp_model, x, y, {config})
    step = steps[config]
    for _ in range(warmup_steps):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps_n):
            step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    return f"### {name} batch {bs}, {config}, {steps_n} steps\n\n```\n{table}\n```\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all", choices=["mlp", "cnn", "all"])
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--warmup-steps", type=int, default=110,
                    help="untimed steps per config before timing (past input-range init)")
    ap.add_argument("--only", default="", help="comma list of configs besides fp_sgd")
    ap.add_argument("--busy-cores", type=float, default=0.25,
                    help="re-time a case when other processes used more CPU cores than this")
    ap.add_argument("--max-attempts", type=int, default=4)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None, help="also write a Markdown summary here")
    ap.add_argument("--profile", default="",
                    help="instead of timing: profile cases, e.g. mlp:16,cnn:64")
    ap.add_argument("--profile-config", default="aimc_rasch2023_hwa")
    ap.add_argument("--profile-steps", type=int, default=20)
    ap.add_argument("--profile-top", type=int, default=15)
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None

    if args.profile:
        out = []
        for case in args.profile.split(","):
            name, bs = case.split(":")
            out.append(profile_case(name, int(bs), args.profile_config, args.profile_steps,
                                    args.warmup_steps, args.profile_top))
            print(out[-1], flush=True)
        if args.md:
            with open(args.md, "w") as fh:
                fh.write("\n".join(out))
        return

    env0 = env_info()
    env0["aihwkit_lightning"] = LIGHTNING
    env0["aimc_commit"] = _git_commit()
    print(f"env={env0}")
    if LIGHTNING is None:
        print(f"NOTE: lightning_hwa skipped: aihwkit_lightning not importable ({LIGHTNING_ERR})")
    print(f"{'model':5s} {'config':26s} {'batch':>5s} {'median_ms':>10s} {'min_ms':>9s} "
          f"{'ratio_med':>9s} {'ratio_min':>9s} {'loss0':>7s} {'lossN':>7s} {'k':>4s}")
    results: list[dict[str, Any]] = []
    skipped_all: dict[str, str] = {}
    t_start = time.perf_counter()
    for name in (["mlp", "cnn"] if args.model == "all" else [args.model]):
        for bs in [int(b) for b in args.batches.split(",")]:
            fp_model, x, y = make_case(name, bs)
            steps, skipped = build_steps(fp_model, x, y, only)
            for k, v in skipped.items():
                skipped_all[f"{name}:{bs}:{k}"] = v
            loss0 = {}
            for cname, st in steps.items():
                loss0[cname] = float(st())
                for _ in range(args.warmup_steps - 1):
                    st()
            # a shared machine: re-time a case while other processes used too much CPU,
            # keep the attempt with the least foreign load
            best = time_least_disturbed(steps, repeats=args.repeats,
                                        max_attempts=args.max_attempts,
                                        busy_cores=args.busy_cores, label=f"{name} batch {bs}")
            stats, foreign, attempts = best
            for cname, st in steps.items():
                r = {"model": name, "config": cname, "batch": bs, **stats[cname],
                     "loss_first": loss0[cname], "loss_after_timing": float(st()),
                     "foreign_cpu_cores": foreign.cores, "attempts": attempts}
                r["ratio_vs_fp_median"] = r["median_s"] / stats["fp_sgd"]["median_s"]
                r["ratio_vs_fp_min"] = r["min_s"] / stats["fp_sgd"]["min_s"]
                results.append(r)
                print(f"{name:5s} {cname:26s} {bs:5d} {1e3 * r['median_s']:10.3f} "
                      f"{1e3 * r['min_s']:9.3f} {r['ratio_vs_fp_median']:9.2f} "
                      f"{r['ratio_vs_fp_min']:9.2f} {r['loss_first']:7.3f} "
                      f"{r['loss_after_timing']:7.3f} {r['inner']:4d}", flush=True)
            print(f"      (other processes used {_fmt_cores(foreign.cores)} CPU cores while "
                  f"{name} batch {bs} was timed)", flush=True)
    out = {"benchmark": "training_step", "lr": LR, "optimizer": "torch.optim.SGD",
           "warmup_steps": args.warmup_steps, "repeats": args.repeats,
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "wall_s": time.perf_counter() - t_start,
           "matched_recipe": {"inp_res_steps": INP_RES, "out_res_steps": OUT_RES,
                              "out_noise": OUT_NOISE, "out_bound": OUT_BOUND,
                              "weight_noise_add_normal_std": W_NOISE, "max_input_size": MAX_IN,
                              "input_range_init": IR_INIT},
           "aimc_configs": {k: c.to_dict()
                            for k, (c, _) in aimc_configs().items()},
           "env_start": env0, "env_end": env_info(), "results": results,
           "skipped": skipped_all}
    out["command"] = " ".join([sys.executable, "benchmarks/bench_training.py", *sys.argv[1:]])
    if args.json:
        write_json(args.json, out)
        print("wrote", args.json)
    if args.md:
        write_markdown(args.md, out)
        print("wrote", args.md)


def write_markdown(path: str, out: dict[str, Any]) -> None:
    """Table of median ratios (and ms) per (model, config, batch)."""
    res = out["results"]
    batches = sorted({r["batch"] for r in res})
    env, env_end = out["env_start"], out["env_end"]
    lines = [
        "# Training step: aimc HWA training vs plain torch SGD (and aihwkit-lightning)",
        "",
        f"Command: `{out['command']}`  ",
        f"Date: {out['date']}; wall time {out['wall_s']:.0f} s.  ",
        f"Machine: {env['cpu']}, {env['threads']} threads, python {env['python']}, torch "
        f"{env['torch']}, aihwkit-lightning {env.get('aihwkit_lightning') or 'not installed'}, "
        f"aimc {env.get('aimc_commit') or '?'}; load average (1/5/15 min) at start "
        f"{_load(env)}, at end {_load(env_end)} (the run itself adds about 2).",
        "",
        "One step = zero_grad + forward + cross-entropy + backward + SGD step (lr 0.01) "
        "(+ the clip/remap hook for `aimc_rasch2023_hwa*`), random inputs and labels. Ratio = "
        "median step time / median of `fp_sgd` (plain torch, same model) timed interleaved "
        f"in the same run; {out['repeats']} rounds after {out['warmup_steps']} untimed "
        "warm-up steps per config (past the 100-batch input-range initialisation).",
        "",
        "Configs: `fp_sgd` plain torch; `aimc_rasch2023_hwa` `aimc.presets.rasch2023_hwa()` "
        "(full standard crossbar: 8-bit DAC/ADC, output noise, PCM read noise, IR drop, learned "
        "input ranges, learnable output scales, remap after every step); "
        "`aimc_rasch2023_hwa_strong` the same plus `ProgrammingWeightNoise()` and "
        "`GaussianClip(sigma=2.5)`; `aimc_rasch2023` the `rasch2023()` forward without HWA "
        "extras; `aimc_matched` and `lightning_hwa` the light recipe of the peer harness "
        "`bench_lightning.py` (8-bit DAC with learned input range init 3, output noise 0.04, "
        "8-bit ADC bound 10, additive Gaussian weight noise 0.02, 512-row tiles; no IR drop, "
        "no read noise) in aimc and in aihwkit-lightning.",
        "",
        "| model | config | " + " | ".join(f"batch {b}" for b in batches) + " |",
        "|---|---|" + "---|" * len(batches),
    ]
    for model in dict.fromkeys(r["model"] for r in res):
        for cfg in dict.fromkeys(r["config"] for r in res):
            cells = []
            for b in batches:
                hit = [r for r in res if (r["model"], r["config"], r["batch"]) == (model, cfg, b)]
                if not hit:
                    cells.append("–")
                elif cfg == "fp_sgd":
                    cells.append(f"{1e3 * hit[0]['median_s']:.3g} ms")
                else:
                    cells.append(f"{hit[0]['ratio_vs_fp_median']:.2f}× "
                                 f"({1e3 * hit[0]['median_s']:.3g} ms)")
            lines.append(f"| {model} | {cfg} | " + " | ".join(cells) + " |")
    heads = [(m, b) for m in dict.fromkeys(r["model"] for r in res) for b in batches]
    foreign = {(r["model"], r["batch"]): (r.get("foreign_cpu_cores"), r.get("attempts", 1))
               for r in res}
    lines += ["", "CPU cores used by other processes while each case was timed (machine busy "
              "time − this process, /proc/stat; cases above the threshold are timed again, "
              "attempts in brackets): " + ", ".join(
                  f"{m} b{b}: {_fmt_cores(foreign[(m, b)][0])} [{foreign[(m, b)][1]}]"
                  for m, b in heads if (m, b) in foreign) + "."]
    pairs = []
    for m, b in heads:
        by = {r["config"]: r["median_s"] for r in res if (r["model"], r["batch"]) == (m, b)}
        if "lightning_hwa" in by and "aimc_matched" in by:
            pairs.append(f"{m} b{b}: {by['lightning_hwa'] / by['aimc_matched']:.2f}×")
    if pairs:
        lines += ["", "Head-to-head on the matched recipe, lightning_hwa / aimc_matched step "
                  "time (> 1: aimc faster): " + ", ".join(pairs) + "."]
    if out["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in out["skipped"].items())]
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _fmt_cores(cores: float | None) -> str:
    return "n/a" if cores is None else f"{cores:.2f}"


def _load(env: dict[str, Any]) -> str:
    la = env.get("loadavg")
    return "n/a" if not la else "/".join(f"{v:.2f}" for v in la)


if __name__ == "__main__":
    main()
