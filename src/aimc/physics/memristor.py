"""Spike-triggered STDP on a state-dependent Cu/SiO2/W memristor (arXiv:2001.09299).

Equations and the sources of the model family: :class:`aimc.config.snn.CuSiO2WMemristor`.
Conductances in µS, voltages in V, times in ms; Δt = t_post − t_pre.

The device voltage during a pre/post spike pair is V(t) = V_post(t − Δt) − V_pre(t): the
post neuron's positive pulse on top of the pre neuron's negative tail exceeds the set
threshold when the post spike follows the pre spike (potentiation), the pre pulse on the post
tail drives it below −v_reset when it precedes it (depression). The drives D±(Δt) are
integrated piecewise by Gauss–Legendre quadrature between the waveform's breakpoints
(pulse edges), so the jumps of V never fall inside a quadrature panel; the threshold kink
((max(·, 0))^p is C¹ for p ≥ 2) is resolved by 32 panels per piece.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from aimc.config.snn import CuSiO2WMemristor, SpikeWaveform
from aimc.errors import ConfigError, ShapeError

__all__ = ["spike_voltage", "device_voltage", "stdp_drives", "table_drives", "mean_update",
           "MemristorParams", "sample_memristors", "memristor_update", "update_from_drives",
           "fit_memristor"]

_PANELS = 32
_NODES = 8
_TAIL = 12.0  # tail span in τ_neg (e^-12 ≈ 6e-6 of the amplitude)
_CHUNK = 256  # Δt values per quadrature batch (bounds the temporary memory)


def spike_voltage(t: Tensor, w: SpikeWaveform) -> Tensor:
    """V(t) of one spike at t = 0 (0 before the spike)."""
    pos = (t >= 0) & (t < w.width_pos)
    tail = t >= w.width_pos
    v = torch.zeros_like(t)
    v = torch.where(pos, torch.full_like(t, w.amplitude_pos), v)
    return torch.where(tail, -w.amplitude_neg * torch.exp(-(t - w.width_pos) / w.tau_neg), v)


def device_voltage(t: Tensor, delta_t: Tensor | float, w: SpikeWaveform) -> Tensor:
    """V(t) = V_post(t − Δt) − V_pre(t) across the device (pre spike at t = 0)."""
    return spike_voltage(t - delta_t, w) - spike_voltage(t, w)


def _gauss(n: int) -> tuple[Tensor, Tensor]:
    x, wts = np.polynomial.legendre.leggauss(n)
    return torch.tensor(x, dtype=torch.float64), torch.tensor(wts, dtype=torch.float64)


def stdp_drives(delta_t: Tensor, cfg: CuSiO2WMemristor) -> tuple[Tensor, Tensor]:
    """D⁺(Δt), D⁻(Δt) (ms) of the config's docstring for each Δt (float64, shape of Δt)."""
    if not isinstance(delta_t, Tensor) or not delta_t.dtype.is_floating_point:
        raise ShapeError("delta_t must be a floating-point tensor of t_post − t_pre in ms")
    if delta_t.numel() and not bool(torch.isfinite(delta_t).all()):
        raise ConfigError("delta_t must be finite (ms)")
    flat = delta_t.double().reshape(-1)
    parts = [_drives_chunk(flat[i:i + _CHUNK], cfg) for i in range(0, flat.numel(), _CHUNK)]
    if not parts:
        return torch.zeros_like(flat).view(delta_t.shape), torch.zeros_like(flat).view(
            delta_t.shape)
    dp = torch.cat([p[0] for p in parts]).view(delta_t.shape)
    dm = torch.cat([p[1] for p in parts]).view(delta_t.shape)
    return dp, dm


def _drives_chunk(flat: Tensor, cfg: CuSiO2WMemristor) -> tuple[Tensor, Tensor]:
    w = cfg.waveform
    d = flat.reshape(-1, 1)
    zero = torch.zeros_like(d)
    end = torch.maximum(d, zero) + w.width_pos + _TAIL * w.tau_neg
    start = torch.minimum(d, zero)
    cuts = torch.cat([start, zero, zero + w.width_pos, d, d + w.width_pos, end], dim=1)
    cuts = torch.sort(torch.maximum(torch.minimum(cuts, end), start), dim=1).values
    x, wts = _gauss(_NODES)
    frac = (torch.arange(_PANELS, dtype=torch.float64).view(-1, 1) + (x + 1) / 2) / _PANELS
    a, b = cuts[:, :-1], cuts[:, 1:]  # (M, 5) pieces
    t = a.unsqueeze(-1) + (b - a).unsqueeze(-1) * frac.reshape(1, 1, -1)  # (M, 5, P·N)
    weight = (b - a).unsqueeze(-1) / _PANELS / 2 * wts.repeat(_PANELS).view(1, 1, -1)
    v = device_voltage(t, d.unsqueeze(-1), w)
    up = ((v - cfg.v_set).clamp(min=0) / cfg.v_set) ** cfg.exponent
    down = ((-v - cfg.v_reset).clamp(min=0) / cfg.v_reset) ** cfg.exponent
    return (up * weight).sum(dim=(1, 2)), (down * weight).sum(dim=(1, 2))


