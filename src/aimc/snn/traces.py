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
from aimc.snn._checks import check_spikes, check_time_step

__all__ = ["trace_decay", "trace_spike", "trace_step"]


def trace_decay(x: Tensor, params: Trace, dt: float) -> Tensor:
    """x·e^(−dt/τ) (a new tensor)."""
    return x * math.exp(-check_time_step(dt) / params.tau)


def trace_spike(x: Tensor, spikes: Tensor, params: Trace) -> Tensor:
    """The trace after the spikes of this step (``spikes``: bool, shaped like ``x``)."""
    check_spikes("spikes", spikes, x)
    if params.mode == "reset":
        return torch.where(spikes, torch.full_like(x, params.amplitude), x)
    return x + spikes.to(x.dtype) * params.amplitude


def trace_step(x: Tensor, spikes: Tensor, params: Trace, dt: float) -> Tensor:
    """One step: decay, then the spikes (module docstring)."""
    return trace_spike(trace_decay(x, params, dt), spikes, params)
