"""aimc.replace_config: swapping the periphery/device of a converted model (sweeps)."""

from __future__ import annotations

import copy

import pytest
import torch
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import NoCompensation, TileSplit

RASCH = aimc.presets.rasch2023()


def _model() -> nn.Module:
    seed_everything(0)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3)),
                                   RASCH)
    aimc.calibrate_input_ranges(model, [torch.randn(32, 20)])
    return model.eval()


def test_replace_periphery_changes_the_output_noise() -> None:
    model = _model()
    x = torch.randn(256, 20)
    quiet = lambda c: c.replace(forward=aimc.presets.ideal().forward)  # noqa: E731
    loud = lambda c: c.replace(forward=c.forward.replace(out_noise=0.5))  # noqa: E731
    aimc.replace_config(model, quiet)
    with torch.no_grad():
        spread_quiet = float((model(x) - model(x)).std())
    aimc.replace_config(model, loud)
    with torch.no_grad():
        spread_loud = float((model(x) - model(x)).std())
    assert spread_quiet == 0.0 and spread_loud > 0.1
    assert model[0].analog_config.forward.out_noise == 0.5
    assert model[0].tiles.config.forward.out_noise == 0.5


def test_replace_device_then_reprogram() -> None:
    model = _model()
    aimc.program(model, generator=seeded(0))
    aimc.replace_config(model, lambda c: c.replace(device=c.device.replace(prog_noise_scale=0.0,
                                                                           read_noise_scale=0.0)))
    aimc.program(model, generator=seeded(0))
    for layer in (model[0], model[2]):
        torch.testing.assert_close(layer.read_weights(compensated=False), layer.weight.detach(),
                                   rtol=1e-5, atol=1e-6)


def test_structural_changes_are_refused_and_leave_the_model_unchanged() -> None:
    model = _model()
    aimc.program(model)
    before = copy.deepcopy(model.state_dict())
    bad = [
        RASCH.replace(mapping=RASCH.mapping.replace(tiles=TileSplit(max_rows=4))),
        RASCH.replace(input_range=None),
        RASCH.replace(drift_compensation=NoCompensation()),
        "rasch2023",
    ]
    for cfg in bad:
        with pytest.raises(aimc.ConfigError):
            aimc.replace_config(model, cfg)  # type: ignore[arg-type]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if isinstance(before[k],
                                                                          torch.Tensor))
    assert model[0].tiles.config == RASCH


def test_replace_config_needs_an_analog_model() -> None:
    with pytest.raises(aimc.StateError, match="convert"):
        aimc.replace_config(nn.Linear(2, 2), RASCH)
