"""Spike encoders: Poisson rate, regular rate and latency (time to first spike).

Every encoder returns bool spikes shaped ``(steps, *values.shape)`` (time first) and draws from
an explicit ``torch.Generator`` where it is random. Rates in Hz, times in ms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.errors import ConfigError, ShapeError
from aimc.snn._checks import check_time_step

__all__ = ["poisson_step", "poisson_spikes", "poisson_events", "regular_spikes",
           "latency_spikes", "check_rates"]


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


def poisson_events(p: Tensor, steps: int, generator: torch.Generator | None = None
                   ) -> tuple[Tensor, Tensor]:
    """The spikes of independent Bernoulli(p_u) trains over ``steps`` steps as events,
    drawn through their gaps: a Bernoulli process's gaps between spikes are independent and
    geometric, P(gap = k) = (1 − p)^(k−1)·p, so gap = ⌊ln U / ln(1 − p)⌋ + 1 with U uniform on
    (0, 1] (float64), and the first spike falls in step gap − 1. Same distribution as
    :func:`poisson_spikes` (tested), but it draws ≈ (expected spikes + 1) numbers per unit
    instead of one per step, and none for units with p = 0 (the background pixels of a digit).

    Args:
        p: spike probability per step of each unit (any shape, values in [0, 1]; p = 1
            spikes every step).
        steps: the number of steps.
        generator: the source of the uniforms.

    Returns:
        ``(step, unit)``: int64 events sorted by step (units in increasing order within a
        step), ``unit`` a flat index into ``p``.
    """
    steps = _check_steps(steps)
    if not isinstance(p, Tensor) or not p.dtype.is_floating_point:
        raise ShapeError("p must be a floating-point tensor of spike probabilities per step")
    flat = p.reshape(-1)
    if flat.numel() and (not bool(torch.isfinite(flat).all()) or float(flat.min()) < 0
                         or float(flat.max()) > 1):
        raise ConfigError("spike probabilities per step must lie in [0, 1]; use rate·dt/1000 "
                          "with rate·dt <= 1000 (Hz·ms)")
    dev = flat.device
    units = torch.nonzero(flat > 0).flatten()
    log_q = torch.log1p(-flat[units].double())  # −inf where p = 1: every gap is 1
    last = torch.full((units.numel(),), -1, dtype=torch.int64, device=dev)
    found_t, found_u = [], []
    alive = torch.arange(units.numel(), device=dev)
    while alive.numel():
        expected = float((-log_q[alive]).max().clamp(max=1.0)) * steps  # ≥ p·steps
        block = max(4, min(steps, int(expected) + 4))
        u = 1.0 - torch.rand((alive.numel(), block), dtype=torch.float64, device=dev,
                             generator=generator)
        gaps = torch.floor(torch.log(u) / log_q[alive].unsqueeze(1)).clamp_(max=steps) + 1
        t = last[alive].unsqueeze(1) + torch.cumsum(gaps.long(), dim=1)
        inside = t < steps
        rows, cols = torch.nonzero(inside, as_tuple=True)
        found_t.append(t[rows, cols])
        found_u.append(units[alive[rows]])
        more = inside[:, -1]
        last[alive[more]] = t[more, -1]
        alive = alive[more]
    if not found_t:
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        return empty, empty.clone()
    step = torch.cat(found_t)
    unit = torch.cat(found_u)
    order = torch.argsort(step * flat.numel() + unit)
    return step[order], unit[order]


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
