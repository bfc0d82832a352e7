"""On-chip training step benchmark: aimc pulsed training vs plain torch SGD (and aihwkit).

Workload of the peer harness ``../shared/peers/aihwkit/bench_training.py``: MLP 784-256-10
(ReLU), random inputs x ~ N(0, 1), random labels (10 classes), cross-entropy, lr 0.01, batch 1
and 64. One step = zero_grad + forward + loss + backward + optimizer.step(); the optimizer is
``torch.optim.SGD`` for ``fp_sgd`` and ``aimc.optim.AnalogSGD`` for every aimc config (it turns
the recorded (x, δ) of the backward pass into device pulses).

Configs, each converted from the same FP model (same initial weights), in ``train()`` mode;
the aihwkit config each one mirrors is in brackets:
  fp_sgd                         plain torch model, torch.optim.SGD
  aimc_sgd_constant_fast         ``onchip_sgd(ConstantStepDevice(), mode="fast")``: in-situ SGD,
                                 stochastic pulse trains (BL 31, update + BL management) drawn
                                 per weight from their exact mean/variance (matmuls)
                                 [SingleRPUConfig(device=ConstantStepDevice())]
  aimc_sgd_constant_exact        the same with ``mode="exact"``: explicit Bernoulli trains and
                                 their exact coincidences
  aimc_sgd_softbounds_fast/_exact  the same two on ``SoftBoundsDevice()``
                                 [SingleRPUConfig(device=SoftBoundsDevice())]
  aimc_mixed_precision           ``onchip(MixedPrecision(), SingleDeviceCell(SoftBoundsDevice()))``:
                                 digital χ accumulator, transfer every step
                                 [DigitalRankUpdateRPUConfig(MixedPrecisionCompound(SoftBounds))]
  aimc_mixed_precision_pcm       ``onchip_mixed_precision()``: differential pair of one-sided PCM
                                 devices with refresh [MixedPrecisionPCMPreset]
  aimc_tiki_taka                 ``onchip_tiki_taka()`` (v1, soft bounds, one column read and
                                 transferred per step) [build_config("tiki-taka", SoftBounds)]
  aimc_tiki_taka_v2              ``onchip_tiki_taka(version=2)`` (digital buffer H before C)
  *_ideal_io                     the SGD-fast and MP configs with ``noisy_periphery=False``
                                 (ideal forward/backward MVMs: the cost of the pulse update
                                 alone, without the DAC/ADC/noise periphery)
  floor_*                        not training configs: a step without its optimizer step
                                 (zero_grad + forward + loss + backward) for the FP model and
                                 the on-chip model with a noisy / ideal periphery — what no
                                 update can go below (``--only`` can leave them out)
Every aimc config with a noisy periphery uses aihwkit's default forward and backward IO
(7-bit DAC, 9-bit ADC, output noise 0.06, noise + bound management). A config that raises
while it is built or on its first step is recorded as skipped with its traceback.

Timing: interleaved rounds, medians (``common.time_group``), after ``--warmup-steps`` untimed
steps per config; ratio = median / median(fp_sgd) of the same batch in the same run. The CPU
time other processes used while a batch was timed is measured (/proc/stat minus this
process); a batch during which they used more than ``--busy-cores`` cores is timed again (up
to ``--max-attempts``; the attempt with the least foreign load is kept).

Usage: python benchmarks/bench_onchip.py [--batches 1,64] [--repeats 25] [--only CFG,...]
       [--peer-json results/peers/aihwkit_training_onchip.json] [--json OUT] [--md OUT]
       [--profile aimc_sgd_constant_fast:64,aimc_tiki_taka:64 [--profile-top 25]]
       python benchmarks/bench_onchip.py --run-peer [--peer-python /work/peer_venv/bin/python]
           (runs ../shared/peers/aihwkit/bench_training.py on the same configs into --peer-json)
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from common import env_info, write_json  # threads before torch

import torch

import aimc
import aimc.optim
from aimc.config import MixedPrecision, SingleDeviceCell
from aimc.config.pulsed import ConstantStepDevice, SoftBoundsDevice
from bench_training import (
    ForeignLoad, _cpu_busy_s, _fmt_cores, _git_commit, _load, fp_sgd_step, make_case, make_step,
    time_least_disturbed,
)

LR = 0.01
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PEER_JSON = os.path.join(HERE, "results", "peers", "aihwkit_training_onchip.json")


def _mp_softbounds(noisy: bool = True) -> aimc.AnalogConfig:
    """The analogue of aihwkit's MixedPrecisionCompound(device=SoftBoundsDevice())."""
    return aimc.presets.onchip(MixedPrecision(), SingleDeviceCell(device=SoftBoundsDevice()),
                               noisy_periphery=noisy)


