"""Diehl & Cook STDP network: training and evaluation speed of aimc against BindsNET 0.3.4.

    .venv/bin/python benchmarks/bench_snn_stdp.py --data ../shared/data/mnist \
        --bindsnet-python /tmp/bnvenv/bin/python \
        --json benchmarks/results/snn_stdp.json --md benchmarks/results/snn_stdp.md

Both run BindsNET's example settings (``../shared/reference/snn.md`` §1), one after the other
in the same run on the same machine: batch 1 training with STDP acting within each image,
250 ms per image at dt = 1 ms, no rest period (BindsNET resets the state after each image;
aimc's network starts every image from rest too), input rates pixel·128 Hz (aimc's
``intensity`` = 128·8/255), 100 and 400 excitatory neurons with as many inhibitory ones.
BindsNET evaluates one image at a time; aimc is timed both at batch 1 and batched
(``--eval-batch``). The networks are not identical — BindsNET's are current-based LIF
neurons, aimc's conductance-based as in the reference code — but do the same work per step:
784 Poisson inputs, 2n neurons, a trace STDP rule. The peer runs in its own virtual
environment (``benchmarks/peers/bindsnet_diehl_cook.py`` says how to make it).

Also recorded: where aimc's time per step goes (``cProfile`` of the training loop: the
simulation loop's own Python time against the NumPy/torch calls it makes).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

from common import env_info, write_json  # threads before torch

# isort: split
import torch

from aimc.data import load_mnist
from aimc.experiments.provenance import code_version, portable_command
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings

ROOT = Path(__file__).resolve().parents[1]
INTENSITY_128HZ = 128.0 * 8.0 / 255.0  # pixel·255/8·intensity Hz = pixel·128 Hz


def _settings(neurons: int) -> DiehlCookSettings:
    return DiehlCookSettings(n_neurons=neurons, dt=1.0, t_present=250.0, t_rest=0.0,
                             intensity=INTENSITY_128HZ)


def _time_aimc(neurons: int, images: torch.Tensor, test: torch.Tensor, n_train: int,
               eval_batch: int, device: str) -> dict:
    net = DiehlCookNetwork(_settings(neurons), generator=torch.Generator().manual_seed(0),
                           device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    x = images.to(device)
    for i in range(10):  # warm-up (tables, allocator)
        net.present(x[i:i + 1], learn=True, generator=gen)
    t0 = time.perf_counter()
    for i in range(10, 10 + n_train):
        net.present(x[i:i + 1], learn=True, generator=gen)
    train_s = time.perf_counter() - t0
    xt = test.to(device)
    n_single = min(200, len(xt))
    t0 = time.perf_counter()
    for i in range(n_single):
        net.present(xt[i:i + 1], learn=False, generator=gen)
    single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(xt), eval_batch):
        net.present(xt[i:i + eval_batch], learn=False, generator=gen)
    batch_s = time.perf_counter() - t0
    steps = net.settings.present_steps
    return {"library": "aimc", "neurons": neurons, "device": device,
            "train_images": n_train, "test_images": len(xt),
            "train_images_per_s": n_train / train_s,
            "eval_images_per_s": len(xt) / batch_s, "eval_batch": eval_batch,
            "eval_images_per_s_batch1": n_single / single_s,
            "train_us_per_step": train_s / n_train / steps * 1e6}


def _profile_aimc(neurons: int, images: torch.Tensor, n: int) -> list[dict]:
    """Top entries of the training loop's profile (own time per function)."""
    net = DiehlCookNetwork(_settings(neurons), generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        net.present(images[i:i + 1], learn=True, generator=gen)
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]  # type: ignore[attr-defined]
    return [{"function": f"{Path(k[0]).name}:{k[2]}", "calls": v[1],
             "share_of_time": v[2] / total} for k, v in rows]


def _run_bindsnet(python: str, neurons: int, data: Path, n_train: int, n_test: int) -> dict:
    cmd = [python, str(ROOT / "benchmarks" / "peers" / "bindsnet_diehl_cook.py"),
           "--neurons", str(neurons), "--data", str(data), "--train", str(n_train),
           "--test", str(n_test)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _markdown(result: dict) -> str:
    env = result["env"]
    lines = ["# Diehl & Cook STDP network: aimc against BindsNET 0.3.4", "",
             f"Command: `{result['command']}`", "",
             f"CPU: {env['cpu']}, {env['threads']} threads; torch {env['torch']} (aimc), "
             f"BindsNET's own venv for the peer. Code: {result['code'].get('git_commit')}.",
             "", "| library | neurons | train img/s | eval img/s | eval batch | "
             "eval img/s at batch 1 |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        b1 = r.get("eval_images_per_s_batch1")
        lines.append(f"| {r['library']} | {r['neurons']} | {r['train_images_per_s']:.1f} | "
                     f"{r['eval_images_per_s']:.1f} | {r['eval_batch']} | "
                     f"{'—' if b1 is None else f'{b1:.1f}'} |")
    lines += ["", "Where aimc's training time goes (cProfile, own time, 100 neurons):", "",
              "| function | calls | share |", "|---|---|---|"]
    for p in result["profile_100"]:
        lines.append(f"| `{p['function']}` | {p['calls']} | {100 * p['share_of_time']:.0f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with the MNIST IDX files")
    ap.add_argument("--neurons", default="100,400")
    ap.add_argument("--train", type=int, default=300, help="aimc training images timed")
    ap.add_argument("--test", type=int, default=2000, help="aimc evaluation images")
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--bindsnet-python", help="python of the BindsNET venv (omit: no peer)")
    ap.add_argument("--bindsnet-train", type=int, default=200)
    ap.add_argument("--bindsnet-test", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path)
    args = ap.parse_args()
    train = load_mnist(args.data, "train", limit=args.train + 10).tensors[0].reshape(-1, 784)
    test = load_mnist(args.data, "test", limit=args.test).tensors[0].reshape(-1, 784)
    rows = []
    for n in (int(v) for v in args.neurons.split(",")):
        rows.append(_time_aimc(n, train, test, args.train, args.eval_batch, args.device))
        print(json.dumps(rows[-1]), flush=True)
        if args.bindsnet_python:
            rows.append(_run_bindsnet(args.bindsnet_python, n, args.data.resolve(),
                                      args.bindsnet_train, args.bindsnet_test))
            print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "snn_stdp", "command": portable_command(["benchmarks/bench_snn_stdp.py",
                                                                    *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%d"), "env": env_info(), "code": code_version(),
              "settings": {"dt_ms": 1.0, "t_present_ms": 250.0, "t_rest_ms": 0.0,
                           "max_rate_hz": 128.0, "batch_train": 1},
              "rows": rows, "profile_100": _profile_aimc(100, train, 50)}
    if args.json:
        write_json(str(args.json), result)
    if args.md:
        args.md.write_text(_markdown(result), encoding="utf-8")
    print(_markdown(result))


if __name__ == "__main__":
    main()
