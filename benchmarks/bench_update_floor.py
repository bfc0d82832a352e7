"""How close is the pulse update to what eager PyTorch can do? (on-chip, per layer)

The on-chip step of ``bench_onchip.py`` (MLP 784-256-10, batch 64, in-situ SGD ``exact`` on
``ConstantStepDevice``) spends most of its optimizer step in the pulse update of each layer.
This script times that update per layer — ``OnChipState.step`` of the library, on the (x, δ)
that a real forward/backward recorded — against a hand-written, straight-line version of the
same computation on a copy of the same devices and the same (x, δ):

  probabilities  p_x = min(A·k_b·|x|, 1), p_δ = min(A·|δ|/k_b, 1), A = √(η/(ε·BL)),
                 k_b = √(max|δ_b|/max|x_b|), BL = clip(⌈η·max(|x|·|δ|)/ε⌉, 1, 31)
  trains         one 32-bit uniform per (sample, slot, line); bit = u < round(p·2³²) − 2³¹
  coincidences   total = b_δᵀ·b_x, net = (s_δ·b_δ)ᵀ·(s_x·b_x) as int8 products (torch._int_mm)
  devices        the pulsed devices (total > 0) only: up = (total − net)/2, down = (total +
                 net)/2; up pulses first, then down pulses for the devices that get both:
                 w ← clip(w + s·(n + σ·√n·ξ), w_min, w_max) per group (ConstantStep closed form)
  weight         the layer weight at the pulsed positions ← device value × weight scale

The hand-written version has no validation, no config dispatch and no abstraction layers:
its time is the eager-PyTorch cost of these tensor ops on this machine. ``--compile`` adds the
same version with its elementwise parts compiled by ``torch.compile`` (inductor; needs a C++
compiler at run time), random draws and index ops left eager.

Timing: per round, one untimed forward/backward records (x, δ); then the library update and
the hand-written one run on those same (x, δ), in alternating order; medians over rounds. The
hand-written devices start as a copy of the library's and evolve on their own; the mean number
of pulses per step is reported for both as a check that they do the same work.

Usage: python benchmarks/bench_update_floor.py [--rounds 200] [--compile] [--json OUT] [--md OUT]
"""

# ruff: noqa: I001  (common must be imported before torch: it pins the thread counts)
from __future__ import annotations

import argparse
import copy
import math
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from common import env_info, write_json  # threads before torch

import numpy as np
import torch
from torch import Tensor

import aimc
import aimc.optim
from aimc.config.pulsed import ConstantStepDevice
from aimc.onchip.registry import arrays_of
from bench_training import _git_commit, make_case

LR = 0.01