#: resolution (ms) of the drive table used by :func:`memristor_update`
TABLE_STEP = 0.01


@functools.lru_cache(maxsize=16)
def _drive_table(cfg: CuSiO2WMemristor) -> tuple[float, Tensor, Tensor]:
    """D± on a grid of Δt ∈ [−L, L] (L = width + 12·τ_neg) with step TABLE_STEP, computed by
    :func:`stdp_drives`; outside the grid both drives are 0 (the tails are below e^-12)."""
    w = cfg.waveform
    half = math.ceil((w.width_pos + _TAIL * w.tau_neg) / TABLE_STEP)
    grid = torch.arange(-half, half + 1, dtype=torch.float64) * TABLE_STEP
    dp, dm = stdp_drives(grid, cfg)
    return -half * TABLE_STEP, dp, dm


def table_drives(delta_t: Tensor, cfg: CuSiO2WMemristor) -> tuple[Tensor, Tensor]:
    """D±(Δt) by linear interpolation in a cached table (step ``TABLE_STEP`` = 0.01 ms):
    exact at multiples of 0.01 ms; elsewhere second order in the step, except within a step
    of the corners where pulse edges coincide (Δt ≈ 0, ±width): there first order, measured
    ≤ 2e-6 of the largest drive for the default waveform. Fast path of
    :func:`memristor_update`; :func:`stdp_drives` is the reference."""
    start, dp, dm = _drive_table(cfg)
    dp, dm = dp.to(delta_t.device), dm.to(delta_t.device)
    pos = (delta_t.double() - start) / TABLE_STEP
    inside = (pos >= 0) & (pos <= dp.numel() - 1)
    pos = pos.clamp(0, dp.numel() - 1)
    lo = pos.floor().long().clamp(max=dp.numel() - 2)
    frac = pos - lo
    out = []
    for table in (dp, dm):
        v = table[lo] * (1 - frac) + table[lo + 1] * frac
        out.append(torch.where(inside, v, torch.zeros_like(v)))
    return out[0], out[1]


class MemristorParams(NamedTuple):
    """Per-device parameters (µS; device-to-device variation applied), shaped like G."""

    alpha_pos: Tensor
    alpha_neg: Tensor
    beta_pos: Tensor
    beta_neg: Tensor
    g_min: Tensor
    g_max: Tensor


