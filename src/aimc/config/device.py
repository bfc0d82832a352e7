"""Inference device models: how programmed conductances deviate, drift and fluctuate.

* :class:`PCMNoiseModel` — the statistical PCM model of Joshi et al., Nat. Commun. 11:2473
  (2020) and Nandakumar et al., ICECS 2019, as used by Rasch et al., arXiv:2302.08469
  (``../shared/reference/physics.md`` §1.4). Coefficients are stored as published, in µS
  for a reference maximum conductance ``prog_coeff_g_ref`` (25 µS); all other quantities are
  functions of the *normalised* conductance ĝ = g/g_max.
* :class:`GaussianNoiseModel` — a generic state-independent model (constant programming
  noise, Gaussian drift exponents, constant relative read noise), for sensitivity studies.
* :class:`IdealDevice` — programming is exact, no drift, no read noise.
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["DeviceModel", "PCMNoiseModel", "GaussianNoiseModel", "IdealDevice"]


class DeviceModel(ConfigBase):
    """Base of inference device models. ``g_max`` (S) and ``t0`` (s) are common to all."""

    g_max: float
    t0: float

    def _check_common(self) -> None:
        name = type(self).__name__
        check_positive(name, "g_max", self.g_max)
        if self.g_max > 1.0:
            raise ConfigError(f"{name}.g_max={self.g_max} S is implausibly large; give it in "
                              f"siemens, e.g. g_max=25 * aimc.units.uS")
        check_positive(name, "t0", self.t0)


@config
class PCMNoiseModel(DeviceModel):
    """PCM programming noise, conductance-dependent drift and accumulated 1/f read noise.

    Equations (ĝ_T target, ĝ_p programmed, both normalised by ``g_max``; physics.md §1.4):

    * programming: σ_prog = max(c0 + c1·ĝ_T + c2·ĝ_T², 0) · (g_max/g_ref) µS,
      g_prog = max(g_T + σ_prog·ξ, 0)
    * drift exponent: μ_ν = clip(a_μ·ln ĝ_T + b_μ, μ_lo, μ_hi),
      σ_ν = clip(a_σ·ln ĝ_T + b_σ, σ_lo, σ_hi), ν = |μ_ν + σ_ν·ξ|·drift_scale
      (ĝ_T floored at 1e-7 before the log)
    * drift: g_drift = g_prog·((t_inf + t0)/t0)^(−ν)
    * read noise: Q_s = min(q0/max(ĝ_p^q_exp, 1e-3), q_max),
      σ_read = Q_s·sqrt(ln((t + t_read)/(2·t_read))), g = max(g_drift + |g_drift|·σ_read·ξ, 0)

    Attributes:
        g_max: maximum programmable conductance (S); 25 µS (aihwkit PCMLikeNoiseModel).
        t0: time of the first read after programming (s); 20 s (aihwkit). CrossSim uses 27.36 s.
        t_read: read duration in the 1/f integral (s); 250 ns.
        prog_coeffs: (c0, c1, c2) of σ_prog in µS at g_max = prog_coeff_g_ref.
        prog_coeff_g_ref: the g_max (S) the coefficients were fitted at; 25 µS.
        nu_mean_coeffs, nu_mean_bounds: (a_μ, b_μ) and (μ_lo, μ_hi).
        nu_std_coeffs, nu_std_bounds: (a_σ, b_σ) and (σ_lo, σ_hi).
        read_noise_coeffs: (q0, q_exp, q_max) of Q_s.
        prog_noise_scale, drift_scale, read_noise_scale: multipliers (sensitivity knobs).
    """

    g_max: float = 25e-6
    t0: float = 20.0
    t_read: float = 250e-9
    prog_coeffs: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
    prog_coeff_g_ref: float = 25e-6
    nu_mean_coeffs: tuple[float, float] = (-0.0155, 0.0244)
    nu_mean_bounds: tuple[float, float] = (0.049, 0.1)
    nu_std_coeffs: tuple[float, float] = (-0.0125, -0.0059)
    nu_std_bounds: tuple[float, float] = (0.008, 0.045)
    read_noise_coeffs: tuple[float, float, float] = (0.0088, 0.65, 0.2)
    prog_noise_scale: float = 1.0
    drift_scale: float = 1.0
    read_noise_scale: float = 1.0

    def _validate(self) -> None:
        self._check_common()
        n = "PCMNoiseModel"
        check_positive(n, "t_read", self.t_read)
        check_positive(n, "prog_coeff_g_ref", self.prog_coeff_g_ref)
        if self.t0 < self.t_read:
            raise ConfigError(f"PCMNoiseModel.t0={self.t0} s is shorter than t_read={self.t_read}"
                              " s; the first read cannot precede the end of programming by less "
                              "than one read duration — raise t0 or lower t_read")
        for field, length in (("prog_coeffs", 3), ("nu_mean_coeffs", 2), ("nu_mean_bounds", 2),
                              ("nu_std_coeffs", 2), ("nu_std_bounds", 2),
                              ("read_noise_coeffs", 3)):
            value = getattr(self, field)
            if not isinstance(value, tuple) or len(value) != length:
                raise ConfigError(f"{n}.{field} must be a sequence of {length} numbers, "
                                  f"got {value!r}")
            for v in value:
                check_type(n, field, v, (int, float))
        for field in ("nu_mean_bounds", "nu_std_bounds"):
            lo, hi = getattr(self, field)
            if not 0 <= lo <= hi:
                raise ConfigError(f"{n}.{field} must be (low, high) with 0 <= low <= high, "
                                  f"got {(lo, hi)}")
        for field in ("prog_noise_scale", "drift_scale", "read_noise_scale"):
            check_nonnegative(n, field, getattr(self, field))


@config
class GaussianNoiseModel(DeviceModel):
    """State-independent device model (sensitivity studies, non-PCM devices).

    * programming: g_prog = clip(g_T + prog_std·g_max·ξ, 0, ∞)
    * drift: ν ~ |N(nu_mean, nu_std²)|, g_drift = g_prog·((t_inf + t0)/t0)^(−ν)
    * read noise: g = max(g_drift + read_std·g_max·ξ, 0), redrawn at every ``set_time``

    Defaults follow aihwkit's ``StateIndependentNoiseModel`` in spirit (ν ~ |N(0.1, 0.05)|);
    the programming and read σ are given relative to g_max.
    """

    g_max: float = 25e-6
    t0: float = 20.0
    prog_std: float = 0.02
    nu_mean: float = 0.1
    nu_std: float = 0.05
    read_std: float = 0.01

    def _validate(self) -> None:
        self._check_common()
        for field in ("prog_std", "nu_mean", "nu_std", "read_std"):
            check_nonnegative("GaussianNoiseModel", field, getattr(self, field))


@config
class IdealDevice(DeviceModel):
    """Exact programming, no drift, no read noise (the ideal limit)."""

    g_max: float = 25e-6
    t0: float = 20.0

    def _validate(self) -> None:
        self._check_common()