def _probabilities(x: Tensor, d: Tensor, a: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """int64 thresholds of the x and δ trains and the int8 line signs (BL = 1 layout)."""
    xa, da = x.abs(), d.abs()
    xm, dm = xa.amax(1), da.amax(1)
    ok = (xm > 0) & (dm > 0)
    k = torch.where(ok, (dm / torch.where(ok, xm, 1.0)).sqrt(), 1.0)
    px = (xa * (a * k).unsqueeze(1)).clamp(max=1.0)
    pd = (da * (a / k).unsqueeze(1)).clamp(max=1.0)
    tx = (px * 4294967296.0).round().to(torch.int64) - 2**31
    td = (pd * 4294967296.0).round().to(torch.int64) - 2**31
    return tx, td, torch.sign(x).to(torch.int8), torch.sign(d).to(torch.int8)


def _bits(ux: Tensor, ud: Tensor, tx: Tensor, td: Tensor, sx: Tensor, sd: Tensor
          ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    bx = (ux < tx).to(torch.int8)
    bd = (ud < td.t()).to(torch.int8)
    return bx, bx * sx, bd, bd * sd.t()


def _advance(w: Tensor, n: Tensor, s: Tensor, lo: Tensor, hi: Tensor, xi: Tensor,
             std: float) -> Tensor:
    nf = n.float()
    return torch.clamp(w + s * (nf + std * nf.sqrt() * xi), lo, hi)


class HandWritten:
    """The straight-line update of one layer, on its own copy of the layer's devices."""

    def __init__(self, state: Any, weight: Tensor, compiled: bool):
        cell = state.main
        dev = cell.devices[0]
        names = dev._param_names
        p = dev._params
        self.w_min, self.w_max = p[names.index("w_min")].clone(), p[names.index("w_max")].clone()
        self.s_up = p[names.index("scale_up")].clone()
        self.s_down = p[names.index("scale_down")].clone()
        self.hidden = dev._hidden.clone()
        self.weight = weight.detach().clone()
        self.eps = cell.granularity
        self.std = float(dev.cfg.dw_min_std)
        self.scale = state.cfg.weight_scale
        self.bl_max = state.cfg.algorithm.pulse.desired_bl
        self.gen = torch.Generator().manual_seed(1234)
        self.pulsed: list[int] = []  # devices pulsed per step
        self.pulses: list[int] = []  # pulses per step (the library counts them too)
        self.probs, self.bits, self.adv = _probabilities, _bits, _advance
        if compiled:
            self.probs = torch.compile(_probabilities, dynamic=False)
            self.bits = torch.compile(_bits, dynamic=False)
            self.adv = torch.compile(_advance, dynamic=True)

    def step(self, x: Tensor, d: Tensor, lr: float) -> None:
        lr = lr / self.scale
        m, n_in = x.shape
        n_out = d.shape[1]
        need = float((x.abs().amax(1) * d.abs().amax(1)).max()) * lr / self.eps
        bl = int(min(max(math.ceil(need - 1e-9), 1), self.bl_max))
        if bl != 1:
            raise RuntimeError(f"this script models BL = 1 (batch 64 here), got BL = {bl}")
        tx, td, sx, sd = self.probs(x, d, math.sqrt(lr / self.eps))
        words = torch.empty((m * (n_in + n_out) + 1) // 2, dtype=torch.int64)
        u = words.random_(-2**63, 2**63 - 1, generator=self.gen).view(torch.int32)
        ux, ud = u[:m * n_in].view(m, n_in), u[m * n_in:m * (n_in + n_out)].view(n_out, m)
        bx, sbx, bd, sbd = self.bits(ux, ud, tx, td, sx, sd)
        total = torch._int_mm(bd, bx).view(-1)
        net = torch._int_mm(sbd, sbx).view(-1)
        idx = torch.from_numpy(np.flatnonzero((total > 0).numpy()))
        self.pulsed.append(idx.numel())
        t, nt = total.index_select(0, idx), net.index_select(0, idx)
        self.pulses.append(int(t.sum()))
        up, down = (t - nt) >> 1, (t + nt) >> 1
        lo, hi = self.w_min.index_select(0, idx), self.w_max.index_select(0, idx)
        s_up, s_down = self.s_up.index_select(0, idx), self.s_down.index_select(0, idx)
        w = self.hidden.index_select(0, idx)
        go_up = up > 0
        first = torch.where(go_up, up, down)
        s = torch.where(go_up, s_up, -s_down)
        xi = torch.randn(idx.numel(), generator=self.gen)
        w = self.adv(w, first, s, lo, hi, xi, self.std)
        both = torch.from_numpy(np.flatnonzero((go_up & (down > 0)).numpy()))
        if both.numel():
            xi2 = torch.randn(both.numel(), generator=self.gen)
            w.index_copy_(0, both, self.adv(
                w.index_select(0, both), down.index_select(0, both),
                -s_down.index_select(0, both), lo.index_select(0, both),
                hi.index_select(0, both), xi2, self.std))
        self.hidden.index_copy_(0, idx, w)
        self.weight.view(-1).index_copy_(0, idx, w * self.scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--compile", action="store_true",
                    help="also time the hand-written update with torch.compile'd elementwise "
                         "parts (needs a C++ compiler)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()

    fp_model, x, y = make_case("mlp", 64)
    model = aimc.convert_to_analog(copy.deepcopy(fp_model),
                                   aimc.presets.onchip_sgd(ConstantStepDevice(), mode="exact"))
    model.train()
    opt = aimc.optim.AnalogSGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def fwd_bwd() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()

    for _ in range(args.warmup):
        fwd_bwd()
        opt.step()
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    states = [arrays_of(m.weight)[0][0].onchip for m in layers]
    pairs = list(zip(states, layers, strict=True))
    variants: dict[str, list[HandWritten]] = {
        "hand_written": [HandWritten(s, m.weight, False) for s, m in pairs]}
    compile_error = None
    if args.compile:
        try:
            hw = [HandWritten(s, m.weight, True) for s, m in pairs]
            fwd_bwd()
            for h, s in zip(hw, states, strict=True):
                (xr, dr), = s._records
                h.step(xr, dr, LR)  # compiles
            variants["hand_written_compiled"] = hw
        except Exception as exc:  # noqa: BLE001
            compile_error = f"{type(exc).__name__}: {exc}"[:500]
            print("compile failed:", compile_error, flush=True)

    times: dict[tuple[str, int], list[float]] = {}
    lib_pulsed: dict[int, list[int]] = {i: [] for i in range(len(layers))}
    t_start = time.perf_counter()
    for r in range(args.rounds):
        fwd_bwd()
        records = [s._records[0] for s in states]
        for i, (state, layer) in enumerate(pairs):
            xr, dr = records[i]

            def lib(state: Any = state, layer: torch.nn.Module = layer, i: int = i) -> None:
                before = state.counters["pulses"]
                state.step(LR, layer.weight)
                lib_pulsed[i].append(state.counters["pulses"] - before)

            runs: list[tuple[str, Callable[[], None]]] = [("library", lib)]
            for name, hw in variants.items():
                runs.append((name, lambda h=hw[i], xr=xr, dr=dr: h.step(xr, dr, LR)))
            if r % 2:
                runs.reverse()
            for name, fn in runs:
                t0 = time.perf_counter()
                fn()
                times.setdefault((name, i), []).append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start

    rows = []
    for (name, i), v in sorted(times.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        shape = tuple(layers[i].weight.shape)
        pulses = variants[name][i].pulses if name in variants else lib_pulsed[i]
        rows.append({"variant": name, "layer": i, "shape": shape,
                     "median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v),
                     "n": len(v), "pulses_per_step": statistics.mean(pulses)})
    env = env_info()
    env["aimc_commit"] = _git_commit()
    out = {"benchmark": "pulse_update_floor", "model": "mlp_784_256_10", "batch": 64,
           "config": "onchip_sgd(ConstantStepDevice(), mode='exact')", "lr": LR,
           "rounds": args.rounds, "wall_s": wall, "env": env, "results": rows,
           "compile_error": compile_error,
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": shlex.join([sys.executable, "benchmarks/bench_update_floor.py",
                                  *sys.argv[1:]])}
    for r in rows:
        print(f"layer {r['layer']} {str(r['shape']):12s} {r['variant']:22s} "
              f"{r['median_ms']:7.3f} ms (min {r['min_ms']:.3f}) "
              f"pulses/step {r['pulses_per_step']:.0f}", flush=True)
    if args.json:
        write_json(args.json, out)
    if args.md:
        write_markdown(args.md, out)


def write_markdown(path: str, out: dict[str, Any]) -> None:
    env = out["env"]
    lines = ["# Pulse update per layer: aimc against a hand-written eager version", "",
             f"Command: `{out['command']}`  ",
             f"Date: {out['date']}; {out['rounds']} rounds, wall time {out['wall_s']:.0f} s.  ",
             f"Machine: {env['cpu']}, {env['threads']} threads, torch {env['torch']}, aimc "
             f"{env.get('aimc_commit') or '?'}.", "",
             f"Workload: MLP 784-256-10, batch 64, `{out['config']}`, lr {out['lr']}; the (x, δ) "
             "of a real forward/backward per round (BL management gives BL = 1 here). "
             "`library` = `OnChipState.step` of the layer (pulse counts, device update, weight "
             "write-back); `hand_written` = the same computation as straight-line tensor ops "
             "(module docstring of `benchmarks/bench_update_floor.py`) on a copy of the same "
             "devices; `hand_written_compiled` = its elementwise parts through "
             "`torch.compile`. Medians per update.", "",
             "| layer | variant | median | min | pulses per step |", "|---|---|---|---|---|"]
    lib = {r["layer"]: r for r in out["results"] if r["variant"] == "library"}
    for r in out["results"]:
        pulsed = f"{r['pulses_per_step']:.0f}"
        rel = ""
        if r["variant"] != "library" and r["layer"] in lib:
            rel = f" ({r['median_ms'] / lib[r['layer']]['median_ms']:.2f}× the library)"
        lines.append(f"| {r['layer']} {tuple(r['shape'])} | `{r['variant']}` | "
                     f"{r['median_ms']:.3f} ms{rel} | {r['min_ms']:.3f} ms | {pulsed} |")
    if out.get("compile_error"):
        lines += ["", f"`--compile` failed: {out['compile_error']}"]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
