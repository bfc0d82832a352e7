"""Inference lifecycle with ``presets.rasch2023()``: program, set_time, at_time, calibration."""

from __future__ import annotations

import copy

import pytest
import torch
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import NoCompensation
from aimc.tile import TileArray

RASCH = aimc.presets.rasch2023()
G_MAX = RASCH.device.g_max
# σ_prog/g_max at ĝ_T = 1 (physics.md §7.1: 1.0554 µS at 25 µS)
SIGMA_PROG_MAX = 0.0422


def _gen(seed: int) -> torch.Generator:
    return seeded(seed)


def _data(n: int = 64, features: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, features, generator=_gen(seed))


def _model(config: aimc.AnalogConfig = RASCH, seed: int = 0) -> nn.Module:
    seed_everything(seed)
    torch_model = nn.Sequential(nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 10))
    model = aimc.convert_to_analog(torch_model, config)
    aimc.calibrate_input_ranges(model, [_data()])
    return model.eval()


def _programmed(config: aimc.AnalogConfig = RASCH, seed: int = 0) -> nn.Module:
    return aimc.program(_model(config), generator=_gen(seed))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
            for k, v in model.state_dict().items()}


def _assert_state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].shape == b[k].shape and torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def _forward(model: nn.Module, x: torch.Tensor, seed: int = 5) -> torch.Tensor:
    seed_everything(seed)
    with torch.no_grad():
        return model(x)


# ----------------------------------------------------------------------------- program
def test_program_sets_state() -> None:
    model = _model()
    arrays = aimc.tile_arrays(model)
    assert len(arrays) == 2
    assert not any(a.is_programmed for a in arrays)
    assert all(a.g_programmed.numel() == 0 for a in arrays)
    out = aimc.program(model, generator=_gen(0))
    assert out is model
    for a in arrays:
        g = a.geometry
        assert a.is_programmed
        assert a.programmed_devices()[0].shape == (2, g.num_tiles, g.out, g.rows)
        assert a.programmed_devices()[1].shape == a.programmed_devices()[0].shape
        assert a.weight_now.shape == (g.num_tiles, g.out, g.rows)
        assert float(a.t_inference) == 0.0
        assert (a.programmed_devices()[1] >= 0).all()
    for _, layer in aimc.analog_layers(model):
        assert layer.is_programmed


def test_set_time_redraws_read_noise_only() -> None:
    model = _programmed()
    arr = aimc.tile_arrays(model)[0]
    g_prog, nu = arr.programmed_devices()[0].clone(), arr.programmed_devices()[1].clone()
    aimc.set_time(model, 3600.0, generator=_gen(1))
    w1 = arr.weight_now.clone()
    aimc.set_time(model, 3600.0, generator=_gen(2))
    w2 = arr.weight_now.clone()
    assert not torch.equal(w1, w2)  # fresh read noise
    assert torch.equal(arr.programmed_devices()[0], g_prog)  # programmed once
    assert torch.equal(arr.programmed_devices()[1], nu)
    assert float(arr.t_inference) == 3600.0
    # same read-noise generator seed → same weights
    aimc.set_time(model, 3600.0, generator=_gen(1))
    assert torch.equal(arr.weight_now, w1)
    # global RNG is used without a generator: two calls differ
    aimc.set_time(model, 3600.0)
    w3 = arr.weight_now.clone()
    aimc.set_time(model, 3600.0)
    assert not torch.equal(arr.weight_now, w3)


def test_reprogram_with_other_generator_draws_new_programming_noise() -> None:
    model = _programmed(seed=0)
    g0 = [a.programmed_devices()[0].clone() for a in aimc.tile_arrays(model)]
    aimc.set_time(model, 86400.0, generator=_gen(3))
    aimc.program(model, generator=_gen(1))
    for a, g in zip(aimc.tile_arrays(model), g0, strict=True):
        assert not torch.equal(a.programmed_devices()[0], g)
        assert float(a.t_inference) == 0.0  # time resets on programming


def test_same_seed_gives_identical_state_and_outputs() -> None:
    a, b = _programmed(seed=7), _programmed(seed=7)
    _assert_state_equal(_state(a), _state(b))
    aimc.set_time(a, 1e5, generator=_gen(11))
    aimc.set_time(b, 1e5, generator=_gen(11))
    _assert_state_equal(_state(a), _state(b))
    x = _data(8)
    torch.testing.assert_close(_forward(a, x), _forward(b, x), rtol=0, atol=0)
    c = _programmed(seed=8)
    assert not torch.equal(aimc.tile_arrays(a)[0].programmed_devices()[0],
                           aimc.tile_arrays(c)[0].programmed_devices()[0])