def sample_memristors(shape: tuple[int, ...], cfg: CuSiO2WMemristor, *,
                      generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> MemristorParams:
    """Device-to-device draws: each parameter × max(1 + d2d_std·ξ, 0.1) (independent ξ);
    g_max is kept above g_min."""
    def draw(nominal: float) -> Tensor:
        base = torch.full(shape, nominal, dtype=dtype, device=device)
        if cfg.d2d_std == 0:
            return base
        xi = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return base * (1 + cfg.d2d_std * xi).clamp_min(0.1)

    g_min, g_max = draw(cfg.g_min), draw(cfg.g_max)
    return MemristorParams(draw(cfg.alpha_pos), draw(cfg.alpha_neg), draw(cfg.beta_pos),
                           draw(cfg.beta_neg), g_min, torch.maximum(g_max, g_min * 1.01 + 1e-9))


def _nominal(g: Tensor, cfg: CuSiO2WMemristor) -> MemristorParams:
    """Every device at the nominal parameters (no device-to-device spread)."""
    return sample_memristors(tuple(g.shape), cfg.replace(d2d_std=0.0), dtype=g.dtype,
                             device=g.device)


def _terms(g: Tensor, dp: Tensor, dm: Tensor, p: MemristorParams) -> tuple[Tensor, Tensor]:
    """Noise-free potentiation α⁺·D⁺·e^(−β⁺ĝ) and depression α⁻·D⁻·e^(−β⁻(1−ĝ)), ≥ 0."""
    dp, dm = dp.to(g.dtype), dm.to(g.dtype)
    g_hat = ((g - p.g_min) / (p.g_max - p.g_min)).clamp(0.0, 1.0)
    return (p.alpha_pos * dp * torch.exp(-p.beta_pos * g_hat),
            p.alpha_neg * dm * torch.exp(-p.beta_neg * (1 - g_hat)))


def mean_update(g: Tensor, delta_t: Tensor, cfg: CuSiO2WMemristor,
                params: MemristorParams | None = None) -> Tensor:
    """The noise-free ΔG (before the clip) of one pre/post pair at conductance G: the STDP
    window of the device at its present state (drives by quadrature, :func:`stdp_drives`)."""
    up, down = _terms(g, *stdp_drives(delta_t, cfg), params or _nominal(g, cfg))
    return up - down


def memristor_update(g: Tensor, delta_t: Tensor, cfg: CuSiO2WMemristor, *,
                     params: MemristorParams | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """G after one pre/post spike pair separated by Δt (shapes broadcast to G's): each
    drive term (from the cached table, :func:`table_drives`) times a mean-1 log-normal c2c
    factor, then clipped to the device bounds."""
    if not isinstance(g, Tensor) or not g.dtype.is_floating_point:
        raise ShapeError("g must be a floating-point tensor of conductances in µS")
    delta_t = torch.as_tensor(delta_t, dtype=torch.float64, device=g.device).expand(g.shape)
    if delta_t.numel() and not bool(torch.isfinite(delta_t).all()):
        raise ConfigError("delta_t must be finite (ms)")
    return update_from_drives(g, *table_drives(delta_t, cfg), cfg,
                              params=params or _nominal(g, cfg), generator=generator)


def update_from_drives(g: Tensor, d_pos: Tensor, d_neg: Tensor, cfg: CuSiO2WMemristor, *,
                       params: MemristorParams,
                       generator: torch.Generator | None = None) -> Tensor:
    """The core of :func:`memristor_update` for pairs whose drives D±(Δt) are already known
    (a caller pairing spikes on a fixed time grid tabulates them once): each drive term times
    a mean-1 log-normal c2c factor, then clipped to the device bounds. Unvalidated."""
    up, down = _terms(g, d_pos, d_neg, params)
    if cfg.c2c_std > 0:
        s = cfg.c2c_std
        for term in (up, down):
            xi = torch.randn(g.shape, dtype=g.dtype, device=g.device, generator=generator)
            term.mul_(torch.exp(s * xi - s * s / 2))
    return torch.minimum(torch.maximum(g + up - down, params.g_min), params.g_max)


def fit_memristor(g: Tensor, dg: Tensor, delta_t: Tensor, cfg: CuSiO2WMemristor
                  ) -> dict[str, dict[str, float]]:
    """Fit α±, β± and σ_c2c to measured pairs (G before in µS, ΔG in µS, Δt in ms).

    With the config's waveform, thresholds, exponent and bounds fixed, a potentiating pair
    obeys ln ΔG = ln α⁺ + ln D⁺(Δt) − β⁺·ĝ + σ·ξ − σ²/2 (mean-1 log-normal noise), a linear
    model in (ln α⁺, β⁺) solved by least squares; likewise depression in ĝ' = 1 − ĝ. The
    residual standard deviation estimates σ_c2c, the intercept is corrected by +σ²/2, and
    the standard errors come from σ²·(XᵀX)⁻¹ (α's by the delta method). Only pairs whose
    drive and ΔG have the same non-zero sign enter (clipped changes bias the fit: use data
    away from the bounds).

    Returns:
        ``{"pos": {...}, "neg": {...}}`` with ``alpha``, ``alpha_se``, ``beta``, ``beta_se``,
        ``c2c_std``, ``n`` for each sign.
    """
    for name, t in (("g", g), ("dg", dg), ("delta_t", delta_t)):
        if not isinstance(t, Tensor) or not t.dtype.is_floating_point or t.dim() != 1:
            raise ShapeError(f"{name} must be a 1-D floating-point tensor")
    if not g.shape == dg.shape == delta_t.shape:
        raise ShapeError(f"g, dg and delta_t must have one entry per measured pair, got "
                         f"{tuple(g.shape)}, {tuple(dg.shape)}, {tuple(delta_t.shape)}")
    dp, dm = stdp_drives(delta_t.double(), cfg)
    g_hat = ((g.double() - cfg.g_min) / (cfg.g_max - cfg.g_min)).clamp(0.0, 1.0)
    out: dict[str, dict[str, float]] = {}
    for sign, drive, state, mask in (
            ("pos", dp, g_hat, (dp > 0) & (dg > 0) & (dm == 0)),
            ("neg", dm, 1 - g_hat, (dm > 0) & (dg < 0) & (dp == 0))):
        n = int(mask.sum())
        if n < 3:
            kind = "potentiating" if sign == "pos" else "depressing"
            raise ConfigError(f"fit_memristor needs at least 3 {kind} pairs (ΔG and drive of "
                              f"that sign), got {n}")
        y = torch.log(dg.double()[mask].abs()) - torch.log(drive[mask])
        x = torch.stack([torch.ones(n, dtype=torch.float64), -state[mask]], dim=1)
        coef = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
        resid = y - x @ coef
        dof = max(n - 2, 1)
        s2 = float(resid.pow(2).sum()) / dof
        cov = s2 * torch.linalg.inv(x.t() @ x)
        log_alpha = float(coef[0]) + s2 / 2
        alpha = math.exp(log_alpha)
        out[sign] = {"alpha": alpha, "alpha_se": alpha * math.sqrt(float(cov[0, 0])),
                     "beta": float(coef[1]), "beta_se": math.sqrt(float(cov[1, 1])),
                     "c2c_std": math.sqrt(s2), "n": float(n)}
    return out
