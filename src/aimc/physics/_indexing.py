"""Index helpers for the sparse device updates."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["flat_nonzero"]


def flat_nonzero(mask: Tensor) -> Tensor:
    """Flat int64 positions (ascending, 1-D) of the True entries of a bool tensor.

    On CPU this goes through ``numpy.flatnonzero`` on the shared memory, about 5× faster
    than ``torch.nonzero`` for the 10⁵–10⁶-element masks of a pulse update (measured on the
    benchmark machine: 70 µs against 345 µs for 2·10⁵ elements); elsewhere ``torch.nonzero``.
    """
    if mask.dtype != torch.bool:
        raise TypeError(f"flat_nonzero takes a bool mask, got {mask.dtype}")
    if mask.device.type == "cpu" and mask.is_contiguous() and not mask.requires_grad:
        return torch.from_numpy(np.flatnonzero(mask.numpy()).astype(np.int64, copy=False))
    return mask.reshape(-1).nonzero().squeeze(1)