# name → (factory, one-line meaning, aihwkit peer config name or None)
CONFIGS: dict[str, tuple[Callable[[], aimc.AnalogConfig], str, str | None]] = {
    "aimc_sgd_constant_fast": (
        lambda: aimc.presets.onchip_sgd(ConstantStepDevice(), mode="fast"),
        "in-situ SGD, ConstantStepDevice, pulse counts drawn from their exact mean/variance "
        "(`onchip_sgd(ConstantStepDevice(), mode=\"fast\")`). `fast` uses the explicit trains "
        "of `exact` where they are cheaper, M·BL·(in+out) < 32·in·out; with BL management the "
        "bit length is 1–15 at batch 1 and 1 at batch 64 in this workload (checked), so every "
        "update here takes that path and `fast` times the same code as `exact`",
        "sgd_constant_step"),
    "aimc_sgd_constant_exact": (
        lambda: aimc.presets.onchip_sgd(ConstantStepDevice(), mode="exact"),
        "the same with explicit Bernoulli pulse trains (`mode=\"exact\"`)",
        "sgd_constant_step"),
    "aimc_sgd_softbounds_fast": (
        lambda: aimc.presets.onchip_sgd(SoftBoundsDevice(), mode="fast"),
        "in-situ SGD, SoftBoundsDevice, `mode=\"fast\"`", "sgd_soft_bounds"),
    "aimc_sgd_softbounds_exact": (
        lambda: aimc.presets.onchip_sgd(SoftBoundsDevice(), mode="exact"),
        "in-situ SGD, SoftBoundsDevice, `mode=\"exact\"`", "sgd_soft_bounds"),
    "aimc_mixed_precision": (
        _mp_softbounds,
        "mixed precision (digital χ, transfer every step) on one SoftBoundsDevice per weight "
        "(`onchip(MixedPrecision(), SingleDeviceCell(device=SoftBoundsDevice()))`)",
        "mixed_precision"),
    "aimc_mixed_precision_pcm": (
        lambda: aimc.presets.onchip_mixed_precision(),
        "mixed precision on a differential pair of one-sided PCM devices with refresh "
        "(`onchip_mixed_precision()`)", None),
    "aimc_tiki_taka": (
        lambda: aimc.presets.onchip_tiki_taka(),
        "Tiki-Taka v1 on SoftBoundsDevice, one column transferred per step "
        "(`onchip_tiki_taka()`)", "tiki_taka"),
    "aimc_tiki_taka_v2": (
        lambda: aimc.presets.onchip_tiki_taka(version=2),
        "Tiki-Taka v2 (digital buffer H between A and C) (`onchip_tiki_taka(version=2)`)",
        None),
    "aimc_sgd_constant_fast_ideal_io": (
        lambda: aimc.presets.onchip_sgd(ConstantStepDevice(), mode="fast",
                                        noisy_periphery=False),
        "`aimc_sgd_constant_fast` with ideal forward/backward MVMs (`noisy_periphery=False`)",
        None),
    "aimc_sgd_softbounds_fast_ideal_io": (
        lambda: aimc.presets.onchip_sgd(SoftBoundsDevice(), mode="fast",
                                        noisy_periphery=False),
        "`aimc_sgd_softbounds_fast` with ideal forward/backward MVMs", None),
    "aimc_mixed_precision_ideal_io": (
        lambda: _mp_softbounds(noisy=False),
        "`aimc_mixed_precision` with ideal forward/backward MVMs", None),
}

# the cost of a step without its update: zero_grad + forward + loss + backward only (no
# optimizer step); name → (factory (None: the plain FP model), one-line meaning)
FLOORS: dict[str, tuple[Callable[[], aimc.AnalogConfig] | None, str]] = {
    "floor_fp_fwd_bwd": (
        None, "not a training config: the plain torch model's zero_grad + forward + loss + "
              "backward, no optimizer step (the part of `fp_sgd` before its update)"),
    "floor_aimc_fwd_bwd": (
        lambda: aimc.presets.onchip_sgd(ConstantStepDevice(), mode="exact"),
        "not a training config: `aimc_sgd_constant_exact` without `optimizer.step()` — the "
        "noisy forward and backward MVMs alone (the recorded (x, δ) are dropped by "
        "`zero_grad`): the least any config with this periphery can cost"),
    "floor_aimc_fwd_bwd_ideal_io": (
        lambda: aimc.presets.onchip_sgd(ConstantStepDevice(), mode="exact",
                                        noisy_periphery=False),
        "not a training config: the same with ideal forward/backward MVMs"),
}

