"""Crossbar periphery: converters, MVM noise, IR drop, management modes.

Values and semantics follow the standard AIMC crossbar of Rasch et al., arXiv:2302.08469
as implemented by aihwkit's ``StandardHWATrainingPreset`` (``../shared/reference/physics.md``
§1.2–1.3). Inputs are normalised to the DAC range [−bound, bound] (bound 1), outputs are in
units of a full-scale column current for w = 1 (g_max) and input 1.
"""

from __future__ import annotations

from aimc.config.base import (
    ConfigBase,
    check_instance,
    check_nonnegative,
    check_positive,
    check_type,
    config,
)
from aimc.errors import ConfigError

__all__ = [
    "Converter",
    "IRDrop",
    "NoiseManagement",
    "NoNoiseManagement",
    "AbsMaxNoiseManagement",
    "ConstantNoiseManagement",
    "BoundManagement",
    "NoBoundManagement",
    "IterativeBoundManagement",
    "IOConfig",
]


@config
class Converter(ConfigBase):
    """A uniform converter (DAC or ADC): symmetric on [−bound, bound], or unsigned on
    [0, bound].

    Signed, the step is Δ = 2·bound/steps; unsigned, Δ = bound/steps. Values are rounded to
    multiples of Δ and clipped to the range. ``steps=None`` means infinite resolution (only
    the clipping remains), and ``bound=inf`` switches clipping at the top off (an unsigned
    converter still passes no negative values). The standard preset uses ``steps=254``
    (signed 8-bit: 255 levels, Δ_DAC = 2/254, Δ_ADC = 20/254); an unsigned b-bit DAC has
    ``steps = 2^b − 1`` (e.g. 255 levels 0..255 of a PWM input after a ReLU: one bit more
    of resolution than the signed b-bit one, whose positive half has 2^(b−1) − 1 steps).

    Attributes:
        steps: number of quantisation steps over the full range (levels − 1), or None.
        bound: clipping bound in normalised units (> 0, may be ``math.inf``).
        signed: True for [−bound, bound], False for [0, bound] (negative inputs read as 0).
    """

    steps: int | None = 254
    bound: float = 1.0
    signed: bool = True

    def _validate(self) -> None:
        if self.steps is not None:
            check_type("Converter", "steps", self.steps, int)
            if self.steps < 1:
                raise ConfigError(f"Converter.steps must be >= 1 (or None for infinite "
                                  f"resolution), got {self.steps}")
        check_positive("Converter", "bound", self.bound)
        check_type("Converter", "signed", self.signed, bool)
        if self.steps is not None and self.bound == float("inf"):
            raise ConfigError("Converter with finite steps needs a finite bound; set steps=None "
                              "for an unbounded ideal converter")

    @property
    def step_size(self) -> float:
        """Δ = 2·bound/steps signed, bound/steps unsigned (0 when the resolution is infinite)."""
        if self.steps is None:
            return 0.0
        return (2.0 if self.signed else 1.0) * self.bound / self.steps

    @property
    def low(self) -> float:
        """The lower clipping bound: −bound signed, 0 unsigned."""
        return -self.bound if self.signed else 0.0

    @property
    def clips(self) -> bool:
        """Whether the converter clips at all (finite bound, or unsigned)."""
        return self.bound != float("inf") or not self.signed


@config
class IRDrop(ConfigBase):
    """Steady-state IR-drop model of aihwkit (physics.md §1.3 step 4).

    a_i = n·Σ_j |w_ij|·|x_j| / g_ratio, c_i = a_i·(a_i·(0.05·a_i − 0.2) + 0.5),
    y_i ← y_i − scale·c_i·Σ_j w_ij·x_j·(1 − (1 − j/n)²), row j = 0 farthest from the output.

    Attributes:
        scale: strength of the effect (1.0 in the standard preset; 0 switches it off).
        g_ratio: 1/(R_wire·g_max); aihwkit's 1/(0.35 Ω·5 µS) ≈ 5.714e5.
    """

    scale: float = 1.0
    g_ratio: float = 1.0 / (0.35 * 5e-6)

    def _validate(self) -> None:
        check_nonnegative("IRDrop", "scale", self.scale)
        check_positive("IRDrop", "g_ratio", self.g_ratio)


class NoiseManagement(ConfigBase):
    """How the digital input is scaled into the DAC range before conversion."""


