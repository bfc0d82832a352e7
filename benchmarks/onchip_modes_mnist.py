"""In-situ SGD on MNIST: do the ``exact`` and ``fast`` pulse-update modes reach the same accuracy?

The two modes (``aimc.config.PulseUpdate.mode``, see :mod:`aimc.onchip.pulses`) differ only in
how the coincidence counts are drawn: explicit Bernoulli pulse trains (``exact``), or per
device from a distribution with the exact mean and variance, ignoring the correlation
between devices that share a train (``fast``; forced here to use its per-device sampler even
where explicit trains would be cheaper). This script trains the same MLP with both,
on two device models, over several seeds, and reports test accuracy mean ± std.

Workload: MLP 784-256-10 (ReLU), MNIST from ``../shared/data/mnist`` (or ``$AIMC_DATA``),
``--train`` training images, the full 10,000-image test set, batch 64, lr 0.1 (AnalogSGD),
``--epochs`` epochs; forward/backward periphery of ``aimc.presets.onchip_io`` (aihwkit
defaults). Devices: aihwkit's ``ConstantStepDevice`` and ``SoftBoundsDevice`` defaults.

Usage: python benchmarks/onchip_modes_mnist.py [--data DIR] [--train 20000] [--epochs 2]
       [--seeds 3] [--md benchmarks/results/onchip_modes_mnist.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone

import torch
from torch import nn

import aimc
import aimc.onchip.pulses
from aimc.config.pulsed import ConstantStepDevice, SoftBoundsDevice
from aimc.data import load_mnist
from aimc.optim import AnalogSGD

DEVICES = {"constant_step": ConstantStepDevice, "soft_bounds": SoftBoundsDevice}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


def run(device: str, mode: str, seed: int, data: tuple, epochs: int) -> float:  # type: ignore[type-arg]
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    cfg = aimc.presets.onchip_sgd(DEVICES[device](), mode=mode)
    model = aimc.convert_to_analog(mlp(), cfg).train()
    opt = AnalogSGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    return evaluate(model, xte, yte)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("AIMC_DATA_MNIST",
                                                     "../shared/data/mnist"))
    ap.add_argument("--train", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/onchip_modes_mnist.json")
    ap.add_argument("--md", default="benchmarks/results/onchip_modes_mnist.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    # force the per-device sampler in fast mode (at batch 64 it would otherwise pick the
    # explicit trains, which are cheaper there, and the comparison would be moot)
    aimc.onchip.pulses.FAST_COST_PER_DEVICE = 0
    tr = load_mnist(args.data, "train", limit=args.train)
    te = load_mnist(args.data, "test")
    data = (tr.tensors[0], tr.tensors[1], te.tensors[0], te.tensors[1])
    results: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for device in DEVICES:
        for mode in ("exact", "fast"):
            t0 = time.perf_counter()
            accs = [run(device, mode, s, data, args.epochs) for s in range(args.seeds)]
            seconds.setdefault(device, {})[mode] = time.perf_counter() - t0
            results.setdefault(device, {})[mode] = accs
            print(f"{device:14s} {mode:5s} " + " ".join(f"{a:.4f}" for a in accs), flush=True)
    out = {"command": "python benchmarks/onchip_modes_mnist.py " + " ".join(
        f"--{k} {v}" for k, v in (("train", args.train), ("epochs", args.epochs),
                                   ("seeds", args.seeds))),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "aimc": aimc.__version__, "torch": torch.__version__,
           "results": results, "seconds": seconds}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# In-situ SGD on MNIST: `exact` vs `fast` pulse-update modes", "",
             f"Command: `{out['command']}` ({out['date']}, aimc {out['aimc']}, torch "
             f"{out['torch']}, 2 CPU threads).", "",
             "MLP 784-256-10 (ReLU), batch 64, AnalogSGD lr 0.1, "
             f"{args.train} training images, {args.epochs} epochs, full test set; aihwkit "
             "default devices and periphery (`aimc.presets.onchip_sgd`). Test accuracy per seed "
             "(seeds 0…), mean ± std, and the difference of the means in units of its standard "
             "error.", "",
             "| device | exact | fast | Δ mean (fast − exact) | Δ / s.e. | time exact / fast (s) |",
             "|---|---|---|---|---|---|"]
    for device, modes in results.items():
        e, f_ = modes["exact"], modes["fast"]
        me, mf = statistics.mean(e), statistics.mean(f_)
        se = (statistics.pvariance(e) / len(e) + statistics.pvariance(f_) / len(f_)) ** 0.5
        z = (mf - me) / se if se > 0 else float("nan")
        lines.append(f"| {device} | {100 * me:.2f} ± {100 * statistics.pstdev(e):.2f} | "
                     f"{100 * mf:.2f} ± {100 * statistics.pstdev(f_):.2f} | "
                     f"{100 * (mf - me):+.2f} % | {z:+.1f} | "
                     f"{seconds[device]['exact']:.0f} / {seconds[device]['fast']:.0f} |")
    lines += ["", "Per-seed accuracies: see the JSON next to this file."]
    with open(args.md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
