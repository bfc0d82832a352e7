"""Gaussian draws from an explicit generator (or the global RNG when it is None), and the
data-parallel batch shard that per-sample draws respect (:mod:`aimc.distributed`)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class BatchShard(NamedTuple):
    """This process holds samples ``[rank·n, (rank + 1)·n)`` of a global batch of
    ``world·n`` (every rank the same n)."""

    rank: int
    world: int


_SHARD: BatchShard | None = None


def set_batch_shard(shard: BatchShard | None) -> BatchShard | None:
    """Set the process's batch shard (None: no sharding); returns the previous one."""
    global _SHARD
    previous, _SHARD = _SHARD, shard
    return previous


def batch_shard() -> BatchShard | None:
    """The process's batch shard, or None."""
    return _SHARD


def _randn(shape: list[int] | torch.Size, t: Tensor,
           generator: torch.Generator | None) -> Tensor:
    if generator is None or torch.compiler.is_compiling():
        # torch.compile cannot trace a draw from an explicit generator (nor the argument
        # generator=None): compiled code draws from the global RNG (seeded by
        # torch.manual_seed), whose stream differs from eager's anyway
        return torch.randn(shape, dtype=t.dtype, device=t.device)
    return torch.randn(shape, dtype=t.dtype, device=t.device, generator=generator)


def randn_like(t: Tensor, generator: torch.Generator | None = None, *,
               batch_dim: int | None = None) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``t``.

    Draws into a freshly allocated contiguous tensor: torch's vectorised CPU sampler only
    handles contiguous outputs, and filling a strided view (e.g. a transposed tile layout) is
    about 5× slower.

    ``batch_dim``: the sample axis of ``t`` (per-sample noise). Under a data-parallel batch
    shard (:func:`set_batch_shard`, set by :func:`aimc.distributed.enable`) the draw covers
    the global batch — ``world`` times the local size along that axis — and returns this
    rank's slice: every rank consumes the generator as one process with the global batch
    would, and each sample gets the noise it would get there (so data-parallel training
    reproduces single-process training). The slice is a view (not contiguous for
    ``batch_dim`` > 0).
    """
    shard = _SHARD
    if shard is None or batch_dim is None or shard.world == 1:
        return _randn(t.shape, t, generator)
    shape = list(t.shape)
    n = shape[batch_dim]
    shape[batch_dim] = n * shard.world
    return _randn(shape, t, generator).narrow(batch_dim, shard.rank * n, n)
