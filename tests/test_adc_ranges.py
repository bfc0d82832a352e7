"""aimc.calibrate_adc_ranges: a fixed per-layer ADC gain from data (physics.md §2.3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aimc
from aimc.config import (
    AnalogConfig,
    Converter,
    IdealDevice,
    IOConfig,
    Mapping,
    NoBoundManagement,
    NoCompensation,
    NoNoiseManagement,
    PerColumnScaling,
    TileSplit,
)
from aimc.errors import ConfigError, StateError


def _config(adc_steps: int | None = 14, adc_bound: float = 10.0,
            out_noise: float = 0.0) -> AnalogConfig:
    """Exact devices, a fine DAC, no input range, an ADC of ``adc_steps`` on ±adc_bound."""
    return AnalogConfig(
        device=IdealDevice(),
        forward=IOConfig(dac=Converter(steps=254, bound=1.0),
                         adc=Converter(steps=adc_steps, bound=adc_bound),
                         inp_noise=0.0, out_noise=out_noise, read_noise=0.0, ir_drop=None,
                         noise_management=NoNoiseManagement(),
                         bound_management=NoBoundManagement()),
        mapping=Mapping(weight_scaling=PerColumnScaling(), tiles=TileSplit(max_rows=256)),
        input_range=None, drift_compensation=NoCompensation())


def _model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, 16, bias=False), nn.ReLU(), nn.Linear(16, 8, bias=False))


def _inputs(n: int = 200, seed: int = 1) -> torch.Tensor:
    """Inputs on the DAC grid (multiples of 2/254 in ±1), so the DAC is exact."""
    g = torch.Generator().manual_seed(seed)
    return torch.round(torch.rand(n, 32, generator=g).mul(2).sub(1) * 127) / 127


def test_range_is_the_quantile_of_the_hand_computed_column_outputs():
    digital = _model()
    x = _inputs()
    model = aimc.convert_to_analog(digital, _config())
    aimc.calibrate_adc_ranges(model, [x[:100], x[100:]], quantile=0.99, margin=1.5)
    # first layer, by hand: y = x · (W / max|W| per column)ᵀ in full-scale units
    w = digital[0].weight.detach()
    y = x @ (w / w.abs().amax(dim=1, keepdim=True)).T
    expect = 1.5 * 0.5 * sum(float(torch.quantile(y[s].abs(), 0.99))
                             for s in (slice(0, 100), slice(100, 200)))
    got = model[0].tiles.config.forward.adc.bound
    # the in-place path works in DAC steps (×127) and scales back: float32 rounding only
    assert got == pytest.approx(expect, rel=1e-5)
    assert model[0].analog_config.forward.adc.bound == got
    assert model[0].tiles.config.forward.adc.steps == 14  # the bits are kept
    assert model[2].tiles.config.forward.adc.bound != got  # per layer, not one global value


def test_calibrated_range_cuts_the_4_bit_error():
    """A 4-bit ADC on ±10 reads these ±2-scale outputs as a few levels; calibrated, it
    uses all 14 (fails if the calibration does nothing or picks a wrong range)."""
    digital = _model()
    x = _inputs()
    ref = digital(x).detach()
    fixed = aimc.convert_to_analog(digital, _config())
    calibrated = aimc.convert_to_analog(digital, _config())
    aimc.calibrate_adc_ranges(calibrated, [x])
    with torch.no_grad():
        err_fixed = (fixed(x) - ref).norm() / ref.norm()
        err_cal = (calibrated(x) - ref).norm() / ref.norm()
    assert float(err_cal) < 0.5 * float(err_fixed)


def test_programmed_and_noisy_model_calibrates_and_state_stays_fixed():
    model = aimc.convert_to_analog(_model(), aimc.presets.analognets(6))
    x = _inputs()
    aimc.calibrate_input_ranges(model, [x])
    aimc.program(model, generator=torch.Generator().manual_seed(2))
    aimc.set_noise_generator(model, torch.Generator().manual_seed(3))
    model.train()
    aimc.calibrate_adc_ranges(model, [x])
    assert model.training  # mode restored
    bounds = [t.config.forward.adc.bound for t in aimc.tile_arrays(model)]
    assert all(0 < b < 10.0 for b in bounds)
    assert all(t.adc_calibration is None for t in aimc.tile_arrays(model))
    with aimc.at_time(model, 86400.0):  # drift does not move the fixed ranges
        model.eval()
        model(x)
    assert [t.config.forward.adc.bound for t in aimc.tile_arrays(model)] == bounds


def test_bad_input_errors_name_the_fix():
    x = _inputs()
    with pytest.raises(StateError, match="convert it first"):
        aimc.calibrate_adc_ranges(_model(), [x])
    model = aimc.convert_to_analog(_model(), _config())
    for kwargs, match in (({"quantile": 0.2}, "quantile"), ({"margin": 0.0}, "margin"),
                          ({"num_batches": 0}, "num_batches")):
        with pytest.raises(ConfigError, match=match):
            aimc.calibrate_adc_ranges(model, [x], **kwargs)
    with pytest.raises(ConfigError, match="no batches"):
        aimc.calibrate_adc_ranges(model, [])
    with pytest.raises(ConfigError, match="ideal ADC"):
        aimc.calibrate_adc_ranges(aimc.convert_to_analog(_model(), _config(adc_steps=None)),
                                  [x])
    with pytest.raises(StateError, match="non-zero output"):
        aimc.calibrate_adc_ranges(model, [torch.zeros(4, 32)])


def test_a_failed_calibration_leaves_the_configs_as_they_were():
    model = aimc.convert_to_analog(_model(), _config())
    before = [t.config for t in aimc.tile_arrays(model)]

    def batches():
        yield _inputs()
        raise RuntimeError("data loader failed")

    with pytest.raises(RuntimeError, match="data loader"):
        aimc.calibrate_adc_ranges(model, batches())
    assert [t.config for t in aimc.tile_arrays(model)] == before
    assert all(t.adc_calibration is None for t in aimc.tile_arrays(model))


# ------------------------------------------------------------------ unsigned DAC layers
def test_nonnegative_input_layers_finds_the_layers_after_a_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(),
                          nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Linear(2, 2))
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(1))
    assert aimc.nonnegative_input_layers(model, [x]) == ["2", "6"]
    # converted layers are checked too, and the first input can be ≥ 0 as well
    analog = aimc.convert_to_analog(model, _config())
    assert aimc.nonnegative_input_layers(analog, [x.abs()]) == ["0", "2", "6"]
    assert model.training  # mode restored
    with pytest.raises(ConfigError, match="no batches"):
        aimc.nonnegative_input_layers(model, [])
    with pytest.raises(ConfigError, match="num_batches"):
        aimc.nonnegative_input_layers(model, [x], num_batches=0)
    with pytest.raises(ConfigError, match="nn.Module"):
        aimc.nonnegative_input_layers("model", [x])  # type: ignore[arg-type]


def test_analognets_unsigned_dac_has_twice_the_positive_levels():
    signed, unsigned = aimc.presets.analognets(4), aimc.presets.analognets(4, unsigned_dac=True)
    assert signed.forward.dac.steps == 14 and unsigned.forward.dac.steps == 15
    assert not unsigned.forward.dac.signed and unsigned.forward.dac.low == 0.0
    assert unsigned.forward.dac.step_size < signed.forward.dac.step_size / 2
    with pytest.raises(ConfigError, match="unsigned_dac"):
        aimc.presets.analognets(4, unsigned_dac=1)  # type: ignore[arg-type]
