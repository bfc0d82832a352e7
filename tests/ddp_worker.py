"""One rank of the data-parallel equivalence test (tests/test_distributed.py), run by
``torchrun --nproc-per-node 2`` — or as one plain process with the global batch.

Usage: ``python tests/ddp_worker.py MODE OUT.json`` with MODE ``hwa`` (the HWA preset, SGD)
or ``mixed_precision`` / ``insitu`` (on-chip training with AnalogSGD) on an MLP, or
``cnn_hwa`` / ``cnn_mixed_precision`` on a small CNN. float64 throughout, so
that float rounding of the gradient all-reduce cannot flip a DAC/ADC step or a pulse decision.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

import aimc
from aimc import presets

GLOBAL_BATCH, STEPS = 16, 6


def main(mode: str, out: str) -> None:
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    ddp = "RANK" in os.environ
    if ddp:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
    torch.manual_seed(0)  # the same on every rank: same model, devices, generators
    if mode.startswith("cnn_"):  # conv + linear: im2col records, per-position noise
        net: nn.Module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(4 * 4 * 4, 3))
        shape: tuple[int, ...] = (1, 6, 6)
    else:
        net = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 3))
        shape = (12,)
    config = {"hwa": presets.rasch2023_hwa(), "mixed_precision": presets.onchip_mixed_precision(),
              "insitu": presets.onchip(), "cnn_hwa": presets.rasch2023_hwa(),
              "cnn_mixed_precision": presets.onchip_mixed_precision()}[mode]
    model = aimc.convert_to_analog(net, config)
    data = torch.Generator().manual_seed(1)
    x = torch.randn(STEPS * GLOBAL_BATCH, *shape, generator=data)
    y = torch.randint(0, 3, (STEPS * GLOBAL_BATCH,), generator=data)
    hwa = mode.endswith("hwa")
    if hwa:
        aimc.calibrate_input_ranges(model, [x[:GLOBAL_BATCH]])
    run = aimc.distributed.data_parallel(model) if ddp else model
    if hwa:
        opt: torch.optim.Optimizer = torch.optim.SGD(run.parameters(), lr=0.05)
        aimc.train.attach_hwa_constraints(opt, model)
    else:
        opt = aimc.optim.AnalogSGD(run.parameters(), lr=0.05)
    torch.manual_seed(2)  # the per-step noise stream, alike on every rank
    local = GLOBAL_BATCH // world
    losses = []
    for step in range(STEPS):
        lo = step * GLOBAL_BATCH + rank * local
        loss = nn.functional.cross_entropy(run(x[lo:lo + local]), y[lo:lo + local])
        opt.zero_grad()
        loss.backward()
        opt.step()
        mean = loss.detach().clone()
        if ddp:
            dist.all_reduce(mean)
            mean /= world
        losses.append(float(mean))
    if ddp:
        aimc.distributed.check_in_sync(model)
    if rank == 0:
        weights = [float(v) for _, p in model.named_parameters() for v in p.detach().flatten()]
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"losses": losses, "weights": weights, "world": world}, f)
    # no destroy_process_group: the process ends with os._exit (below)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    # skip interpreter finalisation: gloo's process-group teardown can hang in a rank's
    # exit (seen under pytest: one rank blocked in a futex after main() returned), and
    # everything this process had to do is done and flushed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