def test_set_time_zero_differs_from_programmed_state() -> None:
    model = _programmed()
    arr = aimc.tile_arrays(model)[0]
    w_prog = arr.weight_now.clone()
    g_prog = arr.programmed_devices()[0]
    torch.testing.assert_close(w_prog, g_prog[0] - g_prog[1])
    aimc.set_time(model, 0.0, generator=_gen(1))
    assert not torch.equal(arr.weight_now, w_prog)  # read noise at t0
    # but close to it: no drift at t = 0, only read noise of a few percent
    rel = (arr.weight_now - w_prog).norm() / w_prog.norm()
    assert 0 < rel < 0.1
    assert float(arr.t_inference) == 0.0


# ----------------------------------------------------------------------------- at_time
def test_at_time_restores_previous_state() -> None:
    model = _programmed()
    aimc.set_time(model, 60.0, generator=_gen(1))
    before = _state(model)
    x = _data(8)
    y_before = _forward(model, x)
    with aimc.at_time(model, 3.15e7, generator=_gen(2)) as m:
        assert m is model
        assert all(float(a.t_inference) == 3.15e7 for a in aimc.tile_arrays(model))
        y_inside = _forward(model, x)
        assert not torch.allclose(y_inside, y_before)
    _assert_state_equal(_state(model), before)
    torch.testing.assert_close(_forward(model, x), y_before, rtol=0, atol=0)


def test_at_time_restores_on_exception() -> None:
    model = _programmed()
    before = _state(model)
    with pytest.raises(KeyError, match="boom"):
        with aimc.at_time(model, 86400.0, generator=_gen(2)):
            assert float(aimc.tile_arrays(model)[0].t_inference) == 86400.0
            raise KeyError("boom")
    _assert_state_equal(_state(model), before)


def test_at_time_nested() -> None:
    model = _programmed()
    before = _state(model)
    with aimc.at_time(model, 10.0, generator=_gen(1)):
        mid = _state(model)
        with aimc.at_time(model, 1e6, generator=_gen(2)):
            assert float(aimc.tile_arrays(model)[0].t_inference) == 1e6
        _assert_state_equal(_state(model), mid)
    _assert_state_equal(_state(model), before)


def test_at_time_same_generator_seed_reproduces() -> None:
    model = _programmed()
    x = _data(8)
    with aimc.at_time(model, 3600.0, generator=_gen(4)):
        y1 = _forward(model, x)
    with aimc.at_time(model, 3600.0, generator=_gen(4)):
        y2 = _forward(model, x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)


# ----------------------------------------------------------------------------- drift + GDC
def _mean_abs_conductance(model: nn.Module) -> float:
    return float(torch.cat([a.conductances_now().abs().flatten()
                            for a in aimc.tile_arrays(model)]).mean())


def test_drift_decreases_conductance_and_gdc_keeps_output_magnitude() -> None:
    x = _data(128)
    ratios = {}
    for gdc in (True, False):
        cfg = RASCH if gdc else RASCH.replace(drift_compensation=NoCompensation())
        model = _programmed(cfg, seed=1)
        g, norms = [], []
        for t in (1.0, 3600.0, 86400.0, 3.15e7):
            with aimc.at_time(model, t, generator=_gen(2)):
                g.append(_mean_abs_conductance(model))
                norms.append(float(_forward(model, x).norm()))
        assert g[0] > g[1] > g[2] > g[3], g  # drift: conductance falls with time
        assert g[3] < 0.8 * g[1]
        ratios[gdc] = norms[3] / norms[1]  # 1 year vs 1 hour
    assert 0.85 < ratios[True] < 1.15, ratios
    assert ratios[False] < 0.85, ratios
    assert ratios[False] < ratios[True] - 0.1, ratios


def test_gdc_alpha_grows_with_time() -> None:
    model = _programmed()
    alphas = []
    for t in (3600.0, 3.15e7):
        aimc.set_time(model, t, generator=_gen(1))
        alphas.append(aimc.tile_arrays(model)[0].gdc_alpha.clone())
    assert (alphas[1] > alphas[0]).all()
    assert (alphas[0] > 1.0).all()