# targets of the issue, at batch 64: config → max ratio vs fp_sgd (median)
TARGETS: dict[str, float] = {
    "aimc_sgd_constant_fast": 2.0, "aimc_sgd_softbounds_fast": 2.0,
    "aimc_sgd_constant_exact": 4.0, "aimc_sgd_softbounds_exact": 4.0,
    "aimc_mixed_precision": 2.0, "aimc_tiki_taka": 5.0,
}
TARGET_BATCH = 64


def build_steps(fp_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                only: set[str] | None) -> tuple[dict[str, Callable[[], torch.Tensor]],
                                                dict[str, str]]:
    """One step function per config (every model a copy of ``fp_model``), and the skipped."""
    # fp_sgd gets the same one extra step as the smoke test below
    steps: dict[str, Callable[[], torch.Tensor]] = {"fp_sgd": fp_sgd_step(fp_model, x, y)}
    skipped: dict[str, str] = {}
    for name, (factory, _, _) in CONFIGS.items():
        if only and name not in only:
            continue
        try:
            am = aimc.convert_to_analog(copy.deepcopy(fp_model), factory()).train()
            opt = aimc.optim.AnalogSGD(am.parameters(), lr=LR)
            steps[name] = make_step(am, opt, x, y)
            steps[name]()  # smoke test: raises early if unsupported
        except Exception:  # noqa: BLE001
            skipped[name] = traceback.format_exc()
            steps.pop(name, None)
            print(f"SKIP {name}:\n{skipped[name]}", flush=True)
    for name, (factory, _) in FLOORS.items():
        if only and name not in only:
            continue
        if factory is None:
            steps[name] = fp_sgd_step(fp_model, x, y, update=False)
            continue
        am = aimc.convert_to_analog(copy.deepcopy(fp_model), factory()).train()
        steps[name] = make_step(am, aimc.optim.AnalogSGD(am.parameters(), lr=LR), x, y,
                                update=False)
        steps[name]()
    return steps, skipped


def profile_case(config: str, bs: int, steps_n: int, warmup_steps: int, top: int) -> str:
    """torch.profiler table (top ops by self CPU time) of ``steps_n`` training steps."""
    fp_model, x, y = make_case("mlp", bs)
    steps, skipped = build_steps(fp_model, x, y, {config})
    if config not in steps:
        return f"### {config} batch {bs}: skipped\n\n```\n{skipped.get(config)}\n```\n"
    step = steps[config]
    for _ in range(warmup_steps):
        step()
    t0 = time.perf_counter()
    for _ in range(steps_n):
        step()
    per_step = (time.perf_counter() - t0) / steps_n
    with ForeignLoad() as foreign, torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps_n):
            step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    return (f"### {config}, MLP 784-256-10 batch {bs}, {steps_n} steps "
            f"({1e3 * per_step:.3f} ms/step unprofiled; other processes used "
            f"{_fmt_cores(foreign.cores)} CPU cores while profiling)\n\n```\n{table}\n```\n")


PEER_CONFIGS = "fp_sgd,sgd_constant_step,sgd_soft_bounds,mixed_precision,tiki_taka"


