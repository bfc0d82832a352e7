"""Inference device models on normalised conductances ĝ = g/g_max.

Sources: the PCM statistical model of Joshi et al., Nat. Commun. 11:2473 (2020) and
Nandakumar et al., ICECS 2019, as in aihwkit ``PCMLikeNoiseModel``
(``../shared/reference/physics.md`` §1.4). Shapes: any; all tensors broadcast elementwise.

Sampling semantics (§1.4): :func:`program_conductances` runs once per programming and draws
programming noise and drift exponents; :func:`conductances_at` recomputes drift from the
stored programmed state and draws *fresh* read noise on every call.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.config.device import DeviceModel, GaussianNoiseModel, IdealDevice, PCMNoiseModel
from aimc.errors import ConfigError
from aimc.physics._random import randn_like

__all__ = [
    "pcm_programming_std", "programming_noise", "drift_exponents", "drift",
    "pcm_read_noise_std", "read_noise", "program_conductances", "conductances_at",
]

_NU_LOG_FLOOR = 1e-7


def pcm_programming_std(g_target: Tensor, cfg: PCMNoiseModel) -> Tensor:
    """σ_prog/g_max for normalised targets ĝ_T (dimensionless).

    σ_prog = max(c0 + c1·ĝ_T + c2·ĝ_T², 0)·(g_max/g_ref) µS, hence
    σ_prog/g_max = max(poly(ĝ_T), 0)·1 µS/g_ref — independent of g_max.
    Golden values (physics.md §7.1): ĝ_T = 1 → 1.0554 µS at 25 µS, i.e. 0.0422.
    """
    c0, c1, c2 = cfg.prog_coeffs
    poly = (c2 * g_target + c1) * g_target + c0
    return poly.clamp(min=0.0) * (1e-6 / cfg.prog_coeff_g_ref) * cfg.prog_noise_scale


def programming_noise(g_target: Tensor, cfg: DeviceModel, *,
                      generator: torch.Generator | None = None) -> Tensor:
    """Programmed conductances g_prog = max(g_T + σ_prog(g_T)·ξ, 0) (normalised)."""
    if isinstance(cfg, IdealDevice):
        return g_target.clone()
    if isinstance(cfg, PCMNoiseModel):
        std = pcm_programming_std(g_target, cfg)
    elif isinstance(cfg, GaussianNoiseModel):
        std = torch.full_like(g_target, cfg.prog_std)
    else:
        raise ConfigError(f"no programming model for {type(cfg).__name__}")
    return (g_target + std * randn_like(g_target, generator)).clamp_(min=0.0)


def drift_exponents(g_target: Tensor, cfg: DeviceModel, *,
                    generator: torch.Generator | None = None) -> Tensor:
    """Drift exponents ν, one per device, drawn once at programming.

    PCM: μ_ν = clip(a_μ·ln ĝ_T + b_μ, μ_lo, μ_hi), σ_ν = clip(a_σ·ln ĝ_T + b_σ, σ_lo, σ_hi)
    with ĝ_T floored at 1e-7, ν = |μ_ν + σ_ν·ξ|·drift_scale (uses the *target* ĝ_T).
    """
    if isinstance(cfg, IdealDevice):
        return torch.zeros_like(g_target)
    if isinstance(cfg, PCMNoiseModel):
        mu, sigma = pcm_drift_moments(g_target, cfg)
        return (mu + sigma * randn_like(g_target, generator)).abs_() * cfg.drift_scale
    if isinstance(cfg, GaussianNoiseModel):
        return (cfg.nu_mean + cfg.nu_std * randn_like(g_target, generator)).abs_()
    raise ConfigError(f"no drift model for {type(cfg).__name__}")


def pcm_drift_moments(g_target: Tensor, cfg: PCMNoiseModel) -> tuple[Tensor, Tensor]:
    """(μ_ν, σ_ν) of the PCM drift-exponent distribution at normalised targets ĝ_T."""
    log_g = g_target.clamp(min=_NU_LOG_FLOOR).log()
    a_mu, b_mu = cfg.nu_mean_coeffs
    a_sd, b_sd = cfg.nu_std_coeffs
    mu = (a_mu * log_g + b_mu).clamp(*cfg.nu_mean_bounds)
    sigma = (a_sd * log_g + b_sd).clamp(*cfg.nu_std_bounds)
    return mu, sigma


def drift(g_prog: Tensor, nu: Tensor, t_inference: float, t0: float) -> Tensor:
    """g_drift = g_prog·((t_inference + t0)/t0)^(−ν); unchanged for t_inference <= 0."""
    if t_inference <= 0:
        return g_prog.clone()
    log_ratio = math.log((t_inference + t0) / t0)
    return g_prog * torch.exp(-log_ratio * nu)


def pcm_read_noise_std(g_prog: Tensor, t_inference: float, cfg: PCMNoiseModel) -> Tensor:
    """Relative 1/f read-noise σ at time t (uses the *programmed* ĝ_p).

    Q_s = min(q0/max(ĝ_p^q_exp, 1e-3), q_max), σ = Q_s·sqrt(ln((t + t_read)/(2·t_read))),
    t = t_inference + t0. At ĝ = 1: 0.0368 (t_inf = 0), 0.0448 (1 day) (physics.md §1.5).
    """
    q0, q_exp, q_max = cfg.read_noise_coeffs
    q_s = (q0 / g_prog.abs().pow(q_exp).clamp(min=1e-3)).clamp(max=q_max)
    t = t_inference + cfg.t0
    return q_s * math.sqrt(math.log((t + cfg.t_read) / (2.0 * cfg.t_read)))


def read_noise(g_drift: Tensor, g_prog: Tensor, t_inference: float, cfg: DeviceModel, *,
               generator: torch.Generator | None = None) -> Tensor:
    """Conductances with accumulated read noise at t: max(g + noise, 0)."""
    if isinstance(cfg, IdealDevice):
        return g_drift
    if isinstance(cfg, PCMNoiseModel):
        sigma = pcm_read_noise_std(g_prog, t_inference, cfg) * cfg.read_noise_scale
        noise = g_drift.abs() * sigma * randn_like(g_drift, generator)
    elif isinstance(cfg, GaussianNoiseModel):
        noise = cfg.read_std * randn_like(g_drift, generator)
    else:
        raise ConfigError(f"no read-noise model for {type(cfg).__name__}")
    return (g_drift + noise).clamp_(min=0.0)


def program_conductances(g_target: Tensor, cfg: DeviceModel, *,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Program devices once: returns (g_prog, ν), both shaped like ``g_target``.

    Programming noise is drawn before the drift exponents (fixed order for reproducibility).
    """
    g_prog = programming_noise(g_target, cfg, generator=generator)
    nu = drift_exponents(g_target, cfg, generator=generator)
    return g_prog, nu


def conductances_at(g_prog: Tensor, nu: Tensor, t_inference: float, cfg: DeviceModel, *,
                    generator: torch.Generator | None = None) -> Tensor:
    """Conductances t_inference seconds after programming: drift + fresh read noise."""
    if not math.isfinite(t_inference) or t_inference < 0:
        raise ConfigError(f"inference time must be a finite number of seconds >= 0, got "
                          f"{t_inference}")
    g = drift(g_prog, nu, t_inference, cfg.t0)
    return read_noise(g, g_prog, t_inference, cfg, generator=generator)
