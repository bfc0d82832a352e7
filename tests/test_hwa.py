"""Hardware-aware training mechanics: input-range gradient, weight noise, constraints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import (
    DropConnect,
    FixedClip,
    GaussianClip,
    GaussianWeightNoise,
    HWATraining,
    InputRange,
    NoCompensation,
    ProgrammingWeightNoise,
)
from aimc.physics.input_range import clip_to_input_range
from aimc.physics.modifiers import apply_weight_noise
from aimc.train import apply_hwa_constraints, attach_hwa_constraints, distillation_loss

IDEAL = aimc.presets.ideal()


def _gen(seed: int) -> torch.Generator:
    return seeded(seed)


# ----------------------------------------------------------------------------- input range
def test_input_range_gradient_golden_values() -> None:
    x = torch.tensor([[-3.0, -0.5, 0.2, 2.0, 5.0]], requires_grad=True)
    r = torch.tensor([[1.5]], requires_grad=True)
    g = torch.tensor([[0.7, 0.3, -0.2, -0.4, 0.9]])
    y = clip_to_input_range(x, r, decay=0.0, relative=False)
    torch.testing.assert_close(y.detach(), torch.tensor([[-1.5, -0.5, 0.2, 1.5, 1.5]]))
    y.backward(g)
    # upper (x >= r): min(0, g) = -0.4 (x=2) + 0 (x=5, g>0); lower (x <= -r): max(0, g) = 0.7
    torch.testing.assert_close(r.grad, torch.tensor([[-0.4 - 0.7]]))
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, 0.3, -0.2, 0.0, 0.0]]))


def test_input_range_gradient_relative_and_decay() -> None:
    x = torch.linspace(-1, 1, 100).view(1, 100).requires_grad_()
    r = torch.tensor([[2.0]], requires_grad=True)
    clip_to_input_range(x, r, decay=0.01, min_fraction=0.95, relative=True).sum().backward()
    torch.testing.assert_close(r.grad, torch.tensor([[0.01 * 2.0]]))  # nothing clips: decay·r
    r2 = torch.tensor([[0.1]], requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    clip_to_input_range(x2, r2, decay=0.01, relative=True).backward(-torch.ones(1, 100))
    clipped_up = int((x2.detach() >= 0.1).sum())
    torch.testing.assert_close(r2.grad, torch.tensor([[-clipped_up * 0.1]]))  # no decay: 90 % clip


def test_learned_input_range_gets_gradients_in_training_only() -> None:
    seed_everything(0)
    cfg = IDEAL.replace(input_range=InputRange(init_from_data=0, init_value=0.5, learn=True))
    layer = aimc.convert_to_analog(nn.Linear(8, 3), cfg)
    x = torch.randn(16, 8) * 2
    layer(x).pow(2).sum().backward()
    r = layer.tiles.input_range
    assert r.requires_grad and r.grad is not None and float(r.grad.abs().sum()) > 0
    layer.eval()
    r.grad = None
    with torch.no_grad():
        layer(x)
    assert r.grad is None


def test_hwa_training_moves_input_range_and_reduces_loss() -> None:
    seed_everything(0)
    x = torch.randn(256, 10)
    y = (x[:, :3].sum(1) > 0).long()
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2)),
                                   aimc.presets.rasch2023_hwa())
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    attach_hwa_constraints(opt, model)
    r0 = model[0].tiles.input_range.detach().clone()
    losses = []
    for _ in range(120):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    assert not torch.equal(model[0].tiles.input_range.detach(), r0)
    for layer in (model[0], model[2]):  # remapped: every tile column has abs-max 1
        w_tiles = layer.tiles.geometry.weight_to_tiles(layer.weight.detach())
        torch.testing.assert_close(w_tiles.abs().amax(dim=2), torch.ones(1, layer.out_features))


# ----------------------------------------------------------------------------- weight noise
def test_gaussian_weight_noise_statistics_and_straight_through() -> None:
    w = torch.zeros(4, 50, 500, requires_grad=True)
    noisy = apply_weight_noise(w, GaussianWeightNoise(std=0.1), generator=_gen(0))
    assert abs(float(noisy.detach().std()) - 0.1) < 0.002
    noisy.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones_like(w))


def test_programming_weight_noise_matches_pcm_polynomial() -> None:
    w = torch.full((1, 200, 1000), -1.0)
    noisy = apply_weight_noise(w, ProgrammingWeightNoise(), generator=_gen(1))
    # σ_prog(ĝ = 1) = 1.0554 µS at 25 µS (physics.md §7.1)
    assert abs(float((noisy - w).std()) - 1.0554 / 25) < 0.0008


def test_drop_connect_fraction() -> None:
    w = torch.ones(1, 100, 1000)
    noisy = apply_weight_noise(w, DropConnect(p=0.2), generator=_gen(2))
    assert abs(float((noisy == 0).float().mean()) - 0.2) < 0.01


def test_weight_noise_is_training_only_and_keeps_weight_gradient() -> None:
    seed_everything(0)
    cfg = IDEAL.replace(training=HWATraining(weight_noise=GaussianWeightNoise(std=0.3)))
    fp = nn.Linear(20, 5)
    layer = aimc.convert_to_analog(fp, cfg)
    x = torch.randn(7, 20)
    out = layer(x)
    assert not torch.allclose(out, fp(x), atol=1e-3)  # noisy in training
    out.sum().backward()
    fp(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, fp.weight.grad)  # update hits clean weights
    layer.eval()
    torch.testing.assert_close(layer(x), fp(x))  # no injection in eval


def test_output_noise_injection_in_training_only() -> None:
    cfg = IDEAL.replace(training=HWATraining(out_noise=0.5))
    layer = aimc.convert_to_analog(nn.Linear(4, 300, bias=False), cfg)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.zeros(64, 4)
    assert abs(float(layer(x).detach().std()) - 0.5) < 0.02  # scale 1 per column: σ in output units
    layer.eval()
    assert float(layer(x).detach().abs().max()) == 0.0


# ----------------------------------------------------------------------------- constraints
def test_gaussian_clip_per_output_channel() -> None:
    cfg = IDEAL.replace(training=HWATraining(clip=GaussianClip(sigma=1.0)))
    layer = aimc.convert_to_analog(nn.Linear(1000, 3), cfg)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 1000, generator=_gen(3)) * torch.tensor([[1.0],
                                                                                    [5.0], [0.1]]))
    std = layer.weight.detach().std(dim=1, keepdim=True)
    apply_hwa_constraints(layer)
    peak = layer.weight.detach().abs().amax(dim=1, keepdim=True)
    torch.testing.assert_close(peak, std, rtol=1e-5, atol=0)


def test_fixed_clip() -> None:
    cfg = IDEAL.replace(training=HWATraining(clip=FixedClip(value=0.05)))
    layer = aimc.convert_to_analog(nn.Linear(10, 4), cfg)
    apply_hwa_constraints(layer)
    assert float(layer.weight.detach().abs().max()) == pytest.approx(0.05)


def test_remap_with_out_scales_keeps_the_function() -> None:
    seed_everything(0)
    cfg = IDEAL.replace(mapping=IDEAL.mapping.replace(learn_out_scaling=True))
    fp = nn.Linear(1200, 6)
    layer = aimc.convert_to_analog(fp, cfg).eval()
    x = torch.randn(5, 1200)
    before = layer(x).detach()
    apply_hwa_constraints(layer)
    torch.testing.assert_close(layer(x).detach(), before, rtol=1e-5, atol=1e-5)
    w_tiles = layer.tiles.geometry.weight_to_tiles(layer.weight.detach())
    torch.testing.assert_close(w_tiles.abs().amax(dim=2), torch.ones(3, 6))
    # the digital copy keeps the function too (weights times output scales)
    torch.testing.assert_close(aimc.convert_to_digital(layer)(x), before, rtol=1e-5, atol=1e-5)


def test_constraints_need_an_analog_model() -> None:
    with pytest.raises(aimc.StateError, match="convert"):
        apply_hwa_constraints(nn.Linear(2, 2))
    with pytest.raises(aimc.ConfigError, match="Optimizer"):
        attach_hwa_constraints("sgd", aimc.convert_to_analog(nn.Linear(2, 2), IDEAL))  # type: ignore[arg-type]


def test_programmed_model_after_hwa_training_uses_out_scales() -> None:
    seed_everything(0)
    cfg = aimc.presets.rasch2023_hwa().replace(drift_compensation=NoCompensation())
    model = aimc.convert_to_analog(nn.Linear(30, 4), cfg)
    with torch.no_grad():
        model.tiles.out_scales.fill_(2.0)
    model.eval()
    aimc.calibrate_input_ranges(model, [torch.randn(32, 30)])
    aimc.program(model, generator=_gen(4))
    read = model.read_weights()
    torch.testing.assert_close(read, 2.0 * model.weight.detach(), rtol=0.15, atol=0.05)


# ----------------------------------------------------------------------------- distillation
def test_distillation_loss() -> None:
    t = torch.randn(8, 5)
    assert float(distillation_loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(torch.randn(8, 5), t, temperature=3.0)) > 0
    with pytest.raises(aimc.ConfigError, match="temperature"):
        distillation_loss(t, t, temperature=0.0)
    with pytest.raises(aimc.ConfigError, match="same shape"):
        distillation_loss(t, torch.randn(8, 4))


def test_hwa_configs_round_trip_and_validate() -> None:
    cfg = aimc.presets.rasch2023_hwa()
    assert aimc.AnalogConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(aimc.ConfigError, match="p must be"):
        DropConnect(p=1.0)
    with pytest.raises(aimc.ConfigError, match="weight_noise"):
        HWATraining(weight_noise=0.1)  # type: ignore[arg-type]
    with pytest.raises(aimc.ConfigError, match="GaussianWeightNoise"):
        HWATraining(weight_noise=GaussianWeightNoise)  # type: ignore[arg-type]


def test_lstm_hwa_training_during_input_range_initialisation() -> None:
    """Regression: per-time-step input-range updates used to break LSTM backward()."""
    seed_everything(0)
    lstm = aimc.convert_to_analog(nn.LSTM(6, 5, num_layers=2, batch_first=True),
                                  aimc.presets.rasch2023_hwa())
    opt = torch.optim.SGD(lstm.parameters(), lr=0.01)
    for _ in range(3):
        out, _ = lstm(torch.randn(4, 7, 6))
        loss = out.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    arrays = aimc.tile_arrays(lstm)
    assert all(int(a.input_range_batches) > 0 for a in arrays)
    # after the initialisation phase the ranges learn from gradients
    for a in arrays:
        a.input_range_batches.fill_(100)
    out, _ = lstm(torch.randn(4, 7, 6))
    out.pow(2).mean().backward()
    assert all(a.input_range.grad is not None for a in arrays)
