"""Training-time weight-noise injection on normalised tile weights (physics.md §1.3).

The noise is drawn once per forward pass and added straight-through: the forward pass and
the input gradient use the noisy weights, the weight gradient flows to the clean weights
(aihwkit weight modifiers: "forward/backward see it, the update hits the clean weight").
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.config.training import (
    DropConnect,
    GaussianWeightNoise,
    NoWeightNoise,
    ProgrammingWeightNoise,
    WeightNoise,
)
from aimc.physics._random import randn_like

__all__ = ["apply_weight_noise"]


def apply_weight_noise(w: Tensor, cfg: WeightNoise, *,
                       generator: torch.Generator | None = None) -> Tensor:
    """Noisy copy of normalised weights ``w`` (K, out, rows), straight-through.

    * :class:`GaussianWeightNoise`: w + std·ξ
    * :class:`ProgrammingWeightNoise`: w + scale·max(c0 + c1|w| + c2 w², 0)/25·ξ
    * :class:`DropConnect`: w·m, m ~ Bernoulli(1 − p)
    """
    if isinstance(cfg, NoWeightNoise):
        return w
    with torch.no_grad():
        wd = w.detach()
        if isinstance(cfg, GaussianWeightNoise):
            if cfg.std == 0:
                return w
            delta = cfg.std * randn_like(wd, generator)
        elif isinstance(cfg, ProgrammingWeightNoise):
            c0, c1, c2 = cfg.coeffs
            a = wd.abs()
            std = ((c2 * a + c1) * a + c0).clamp_(min=0.0).mul_(cfg.scale / 25.0)
            delta = std.mul_(randn_like(wd, generator))
        elif isinstance(cfg, DropConnect):
            if cfg.p == 0:
                return w
            keep = torch.rand(wd.shape, dtype=wd.dtype, device=wd.device,
                              generator=generator) >= cfg.p
            delta = torch.where(keep, torch.zeros_like(wd), -wd)
        else:
            raise TypeError(f"unknown weight noise {cfg!r}")
    return w + delta
