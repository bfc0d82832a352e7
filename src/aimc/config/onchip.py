"""On-chip training settings: unit cells, pulsed updates and the training algorithms.

With :class:`OnChipTraining` set on :attr:`aimc.config.AnalogConfig.on_chip`, an analog
layer's weight *is* the state of pulsed devices: the forward and backward MVMs run through
the noisy tile and :class:`aimc.optim.AnalogSGD` changes the weight only by programming
pulses. Three algorithms (``algorithm``):

* :class:`InSituSGD` — the rank-one update −η·δᵀx as stochastic pulse trains whose
  coincidences fire the devices (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016;
  aihwkit ``SingleRPUConfig``).
* :class:`MixedPrecision` — a digital high-precision accumulator χ collects −η·δᵀx and
  transfers ⌊χ/ε⌉ pulses to the devices (Nandakumar et al., arXiv:2001.11773;
  physics.md §3.2; aihwkit ``MixedPrecisionCompound``).
* :class:`TikiTaka` — gradient pulses hit a fast array A, whose columns are read and
  transferred by pulses into the slow array C that holds the weight (Gokmen & Haensch,
  Front. Neurosci. 14:103, 2020; v2: Gokmen, Front. AI 4:699148, 2021; aihwkit
  ``TransferCompound``/``BufferedTransferCompound``).
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
from aimc.config.periphery import (
    AbsMaxNoiseManagement,
    Converter,
    IOConfig,
    NoBoundManagement,
)
from aimc.config.pulsed import PulsedDevice
from aimc.errors import ConfigError

__all__ = [
    "PulsedCell", "SingleDeviceCell", "DifferentialCell", "PulseUpdate", "OnChipAlgorithm",
    "InSituSGD", "MixedPrecision", "TikiTaka", "OnChipTraining", "aihwkit_backward_io",
]

UPDATE_MODES = ("fast", "exact")


def _default_device() -> PulsedDevice:
    from aimc.config.pulsed import ConstantStepDevice

    return ConstantStepDevice()


def _is_one_sided(device: PulsedDevice) -> bool:
    one_sided = getattr(device, "one_sided", False)
    return bool(one_sided() if callable(one_sided) else one_sided)


class PulsedCell(ConfigBase):
    """How the devices of one cross-point form a weight."""

    device: PulsedDevice


@config
class SingleDeviceCell(PulsedCell):
    """One bidirectional device per weight: w = device value (weight units).

    Up pulses potentiate, down pulses depress the same device (aihwkit ``SingleRPUConfig``).
    One-sided devices (PCM) cannot depress: use :class:`DifferentialCell` for them.
    """

    device: PulsedDevice = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.device is None:
            object.__setattr__(self, "device", _default_device())
        super().__post_init__()

    def _validate(self) -> None:
        check_instance("SingleDeviceCell", "device", self.device, PulsedDevice)
        if _is_one_sided(self.device):
            raise ConfigError(
                f"{type(self.device).__name__} only potentiates (one-sided, w_min >= 0), so it "
                f"cannot be a bidirectional single-device cell; use "
                f"DifferentialCell(device={type(self.device).__name__}(...)), which puts a "
                "positive and a negative device at every weight")


@config
class DifferentialCell(PulsedCell):
    """A differential pair of one-sided device groups: w = Σᵢ g⁺ᵢ − Σᵢ g⁻ᵢ.

    Only SET (potentiating) pulses are used: a positive update potentiates a device of the
    G⁺ group, a negative one a device of the G⁻ group (physics.md §3.2; Nandakumar et al.
    2020). With ``devices_per_sign`` N > 1 this is the multi-memristive synapse of Boybat
    et al., Nat. Commun. 9:2514 (2018): each update goes to one device per sign, selected
    in turn by a global counter that advances every optimizer step.

    Refresh (every ``refresh_every`` optimizer steps; 0 = never): where the larger side's
    mean device value exceeds ``refresh_upper`` and the smaller one's exceeds
    ``refresh_lower`` (fractions of the device's nominal maximum), all devices of the weight
    are RESET and the difference is re-programmed onto the devices of its sign
    (aihwkit ``OneSidedUnitCell``: 0.75 / 0.25, checked every mini-batch; whether the paper
    used these thresholds is UNVERIFIED, physics.md §3.2).
    """

    device: PulsedDevice = None  # type: ignore[assignment]
    devices_per_sign: int = 1
    refresh_every: int = 1
    refresh_upper: float = 0.75
    refresh_lower: float = 0.25

    def __post_init__(self) -> None:
        if self.device is None:
            from aimc.config.pulsed import pcm_preset_device

            object.__setattr__(self, "device", pcm_preset_device())
        super().__post_init__()

    def _validate(self) -> None:
        n = "DifferentialCell"
        check_instance(n, "device", self.device, PulsedDevice)
        check_type(n, "devices_per_sign", self.devices_per_sign, int)
        if self.devices_per_sign < 1:
            raise ConfigError("DifferentialCell.devices_per_sign must be >= 1 (1 = a plain "
                              "differential pair)")
        check_type(n, "refresh_every", self.refresh_every, int)
        if self.refresh_every < 0:
            raise ConfigError("DifferentialCell.refresh_every must be >= 0 (0 = never refresh)")
        for f in ("refresh_upper", "refresh_lower"):
            v = getattr(self, f)
            check_type(n, f, v, (int, float))
            if not 0 <= v <= 1:
                raise ConfigError(f"DifferentialCell.{f} must be a fraction in [0, 1], got {v}")
        if self.refresh_lower > self.refresh_upper:
            raise ConfigError("DifferentialCell.refresh_lower must not exceed refresh_upper "
                              f"(got {self.refresh_lower} > {self.refresh_upper}); swap them")


@config
class PulseUpdate(ConfigBase):
    """Stochastic pulse-train update (Gokmen & Vlasov 2016; aihwkit ``UpdateParameters``).

    Each input x_j and error δ_i becomes a train of BL time slots carrying a pulse with
    probability p_x = A·k·|x_j| and p_δ = A·|δ_i|/k, A = √(η/(ε·BL)); a device fires once
    per slot where both trains pulse, in the direction −sign(x_j·δ_i). The expected change
    is then ε·BL·p_x·p_δ = η·|x_j·δ_i|: the SGD step.

    Attributes:
        desired_bl: the bit length BL (31, aihwkit).
        bl_management: shorten BL to ⌈η·max|x|·max|δ|/ε⌉ when that suffices (aihwkit
            ``update_bl_management``; fewer slots, same expectation).
        update_management: balance the two trains per sample, k = √(max|δ|/max|x|)
            (aihwkit ``update_management``).
        mode: ``"exact"`` — explicit Bernoulli trains per sample and their exact
            coincidence counts; ``"fast"`` — each weight's count drawn from a distribution
            with the exact mean and variance over the batch (matmuls), ignoring only the
            correlation between weights that share a train. See :mod:`aimc.onchip.pulses`.
    """

    desired_bl: int = 31
    bl_management: bool = True
    update_management: bool = True
    mode: str = "fast"

    def _validate(self) -> None:
        n = "PulseUpdate"
        check_type(n, "desired_bl", self.desired_bl, int)
        if self.desired_bl <= 0:
            raise ConfigError(f"PulseUpdate.desired_bl (the bit length) must be >= 1, got "
                              f"{self.desired_bl}; aihwkit's default is 31")
        check_type(n, "bl_management", self.bl_management, bool)
        check_type(n, "update_management", self.update_management, bool)
        if self.mode not in UPDATE_MODES:
            raise ConfigError(f"PulseUpdate.mode must be one of {UPDATE_MODES}, got "
                              f"{self.mode!r}")


class OnChipAlgorithm(ConfigBase):
    """Base of the on-chip training algorithms."""


@config
class InSituSGD(OnChipAlgorithm):
    """Plain in-situ SGD: every mini-batch's −η·δᵀx goes to the devices as pulse trains."""

    pulse: PulseUpdate = PulseUpdate()

    def _validate(self) -> None:
        check_instance("InSituSGD", "pulse", self.pulse, PulseUpdate)


@config
class MixedPrecision(OnChipAlgorithm):
    """The χ/ε mixed-precision rule (physics.md §3.2).

    χ ← χ − η·δᵀx on the digital side (optionally with x and δ quantised to ``n_x_bins`` /
    ``n_d_bins`` levels of their per-sample abs-max, stochastic rounding); every
    ``transfer_every`` optimizer steps n = trunc(χ/ε) pulses go to the devices and
    χ ← χ − n·ε.

    Attributes:
        granularity: ε in weight units; 0 = the device's nominal step (aihwkit default).
        transfer_every: optimizer steps between transfers (1).
        n_x_bins, n_d_bins: quantisation levels of x and δ (0 = not quantised).
        stochastic_rounding: round the quantised x, δ stochastically (aihwkit default).
    """

    granularity: float = 0.0
    transfer_every: int = 1
    n_x_bins: int = 0
    n_d_bins: int = 0
    stochastic_rounding: bool = True

    def _validate(self) -> None:
        n = "MixedPrecision"
        check_type(n, "granularity", self.granularity, (int, float))
        if self.granularity < 0 or self.granularity != self.granularity:
            raise ConfigError(f"MixedPrecision.granularity (ε) must be > 0, or 0 for the "
                              f"device's own step; got {self.granularity}")
        check_type(n, "transfer_every", self.transfer_every, int)
        if self.transfer_every < 1:
            raise ConfigError("MixedPrecision.transfer_every must be >= 1 (optimizer steps)")
        for f in ("n_x_bins", "n_d_bins"):
            check_type(n, f, getattr(self, f), int)
            if getattr(self, f) < 0:
                raise ConfigError(f"MixedPrecision.{f} must be >= 0 (0 = no quantisation)")
        check_type(n, "stochastic_rounding", self.stochastic_rounding, bool)


@config
class TikiTaka(OnChipAlgorithm):
    """Tiki-Taka: gradient pulses to a fast array A, periodic transfer into the slow array C.

    * The gradient update (pulse trains, η·``fast_lr``) goes to A.
    * Every ``transfer_every`` optimizer steps, ``n_reads_per_transfer`` columns of A
      (cyclic) are read through the forward periphery (one-hot inputs, with its noise).
    * ``variant`` 1 (v1): the read column v is written into C by a pulse-train update of
      η·``transfer_lr``·v ⊗ eⱼ. ``variant`` 2 (TTv2): v·``transfer_lr`` is added to a
      digital buffer H and ⌊H/ε_C⌉ pulses go to C (H keeps the remainder), which filters
      A's read noise.
    * The layer's weight is W = ``gamma``·A + C (``gamma`` = 0: C alone, aihwkit default).

    ``fast_cell`` (None: same as the layer's cell) holds A; the layer's cell holds C.
    """

    variant: int = 1
    fast_cell: PulsedCell | None = None
    transfer_every: int = 1
    n_reads_per_transfer: int = 1
    gamma: float = 0.0
    fast_lr: float = 1.0
    transfer_lr: float = 1.0
    pulse: PulseUpdate = PulseUpdate()

    def _validate(self) -> None:
        n = "TikiTaka"
        if self.variant not in (1, 2) or isinstance(self.variant, bool):
            raise ConfigError(f"TikiTaka.variant must be 1 (Tiki-Taka) or 2 (TTv2), got "
                              f"{self.variant!r}")
        if self.fast_cell is not None:
            check_instance(n, "fast_cell", self.fast_cell, PulsedCell)
        for f in ("transfer_every", "n_reads_per_transfer"):
            check_type(n, f, getattr(self, f), int)
            if getattr(self, f) < 1:
                raise ConfigError(f"TikiTaka.{f} must be >= 1")
        check_nonnegative(n, "gamma", self.gamma)
        check_positive(n, "fast_lr", self.fast_lr)
        check_positive(n, "transfer_lr", self.transfer_lr)
        check_instance(n, "pulse", self.pulse, PulseUpdate)


def check_weight_scaling_omega(owner: str, field: str, omega: object) -> None:
    """Raise ConfigError unless ``omega`` is None or a number in (0, 1] (the fraction of the
    device range a layer's largest initial weight uses, :class:`OnChipTraining`)."""
    if omega is None:
        return
    if isinstance(omega, bool) or not isinstance(omega, (int, float)) or not 0 < omega <= 1:
        raise ConfigError(f"{owner}.{field} must be a number in (0, 1] (the fraction of the "
                          f"device range the largest initial weight uses) or None, "
                          f"got {omega!r}")


def aihwkit_backward_io() -> IOConfig:
    """aihwkit's default ``IOParameters`` for the backward pass of pulsed training.

    7-bit DAC (126 steps over ±1), 9-bit ADC (510 steps over ±12), output noise 0.06,
    abs-max noise management (aihwkit ``IOParameters`` defaults, ``SingleRPUConfig.backward``;
    physics.md §8 item 8), and no bound management: the dumped ``IOParameters`` default says
    ITERATIVE (``../shared/peers/aihwkit/config_defaults.json``), but aihwkit's C++ backward
    pass rejects any bound management ("Bound management is not supported for backward
    pass", ``rpucuda/rpu_forward_backward_pass.h``), so none applies there.
    """
    return IOConfig(dac=Converter(steps=126, bound=1.0), adc=Converter(steps=510, bound=12.0),
                    inp_noise=0.0, out_noise=0.06, read_noise=0.0, ir_drop=None,
                    noise_management=AbsMaxNoiseManagement(),
                    bound_management=NoBoundManagement())


@config
class OnChipTraining(ConfigBase):
    """Train the layer on chip: the weight is the devices' state.

    Attributes:
        cell: how devices form a weight (:class:`SingleDeviceCell` or
            :class:`DifferentialCell`).
        algorithm: :class:`InSituSGD`, :class:`MixedPrecision` or :class:`TikiTaka`.
        backward: periphery of the transposed (backward) MVM; None = an ideal backward.
        weight_scale: digital factor between the layer weight and the cell's weight
            (W_layer = weight_scale·w_cell); 1 = the layer weights are the device weights.
        weight_scaling_omega: None = use ``weight_scale`` for every layer. A value ω in
            (0, 1]: each layer picks its own factor when its weights are first written to
            the devices, s = max|W_init| / (ω·w_ref), so that its largest initial weight
            uses the fraction ω of the cell's range w_ref and the layer can grow its
            weights by 1/ω before the devices saturate (aihwkit's
            ``MappingParameter.weight_scaling_omega``, Rasch et al., arXiv:2104.02184).
            Layers whose initial weights are all zero keep s = 1. ``weight_scale`` must
            then stay 1. The factor is saved in the checkpoint. A larger share of the range
            raises the signal over the output noise, but a layer whose weights must grow
            past 1/ω of their initial maximum during training saturates at the device bound
            (SGD from a small random init often grows them several-fold).
    """

    cell: PulsedCell = SingleDeviceCell()
    algorithm: OnChipAlgorithm = InSituSGD()
    backward: IOConfig | None = None
    weight_scale: float = 1.0
    weight_scaling_omega: float | None = None

    def _validate(self) -> None:
        n = "OnChipTraining"
        check_instance(n, "cell", self.cell, PulsedCell)
        check_instance(n, "algorithm", self.algorithm, OnChipAlgorithm)
        if self.backward is not None:
            check_instance(n, "backward", self.backward, IOConfig)
        check_positive(n, "weight_scale", self.weight_scale)
        check_weight_scaling_omega(n, "weight_scaling_omega", self.weight_scaling_omega)
        if self.weight_scaling_omega is not None:
            if self.weight_scale != 1.0:
                raise ConfigError(f"{n}: weight_scaling_omega picks each layer's weight scale; "
                                  f"leave weight_scale at 1 (got {self.weight_scale}) or set "
                                  f"weight_scaling_omega=None")
        alg = self.algorithm
        if isinstance(alg, TikiTaka) and alg.fast_cell is not None and _is_one_sided(
                alg.fast_cell.device) and isinstance(alg.fast_cell, SingleDeviceCell):
            raise ConfigError("TikiTaka.fast_cell holds a one-sided device in a single-device "
                              "cell; use DifferentialCell for it")
