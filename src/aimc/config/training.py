"""Hardware-aware (HWA) training settings (Rasch et al., arXiv:2302.08469; physics.md §1.2–1.3).

HWA training runs the full noisy crossbar forward pass of the chosen config and an ideal
backward pass (straight-through quantisers) on digital master weights. These settings add
what only matters while training: weight-noise injection, output-noise injection, weight
clipping and channel-wise remapping after each optimizer step, learnable per-column output
scales, and the input-range learning rule (see :class:`aimc.config.InputRange`).
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = [
    "WeightNoise", "NoWeightNoise", "GaussianWeightNoise", "ProgrammingWeightNoise",
    "DeviceStateWeightNoise", "DropConnect", "WeightClip", "NoClip", "FixedClip", "GaussianClip",
    "HWATraining",
]


class WeightNoise(ConfigBase):
    """Noise injected into the normalised tile weights w ∈ [−1, 1] during training.

    Drawn once per forward pass (per mini-batch); the forward and the input gradient see the
    noisy weights, the weight gradient reaches the clean digital weights.
    """


@config
class NoWeightNoise(WeightNoise):
    """No weight-noise injection (the standard preset)."""


@config
class GaussianWeightNoise(WeightNoise):
    """Additive Gaussian noise w + std·ξ (aihwkit ADD_NORMAL; its HWA examples use 0.06–0.1)."""

    std: float = 0.06

    def _validate(self) -> None:
        check_nonnegative("GaussianWeightNoise", "std", self.std)


@config
class ProgrammingWeightNoise(WeightNoise):
    """Noise shaped like PCM programming noise: w + scale·σ(|w|)·ξ.

    σ(ĝ) = max(c0 + c1·ĝ + c2·ĝ², 0)/25 with the coefficients of physics.md §1.4
    (aihwkit POLY modifier, with the middle coefficient derived as 1.9650/25 = 0.0786, see
    §8 item 1) — the relative programming error of a device programmed to ĝ = |w|.
    """

    coeffs: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
    scale: float = 1.0

    def _validate(self) -> None:
        if not isinstance(self.coeffs, tuple) or len(self.coeffs) != 3:
            raise ConfigError("ProgrammingWeightNoise.coeffs must be three numbers (µS at "
                              "g_max = 25 µS)")
        for c in self.coeffs:
            check_type("ProgrammingWeightNoise", "coeffs", c, (int, float))
        check_nonnegative("ProgrammingWeightNoise", "scale", self.scale)


@config
class DeviceStateWeightNoise(WeightNoise):
    """The weights a programmed tile reads ``t_inference`` s after programming, drawn anew
    every forward pass from the layer's own device model (drift-aware HWA training).

    Per forward: program the targets [ĝ⁺, ĝ⁻] = [max(w, 0), max(−w, 0)] once
    (:func:`aimc.physics.devices.program_conductances`: programming noise, drift exponents
    ν), move them to t (:func:`~aimc.physics.devices.conductances_at`: drift
    ĝ·((t + t0)/t0)^(−ν) and 1/f read noise), and compensate drift as the layer's
    ``drift_compensation`` does, with ideal probes: global — each tile's weights times
    α = Σ|w_programmed| / Σ|w_t|; per column — the same ratio per output column; none —
    α = 1. So training sees what inference at t sees: the programming error, the spread of
    ν that compensation cannot remove (a relative error ≈ σ_ν·ln((t + t0)/t0) per
    device), the faster drift of small conductances (μ_ν grows as ĝ falls), and the read
    noise at t. With :class:`~aimc.config.IdealDevice` it injects nothing (exactly).

    The device model is the :class:`~aimc.config.AnalogConfig`'s ``device``
    (:class:`~aimc.config.PCMNoiseModel` or :class:`~aimc.config.GaussianNoiseModel`).

    Attributes:
        t_inference: seconds after programming (finite, ≥ 0); 86,400 = the 24 h of
            AnalogNets (arXiv:2111.06503).
    """

    t_inference: float = 86400.0

    def _validate(self) -> None:
        check_type("DeviceStateWeightNoise", "t_inference", self.t_inference, (int, float))
        if not (0 <= self.t_inference < float("inf")):
            raise ConfigError(f"DeviceStateWeightNoise.t_inference must be finite seconds "
                              f">= 0 after programming, got {self.t_inference}")


@config
class DropConnect(WeightNoise):
    """Each weight is zeroed with probability ``p`` (stuck-at-zero devices), per forward."""

    p: float = 0.01

    def _validate(self) -> None:
        check_type("DropConnect", "p", self.p, (int, float))
        if not 0 <= self.p < 1:
            raise ConfigError(f"DropConnect.p must be in [0, 1), got {self.p}")


class WeightClip(ConfigBase):
    """How digital weights are clipped after each optimizer step."""


@config
class NoClip(WeightClip):
    """No clipping."""


@config
class FixedClip(WeightClip):
    """Clip every weight to ±``value`` (digital units)."""

    value: float = 1.0

    def _validate(self) -> None:
        check_positive("FixedClip", "value", self.value)


@config
class GaussianClip(WeightClip):
    """Clip each output channel to ±``sigma``·std of its weights (aihwkit LAYER_GAUSSIAN, 2.5σ).

    Outliers would otherwise set the channel's abs-max, which maps to g_max, and squeeze
    every other weight into a few low, noisy conductance levels.
    """

    sigma: float = 2.5

    def _validate(self) -> None:
        check_positive("GaussianClip", "sigma", self.sigma)


@config
class HWATraining(ConfigBase):
    """Training-time settings of an analog config.

    Attributes:
        weight_noise: injected weight noise (:class:`NoWeightNoise` by default).
        out_noise: extra Gaussian output noise σ injected in training only (on top of
            ``IOConfig.out_noise``; normalised output units).
        clip: weight clipping after each optimizer step (:class:`NoClip` by default).
        remap: channel-wise remapping after each step: with learnable output scales, each
            channel's weights are rescaled to abs-max 1 and the scale moves into the output
            scale (aihwkit CHANNELWISE_SYMMETRIC, remapped_wmax 1). Without learnable output
            scales the forward pass normalises every channel anyway (``PerColumnScaling``).
        input_range_gradient_scale: multiplier of the input-range gradient.
    """

    weight_noise: WeightNoise = NoWeightNoise()
    out_noise: float = 0.0
    clip: WeightClip = NoClip()
    remap: bool = True
    input_range_gradient_scale: float = 1.0

    def _validate(self) -> None:
        n = "HWATraining"
        if not isinstance(self.weight_noise, WeightNoise):
            raise ConfigError(f"{n}.weight_noise must be a WeightNoise config, e.g. "
                              f"GaussianWeightNoise(std=0.06), got {self.weight_noise!r}")
        check_nonnegative(n, "out_noise", self.out_noise)
        if not isinstance(self.clip, WeightClip):
            raise ConfigError(f"{n}.clip must be NoClip(), FixedClip(...) or GaussianClip(...), "
                              f"got {self.clip!r}")
        check_type(n, "remap", self.remap, bool)
        check_positive(n, "input_range_gradient_scale", self.input_range_gradient_scale)
