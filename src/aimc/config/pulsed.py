"""Pulsed (trainable) device models for on-chip training.

A pulsed device changes its weight by a discrete, noisy, state-dependent step per
programming pulse. The runtime arrays live in :mod:`aimc.physics.pulsed`; these are the
frozen, validated configs.

Generic step devices (all but :class:`PCMPulseDevice`) follow aihwkit's ``PulsedDevice``
family ``[aihwkit src/aihwkit/simulator/configs/devices.py; src/rpucuda/rpu_*_device.cpp]``
(``../shared/reference/anchors.md`` §1.3) and share these fields (aihwkit defaults):

* ``dw_min`` (weight units): mean step of one pulse at the reference point.
* ``up_down``: asymmetry. Mean up step ``dw_min·(1 + up_down)``, mean down step
  ``dw_min·(1 − up_down)``. NOTE: aihwkit instead shrinks only one side (up_down > 0: up =
  dw_min, down = dw_min·(1 − up_down)); an aihwkit value ``u`` maps to ours as
  ``dw_min' = dw_min·(1 − u/2)``, ``up_down' = (u/2)/(1 − u/2)``.
* ``w_min``, ``w_max``: hard bounds (aihwkit requires w_min ≤ 0 ≤ w_max; so do we).
* device-to-device (d2d) spreads, drawn once per device with ξ ~ N(0, 1):
  ``dw_min_dtod`` (gain = 1 + dw_min_dtod·ξ shared by both directions),
  ``up_down_dtod`` (additive r = up_down_dtod·ξ: up scale gain + up_down + r, down scale
  gain − up_down − r), ``w_min_dtod``/``w_max_dtod`` (relative: bound·(1 + dtod·ξ)),
  ``reset_dtod`` (additive: reset + reset_dtod·ξ).
* cycle-to-cycle (c2c): ``dw_min_std``: each pulse's step is Δw·(1 + dw_min_std·ξ)
  (multiplicative; :class:`ExpStepDevice` uses an additive generalisation).
* ``write_noise_std`` (units of dw_min): the readable weight is the hidden weight +
  write_noise_std·dw_min·ξ, redrawn after every pulse that hits the device.
* ``reset``, ``reset_std``: value after a RESET, with c2c spread.

A device is *one-sided* (``one_sided``) when ``w_min >= 0``: it can only be potentiated and
must be used in a differential pair with refresh (aihwkit ``OneSidedUnitCell``).
"""

from __future__ import annotations

import dataclasses
import math

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = [
    "PulsedDevice",
    "StepDevice",
    "ConstantStepDevice",
    "LinearStepDevice",
    "SoftBoundsDevice",
    "ExpStepDevice",
    "PowStepDevice",
    "PiecewiseStepDevice",
    "PCMPulseDevice",
    "pcm_preset_device",
]


class PulsedDevice(ConfigBase):
    """Base of pulsed (trainable) device models (not registered; use a subclass).

    Every subclass provides three properties:

    * ``one_sided`` — True when the device only meaningfully potentiates (SET pulses only);
    * ``nominal_bounds`` — (low, high) of the readable value without d2d variation;
    * ``granularity`` — nominal mean |step| of one pulse at the reference point, in value
      units (the ε of the mixed-precision rule).
    """

    @property
    def one_sided(self) -> bool:
        raise NotImplementedError

    @property
    def nominal_bounds(self) -> tuple[float, float]:
        raise NotImplementedError

    @property
    def granularity(self) -> float:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepDevice(PulsedDevice):
    """Fields shared by the generic step devices (aihwkit ``PulsedDevice`` defaults).

    Not registered itself (like :class:`~aimc.config.device.DeviceModel`); see the module
    docstring for the meaning of each field.
    """

    dw_min: float = 0.001
    up_down: float = 0.0
    w_min: float = -0.6
    w_max: float = 0.6
    dw_min_dtod: float = 0.3
    up_down_dtod: float = 0.01
    w_min_dtod: float = 0.3
    w_max_dtod: float = 0.3
    dw_min_std: float = 0.3
    write_noise_std: float = 0.0
    reset: float = 0.0
    reset_std: float = 0.01
    reset_dtod: float = 0.0

    @property
    def one_sided(self) -> bool:
        return self.w_min >= 0

    @property
    def nominal_bounds(self) -> tuple[float, float]:
        return (float(self.w_min), float(self.w_max))

    @property
    def granularity(self) -> float:
        """``dw_min`` (aihwkit's ``granularity = 0`` convention). The true mean step of
        state-dependent devices differs (:func:`aimc.physics.pulsed.mean_response`)."""
        return float(self.dw_min)

    def _check_common(self) -> None:
        name = type(self).__name__
        if type(self) is StepDevice:
            raise ConfigError("StepDevice is an abstract base; use ConstantStepDevice(), "
                              "SoftBoundsDevice(), ExpStepDevice(), ... instead")
        for field in ("dw_min", "up_down", "w_min", "w_max", "reset"):
            value = getattr(self, field)
            check_type(name, field, value, (int, float))
            if not math.isfinite(value):
                raise ConfigError(f"{name}.{field} must be finite, got {value!r}")
        check_positive(name, "dw_min", self.dw_min)
        if self.w_min >= self.w_max:
            raise ConfigError(f"{name}: inverted bounds: w_min={self.w_min} >= "
                              f"w_max={self.w_max}; swap them")
        if self.w_min > 0 or self.w_max < 0:
            raise ConfigError(f"{name}: the range [w_min, w_max] = [{self.w_min}, {self.w_max}] "
                              "must contain 0 (aihwkit convention; the soft-bound step "
                              "formulas assume it); use w_min=0 for a one-sided device")
        if not abs(self.up_down) < 1:
            raise ConfigError(f"{name}.up_down={self.up_down} must satisfy |up_down| < 1 "
                              "(steps dw_min·(1 ± up_down) must stay positive); use a value "
                              "in (-1, 1)")
        for field in ("dw_min_dtod", "up_down_dtod", "w_min_dtod", "w_max_dtod", "dw_min_std",
                      "write_noise_std", "reset_std", "reset_dtod"):
            check_nonnegative(name, field, getattr(self, field))

    def _validate(self) -> None:
        self._check_common()