@config
class NoNoiseManagement(NoiseManagement):
    """Inputs enter the DAC unscaled (beyond the input range, if any)."""


@config
class AbsMaxNoiseManagement(NoiseManagement):
    """Divide each input vector by its abs-max so it fills the DAC range (ABS_MAX)."""


@config
class ConstantNoiseManagement(NoiseManagement):
    """Divide inputs by a fixed ``value`` (CONSTANT; 1.0 in the standard preset)."""

    value: float = 1.0

    def _validate(self) -> None:
        check_positive("ConstantNoiseManagement", "value", self.value)


class BoundManagement(ConfigBase):
    """What to do when the ADC saturates."""


@config
class NoBoundManagement(BoundManagement):
    """Saturated outputs stay clipped (the standard preset)."""


@config
class IterativeBoundManagement(BoundManagement):
    """Halve the input scale and recompute while any output saturates.

    Stops when the accumulated down-scaling exceeds ``max_factor`` or the effective input
    resolution (DAC step × factor) exceeds ``max_res`` (aihwkit ITERATIVE; 1000 and 0.25).
    """

    max_factor: float = 1000.0
    max_res: float = 0.25

    def _validate(self) -> None:
        check_positive("IterativeBoundManagement", "max_factor", self.max_factor)
        if self.max_factor < 1:
            raise ConfigError("IterativeBoundManagement.max_factor must be >= 1")
        check_positive("IterativeBoundManagement", "max_res", self.max_res)


@config
class IOConfig(ConfigBase):
    """The forward-pass periphery of a tile, applied in this order (physics.md §1.3):

    noise management → DAC (+ input noise) → MVM → IR drop → PCM read noise → output noise
    → output nonlinearity → ADC.

    Attributes:
        dac: input converter; ``Converter(steps=254, bound=1.0)``.
        adc: output converter; ``Converter(steps=254, bound=10.0)``.
        inp_noise: Gaussian σ added to the DAC output (normalised input units).
        out_noise: Gaussian σ added to each column output before the ADC (0.04).
        read_noise: output-referred PCM read noise σ_w: y_i += σ_w·sqrt(Σ_j |w_ij|·x_j²)·ξ_i,
            redrawn on every MVM (0.0175, aihwkit ``w_noise`` with ``PCM_READ``).
        ir_drop: :class:`IRDrop` or None.
        noise_management, bound_management: management modes.
        out_nonlinearity: n in y ← y/(1 + n·|y|) (0 = off).
    """

    dac: Converter = Converter(steps=254, bound=1.0)
    adc: Converter = Converter(steps=254, bound=10.0)
    inp_noise: float = 0.0
    out_noise: float = 0.04
    read_noise: float = 0.0175
    ir_drop: IRDrop | None = IRDrop()
    noise_management: NoiseManagement = ConstantNoiseManagement(value=1.0)
    bound_management: BoundManagement = NoBoundManagement()
    out_nonlinearity: float = 0.0

    def _validate(self) -> None:
        n = "IOConfig"
        check_instance(n, "dac", self.dac, Converter)
        check_instance(n, "adc", self.adc, Converter)
        for field in ("inp_noise", "out_noise", "read_noise", "out_nonlinearity"):
            check_nonnegative(n, field, getattr(self, field))
        if self.ir_drop is not None:
            check_instance(n, "ir_drop", self.ir_drop, IRDrop)
        check_instance(n, "noise_management", self.noise_management, NoiseManagement)
        check_instance(n, "bound_management", self.bound_management, BoundManagement)
        if isinstance(self.bound_management, IterativeBoundManagement) and (
            self.adc.bound == float("inf")
        ):
            raise ConfigError("IterativeBoundManagement needs a finite ADC bound to detect "
                              "saturation; set adc=Converter(bound=...) or use "
                              "NoBoundManagement()")

    @property
    def is_ideal(self) -> bool:
        """True when the periphery is the identity (no noise, quantisation, clipping, IR drop)."""
        return (
            self.dac.steps is None and self.dac.bound == float("inf")
            and self.adc.steps is None and self.adc.bound == float("inf")
            and self.inp_noise == 0 and self.out_noise == 0 and self.read_noise == 0
            and (self.ir_drop is None or self.ir_drop.scale == 0)
            and isinstance(self.bound_management, NoBoundManagement)
            and self.out_nonlinearity == 0
        )
