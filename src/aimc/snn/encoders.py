"""Spike encoders: Poisson rate, regular rate and latency (time to first spike).

Every encoder returns bool spikes shaped ``(steps, *values.shape)`` (time first) and draws from
an explicit ``torch.Generator`` where it is random. Rates in Hz, times in ms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.errors import ConfigError, ShapeError
from aimc.snn._checks import check_time_step

__all__ = ["poisson_step", "poisson_spikes", "regular_spikes", "latency_spikes",
           "check_rates"]


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
    return steps


def check_rates(rates: Tensor, dt: float) -> Tensor:
    """Validate firing rates (Hz): a floating tensor, finite, ≥ 0, and rate·dt ≤ 1 per step."""
    if not isinstance(rates, Tensor) or not rates.dtype.is_floating_point:
        raise ShapeError("rates must be a floating-point tensor of firing rates in Hz, got "
                         f"{getattr(rates, 'dtype', type(rates).__name__)}")
    if rates.numel() and (not bool(torch.isfinite(rates).all()) or float(rates.min()) < 0):
        raise ConfigError("rates must be finite and >= 0 Hz")
    if rates.numel() and float(rates.max()) * dt / 1000.0 > 1.0:
        raise ConfigError(f"rate {float(rates.max())} Hz × dt {dt} ms exceeds one spike per "
                          f"step; lower the rate or use dt <= {1000.0 / float(rates.max())} ms")
    return rates


def poisson_step(rates: Tensor, dt: float, generator: torch.Generator | None = None) -> Tensor:
    """One step of independent Bernoulli(rate·dt) spikes (the discrete Poisson process)."""
    dt = check_time_step(dt)
    p = check_rates(rates, dt) * (dt / 1000.0)
    return torch.rand(p.shape, dtype=p.dtype, device=p.device, generator=generator) < p


def poisson_spikes(rates: Tensor, steps: int, dt: float,
                   generator: torch.Generator | None = None) -> Tensor:
    """``steps`` steps of :func:`poisson_step`: (steps, *rates.shape) bool.

    The spike count of an input over T = steps·dt is Binomial(steps, rate·dt), mean rate·T.
    """
    dt = check_time_step(dt)
    steps = _check_steps(steps)
    p = check_rates(rates, dt) * (dt / 1000.0)
    u = torch.rand((steps, *p.shape), dtype=p.dtype, device=p.device, generator=generator)
    return u < p


def regular_spikes(rates: Tensor, steps: int, dt: float) -> Tensor:
    """Deterministic trains: input i spikes in step k when ⌊(k+1)·dt·r_i/1000⌋ grows, i.e.
    ⌊T·r⌋ spikes over T, evenly spaced (the first after 1/r)."""
    dt = check_time_step(dt)
    steps = _check_steps(steps)
    r = check_rates(rates, dt)
    k = torch.arange(steps + 1, dtype=torch.float64, device=r.device)
    counts = torch.floor(k.view(-1, *([1] * r.dim())) * (dt / 1000.0) * r.double() + 1e-9)
    return counts[1:] > counts[:-1]


def latency_spikes(values: Tensor, steps: int, *, threshold: float = 0.0) -> Tensor:
    """One spike per input, earlier for larger values: value x ∈ [0, 1] spikes in step
    round((1 − x)·(steps − 1)); inputs with x ≤ ``threshold`` stay silent."""
    steps = _check_steps(steps)
    if not isinstance(values, Tensor) or not values.dtype.is_floating_point:
        raise ShapeError("values must be a floating-point tensor in [0, 1]")
    if values.numel() and (float(values.min()) < 0 or float(values.max()) > 1
                           or not bool(torch.isfinite(values).all())):
        raise ConfigError("latency coding needs values in [0, 1]; scale them first, e.g. "
                          "x / x.max()")
    step = torch.round((1.0 - values) * (steps - 1)).long()
    t = torch.arange(steps, device=values.device).view(-1, *([1] * values.dim()))
    return (t == step.unsqueeze(0)) & (values > threshold).unsqueeze(0)
