"""Training-energy estimate (aimc.onchip.energy): golden numbers, scaling, bad input."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from seeding import seed_everything
from torch import nn

import aimc
import aimc.optim
from aimc.config.onchip import InSituSGD
from aimc.errors import ConfigError, StateError
from aimc.onchip.energy import (
    ANALOG_COMPONENTS,
    DIGITAL_COMPONENTS,
    EnergyModel,
    EnergyReport,
    estimate_training_energy,
)

# simple, exactly representable energies (J) for hand-computed golden numbers
UNIT = EnergyModel(analog_mac=1.0, dac_conversion=0.5, adc_conversion=0.25, set_pulse=2.0,
                   reset_pulse=3.0, refresh_set_pulses=4.0, fp_mult=0.75, fp_add=0.25,
                   weight_word=0.5, chi_word=0.125, weight_accesses=6.0, chi_accesses=2.0,
                   transfer_ops=2.0)
COUNTS = {"forward_mvms": 10, "backward_mvms": 10, "update_vectors": 10, "read_mvms": 0,
          "pulses": 7, "digital_macs": 120, "update_steps": 2, "refreshes": 1}


def _onchip_model(module: nn.Module, cfg: aimc.AnalogConfig | None = None) -> nn.Module:
    seed_everything(0)
    return aimc.convert_to_analog(
        module, cfg or aimc.presets.onchip_mixed_precision(noisy_periphery=False))


def _set_counts(model: nn.Module, counts: dict[str, int]) -> None:
    for tiles in aimc.tile_arrays(model):
        if tiles.onchip is not None:
            tiles.onchip.counters.update(counts)


def test_golden_numbers_linear() -> None:
    model = _onchip_model(nn.Linear(4, 3))
    _set_counts(model, COUNTS)
    r = estimate_training_energy(model, energy=UNIT)
    # shape (3, 4): 12 MACs per vector, 12 weights, 4 DAC inputs, 3 ADC outputs (one tile)
    assert r.analog == {
        "forward_mvm": 10 * 12 * 1.0, "backward_mvm": 10 * 12 * 1.0, "read_mvm": 0.0,
        "dac": (10 * 4 + 10 * 3) * 0.5, "adc": (10 * 3 + 10 * 4) * 0.25,
        "pulses": 7 * 2.0, "refresh": 1 * (2 * 3.0 + 4 * 2.0), "chi_macs": 120 * 1.0,
        "chi_memory": 2 * 12 * 2 * 0.125, "transfer": 2 * 12 * 2 * 0.25}
    assert r.digital == {"forward_macs": 120.0, "backward_macs": 120.0,
                         "gradient_macs": 120.0, "update": 2 * 12 * 1.0,
                         "weight_memory": 2 * 12 * 6 * 0.5}
    assert r.analog_total == 458.5 and r.digital_total == 456.0
    assert r.ratio == pytest.approx(456.0 / 458.5, rel=1e-15)
    assert tuple(r.analog) == ANALOG_COMPONENTS and tuple(r.digital) == DIGITAL_COMPONENTS
    a = r.arrays[0]
    assert (a.shape, a.macs_per_vector, a.in_elements, a.out_elements) == ((3, 4), 12, 4, 3)
    assert a.algorithm == "MixedPrecision" and a.devices_per_sign == 1 and a.transfer_every == 1


def test_golden_numbers_conv_and_in_situ() -> None:
    # in-situ SGD: no χ terms; a conv: MACs per output position = out·in·k
    cfg = aimc.presets.onchip(InSituSGD(), noisy_periphery=False)
    model = _onchip_model(nn.Conv2d(2, 3, 3), cfg)
    _set_counts(model, COUNTS)
    r = estimate_training_energy(model, energy=UNIT)
    a = r.arrays[0]
    assert (a.shape, a.macs_per_vector, a.in_elements, a.out_elements) == ((3, 18), 54, 18, 3)
    assert a.devices_per_sign == 0 and a.transfer_every == 0
    assert r.analog["chi_memory"] == r.analog["transfer"] == 0.0
    assert r.analog["forward_mvm"] == 10 * 54
    assert r.analog["refresh"] == 1 * (2 * 3.0 + 4 * 2.0)  # single device: counted as a pair
    assert r.digital["weight_memory"] == 2 * 54 * 6 * 0.5


def test_counts_from_real_training_steps() -> None:
    model = _onchip_model(nn.Sequential(nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 3)))
    opt = aimc.optim.AnalogSGD(model.parameters(), lr=0.1)
    x, y = torch.rand(5, 6), torch.tensor([0, 1, 2, 0, 1])
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    r = estimate_training_energy(model)
    assert [a.name for a in r.arrays] == ["0.weight", "2.weight"]
    first = r.arrays[0].counters
    assert first["forward_mvms"] == 10 and first["update_steps"] == 2
    assert first["digital_macs"] == 10 * 6 * 4
    e = EnergyModel()
    assert r.digital["forward_macs"] == pytest.approx(10 * (24 + 12) * e.fp_mac)
    assert r.samples == 10
    assert 0 < r.ratio < math.inf


def test_ratio_scales_with_energies() -> None:
    model = _onchip_model(nn.Linear(4, 3))
    _set_counts(model, COUNTS)
    base = estimate_training_energy(model, energy=UNIT)
    # scaling every energy by k scales both totals, not the ratio
    k = 8.0
    scaled = UNIT.replace(**{f: getattr(UNIT, f) * k for f in
                             ("analog_mac", "dac_conversion", "adc_conversion", "set_pulse",
                              "reset_pulse", "fp_mult", "fp_add", "weight_word", "chi_word")})
    r = estimate_training_energy(model, energy=scaled)
    assert r.analog_total == k * base.analog_total and r.digital_total == k * base.digital_total
    assert r.ratio == pytest.approx(base.ratio, rel=1e-15)
    # the digital weight memory only changes the digital side, linearly
    r2 = base.with_energy(UNIT.replace(weight_word=UNIT.weight_word + 1.0))
    assert r2.analog_total == base.analog_total
    assert r2.digital_total == base.digital_total + 2 * 12 * 6 * 1.0
    assert r2.ratio > base.ratio
    # a dearer χ memory or pulse lowers the gain; free memory on both sides raises nothing else
    assert base.with_energy(UNIT.replace(chi_word=1.0)).ratio < base.ratio
    assert base.with_energy(UNIT.replace(set_pulse=20.0)).ratio < base.ratio
    # steps= extrapolates per-step averages (2 counted steps -> 6)
    r3 = estimate_training_energy(model, energy=UNIT, steps=6)
    assert r3.analog_total == pytest.approx(3 * base.analog_total)
    assert r3.ratio == pytest.approx(base.ratio) and r3.steps == 6


def test_report_round_trip_and_markdown() -> None:
    model = _onchip_model(nn.Linear(4, 3))
    _set_counts(model, COUNTS)
    r = estimate_training_energy(model)
    d = json.loads(json.dumps(r.to_dict()))
    back = EnergyReport.from_dict(d)
    assert back.analog == pytest.approx(r.analog) and back.digital == pytest.approx(r.digital)
    assert back.ratio == pytest.approx(r.ratio)
    assert [dataclasses.asdict(a) for a in back.arrays] == [dataclasses.asdict(a)
                                                           for a in r.arrays]
    md = r.to_markdown()
    for text in ("173×", "172×", "Horowitz", "UNVERIFIED", "HERMES", "| **total** |"):
        assert text in md
    assert EnergyModel.from_json(EnergyModel().to_json()) == EnergyModel()
    with pytest.raises(ConfigError, match="to_dict"):
        EnergyReport.from_dict({"analog_J": {}})


def test_bad_energy_values() -> None:
    with pytest.raises(ConfigError, match="set_pulse must be >= 0"):
        EnergyModel(set_pulse=-1e-12)
    with pytest.raises(ConfigError, match="finite"):
        EnergyModel(fp_add=math.inf)
    with pytest.raises(ConfigError, match="weight_word"):
        EnergyModel(weight_wrd=1e-12)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="int or float"):
        EnergyModel(fp_mult="3.7 pJ")  # type: ignore[arg-type]


def test_bad_models_and_arguments() -> None:
    with pytest.raises(ConfigError, match=r"onchip_mixed_precision\(\)"):
        estimate_training_energy(nn.Linear(3, 2))
    inference = aimc.convert_to_analog(nn.Linear(3, 2), aimc.presets.rasch2023())
    with pytest.raises(ConfigError, match="no layer trained on chip"):
        estimate_training_energy(inference)
    untrained = _onchip_model(nn.Linear(4, 3))
    with pytest.raises(StateError, match="AnalogSGD"):
        estimate_training_energy(untrained)
    _set_counts(untrained, {"forward_mvms": 4})
    with pytest.raises(StateError, match="no update step"):
        estimate_training_energy(untrained, steps=10)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="steps"):
            estimate_training_energy(untrained, steps=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="EnergyModel"):
        estimate_training_energy(untrained, energy={"set_pulse": 1e-12})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="nn.Module"):
        estimate_training_energy("model")  # type: ignore[arg-type]


def test_energy_model_defaults_are_the_shared_cost_table_at_45nm():
    """One home for costs: the training estimate's defaults are aimc.config.cost's numbers."""
    from aimc.onchip.energy import EnergyModel

    table45, default = EnergyModel.from_table(digital_scaled=False), EnergyModel()
    for f in dataclasses.fields(default):  # equal up to the rounding of ×0.15 then ÷0.15
        assert getattr(table45, f.name) == pytest.approx(getattr(default, f.name), rel=1e-12)
    scaled = EnergyModel.from_table()
    assert scaled.fp_mult == pytest.approx(3.7e-12 * 0.15)
    assert scaled.weight_word == pytest.approx(32 * 100e-12 * 0.15 / 64)
    dram = EnergyModel.from_table(weights_in="dram", chi_sram_bytes=8192, chi_bits=16)
    assert dram.weight_word == pytest.approx(32 * 1.3e-9 / 64)
    assert dram.chi_word == pytest.approx(16 * 10e-12 * 0.15 / 64)
    with pytest.raises(ConfigError, match="weights_in"):
        EnergyModel.from_table(weights_in="disk")
