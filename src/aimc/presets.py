"""Ready-made configs named after their source.

Each preset cites its source; deviations are stated in its docstring.
"""

from __future__ import annotations

import math

from aimc.config import (
    AnalogConfig,
    Converter,
    GlobalCompensation,
    IdealDevice,
    InputRange,
    IOConfig,
    IRDrop,
    Mapping,
    NoBoundManagement,
    NoCompensation,
    NoNoiseManagement,
    NoScaling,
    PCMNoiseModel,
    PerColumnScaling,
    TileSplit,
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
    ConstantNoiseManagement,
    IterativeBoundManagement,
)
from aimc.config.pulsed import PulsedDevice
from aimc.config.training import HWATraining, NoClip, NoWeightNoise
from aimc.errors import ConfigError

__all__ = ["rasch2023", "rasch2023_hwa", "ideal", "analognets", "onchip_io", "onchip", "onchip_sgd",
           "onchip_mixed_precision", "onchip_tiki_taka", "PRESETS", "get"]


def rasch2023() -> AnalogConfig:
    """The standard AIMC crossbar of Rasch et al., Nat. Commun. 14:5282 (2023), arXiv:2302.08469.

    Values from aihwkit's ``StandardHWATrainingPreset`` (``../shared/reference/physics.md``
    §1.2): 512-row tiles with no column limit; per-column weight scaling (ω = 1); digital
    bias; signed 8-bit DAC on [−1, 1] and 8-bit ADC on [−10, 10] (254 steps each); output
    noise σ 0.04; PCM read noise σ_w 0.0175 (output-referred, every MVM); IR drop 1.0 with
    g_ratio 1/(0.35 Ω·5 µS); constant noise management 1.0; no bound management; learned
    per-tile input range (init 3.0, from 100 batches at 3σ); the PCM statistical model of
    Joshi et al. 2020 with g_max 25 µS, t0 20 s, t_read 250 ns (§1.4); global drift
    compensation (§1.5).

    Departures: tiles are split on input-channel boundaries for convolutions (aihwkit splits
    the unfolded rows anywhere); learnable output scales are off here and switched on by
    the HWA-training preset.
    """
    return AnalogConfig(
        device=PCMNoiseModel(),
        forward=IOConfig(
            dac=Converter(steps=254, bound=1.0),
            adc=Converter(steps=254, bound=10.0),
            inp_noise=0.0,
            out_noise=0.04,
            read_noise=0.0175,
            ir_drop=IRDrop(scale=1.0, g_ratio=1.0 / (0.35 * 5e-6)),
            noise_management=ConstantNoiseManagement(value=1.0),
            bound_management=NoBoundManagement(),
        ),
        mapping=Mapping(weight_scaling=PerColumnScaling(), tiles=TileSplit(max_rows=512)),
        input_range=InputRange(init_value=3.0, init_from_data=100, init_std_alpha=3.0,
                               decay=0.001, input_min_percentage=0.95),
        drift_compensation=GlobalCompensation(),
    )


def rasch2023_hwa() -> AnalogConfig:
    """:func:`rasch2023` with the hardware-aware training recipe of arXiv:2302.08469.

    As aihwkit's ``StandardHWATrainingPreset`` (physics.md §1.2–1.3): the full noisy crossbar
    forward pass of :func:`rasch2023` (its PCM read noise σ_w = 0.0175 is the short-term
    weight noise seen in training), learned per-tile input ranges (init from 100 batches at
    3σ; decay 0.001 while > 95 % of inputs are unclipped), learnable per-column output
    scales, channel-wise remapping to abs-max 1 after each step, and no extra weight-noise
    modifier (the preset's modifier is NONE). The preset's FIXED_VALUE 1.0 clip acts on
    remapped weights, whose abs-max is 1, so it is represented by :class:`NoClip`.
    Stronger recipes add e.g. ``training=HWATraining(weight_noise=ProgrammingWeightNoise(),
    clip=GaussianClip(sigma=2.5))``.
    """
    base = rasch2023()
    return base.replace(
        mapping=base.mapping.replace(learn_out_scaling=True),
        input_range=InputRange(init_value=3.0, init_from_data=100, init_std_alpha=3.0,
                               learn=True, decay=0.001, input_min_percentage=0.95),
        training=HWATraining(weight_noise=NoWeightNoise(), clip=NoClip(), remap=True),
    )


