"""Gaussian draws from an explicit generator (or the global RNG when it is None)."""

from __future__ import annotations

import torch
from torch import Tensor


def randn_like(t: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``t``."""
    if generator is None:
        return torch.randn_like(t)
    return torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=generator)