# ----------------------------------------------------------------------------- read-out
def test_read_weights_close_to_digital_after_programming() -> None:
    model = _programmed()
    for _, layer in aimc.analog_layers(model):
        w = layer.read_weights()
        assert w.shape == layer.weight.shape
        rel = float((w - layer.weight).detach().norm() / layer.weight.detach().norm())
        assert 0 < rel < 0.1, rel
        # uncompensated read-out right after programming is the same (α = 1)
        torch.testing.assert_close(layer.read_weights(compensated=False), w)


def test_read_weights_drifts_but_compensated_stays_close() -> None:
    model = _programmed()
    aimc.set_time(model, 3.15e7, generator=_gen(1))
    layer = model[0]
    raw = layer.read_weights(compensated=False)
    comp = layer.read_weights()
    w = layer.weight.detach()
    assert raw.norm() < 0.8 * w.norm()
    assert abs(float(comp.norm() / w.norm()) - 1.0) < 0.15


def test_read_weights_ideal_is_exact() -> None:
    model = _programmed(aimc.presets.ideal())
    for _, layer in aimc.analog_layers(model):
        torch.testing.assert_close(layer.read_weights(), layer.weight.detach())


def test_conductances_in_siemens() -> None:
    model = _programmed()
    for arr in aimc.tile_arrays(model):
        g = arr.conductances()
        assert g.shape == arr.programmed_devices()[0].shape
        assert (g >= 0).all()
        # g_max = 25 µS plus at most a few σ_prog of programming noise (no upper clip, §1.4)
        assert float(g.max()) <= G_MAX * (1 + 6 * SIGMA_PROG_MAX)
        assert float(g.max()) >= 0.8 * G_MAX  # in siemens, each column's max near g_max
        # one device of each differential pair is (close to) zero
        assert float(torch.minimum(g[0], g[1]).mean()) < 0.05 * G_MAX
        assert arr.conductances_now().shape == arr.weight_now.shape


def test_conductances_ideal_device_within_g_max() -> None:
    model = _programmed(aimc.presets.ideal())
    for arr in aimc.tile_arrays(model):
        g = arr.conductances()
        assert float(g.max()) <= G_MAX * (1 + 1e-6)
        # per-column scaling: every column's largest device sits at g_max
        col_max = g.amax(dim=(0, 3))
        torch.testing.assert_close(col_max, torch.full_like(col_max, G_MAX))


def test_conductances_before_program_raise() -> None:
    arr = aimc.tile_arrays(_model())[0]
    with pytest.raises(aimc.StateError, match="aimc.program"):
        arr.conductances()
    with pytest.raises(aimc.StateError, match="aimc.program"):
        arr.read_weights()


# ----------------------------------------------------------------------------- calibration
def test_calibrate_input_ranges_sets_three_sigma() -> None:
    seed_everything(0)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(32, 24), nn.ReLU(),
                                                 nn.Linear(24, 10)), RASCH).eval()
    seen: dict[int, list[torch.Tensor]] = {0: [], 2: []}
    hooks = [model[i].register_forward_pre_hook(
        lambda m, args, i=i: seen[i].append(args[0].detach().clone())) for i in (0, 2)]
    batches = [_data(64, seed=s) * (1 + s) for s in range(3)]
    aimc.calibrate_input_ranges(model, batches, method="std")
    for h in hooks:
        h.remove()
    assert not model.training  # mode restored
    for i in (0, 2):
        assert len(seen[i]) == 3
        expected = torch.stack([3.0 * x.std() for x in seen[i]]).mean()
        r = model[i].tiles.input_range
        assert r.shape == (1,)
        torch.testing.assert_close(r[0], expected, rtol=1e-4, atol=1e-6)
    # frozen after calibration: training batches no longer move it
    r0 = model[0].tiles.input_range.clone()
    model.train()
    model(_data(64, seed=9) * 10)
    torch.testing.assert_close(model[0].tiles.input_range, r0, rtol=0, atol=0)


def test_calibrate_input_ranges_num_batches_and_pairs() -> None:
    seed_everything(0)
    model = aimc.convert_to_analog(nn.Linear(32, 4), RASCH)
    x1, x2 = _data(64, seed=1), _data(64, seed=2) * 5
    aimc.calibrate_input_ranges(model, [(x1, None), (x2, None)], num_batches=1, method="std")
    torch.testing.assert_close(model.tiles.input_range[0], 3.0 * x1.std(), rtol=1e-4, atol=1e-6)
    assert model.training  # mode restored (was train)


