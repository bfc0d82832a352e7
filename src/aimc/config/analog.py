"""The top-level analog configuration and the input-range setting."""

from __future__ import annotations

from aimc.config.base import (
    ConfigBase,
    check_instance,
    check_nonnegative,
    check_positive,
    check_type,
    config,
)
from aimc.config.compensation import DriftCompensation, GlobalCompensation
from aimc.config.device import DeviceModel, PCMNoiseModel
from aimc.config.mapping import Mapping
from aimc.config.onchip import OnChipTraining
from aimc.config.periphery import IOConfig
from aimc.config.runtime import Runtime
from aimc.config.training import HWATraining, NoClip, NoWeightNoise
from aimc.errors import ConfigError

__all__ = ["InputRange", "AnalogConfig"]


@config
class InputRange(ConfigBase):
    """A per-tile input clipping range r: the DAC sees clip(x/r, −1, 1) (physics.md §1.2).

    r is initialised from data: over the first ``init_from_data`` training batches it is the
    running mean of ``init_std_alpha``·std(x) of the tile's inputs. Models that are not
    trained analog (direct mapping) calibrate with :func:`aimc.calibrate_input_ranges`.

    Attributes:
        init_value: r before any data was seen (3.0).
        init_from_data: number of batches to average for the initial value (100; 0 = never).
        init_std_alpha: r = alpha·std(x) (3.0).
        learn: whether r is a learnable parameter in HWA training (gradient rules: HWA issue).
        decay: relative shrink per step while more than ``input_min_percentage`` of inputs
            are unclipped (HWA training).
        input_min_percentage: see ``decay`` (0.95).
    """

    init_value: float = 3.0
    init_from_data: int = 100
    init_std_alpha: float = 3.0
    learn: bool = True
    decay: float = 0.001
    input_min_percentage: float = 0.95

    def _validate(self) -> None:
        n = "InputRange"
        check_positive(n, "init_value", self.init_value)
        check_type(n, "init_from_data", self.init_from_data, int)
        if self.init_from_data < 0:
            raise ConfigError("InputRange.init_from_data must be >= 0")
        check_positive(n, "init_std_alpha", self.init_std_alpha)
        check_type(n, "learn", self.learn, bool)
        check_nonnegative(n, "decay", self.decay)
        check_type(n, "input_min_percentage", self.input_min_percentage, (int, float))
        if not 0 < self.input_min_percentage <= 1:
            raise ConfigError("InputRange.input_min_percentage must be in (0, 1]")


@config
class AnalogConfig(ConfigBase):
    """Everything that defines an analog crossbar for inference (and HWA training).

    Attributes:
        device: inference device model (:class:`PCMNoiseModel`, :class:`GaussianNoiseModel`,
            :class:`IdealDevice`).
        forward: periphery of the forward MVM (:class:`IOConfig`).
        mapping: weight mapping and tiling (:class:`Mapping`).
        input_range: per-tile input range (:class:`InputRange`) or None (inputs enter the
            noise management unscaled).
        drift_compensation: :class:`GlobalCompensation` (standard), per column, or none.
        runtime: simulation settings (:class:`Runtime`), e.g. the precision of the MVMs that
            feed noise and IR drop.
        training: hardware-aware training settings (:class:`HWATraining`): weight-noise and
            output-noise injection, clipping and remapping after each optimizer step.
        on_chip: on-chip training (:class:`OnChipTraining`): the weight becomes the state of
            pulsed devices, updated by :class:`aimc.optim.AnalogSGD`; None (default) for
            digital master weights.
    """

    device: DeviceModel = PCMNoiseModel()
    forward: IOConfig = IOConfig()
    mapping: Mapping = Mapping()
    input_range: InputRange | None = InputRange()
    drift_compensation: DriftCompensation = GlobalCompensation()
    runtime: Runtime = Runtime()
    training: HWATraining = HWATraining()
    on_chip: OnChipTraining | None = None

    def _validate(self) -> None:
        n = "AnalogConfig"
        check_instance(n, "device", self.device, DeviceModel)
        check_instance(n, "forward", self.forward, IOConfig)
        check_instance(n, "mapping", self.mapping, Mapping)
        if self.input_range is not None:
            check_instance(n, "input_range", self.input_range, InputRange)
        check_instance(n, "drift_compensation", self.drift_compensation, DriftCompensation)
        check_instance(n, "runtime", self.runtime, Runtime)
        check_instance(n, "training", self.training, HWATraining)
        if self.on_chip is not None:
            self._check_on_chip()

    def _check_on_chip(self) -> None:
        check_instance("AnalogConfig", "on_chip", self.on_chip, OnChipTraining)
        tr = self.training
        if not isinstance(tr.weight_noise, NoWeightNoise) or not isinstance(tr.clip, NoClip):
            raise ConfigError("on-chip training updates the devices directly, so HWA weight "
                              "noise and clipping do not apply; use training=HWATraining("
                              "weight_noise=NoWeightNoise(), clip=NoClip()) or on_chip=None")
        if self.input_range is not None:
            raise ConfigError("on-chip training scales inputs by noise management, not learned "
                              "input ranges; set input_range=None (see "
                              "aimc.presets.onchip_sgd())")
        if self.mapping.learn_out_scaling:
            raise ConfigError("on-chip training has no learnable output scales; set "
                              "Mapping(learn_out_scaling=False)")
