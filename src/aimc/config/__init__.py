"""Configuration dataclasses (layer 1): frozen, validated, JSON round-trip.

See :mod:`aimc.presets` for ready-made configs citing their sources.
"""

from aimc.config.analog import AnalogConfig, InputRange
from aimc.config.base import CONFIG_VERSION, ConfigBase, config_from_dict
from aimc.config.compensation import (
    DriftCompensation,
    GlobalCompensation,
    NoCompensation,
    PerColumnCompensation,
)
from aimc.config.device import DeviceModel, GaussianNoiseModel, IdealDevice, PCMNoiseModel
from aimc.config.mapping import (
    DifferentialPair,
    Mapping,
    NoScaling,
    PerColumnScaling,
    PerTileScaling,
    TileSplit,
    UnitCell,
    WeightScaling,
)
from aimc.config.onchip import (
    DifferentialCell,
    InSituSGD,
    MixedPrecision,
    OnChipAlgorithm,
    OnChipTraining,
    PulsedCell,
    PulseUpdate,
    SingleDeviceCell,
    TikiTaka,
    aihwkit_backward_io,
)
from aimc.config.periphery import (
    AbsMaxNoiseManagement,
    BoundManagement,
    ConstantNoiseManagement,
    Converter,
    IOConfig,
    IRDrop,
    IterativeBoundManagement,
    NoBoundManagement,
    NoiseManagement,
    NoNoiseManagement,
)
from aimc.config.pulsed import (
    ConstantStepDevice,
    ExpStepDevice,
    LinearStepDevice,
    PCMPulseDevice,
    PiecewiseStepDevice,
    PowStepDevice,
    PulsedDevice,
    SoftBoundsDevice,
    pcm_preset_device,
)
from aimc.config.runtime import Runtime
from aimc.config.snn import CuSiO2WMemristor, DiehlCookSTDP, LIFNeuron, SpikeWaveform, Trace
from aimc.config.training import (
    DeviceStateWeightNoise,
    DropConnect,
    FixedClip,
    GaussianClip,
    GaussianWeightNoise,
    HWATraining,
    NoClip,
    NoWeightNoise,
    ProgrammingWeightNoise,
    WeightClip,
    WeightNoise,
)

__all__ = [
    "CONFIG_VERSION", "ConfigBase", "config_from_dict",
    "AnalogConfig", "InputRange",
    "DriftCompensation", "GlobalCompensation", "NoCompensation", "PerColumnCompensation",
    "DeviceModel", "GaussianNoiseModel", "IdealDevice", "PCMNoiseModel",
    "DifferentialPair", "Mapping", "NoScaling", "PerColumnScaling", "PerTileScaling",
    "TileSplit", "UnitCell", "WeightScaling",
    "AbsMaxNoiseManagement", "BoundManagement", "ConstantNoiseManagement", "Converter",
    "IOConfig", "IRDrop", "IterativeBoundManagement", "NoBoundManagement", "NoiseManagement",
    "NoNoiseManagement", "Runtime",
    "DifferentialCell", "InSituSGD", "MixedPrecision", "OnChipAlgorithm", "OnChipTraining",
    "PulsedCell", "PulseUpdate", "SingleDeviceCell", "TikiTaka", "aihwkit_backward_io",
    "ConstantStepDevice", "ExpStepDevice", "LinearStepDevice", "PCMPulseDevice",
    "PiecewiseStepDevice", "PowStepDevice", "PulsedDevice", "SoftBoundsDevice",
    "pcm_preset_device",
    "DeviceStateWeightNoise", "DropConnect", "FixedClip", "GaussianClip", "GaussianWeightNoise",
    "HWATraining", "NoClip", "NoWeightNoise", "ProgrammingWeightNoise", "WeightClip",
    "WeightNoise",
    "LIFNeuron", "Trace", "DiehlCookSTDP", "SpikeWaveform", "CuSiO2WMemristor",
]