@config
class ConstantStepDevice(StepDevice):
    """Constant step with hard bounds ``[aihwkit ConstantStepDevice]``.

    Δw_up = dw_up, Δw_down = dw_down (dw_up = dw_min·(1 + up_down)·gain, etc.; see the
    module docstring), each pulse times (1 + dw_min_std·ξ), then clipped to the device's
    bounds.
    """


@config
class LinearStepDevice(StepDevice):
    """Step linear in the weight ``[aihwkit LinearStepDevice, mean_bound_reference=True]``.

    Δw_up = dw_up·(1 − γ_up·w/w_max), Δw_down = dw_down·(1 − γ_down·w/w_min), with the
    *nominal* bounds as reference (so γ = 1 gives soft bounds at the nominal bounds).
    d2d: γ = |gamma + gamma_dtod·ξ| (aihwkit forbids increasing slopes by taking |·|).
    The c2c noise multiplies the whole step: Δw·(1 + dw_min_std·ξ).

    Attributes:
        gamma_up, gamma_down: slope parameters (≥ 0).
        gamma_up_dtod, gamma_down_dtod: additive d2d spread of γ.
    """

    gamma_up: float = 0.0
    gamma_down: float = 0.0
    gamma_up_dtod: float = 0.05
    gamma_down_dtod: float = 0.05

    def _validate(self) -> None:
        self._check_common()
        for field in ("gamma_up", "gamma_down", "gamma_up_dtod", "gamma_down_dtod"):
            check_nonnegative("LinearStepDevice", field, getattr(self, field))


@config
class SoftBoundsDevice(StepDevice):
    """Soft bounds ``[aihwkit SoftBoundsDevice]``: the step vanishes at each device's bounds.

    Δw_up = dw_up·(1 − w/b_max), Δw_down = dw_down·(1 − w/b_min), with b_min, b_max the
    device's own (d2d-varied) bounds; c2c noise multiplies the whole step. Alternating
    up/down pulses converge to the symmetry point
    w* = (dw_up − dw_down)/(dw_up/b_max − dw_down/b_min).
    """