def run_peer(args: argparse.Namespace) -> None:
    """Run the aihwkit harness as a subprocess (its own venv); log, JSON, foreign CPU load.

    The peer harness does not measure the load of other processes; here the machine's busy
    CPU time (/proc/stat) minus the harness's own (children rusage) is measured around the
    whole run, the run is repeated (up to ``--max-attempts``) while that exceeds
    ``--busy-cores``, and the attempt with the least foreign load is kept. Its log (stdout and
    stderr) goes to ``<peer-json without .json>.log``; ``run_info`` (command, foreign load,
    attempts) is added to its JSON.
    """
    import resource
    import subprocess

    args.peer_json = os.path.abspath(args.peer_json)  # the harness runs in --peer-dir
    log_path = os.path.splitext(args.peer_json)[0] + ".log"
    cmd = [args.peer_python, "bench_training.py", "--batches", args.batches, "--repeats",
           str(args.repeats), "--only", PEER_CONFIGS]
    best: tuple[float, str, str] | None = None
    for attempt in range(1, args.max_attempts + 1):
        tmp_json = f"{args.peer_json}.attempt{attempt}.tmp"
        busy0, t0 = _cpu_busy_s(), time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([*cmd, "--json", tmp_json], cwd=args.peer_dir,
                              capture_output=True, text=True, timeout=1800)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy1, wall = _cpu_busy_s(), time.perf_counter() - t0
        child = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        foreign = (float("nan") if busy0 is None or busy1 is None
                   else max(0.0, (busy1 - busy0 - child) / wall))
        log = (proc.stdout + proc.stderr).replace(tmp_json, args.peer_json)
        print(log, end="", flush=True)
        print(f"(attempt {attempt}: exit {proc.returncode}, {wall:.1f} s, other processes used "
              f"{foreign:.2f} CPU cores)", flush=True)
        if proc.returncode != 0 or not os.path.exists(tmp_json):
            raise SystemExit(f"peer harness failed (exit {proc.returncode}); its output above")
        if best is None or foreign < best[0]:
            if best is not None:
                os.remove(best[2])
            best = (foreign, log, tmp_json)
        else:
            os.remove(tmp_json)
        if not foreign > args.busy_cores:
            break
    foreign, log, tmp_json = best
    with open(tmp_json) as fh:
        data = json.load(fh)
    data["run_info"] = {
        "added_by": "benchmarks/bench_onchip.py --run-peer",
        "command": f"cd {args.peer_dir} && " + "".join(
            f"{v}={os.environ[v]} " for v in ("BENCH_THREADS",) if v in os.environ)
        + shlex.join([*cmd, "--json", args.peer_json]),
        "foreign_cpu_cores": foreign, "attempts": attempt,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    write_json(args.peer_json, data)
    os.remove(tmp_json)
    with open(log_path, "w") as fh:
        fh.write(f"$ {data['run_info']['command']}\n{log}"
                 f"(other processes used {foreign:.2f} CPU cores during this run; "
                 f"kept of {attempt} attempt(s))\n")
    print("wrote", args.peer_json, "and", log_path)


def load_peer(path: str | None) -> dict[str, Any] | None:
    if not path or not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--warmup-steps", type=int, default=5,
                    help="untimed steps per config before timing")
    ap.add_argument("--only", default="", help="comma list of configs besides fp_sgd")
    ap.add_argument("--busy-cores", type=float, default=0.25,
                    help="re-time a batch when other processes used more CPU cores than this")
    ap.add_argument("--max-attempts", type=int, default=4)
    ap.add_argument("--sample-ms", type=float, default=2.0,
                    help="target length of one timing sample: steps are repeated back to back "
                         "to fill it (2 ms: the peer harness's setting, so a step slower than "
                         "2 ms runs alone, right after the other configs' steps; larger values "
                         "time consecutive steps, as in a training loop)")
    ap.add_argument("--peer-json", default=DEFAULT_PEER_JSON,
                    help="aihwkit results of ../shared/peers/aihwkit/bench_training.py for the "
                         "head-to-head in the Markdown ('' = none)")
    ap.add_argument("--run-peer", action="store_true",
                    help="instead of timing aimc: run the aihwkit harness (--peer-python, "
                         "--peer-dir) into --peer-json and its .log, with foreign-load checks")
    ap.add_argument("--peer-python", default="/work/peer_venv/bin/python")
    ap.add_argument("--peer-dir",
                    default=os.path.normpath(os.path.join(HERE, "..", "..", "shared", "peers",
                                                          "aihwkit")))
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None, help="also write a Markdown summary here")
    ap.add_argument("--from-json", default=None,
                    help="only re-render the Markdown (--md, default: beside it) of a saved "
                         "--json run, with --peer-json")
    ap.add_argument("--supplement", default="",
                    help="OURS.json[:PEER.json],... of other runs (e.g. BENCH_THREADS=1) to "
                         "summarise in the Markdown after this run")
    ap.add_argument("--profile", default="",
                    help="instead of timing: profile CONFIG:BATCH[,CONFIG:BATCH...]")
    ap.add_argument("--profile-steps", type=int, default=20)
    ap.add_argument("--profile-top", type=int, default=25)
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    known = {*CONFIGS, *FLOORS, "fp_sgd"}
    if only and only - known:
        ap.error(f"unknown configs {sorted(only - known)}; choose from "
                 f"{[*CONFIGS, *FLOORS]}")

    if args.run_peer:
        run_peer(args)
        return
    if args.from_json:  # re-render the Markdown of a saved run (no timing)
        with open(args.from_json) as fh:
            saved = json.load(fh)
        sups = [(s["aimc"], s["aihwkit"]) for s in saved.get("supplements", [])]
        write_markdown(args.md or os.path.splitext(args.from_json)[0] + ".md", saved,
                       load_peer(args.peer_json), sups)
        return
    if args.profile:
        out = []
        for case in args.profile.split(","):
            config, bs = case.rsplit(":", 1)
            out.append(profile_case(config, int(bs), args.profile_steps, args.warmup_steps,
                                    args.profile_top))
            print(out[-1], flush=True)
        if args.md:
            with open(args.md, "w") as fh:
                fh.write("\n".join(out))
        return

    env0 = env_info()
    env0["aimc_commit"] = _git_commit()
    print(f"env={env0}")
    print(f"{'config':34s} {'batch':>5s} {'median_ms':>10s} {'min_ms':>9s} {'ratio_med':>9s} "
          f"{'ratio_min':>9s} {'loss0':>7s} {'lossN':>7s} {'k':>4s}")
    results: list[dict[str, Any]] = []
    skipped_all: dict[str, str] = {}
    t_start = time.perf_counter()
    for bs in [int(b) for b in args.batches.split(",")]:
        fp_model, x, y = make_case("mlp", bs)
        steps, skipped = build_steps(fp_model, x, y, only)
        for k, v in skipped.items():
            skipped_all[f"batch {bs}: {k}"] = v
        loss0 = {}
        for cname, st in steps.items():
            loss0[cname] = float(st())
            for _ in range(args.warmup_steps - 1):
                st()
        stats, foreign, attempts = time_least_disturbed(
            steps, repeats=args.repeats, max_attempts=args.max_attempts,
            busy_cores=args.busy_cores, label=f"batch {bs}", sample_s=args.sample_ms / 1e3)
        for cname, st in steps.items():
            r = {"model": "mlp_784_256_10", "config": cname, "batch": bs, **stats[cname],
                 "loss_first": loss0[cname], "loss_after_timing": float(st()),
                 "foreign_cpu_cores": foreign.cores, "attempts": attempts}
            r["ratio_vs_fp_median"] = r["median_s"] / stats["fp_sgd"]["median_s"]
            r["ratio_vs_fp_min"] = r["min_s"] / stats["fp_sgd"]["min_s"]
            results.append(r)
            print(f"{cname:34s} {bs:5d} {1e3 * r['median_s']:10.3f} {1e3 * r['min_s']:9.3f} "
                  f"{r['ratio_vs_fp_median']:9.2f} {r['ratio_vs_fp_min']:9.2f} "
                  f"{r['loss_first']:7.3f} {r['loss_after_timing']:7.3f} {r['inner']:4d}",
                  flush=True)
        print(f"      (other processes used {_fmt_cores(foreign.cores)} CPU cores while batch "
              f"{bs} was timed; attempt {attempts})", flush=True)
    out = {"benchmark": "onchip_training_step", "model": "mlp_784_256_10", "lr": LR,
           "optimizer": "aimc.optim.AnalogSGD (fp_sgd: torch.optim.SGD)",
           "warmup_steps": args.warmup_steps, "repeats": args.repeats,
           "busy_cores_threshold": args.busy_cores, "max_attempts": args.max_attempts,
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "wall_s": time.perf_counter() - t_start,
           "configs": {**{k: {"meaning": m, "aihwkit_peer": p}
                          for k, (_, m, p) in CONFIGS.items() if not only or k in only},
                       **{k: {"meaning": m, "aihwkit_peer": None}
                          for k, (_, m) in FLOORS.items() if not only or k in only}},
           "aimc_configs": {k: _to_dict(f) for k, (f, _, _) in CONFIGS.items()
                            if not only or k in only},
           "targets_batch64_max_ratio": TARGETS,
           "env_start": env0, "env_end": env_info(), "results": results,
           "skipped": skipped_all}
    out["command"] = shlex.join([sys.executable, "benchmarks/bench_onchip.py", *sys.argv[1:]])
    peer = load_peer(args.peer_json)
    if peer is not None:
        out["peer_json"] = os.path.relpath(args.peer_json, os.path.dirname(HERE))
    supplements = []
    for spec in filter(None, args.supplement.split(",")):
        ours_path, _, peer_path = spec.partition(":")
        with open(ours_path) as fh:
            supplements.append((json.load(fh), load_peer(peer_path)))
    if supplements:  # self-contained record: the other runs go into this JSON too
        out["supplements"] = [{"aimc": o, "aihwkit": p} for o, p in supplements]
    if args.json:
        write_json(args.json, out)
        print("wrote", args.json)
    if args.md:
        write_markdown(args.md, out, peer, supplements)
        print("wrote", args.md)


