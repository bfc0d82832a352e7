"""Monitors: record spikes or voltages of a population as tensors, only when asked.

A network keeps no per-step history; a monitor is the caller's opt-in record::

    mon = SpikeMonitor()                 # or SpikeMonitor(counts_only=True)
    for t in range(steps):
        spikes, state = lif_step(state, params, dt, exc=...)
        mon.record(spikes)
    mon.spikes                           # (steps, *population) bool
    mon.counts                           # (*population,) int64
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.errors import ShapeError, StateError

__all__ = ["SpikeMonitor", "StateMonitor"]


class SpikeMonitor:
    """Spike record of one population. ``counts_only`` keeps just the running counts
    (memory independent of the number of steps)."""

    def __init__(self, *, counts_only: bool = False) -> None:
        self.counts_only = bool(counts_only)
        self._steps: list[Tensor] = []
        self._counts: Tensor | None = None

    def record(self, spikes: Tensor) -> None:
        if not isinstance(spikes, Tensor) or spikes.dtype != torch.bool:
            raise ShapeError("SpikeMonitor.record needs the bool spike tensor of a step, got "
                             f"{getattr(spikes, 'dtype', type(spikes).__name__)}")
        if self._counts is not None and spikes.shape != self._counts.shape:
            raise ShapeError(f"spikes of shape {tuple(spikes.shape)} after "
                             f"{tuple(self._counts.shape)}: one monitor per population")
        if self._counts is None:
            self._counts = torch.zeros(spikes.shape, dtype=torch.int64, device=spikes.device)
        self._counts += spikes
        if not self.counts_only:
            self._steps.append(spikes.clone())

    @property
    def counts(self) -> Tensor:
        if self._counts is None:
            raise StateError("the monitor has recorded nothing yet")
        return self._counts

    @property
    def spikes(self) -> Tensor:
        """(steps, *population) bool."""
        if self.counts_only:
            raise StateError("this monitor keeps counts only; create it with "
                             "SpikeMonitor(counts_only=False) to keep the spikes")
        if not self._steps:
            raise StateError("the monitor has recorded nothing yet")
        return torch.stack(self._steps)

    def reset(self) -> None:
        self._steps.clear()
        self._counts = None


class StateMonitor:
    """Record of one state variable (e.g. ``state.v``) per step: ``values`` (steps, ...)."""

    def __init__(self) -> None:
        self._steps: list[Tensor] = []

    def record(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise ShapeError(f"StateMonitor.record needs a tensor, got {type(value).__name__}")
        if self._steps and value.shape != self._steps[0].shape:
            raise ShapeError(f"value of shape {tuple(value.shape)} after "
                             f"{tuple(self._steps[0].shape)}: one monitor per variable")
        self._steps.append(value.detach().clone())

    @property
    def values(self) -> Tensor:
        if not self._steps:
            raise StateError("the monitor has recorded nothing yet")
        return torch.stack(self._steps)