@config
class ExpStepDevice(StepDevice):
    """Exponential step ``[aihwkit ExpStepDevice; src/rpucuda/rpu_expstep_device.cpp]``.

    z = 2a·w/(b_max − b_min) + b (device bounds);
    Δw_up = dw_up·max(1 − A_up·e^(γ_up·z), 0); Δw_down = dw_down·max(1 − A_down·e^(−γ_down·z), 0).

    c2c noise (aihwkit ``update_once_complex_noise``, read from the C++ source): additive
    Gaussian with σ = dw_min_std·(|Δw| + dw_min_std_add + dw_min_std_slope·|w|), i.e.
    w ← clip(w ± Δw + σ·ξ). With ``dw_min_std_add = dw_min_std_slope = 0`` this equals the
    multiplicative rule Δw·(1 + dw_min_std·ξ) of the other devices. ``dw_min_std_add`` is in
    weight units (not scaled by dw_min).

    Defaults are aihwkit's (fitted to a CMOS-like device).
    """

    A_up: float = 0.00081
    A_down: float = 0.36833
    gamma_up: float = 12.44625
    gamma_down: float = 12.78785
    a: float = 0.244
    b: float = 0.2425
    dw_min_std_add: float = 0.0
    dw_min_std_slope: float = 0.0

    def _validate(self) -> None:
        self._check_common()
        for field in ("A_up", "A_down", "gamma_up", "gamma_down", "a", "b"):
            value = getattr(self, field)
            check_type("ExpStepDevice", field, value, (int, float))
            if not math.isfinite(value):
                raise ConfigError(f"ExpStepDevice.{field} must be finite, got {value!r}")
        for field in ("dw_min_std_add", "dw_min_std_slope"):
            check_nonnegative("ExpStepDevice", field, getattr(self, field))


@config
class PowStepDevice(StepDevice):
    """Power-law step (Fusi–Abbott) ``[aihwkit PowStepDevice; src/rpucuda/rpu_powstep_device.cpp]``.

    Δw_up = dw_up·((b_max − w)/(b_max − b_min))^γ_up,
    Δw_down = dw_down·((w − b_min)/(b_max − b_min))^γ_down (device bounds), c2c noise
    multiplicative. γ_up = pow_gamma·|g + pow_up_down + r|, γ_down = pow_gamma·|g − pow_up_down − r|
    with d2d g = 1 + pow_gamma_dtod·ξ, r = pow_up_down_dtod·ξ' (nominal: γ_up/down =
    pow_gamma·(1 ± pow_up_down)). NOTE: aihwkit uses the one-sided bias form here too
    (pow_up_down > 0 lowers only γ_down); see ``up_down`` in the module docstring.
    """

    pow_gamma: float = 1.0
    pow_gamma_dtod: float = 0.1
    pow_up_down: float = 0.0
    pow_up_down_dtod: float = 0.0

    def _validate(self) -> None:
        self._check_common()
        check_nonnegative("PowStepDevice", "pow_gamma", self.pow_gamma)
        for field in ("pow_gamma_dtod", "pow_up_down_dtod"):
            check_nonnegative("PowStepDevice", field, getattr(self, field))
        check_type("PowStepDevice", "pow_up_down", self.pow_up_down, (int, float))
        if not abs(self.pow_up_down) < 1:
            raise ConfigError(f"PowStepDevice.pow_up_down={self.pow_up_down} must satisfy "
                              "|pow_up_down| < 1 (exponents pow_gamma·(1 ± pow_up_down) must "
                              "stay positive); use a value in (-1, 1)")


@config
class PiecewiseStepDevice(StepDevice):
    """Measured step-vs-weight curve ``[aihwkit PiecewiseStepDevice]``.

    The node values are placed evenly on the device's [b_min, b_max] and linearly
    interpolated: Δw = dw·interp(nodes, w) (one node: a constant factor). c2c noise
    multiplicative.

    Attributes:
        piecewise_up, piecewise_down: node values (≥ 0, at least one each; the two lists
            may differ in length).
    """

    piecewise_up: tuple[float, ...] = (1.0,)
    piecewise_down: tuple[float, ...] = (1.0,)

    def _validate(self) -> None:
        self._check_common()
        for field in ("piecewise_up", "piecewise_down"):
            nodes = getattr(self, field)
            if not isinstance(nodes, tuple) or len(nodes) < 1:
                raise ConfigError(f"PiecewiseStepDevice.{field} must be a non-empty sequence "
                                  f"of step factors, e.g. (1.0,), got {nodes!r}")
            for v in nodes:
                check_type("PiecewiseStepDevice", field, v, (int, float))
                if not (math.isfinite(v) and v >= 0):
                    raise ConfigError(f"PiecewiseStepDevice.{field} values must be finite and "
                                      f">= 0 (they scale dw_min), got {v!r} in {nodes!r}")


