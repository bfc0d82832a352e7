"""Synaptic eligibility traces: ``x ← x·e^(−dt/τ)``, then on a spike x ← amplitude (reset mode,
the Diehl & Cook reference code, physics.md §7.4) or x ← x + amplitude (additive mode).

Decay is exact for any ``dt``; the spike acts after the decay, so a trace read in the step of
its own spike is the post-spike value. A rule that needs the value *before* the spike (the
Diehl & Cook post2 trace) reads :func:`trace_decay` first and applies :func:`trace_spike` after.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.config.snn import Trace
from aimc.errors import ConfigError, ShapeError

__all__ = ["trace_decay", "trace_spike", "trace_step"]


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise ConfigError(f"dt must be a finite time step > 0 in ms, got {dt!r}")
    return float(dt)


def trace_decay(x: Tensor, params: Trace, dt: float) -> Tensor:
    """x·e^(−dt/τ) (a new tensor)."""
    return x * math.exp(-_check_dt(dt) / params.tau)


def trace_spike(x: Tensor, spikes: Tensor, params: Trace) -> Tensor:
    """The trace after the spikes of this step (``spikes``: bool, shaped like ``x``)."""
    if not isinstance(spikes, Tensor) or spikes.dtype != torch.bool:
        raise ShapeError("spikes must be a bool tensor (True where a neuron spiked), got "
                         f"{getattr(spikes, 'dtype', type(spikes).__name__)}")
    if spikes.shape != x.shape:
        raise ShapeError(f"spikes have shape {tuple(spikes.shape)}, the trace "
                         f"{tuple(x.shape)}; pass one flag per neuron and sample")
    if spikes.device != x.device:
        raise ShapeError(f"spikes are on {spikes.device}, the trace on {x.device}")
    if params.mode == "reset":
        return torch.where(spikes, torch.full_like(x, params.amplitude), x)
    return x + spikes.to(x.dtype) * params.amplitude


def trace_step(x: Tensor, spikes: Tensor, params: Trace, dt: float) -> Tensor:
    """One step: decay, then the spikes (module docstring)."""
    return trace_spike(trace_decay(x, params, dt), spikes, params)