def ideal() -> AnalogConfig:
    """The ideal limit: no device noise or drift, infinite converter resolution and range.

    An analog layer with this config computes exactly what its torch layer computes
    (forward and gradient), up to floating-point rounding of the digital scales.
    """
    return AnalogConfig(
        device=IdealDevice(),
        forward=IOConfig(
            dac=Converter(steps=None, bound=math.inf),
            adc=Converter(steps=None, bound=math.inf),
            inp_noise=0.0, out_noise=0.0, read_noise=0.0, ir_drop=None,
            noise_management=NoNoiseManagement(), bound_management=NoBoundManagement(),
        ),
        mapping=Mapping(weight_scaling=PerColumnScaling(), tiles=TileSplit(max_rows=512)),
        input_range=None,
        drift_compensation=NoCompensation(),
    )


#: rows per drift-compensation probe in :func:`analognets` (see its docstring)
ANALOGNETS_GDC_ROWS = 8


def analognets(bits: int = 8, *, adc_bound: float = 10.0, max_rows: int = 256,
               unsigned_dac: bool = False) -> AnalogConfig:
    """AON-CiM inference setting of AnalogNets (Zhou et al., arXiv:2111.06503, physics.md §2).

    The PCM model of :func:`rasch2023` (same IBM device family), with the paper's
    constraints: ``bits``-bit activations (DAC) and ADC (``2^bits − 2`` steps: signed,
    symmetric), a **fixed ADC gain** — static per-tile input ranges calibrated once and a
    fixed ADC range ``±adc_bound`` with no dynamic noise or bound management
    (:class:`NoNoiseManagement`, :class:`NoBoundManagement`; physics.md §2.3) —, global
    drift compensation, and tiles of at most ``max_rows`` rows (the 256-row arrays of the
    default :class:`aimc.config.accelerator.LayerSerialAccelerator`).

    Gaps (physics.md §2.2): the paper's noise magnitudes, ADC range and array size are not
    in our sources; output noise 0.04, read noise and IR drop are those of
    :func:`rasch2023`, the ADC range ±10 full-scale units is its default, the array size
    follows IBM's 14 nm HERMES core. Learned input ranges are allowed during HWA training
    and frozen afterwards (they are constants on the chip).

    Drift compensation reads probes of :data:`ANALOGNETS_GDC_ROWS` rows each: through a
    fixed-gain 4-bit ADC a one-hot probe reads a single weight, below one ADC step, so the
    drifted reading is mostly zeros and global drift compensation fails
    (``tests/test_adc_ranges.py`` shows it); a sum of 8 weights spans several steps.

    ``unsigned_dac=True``: a ``bits``-bit unsigned DAC (2^bits − 1 steps on [0, 1]) for
    layers whose inputs are non-negative (after a ReLU; find them with
    :func:`aimc.nonnegative_input_layers` and pass this config as their ``overrides``).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 12:
        raise ConfigError(f"analognets: bits must be an int in 2..12 (the paper uses 8, 6 and "
                          f"4), got {bits!r}")
    if not isinstance(unsigned_dac, bool):
        raise ConfigError(f"analognets: unsigned_dac must be True or False, got "
                          f"{unsigned_dac!r}")
    base = rasch2023()
    steps = 2**bits - 2
    dac = (Converter(steps=steps + 1, bound=1.0, signed=False) if unsigned_dac
           else Converter(steps=steps, bound=1.0))
    return base.replace(
        forward=base.forward.replace(
            dac=dac, adc=Converter(steps=steps, bound=adc_bound),
            noise_management=NoNoiseManagement(), bound_management=NoBoundManagement()),
        mapping=base.mapping.replace(tiles=TileSplit(max_rows=max_rows)),
        drift_compensation=GlobalCompensation(rows_per_probe=ANALOGNETS_GDC_ROWS),
    )


#: every preset by name (used by the CLI and experiment specs)
def onchip_io() -> IOConfig:
    """aihwkit's default forward periphery for pulsed training (``IOParameters`` defaults).

    7-bit DAC (126 steps on ±1), 9-bit ADC (510 steps on ±12), output noise 0.06, abs-max
    noise management, iterative bound management; no read noise or IR drop
    (``../shared/peers/aihwkit/config_defaults.json``, ``SingleRPUConfig.forward``;
    physics.md §8 item 8).
    """
    return IOConfig(dac=Converter(steps=126, bound=1.0), adc=Converter(steps=510, bound=12.0),
                    inp_noise=0.0, out_noise=0.06, read_noise=0.0, ir_drop=None,
                    noise_management=AbsMaxNoiseManagement(),
                    bound_management=IterativeBoundManagement())


def onchip(algorithm: OnChipAlgorithm | None = None, cell: PulsedCell | None = None, *,
           noisy_periphery: bool = True, weight_scale: float = 1.0,
           weight_scaling_omega: float | None = None) -> AnalogConfig:
    """A crossbar trained on chip: the weights are pulsed devices (:class:`OnChipTraining`).

    Forward and backward MVMs use aihwkit's default periphery (:func:`onchip_io`,
    :func:`aimc.config.aihwkit_backward_io`), or are ideal with ``noisy_periphery=False``.
    Single 512-row tiles, no weight scaling (the layer weights are the device weights times
    ``weight_scale``, or times a per-layer factor chosen from the initial weights with
    ``weight_scaling_omega``, see :class:`OnChipTraining`), no learned input ranges. The
    inference device model (used if the trained model is later programmed with
    :func:`aimc.program`) stays the PCM model of :func:`rasch2023`.
    """
    io = onchip_io() if noisy_periphery else IOConfig(
        dac=Converter(steps=None, bound=math.inf), adc=Converter(steps=None, bound=math.inf),
        inp_noise=0.0, out_noise=0.0, read_noise=0.0, ir_drop=None,
        noise_management=NoNoiseManagement(), bound_management=NoBoundManagement())
    return AnalogConfig(
        device=PCMNoiseModel(),
        forward=io,
        mapping=Mapping(weight_scaling=NoScaling(), tiles=TileSplit(max_rows=512)),
        input_range=None,
        drift_compensation=GlobalCompensation(),
        training=HWATraining(weight_noise=NoWeightNoise(), clip=NoClip(), remap=False),
        on_chip=OnChipTraining(cell=cell or SingleDeviceCell(),
                               algorithm=algorithm or InSituSGD(),
                               backward=aihwkit_backward_io() if noisy_periphery else None,
                               weight_scale=weight_scale,
                               weight_scaling_omega=weight_scaling_omega),
    )


def onchip_sgd(device: PulsedDevice | None = None, *, mode: str = "fast",
               noisy_periphery: bool = True) -> AnalogConfig:
    """In-situ SGD with stochastic pulse trains on one bidirectional device per weight.

    Default device: aihwkit's ``ConstantStepDevice`` (dw_min 0.001, ±0.6 bounds, 30 %
    device-to-device and cycle-to-cycle variation); BL 31 with update and BL management
    (Gokmen & Vlasov 2016; aihwkit ``SingleRPUConfig``).
    """
    from aimc.config.pulsed import ConstantStepDevice

    return onchip(InSituSGD(pulse=PulseUpdate(mode=mode)),
                  SingleDeviceCell(device=device or ConstantStepDevice()),
                  noisy_periphery=noisy_periphery)


def onchip_mixed_precision(device: PulsedDevice | None = None, *, granularity: float = 0.0,
                           devices_per_sign: int = 1, noisy_periphery: bool = True,
                           weight_scaling_omega: float | None = None) -> AnalogConfig:
    """Mixed-precision training of Nandakumar et al., arXiv:2001.11773 (physics.md §3.2).

    Digital χ accumulator, transfer every step, on a differential pair of one-sided PCM
    devices with refresh (aihwkit ``MixedPrecisionPCMPreset``: ``PCMPresetDevice`` in a
    ``PCMPresetUnitCell``). ``granularity`` 0 = the device's dw_min.
    ``weight_scaling_omega``: per-layer weight-to-device scale (:class:`OnChipTraining`).
    """
    from aimc.config.pulsed import pcm_preset_device

    return onchip(MixedPrecision(granularity=granularity),
                  DifferentialCell(device=device or pcm_preset_device(),
                                   devices_per_sign=devices_per_sign),
                  noisy_periphery=noisy_periphery, weight_scaling_omega=weight_scaling_omega)


def onchip_tiki_taka(device: PulsedDevice | None = None, *, version: int = 1,
                     mode: str = "fast", noisy_periphery: bool = True) -> AnalogConfig:
    """Tiki-Taka (v1 or v2) on soft-bounds devices (aihwkit ``build_config("tiki-taka",
    SoftBoundsDevice())``: transfer every step, one column read per transfer)."""
    from aimc.config.pulsed import SoftBoundsDevice

    dev = device or SoftBoundsDevice()
    return onchip(TikiTaka(variant=version, pulse=PulseUpdate(mode=mode)),
                  SingleDeviceCell(device=dev), noisy_periphery=noisy_periphery)


PRESETS = {"rasch2023": rasch2023, "rasch2023_hwa": rasch2023_hwa, "ideal": ideal,
           "analognets": analognets,
           "onchip_sgd": onchip_sgd, "onchip_mixed_precision": onchip_mixed_precision,
           "onchip_tiki_taka": onchip_tiki_taka}


def get(name: str) -> AnalogConfig:
    """The preset called ``name`` (e.g. ``"rasch2023"``); an unknown name raises ConfigError."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]()
