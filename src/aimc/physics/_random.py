"""Gaussian draws from an explicit generator (or the global RNG when it is None)."""

from __future__ import annotations

import torch
from torch import Tensor


def randn_like(t: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``t`` (contiguous).

    Always allocates a contiguous tensor: torch's vectorised CPU sampler only handles
    contiguous outputs, and filling a strided view (e.g. a transposed tile layout) is about
    5× slower.
    """
    if generator is None or torch.compiler.is_compiling():
        # torch.compile cannot trace a draw from an explicit generator (nor the argument
        # generator=None): compiled code draws from the global RNG (seeded by
        # torch.manual_seed), whose stream differs from eager's anyway
        return torch.randn(t.shape, dtype=t.dtype, device=t.device)
    return torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=generator)
