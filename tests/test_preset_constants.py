"""Golden tests: every preset's and device's constants, typed here from
``../shared/reference/physics.md`` and ``energy.md`` (not copied from the code), plus a
cross-check against the aihwkit defaults dumped in ``../shared/peers/aihwkit/config_defaults.json``.

A constant changed in ``aimc.presets``, ``aimc.config`` or ``aimc.onchip.energy`` without
changing its source fails here; the behavioural test at the end makes the ``rasch2023``
read noise visible in the crossbar's output statistics, so a preset that sets it to 0
fails twice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from seeding import seeded

from aimc import presets
from aimc.config import Converter
from aimc.config.device import PCMNoiseModel
from aimc.config.onchip import (
    DifferentialCell,
    InSituSGD,
    MixedPrecision,
    PulseUpdate,
    SingleDeviceCell,
    aihwkit_backward_io,
)
from aimc.config.pulsed import (
    ConstantStepDevice,
    ExpStepDevice,
    PCMPulseDevice,
    SoftBoundsDevice,
    pcm_preset_device,
)
from aimc.onchip.energy import EnergyModel
from aimc.physics.geometry import LinearGeometry
from aimc.physics.mvm import crossbar_mvm

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers" / "aihwkit"
PEERS = PEERS / "config_defaults.json"
#: float constants typed with 4–6 significant digits: compare to 1e-12 relative (exact decimal
#: literals; a derived value such as 1/(0.35·5e-6) is one division, exact to 1 ulp)
REL = 1e-12


def _get(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for key in path.split("."):
        node = node[key]
    return node


def _check(cfg: Any, expected: dict[str, Any]) -> None:
    """Compare ``cfg.to_dict()`` at each dotted path with the expected value."""
    tree = cfg.to_dict()
    wrong = {}
    for path, want in expected.items():
        got = _get(tree, path)
        if isinstance(want, float):
            ok = isinstance(got, (int, float)) and got == pytest.approx(want, rel=REL)
        elif isinstance(want, tuple):
            ok = len(got) == len(want) and all(
                g == pytest.approx(w, rel=REL) for g, w in zip(got, want, strict=True))
        else:
            ok = got == want
        if not ok:
            wrong[path] = (got, want)
    assert not wrong, f"constants differ from physics.md (got, expected): {wrong}"


# physics.md §1.2 (StandardHWATrainingPreset) and §1.4 (PCMLikeNoiseModel)
RASCH2023 = {
    "forward.dac.steps": 254, "forward.dac.bound": 1.0,
    "forward.adc.steps": 254, "forward.adc.bound": 10.0,
    "forward.inp_noise": 0.0, "forward.out_noise": 0.04, "forward.read_noise": 0.0175,
    "forward.ir_drop.scale": 1.0,
    "forward.ir_drop.g_ratio": 1.0 / (0.35 * 5e-6),  # §1.3 step 4: 571 428.57
    "forward.noise_management.type": "ConstantNoiseManagement",
    "forward.noise_management.value": 1.0,
    "forward.bound_management.type": "NoBoundManagement",
    "forward.out_nonlinearity": 0.0,
    "mapping.tiles.max_rows": 512,
    "mapping.weight_scaling.type": "PerColumnScaling",
    "mapping.digital_bias": True,
    "input_range.init_value": 3.0, "input_range.init_from_data": 100,
    "input_range.init_std_alpha": 3.0, "input_range.decay": 0.001,
    "input_range.input_min_percentage": 0.95,
    "drift_compensation.type": "GlobalCompensation",
    "device.type": "PCMNoiseModel",
    "device.g_max": 25e-6, "device.t0": 20.0, "device.t_read": 250e-9,
    "device.prog_coeffs": (0.26348, 1.9650, -1.1731), "device.prog_coeff_g_ref": 25e-6,
    "device.nu_mean_coeffs": (-0.0155, 0.0244), "device.nu_mean_bounds": (0.049, 0.1),
    "device.nu_std_coeffs": (-0.0125, -0.0059), "device.nu_std_bounds": (0.008, 0.045),
    "device.read_noise_coeffs": (0.0088, 0.65, 0.2),
    "device.prog_noise_scale": 1.0, "device.drift_scale": 1.0, "device.read_noise_scale": 1.0,
}

# physics.md §8 item 8: aihwkit IOParameters defaults, 7-bit DAC (1/126), 9-bit ADC (1/510)
AIHWKIT_IO = {
    "dac.steps": 126, "dac.bound": 1.0, "adc.steps": 510, "adc.bound": 12.0,
    "inp_noise": 0.0, "out_noise": 0.06, "read_noise": 0.0, "ir_drop": None,
    "noise_management.type": "AbsMaxNoiseManagement",
}


def test_rasch2023_constants() -> None:
    _check(presets.rasch2023(), RASCH2023)


def test_rasch2023_hwa_constants() -> None:
    """§1.2: same crossbar; learned out-scales and input ranges, remap on, modifier NONE."""
    _check(presets.rasch2023_hwa(), {
        **RASCH2023,
        "mapping.learn_out_scaling": True, "input_range.learn": True,
        "training.remap": True, "training.weight_noise.type": "NoWeightNoise",
        "training.clip.type": "NoClip",
    })


def test_ideal_constants() -> None:
    """The ideal limit: no noise, no drift, infinite converters, no compensation."""
    cfg = presets.ideal()
    _check(cfg, {"device.type": "IdealDevice", "forward.dac.steps": None,
                 "forward.adc.steps": None, "forward.inp_noise": 0.0,
                 "forward.out_noise": 0.0, "forward.read_noise": 0.0, "forward.ir_drop": None,
                 "drift_compensation.type": "NoCompensation", "input_range": None})
    assert math.isinf(cfg.forward.dac.bound) and math.isinf(cfg.forward.adc.bound)
    assert cfg.forward.is_ideal


def test_onchip_periphery_constants() -> None:
    """Forward: iterative bound management; backward: none (aihwkit's C++ backward pass
    rejects bound management: ``rpu_forward_backward_pass.h``, "Bound management is not
    supported for backward pass")."""
    _check(presets.onchip_io(), {**AIHWKIT_IO,
                                 "bound_management.type": "IterativeBoundManagement",
                                 "bound_management.max_factor": 1000.0,
                                 "bound_management.max_res": 0.25})
    _check(aihwkit_backward_io(), {**AIHWKIT_IO, "bound_management.type": "NoBoundManagement"})


def test_onchip_preset_constants() -> None:
    """Pulse update BL 31 with update and BL management (aihwkit ``UpdateParameters``);
    mixed precision: transfer every step, granularity 0 = dw_min, refresh 0.75 / 0.25 every
    step (physics.md §3.2); Tiki-Taka on soft bounds."""
    _check(PulseUpdate(), {"desired_bl": 31, "bl_management": True, "update_management": True})
    mp = presets.onchip_mixed_precision()
    _check(mp.on_chip.algorithm, {"type": "MixedPrecision", "granularity": 0.0,
                                  "transfer_every": 1, "n_x_bins": 0, "n_d_bins": 0})
    _check(mp.on_chip.cell, {"type": "DifferentialCell", "devices_per_sign": 1,
                             "refresh_every": 1, "refresh_upper": 0.75, "refresh_lower": 0.25})
    assert mp.on_chip.cell.device == pcm_preset_device()
    assert presets.onchip_sgd().on_chip.cell.device == ConstantStepDevice()
    tt = presets.onchip_tiki_taka()
    assert tt.on_chip.cell.device == SoftBoundsDevice()
    _check(tt.on_chip.algorithm, {"variant": 1, "transfer_every": 1, "n_reads_per_transfer": 1})
    _check(presets.onchip(), {"forward.dac.steps": 126, "forward.adc.steps": 510,
                              "on_chip.backward.adc.bound": 12.0,
                              "mapping.weight_scaling.type": "NoScaling"})


def test_pcm_preset_device_constants() -> None:
    """physics.md §3.2 (aihwkit ``PCMPresetDevice``): one-sided ExpStep on w ∈ [0, 2]."""
    _check(pcm_preset_device(), {
        "dw_min": 0.01, "A_up": -27.235, "gamma_up": 2.5, "a": -1.0, "b": 0.0,
        "w_min": 0.0, "w_max": 2.0, "dw_min_std": 0.6, "dw_min_std_add": 0.042,
        "dw_min_std_slope": 0.108, "dw_min_dtod": 0.2, "w_max_dtod": 0.1,
        "reset": 0.01, "reset_dtod": 0.02,
    })
    # the mean step the section derives: Δw = 0.01·(1 + 27.235·e^(−2.5·w))
    for w, step in ((0.0, 0.282), (1.0, 0.032), (2.0, 0.012)):
        assert 0.01 * (1 + 27.235 * math.exp(-2.5 * w)) == pytest.approx(step, abs=6e-4)


def test_pcm_pulse_device_constants() -> None:
    """physics.md §3.3 (Nandakumar et al. 2018 via srnn-pcm), all in µS."""
    _check(PCMPulseDevice(), {
        "g_reset": 0.1, "g_reset_std": 0.01, "g_min": 0.1, "g_max": 12.0, "a": 2.6,
        "m1": -0.084, "c1": 0.880, "A1": 1.40, "m2": 0.091, "c2": 0.260, "A2": 2.15,
        "read_noise_m": 0.03, "read_noise_c": 0.13, "epsilon": 0.75,
    })


def test_energy_model_constants() -> None:
    """energy.md: Horowitz FP32 mult 3.7 pJ / add 0.9 pJ, 1 MB SRAM 100 pJ per 64 b (so 50 pJ
    per 32-bit word); analog MAC from HERMES 10.5 TOPS/W (2 ops per MAC); SET pulse 5 pJ
    and RESET 20 pJ, inside the documented 0.1–30 pJ per-pulse range (§3.4)."""
    e = EnergyModel()
    _check(e, {"fp_mult": 3.7e-12, "fp_add": 0.9e-12, "weight_word": 50e-12,
               "chi_word": 50e-12, "analog_mac": 2.0 / 10.5e12, "set_pulse": 5e-12,
               "reset_pulse": 20e-12, "refresh_set_pulses": 10.0, "dac_conversion": 0.0,
               "adc_conversion": 0.0})
    for pulse in (e.set_pulse, e.reset_pulse):
        assert 0.1e-12 <= pulse <= 30e-12


# ------------------------------------------------------------------ aihwkit cross-check
def _aihwkit() -> dict[str, Any]:
    if not PEERS.exists():
        pytest.skip(f"{PEERS} not present (the aihwkit defaults dump of ../shared/peers)")
    return json.loads(PEERS.read_text())


def _io_from_aihwkit(io: dict[str, Any]) -> dict[str, Any]:
    """aihwkit reads res > 1 as a number of steps and 0 < res ≤ 1 as a step size
    (physics.md §8 item 8): steps = res or round(1/res)."""

    def steps(res: float) -> int:
        return round(res) if res > 1 else round(1 / res)

    return {"dac.steps": steps(io["inp_res"]), "dac.bound": io["inp_bound"],
            "adc.steps": steps(io["out_res"]), "adc.bound": io["out_bound"],
            "inp_noise": io["inp_noise"], "out_noise": io["out_noise"]}


def test_rasch2023_matches_aihwkit_preset() -> None:
    fwd = _aihwkit()["presets"]["StandardHWATrainingPreset"]["defaults"]["forward"]
    _check(presets.rasch2023().forward, {
        **_io_from_aihwkit(fwd),
        "read_noise": fwd["w_noise"], "ir_drop.scale": fwd["ir_drop"],
        "ir_drop.g_ratio": fwd["ir_drop_g_ratio"],
    })
    assert fwd["w_noise_type"] == "WeightNoiseType.PCM_READ"
    assert fwd["bound_management"] == "BoundManagementType.NONE"


def test_onchip_io_matches_aihwkit_single_rpu_config() -> None:
    rpu = _aihwkit()["rpu_configs"]["SingleRPUConfig"]
    _check(presets.onchip_io(), _io_from_aihwkit(rpu["forward"]))
    _check(aihwkit_backward_io(), _io_from_aihwkit(rpu["backward"]))
    upd = rpu["update"]
    _check(PulseUpdate(), {"desired_bl": upd["desired_bl"],
                           "bl_management": upd["update_bl_management"],
                           "update_management": upd["update_management"]})


@pytest.mark.parametrize("ours,theirs", [
    (ConstantStepDevice(), ("devices", "ConstantStepDevice")),
    (SoftBoundsDevice(), ("devices", "SoftBoundsDevice")),
    (ExpStepDevice(), ("devices", "ExpStepDevice")),
    (pcm_preset_device(), ("presets", "PCMPresetDevice", "defaults")),
])
def test_pulsed_devices_match_aihwkit(ours: Any, theirs: tuple[str, ...]) -> None:
    """Every field we share with aihwkit's device dataclass has aihwkit's default."""
    ref: Any = _aihwkit()
    for key in theirs:
        ref = ref[key]
    mine = ours.to_dict()
    shared = {k: v for k, v in ref.items() if k in mine and k not in ("type", "version")}
    assert len(shared) >= 12, sorted(shared)  # the comparison really covers the device
    _check(ours, {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else v for k, v in shared.items()})


def test_mixed_precision_matches_aihwkit_compound() -> None:
    ref = _aihwkit()["compounds"]["MixedPrecisionCompound"]
    _check(MixedPrecision(), {k: ref[k] for k in ("granularity", "transfer_every", "n_x_bins",
                                                  "n_d_bins")})
    cell = _aihwkit()["presets"]["PCMPresetUnitCell"]["defaults"]
    _check(DifferentialCell(device=pcm_preset_device()), {
        "refresh_every": cell["refresh_every"], "refresh_upper": cell["refresh_upper_thres"],
        "refresh_lower": cell["refresh_lower_thres"]})


# ------------------------------------------------------------------ behaviour of the preset
def test_rasch2023_forward_noise_statistics() -> None:
    """The preset's own periphery (converters opened, IR drop off) gives
    Var(y_i − W·x) = 0.0175²·Σ_j|w_ij|·x_j² + 0.04² (physics.md §7.2; numbers typed here).

    40 000 draws: the relative standard error of a sample variance is √(2/N) = 0.71 %, so
    5 % is 7 σ per column; a preset with read noise 0 gives 0.04² only, ≥ 3× below the
    expectation for columns 1–5 (checked by the last assert)."""
    inf = Converter(steps=None, bound=math.inf)
    io = presets.rasch2023().forward.replace(dac=inf, adc=inf, ir_drop=None)
    rows, out, n = 64, 6, 40_000
    g = seeded(11)
    w = torch.rand(1, out, rows, generator=g, dtype=torch.float64) * 2 - 1
    x = torch.rand(rows, generator=g, dtype=torch.float64) * 2 - 1
    y = crossbar_mvm(x.expand(1, n, -1).contiguous(), w, io,
                     LinearGeometry(in_features=rows, out_features=out, max_rows=rows),
                     generator=seeded(12))
    var = (y[0] - x @ w[0].t()).var(dim=0)
    expected = 0.0175**2 * (w[0].abs() * x**2).sum(dim=1) + 0.04**2
    torch.testing.assert_close(var, expected, rtol=0.05, atol=0)
    assert float((expected / 0.04**2).min()) > 1.5


def test_pcm_noise_model_default_is_the_preset_device() -> None:
    assert presets.rasch2023().device == PCMNoiseModel()


@pytest.mark.parametrize("name", ["onchip_sgd", "onchip_mixed_precision", "onchip_tiki_taka"])
def test_onchip_presets_default_to_aihwkit_periphery(name: str) -> None:
    """Forward and backward MVMs use aihwkit's default periphery unless told otherwise;
    ``noisy_periphery=False`` makes both ideal (forward ideal, backward None)."""
    make = presets.PRESETS[name]
    noisy = make()
    assert noisy.forward == presets.onchip_io()
    assert noisy.on_chip.backward == aihwkit_backward_io()
    quiet = make(noisy_periphery=False)
    assert quiet.forward.is_ideal and quiet.on_chip.backward is None


def test_onchip_preset_arguments_reach_the_config() -> None:
    """Every argument of the on-chip presets lands where its docstring says."""
    dev = ConstantStepDevice(dw_min=0.005)
    sgd = presets.onchip_sgd(dev, mode="exact")
    assert sgd.on_chip.algorithm.pulse.mode == "exact" and sgd.on_chip.cell.device == dev
    mp = presets.onchip_mixed_precision(pcm_preset_device().replace(dw_min=0.02),
                                        granularity=0.03, devices_per_sign=3)
    assert mp.on_chip.algorithm.granularity == 0.03
    assert mp.on_chip.cell.devices_per_sign == 3
    assert mp.on_chip.cell.device.dw_min == 0.02
    tt = presets.onchip_tiki_taka(dev, version=2, mode="exact")
    assert tt.on_chip.algorithm.variant == 2 and tt.on_chip.algorithm.pulse.mode == "exact"
    assert tt.on_chip.cell.device == dev
    base = presets.onchip(weight_scale=2.5)
    assert base.on_chip.weight_scale == 2.5
    assert base.on_chip.algorithm == InSituSGD() and base.on_chip.cell == SingleDeviceCell()
    assert base.device == PCMNoiseModel() and base.input_range is None
    assert base.drift_compensation.to_dict()["type"] == "GlobalCompensation"
    assert not base.training.remap and base.training.clip.to_dict()["type"] == "NoClip"
