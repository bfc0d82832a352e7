"""Input checks shared by the spiking kernels (one message per mistake, naming the fix)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.errors import ConfigError, ShapeError

__all__ = ["check_time_step", "check_spikes"]


def check_time_step(dt: float) -> float:
    """``dt`` as a float (ms); rejects bools, non-numbers, non-finite values and dt ≤ 0."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise ConfigError(f"dt must be a finite time step > 0 in ms, got {dt!r}")
    return float(dt)


def check_spikes(name: str, spikes: Tensor, like: Tensor) -> Tensor:
    """``spikes`` must be bool, shaped and placed like ``like`` (its state or trace)."""
    if not isinstance(spikes, Tensor) or spikes.dtype != torch.bool:
        raise ShapeError(f"{name} must be a bool tensor (True where a neuron spiked), got "
                         f"{getattr(spikes, 'dtype', type(spikes).__name__)}")
    if spikes.shape != like.shape:
        raise ShapeError(f"{name} have shape {tuple(spikes.shape)}, the state "
                         f"{tuple(like.shape)}; pass (batch, neurons), one flag per neuron "
                         f"and sample")
    if spikes.device != like.device:
        raise ShapeError(f"{name} are on {spikes.device}, the state on {like.device}; move "
                         f"them with .to({str(like.device)!r})")
    return spikes