def _to_dict(factory: Callable[[], aimc.AnalogConfig]) -> Any:
    try:
        return factory().to_dict()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def _by(res: list[dict[str, Any]], cfg: str, bs: int) -> dict[str, Any] | None:
    hit = [r for r in res if r["config"] == cfg and r["batch"] == bs]
    return hit[0] if hit else None


def write_markdown(path: str, out: dict[str, Any], peer: dict[str, Any] | None,
                   supplements: list[tuple[dict[str, Any], dict[str, Any] | None]] = ()
                   ) -> None:
    """Ratios (and ms) per config and batch, target verdicts, the aihwkit head-to-head."""
    res = out["results"]
    batches = sorted({r["batch"] for r in res})
    env, env_end = out["env_start"], out["env_end"]
    lines = [
        "# On-chip training step: aimc pulsed training vs plain torch SGD (and aihwkit)",
        "",
        f"Command: `{out['command']}`  ",
        f"Date: {out['date']}; wall time {out['wall_s']:.0f} s.  ",
        f"Machine: {env['cpu']}, {env['threads']} threads, python {env['python']}, torch "
        f"{env['torch']}, aimc {env.get('aimc_commit') or '?'}; load average (1/5/15 min) at "
        f"start {_load(env)}, at end {_load(env_end)} (the run itself adds about 2).",
        "",
        "Workload of `../shared/peers/aihwkit/bench_training.py`: MLP 784-256-10 (ReLU), "
        "random x ~ N(0, 1), random labels, cross-entropy, lr 0.01. One step = zero_grad + "
        "forward + loss + backward + optimizer step (`aimc.optim.AnalogSGD` for the aimc "
        "configs: the pulse update happens in its `step()`). Ratio = median step time / "
        "median of `fp_sgd` (plain torch SGD, same model) timed interleaved in the same run; "
        f"{out['repeats']} rounds after {out['warmup_steps']} untimed warm-up steps per config. "
        "Every aimc config with a noisy periphery uses aihwkit's default forward and backward "
        "IO (7-bit DAC, 9-bit ADC ±12, output noise 0.06, abs-max noise management, "
        "iterative bound management forward); tiles of ≤ 512 rows, so the 784-input layer is "
        "split over two tiles, as in aihwkit's default mapping.",
        "",
        "Configs:",
        "",
        "- `fp_sgd`: the plain torch model, `torch.optim.SGD`",
    ]
    for k, v in out["configs"].items():
        peer_name = f" — aihwkit analogue `{v['aihwkit_peer']}`" if v["aihwkit_peer"] else ""
        lines.append(f"- `{k}`: {v['meaning']}{peer_name}")
    lines += ["", "| config | " + " | ".join(f"batch {b}" for b in batches)
              + " | loss after timing (b" + f"{batches[-1]}) |",
              "|---|" + "---|" * len(batches) + "---|"]
    for cfg in dict.fromkeys(r["config"] for r in res):
        cells = []
        for b in batches:
            r = _by(res, cfg, b)
            if r is None:
                cells.append("–")
            elif cfg == "fp_sgd":
                cells.append(f"{1e3 * r['median_s']:.3g} ms (min {1e3 * r['min_s']:.3g})")
            else:
                cells.append(f"{r['ratio_vs_fp_median']:.2f}× ({1e3 * r['median_s']:.3g} ms; "
                             f"min {r['ratio_vs_fp_min']:.2f}×)")
        last = _by(res, cfg, batches[-1])
        loss = f"{last['loss_after_timing']:.3f}" if last else "–"
        lines.append(f"| `{cfg}` | " + " | ".join(cells) + f" | {loss} |")
    lines += _floor_lines(res, batches)
    foreign = {r["batch"]: (r.get("foreign_cpu_cores"), r.get("attempts", 1)) for r in res}
    lines += ["", "CPU cores used by other processes while each batch was timed (machine busy "
              "time − this process, /proc/stat; a batch above "
              f"{out.get('busy_cores_threshold', 0.25):g} cores is timed again, up to "
              f"{out.get('max_attempts', 4)} times, keeping the least disturbed attempt; "
              "attempts in brackets): " + ", ".join(
                  f"b{b}: {_fmt_cores(c)} [{a}]" for b, (c, a) in sorted(foreign.items()))
              + "."]

    lines += ["", "Load caveat: the machine has 2 cores shared with other users. With 2 torch "
              "threads, one core busy with another process is enough to make every parallel "
              "region wait for the scheduler (measured: the FP step at batch 1 goes from 0.15 "
              "to 4–8 ms, in multiples of the 4 ms scheduler tick), so 2-thread numbers are only "
              "valid with the foreign load near 0; with 1 thread (`BENCH_THREADS=1`, honoured "
              "by this script and by the aihwkit harness) one foreign busy core leaves this "
              "process its own core, so such a run is compared at a re-time threshold of about "
              "1.25 cores. Shared caches and memory bandwidth can still make 1-thread numbers "
              "under such load somewhat slower than on an idle machine (not quantified here)."]
    lines += ["", f"## Targets (batch {TARGET_BATCH}, median ratio vs `fp_sgd`)", "",
              "| config | target | measured | verdict |", "|---|---|---|---|"]
    for cfg, tgt in TARGETS.items():
        r = _by(res, cfg, TARGET_BATCH)
        if r is None:
            skip = f"batch {TARGET_BATCH}: {cfg}"
            lines.append(f"| `{cfg}` | ≤ {tgt:g}× | – | "
                         f"{'skipped (error)' if skip in out['skipped'] else 'not run'} |")
            continue
        ratio = r["ratio_vs_fp_median"]
        lines.append(f"| `{cfg}` | ≤ {tgt:g}× | {ratio:.2f}× | "
                     f"{'met' if ratio <= tgt else 'missed'} |")

    if peer is not None:
        lines += _peer_section(out, peer)
    for sup, sup_peer in supplements:
        lines += _supplement_section(sup, sup_peer)
    if out["skipped"]:
        lines += ["", "## Skipped (error)", ""]
        for k, v in out["skipped"].items():
            lines += [f"{k}:", "", "```", v.rstrip(), "```", ""]
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _floor_lines(res: list[dict[str, Any]], batches: list[int]) -> list[str]:
    """What a step costs before its update (the ``floor_*`` rows), in words."""
    out = []
    for b in batches:
        fp = _by(res, "floor_fp_fwd_bwd", b)
        noisy = _by(res, "floor_aimc_fwd_bwd", b)
        ideal = _by(res, "floor_aimc_fwd_bwd_ideal_io", b)
        if fp is None or noisy is None:
            continue
        text = (f"Batch {b}, before any update: the FP forward + backward is "
                f"{fp['ratio_vs_fp_median']:.2f}× a full `fp_sgd` step; the on-chip model's "
                f"noisy forward + backward MVMs alone are {noisy['ratio_vs_fp_median']:.2f}× "
                f"({1e3 * noisy['median_s']:.3g} ms)")
        if ideal is not None:
            text += (f", {ideal['ratio_vs_fp_median']:.2f}× with an ideal periphery "
                     f"({1e3 * ideal['median_s']:.3g} ms)")
        out.append(text + ". A config's ratio minus this floor is what its pulse update "
                   "(and optimizer bookkeeping) costs.")
    return ["", *out] if out else []