@pytest.mark.parametrize("method", ["quantile", "max"])
def test_calibrate_input_ranges_quantile_and_max(method: str) -> None:
    seed_everything(0)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(32, 24), nn.BatchNorm1d(24),
                                                 nn.Linear(24, 10)), RASCH)
    bn_before = model[1].running_mean.clone()
    batches = [_data(256, seed=s) for s in range(2)]
    aimc.calibrate_input_ranges(model, batches, method=method, quantile=0.99)
    torch.testing.assert_close(model[1].running_mean, bn_before, rtol=0, atol=0)  # eval mode
    reduce = (lambda x: x.abs().amax()) if method == "max" else (
        lambda x: torch.quantile(x.abs().flatten(), 0.99))
    expected = torch.stack([reduce(x) for x in batches]).mean()
    torch.testing.assert_close(model[0].tiles.input_range[0], expected, rtol=1e-4, atol=1e-6)


def test_calibrate_input_ranges_rejects_bad_arguments() -> None:
    model = aimc.convert_to_analog(nn.Linear(4, 2), RASCH)
    r0 = model.tiles.input_range.clone()
    with pytest.raises(aimc.ConfigError, match="method"):
        aimc.calibrate_input_ranges(model, [torch.randn(3, 4)], method="median")
    with pytest.raises(aimc.ConfigError, match="quantile"):
        aimc.calibrate_input_ranges(model, [torch.randn(3, 4)], quantile=1.5)
    with pytest.raises(aimc.ConfigError, match="no batches"):
        aimc.calibrate_input_ranges(model, [])
    torch.testing.assert_close(model.tiles.input_range, r0, rtol=0, atol=0)


def test_uncalibrated_eval_warns() -> None:
    model = aimc.convert_to_analog(nn.Linear(4, 2), RASCH).eval()
    with pytest.warns(UserWarning, match="calibrate_input_ranges"):
        model(torch.randn(3, 4))


# ----------------------------------------------------------------------------- HWA forward
def _quiet_periphery(config: aimc.AnalogConfig) -> aimc.AnalogConfig:
    """PCM device, but ideal periphery and no input range: only device noise remains."""
    ideal = aimc.presets.ideal()
    return config.replace(forward=ideal.forward, input_range=None)


def test_eval_forward_without_program_uses_digital_weights() -> None:
    seed_everything(0)
    lin = nn.Linear(32, 10)
    model = aimc.convert_to_analog(lin, _quiet_periphery(RASCH)).eval()
    x = _data(16)
    with torch.no_grad():
        expected = lin(x)
        torch.testing.assert_close(model(x), expected)  # no programming noise, no drift
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    assert model.tiles.g_programmed.numel() == 0
    aimc.program(model, generator=_gen(0))
    with torch.no_grad():
        programmed = model(x)
    assert not torch.allclose(programmed, expected, rtol=1e-3, atol=1e-3)
    rel = (programmed - expected).norm() / expected.norm()
    assert rel < 0.15


def test_train_mode_after_program_uses_digital_weights() -> None:
    seed_everything(0)
    lin = nn.Linear(32, 10)
    model = aimc.convert_to_analog(lin, _quiet_periphery(RASCH))
    aimc.program(model, generator=_gen(0))
    model.train()
    x = _data(16)
    torch.testing.assert_close(model(x), lin(x))


def test_full_rasch_eval_without_program_is_close_to_digital() -> None:
    seed_everything(0)
    lin = nn.Linear(32, 10)
    model = aimc.convert_to_analog(lin, RASCH)
    aimc.calibrate_input_ranges(model, [_data(256)])
    model.eval()
    x = _data(64, seed=3)
    with torch.no_grad():
        expected = lin(x)
        errs = [float((model(x) - expected).norm() / expected.norm()) for _ in range(3)]
    assert max(errs) < 0.2
    assert len(set(errs)) == 3  # periphery noise is drawn per forward


def test_tile_arrays_helper() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(3, 3), nn.LSTM(3, 2)), RASCH)
    arrays = aimc.tile_arrays(model)
    assert len(arrays) == 1 + 2
    assert all(isinstance(a, TileArray) for a in arrays)