@config
class PCMPulseDevice(PulsedDevice):
    """PCM SET-pulse model of Nandakumar et al., J. Appl. Phys. 124, 152135 (2018).

    Source: the third-party implementation ``[3rd YigitDemirag/srnn-pcm xbar.py]``
    (``../shared/reference/physics.md`` §3.3). All conductances in **µS** (not siemens).

    * RESET (abrupt): G ~ N(g_reset, g_reset_std²), pulse counter n = 0.
    * each SET pulse: n ← n + 1, P = exp(−n/a),
      ΔG ~ N(μ, σ²), μ = m1·G + c1 + A1·P, σ = max(m2·G + c2 + A2·P, 0),
      G ← clip(G + ΔG, g_min, g_max_device).
    * read noise: σ_read = read_noise_m·G + read_noise_c (µS).
    * d2d: g_max_device = g_max·max(1 + g_max_dtod·ξ, g_min/g_max).

    The readable value is normalised, G/g_max ∈ [g_min/g_max, 1]. The device is one-sided
    (SET only): use it in a differential pair with refresh. Mean step after many pulses
    (P → 0) vanishes at G = c1/|m1| ≈ 10.5 µS (saturation).

    Attributes:
        epsilon: granularity ε (µS): the nominal mean conductance change per pulse assumed
            by the mixed-precision (χ/ε) rule. 0.75 µS, the third-party author's choice
            (physics.md §3.3); it equals the saturated mean step m1·G + c1 at G ≈ 1.55 µS.
            ``granularity`` = epsilon/g_max (normalised).
    """

    g_reset: float = 0.1
    g_reset_std: float = 0.01
    g_min: float = 0.1
    g_max: float = 12.0
    a: float = 2.6
    m1: float = -0.084
    c1: float = 0.880
    A1: float = 1.40
    m2: float = 0.091
    c2: float = 0.260
    A2: float = 2.15
    read_noise_m: float = 0.03
    read_noise_c: float = 0.13
    g_max_dtod: float = 0.0
    epsilon: float = 0.75

    @property
    def one_sided(self) -> bool:
        return True

    @property
    def nominal_bounds(self) -> tuple[float, float]:
        return (self.g_min / self.g_max, 1.0)

    @property
    def granularity(self) -> float:
        return self.epsilon / self.g_max

    def _validate(self) -> None:
        n = "PCMPulseDevice"
        for field in ("g_reset", "g_min", "g_max", "a", "m1", "c1", "A1", "m2", "c2", "A2",
                      "epsilon"):
            value = getattr(self, field)
            check_type(n, field, value, (int, float))
            if not math.isfinite(value):
                raise ConfigError(f"{n}.{field} must be finite, got {value!r}")
        check_positive(n, "g_max", self.g_max)
        if self.g_max < 1e-3:
            raise ConfigError(f"{n}.g_max={self.g_max} looks like siemens; give conductances "
                              "in µS, e.g. g_max=12.0")
        check_nonnegative(n, "g_min", self.g_min)
        if self.g_min >= self.g_max:
            raise ConfigError(f"{n}: inverted bounds: g_min={self.g_min} >= g_max={self.g_max}; "
                              "swap them")
        check_nonnegative(n, "g_reset", self.g_reset)
        check_positive(n, "a", self.a)
        check_positive(n, "epsilon", self.epsilon)
        for field in ("g_reset_std", "read_noise_m", "read_noise_c", "g_max_dtod", "c2", "A2"):
            check_nonnegative(n, field, getattr(self, field))
        for g in (self.g_min, self.g_max):
            if self.m2 * g + self.c2 < 0:
                raise ConfigError(f"{n}: the SET-step std m2·G + c2 is negative at G={g} µS "
                                  f"(m2={self.m2}, c2={self.c2}); raise c2 or m2")


def pcm_preset_device() -> ExpStepDevice:
    """aihwkit's ``PCMPresetDevice``: a one-sided ExpStep fit to Nandakumar et al. (2020).

    ``[aihwkit src/aihwkit/simulator/presets/devices.py (PCMPresetDevice)]``, physics.md §3.2.
    w ∈ [0, 2], z = −w (a = −1, b = 0), so the mean SET step is
    Δw = 0.01·(1 + 27.235·e^(−2.5·w)): 0.282 at w = 0, 0.032 at w = 1, 0.0118 at w = 2;
    c2c σ = 0.6·(|Δw| + 0.042 + 0.108·|w|). ``granularity`` is dw_min = 0.01 (aihwkit's
    convention), far below the actual step near reset. The weight-to-µS scale is not stated
    by aihwkit; scale it in the mapping.
    """
    return ExpStepDevice(
        dw_min=0.01, up_down=0.0, w_min=0.0, w_max=2.0,
        dw_min_dtod=0.2, up_down_dtod=0.05, w_min_dtod=0.0, w_max_dtod=0.1,
        dw_min_std=0.6, write_noise_std=0.0,
        reset=0.01, reset_std=0.01, reset_dtod=0.02,
        A_up=-27.235, A_down=-2.235, gamma_up=2.5, gamma_down=2.5, a=-1.0, b=0.0,
        dw_min_std_add=0.042, dw_min_std_slope=0.108,
    )