def _supplement_section(out: dict[str, Any], peer: dict[str, Any] | None) -> list[str]:
    """A compact table of another run (its ratios, and aihwkit's next to them)."""
    env = out["env_start"]
    res = out["results"]
    batches = sorted({r["batch"] for r in res})
    foreign = {r["batch"]: (r.get("foreign_cpu_cores"), r.get("attempts", 1)) for r in res}
    lines = ["", f"## Supplementary run: {env['threads']} thread(s), {out['date']}", "",
             f"Command: `{out['command']}` (aimc {env.get('aimc_commit') or '?'}; other "
             "processes used " + ", ".join(f"b{b}: {_fmt_cores(c)} [{a}]"
                                           for b, (c, a) in sorted(foreign.items()))
             + " CPU cores)."]
    pmap: dict[str, str] = {k: v["aihwkit_peer"] for k, v in out["configs"].items()
                            if v["aihwkit_peer"]}
    if peer is not None:
        info = peer.get("run_info", {})
        penv = peer["env_start"]
        lines += ["", f"aihwkit in the same setting: `{info.get('command', '?')}` (torch "
                  f"{penv.get('torch')}, {penv.get('torch_threads', penv.get('threads'))} "
                  f"thread(s), other processes used "
                  f"{_fmt_cores(info.get('foreign_cpu_cores'))} CPU cores, "
                  f"{info.get('date', '?')})."]
    lines += ["", "| config | " + " | ".join(
        f"b{b}" + (f" | b{b} aihwkit | b{b} aihwkit / aimc" if peer else "") for b in batches)
        + " |", "|---|" + ("---|---|---|" if peer else "---|") * len(batches)]
    for cfg in dict.fromkeys(r["config"] for r in res):
        cells = []
        for b in batches:
            r = _by(res, cfg, b)
            p = _by(peer["results"], pmap.get(cfg, cfg), b) if peer else None
            if cfg == "fp_sgd":
                cells.append(f"{1e3 * r['median_s']:.3g} ms" if r else "–")
                if peer:
                    cells += [f"{1e3 * p['median_s']:.3g} ms" if p else "–",
                              f"{p['median_s'] / r['median_s']:.2f}" if p and r else "–"]
                continue
            cells.append(f"{r['ratio_vs_fp_median']:.2f}× ({1e3 * r['median_s']:.3g} ms)"
                         if r else "–")
            if peer:
                cells += [f"{p['ratio_vs_fp_median']:.2f}× ({1e3 * p['median_s']:.3g} ms)"
                          if p else "–",
                          f"{p['median_s'] / r['median_s']:.2f}" if p and r else "–"]
        lines.append(f"| `{cfg}` | " + " | ".join(cells) + " |")
    return lines


