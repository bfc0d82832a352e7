"""Which array library runs an event-driven loop: NumPy views on CPU, torch elsewhere.

A batch-1 spiking simulation is a few dozen operations on vectors of a few hundred numbers per
time step, so its cost is the per-operation dispatch, not the arithmetic: on the 2-core AMD
EPYC of ``benchmarks/results/snn_stdp.json`` an elementwise torch op on 100 floats costs
2–8 µs, the NumPy one 0.7 µs. The loops in :mod:`aimc.snn` are written once against the
operations both libraries share (``*=``, ``+=``, ``xp.exp(a, out=a)``, ``xp.greater``, fancy
indexing, ``.sum(0)``); on CPU they run on NumPy *views* of the torch tensors (no copy: the
tensors stay the state, checkpoints and the public API are torch), on CUDA on the tensors.
Elementwise IEEE arithmetic gives the same bits in both; ``exp`` and reductions may differ in
the last place (tests compare the two backends).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["array_module", "view", "flat_nonzero", "to_torch"]


def array_module(device: torch.device, batch: int = 1) -> ModuleType:
    """``numpy`` for a batch of 1 on CPU (dispatch-bound: small vectors), ``torch``
    otherwise (a batch's arrays are large enough for torch's threads to pay, and the batch
    path uses ``index_add_``)."""
    return np if device.type == "cpu" and batch == 1 else torch


def view(t: Tensor, xp: ModuleType) -> Any:
    """The tensor as an array of ``xp`` sharing its memory (a NumPy view on CPU)."""
    if xp is np:
        return t.detach().numpy()
    return t


def flat_nonzero(a: Any, xp: ModuleType) -> Any:
    """Positions of the true entries of a 1-D bool array (int64)."""
    if xp is np:
        return np.flatnonzero(a)
    return torch.nonzero(a).flatten()


def to_torch(a: Any, like: Tensor) -> Tensor:
    """An ``xp`` array back as a tensor on ``like``'s device (a view where possible)."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a).to(like.device)
    return a