def _peer_load(env: dict[str, Any]) -> str:
    la = env.get("load_avg_1_5_15", env.get("loadavg"))
    return "n/a" if not la else "/".join(f"{v:.2f}" for v in la)


def _peer_section(out: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    pres = peer["results"]
    penv, penv_end = peer["env_start"], peer.get("env_end", {})
    batches = sorted({r["batch"] for r in out["results"]} & {r["batch"] for r in pres})
    info = peer.get("run_info", {})
    load = ("other processes used "
            f"{_fmt_cores(info['foreign_cpu_cores'])} CPU cores over the whole run "
            f"({info.get('attempts', 1)} attempt(s), `--run-peer`)"
            if "foreign_cpu_cores" in info else "foreign load not measured")
    lines = [
        "", "## Head-to-head with aihwkit", "",
        f"aihwkit run: `{out.get('peer_json', '?')}` (`../shared/peers/aihwkit/bench_training.py`"
        f", a separate process at a different time: aihwkit {penv.get('aihwkit')}, torch "
        f"{penv.get('torch')}, {penv.get('torch_threads', penv.get('threads'))} thread(s), load "
        f"average at start {_peer_load(penv)}, at end {_peer_load(penv_end)}; {load}; run "
        f"{info.get('date', '?')}). Its ratios are against "
        "its own `fp_sgd` timed interleaved in its run. `aihwkit / aimc` = aihwkit's median ms "
        "over aimc's (> 1: aimc faster); a cross-process comparison, so only as good as the "
        "two loads were alike. aihwkit's venv has another torch build, so its plain `fp_sgd` "
        "step differs from aimc's (first row): compare the ms columns, not the ratios, between "
        "the two.", "",
        "| aimc config | aihwkit config | " + " | ".join(
            f"b{b} aimc | b{b} aihwkit | b{b} aihwkit / aimc" for b in batches) + " |",
        "|---|---|" + "---|---|---|" * len(batches),
    ]
    pairs = [("fp_sgd", "fp_sgd")] + [(k, v["aihwkit_peer"]) for k, v in out["configs"].items()
                                      if v["aihwkit_peer"]]
    for ours, theirs in pairs:
        cells = []
        for b in batches:
            r = _by(out["results"], ours, b)
            p = _by(pres, theirs, b)
            if ours == "fp_sgd":
                a = f"{1e3 * r['median_s']:.3g} ms" if r else "–"
                t = f"{1e3 * p['median_s']:.3g} ms" if p else "–"
            else:
                a = f"{r['ratio_vs_fp_median']:.2f}× ({1e3 * r['median_s']:.3g} ms)" if r else "–"
                t = f"{p['ratio_vs_fp_median']:.2f}× ({1e3 * p['median_s']:.3g} ms)" if p else "–"
            h2h = f"{p['median_s'] / r['median_s']:.2f}" if r and p else "–"
            cells += [a, t, h2h]
        lines.append(f"| `{ours}` | `{theirs}` | " + " | ".join(cells) + " |")
    if peer.get("skipped"):
        lines += ["", "aihwkit skipped: " + "; ".join(f"{k}: {v}"
                                                       for k, v in peer["skipped"].items())]
    return lines


if __name__ == "__main__":
    main()
