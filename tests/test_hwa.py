"""Hardware-aware training mechanics: input-range gradient, weight noise, constraints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import (
    DeviceStateWeightNoise,
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
        a.sync_range_batches()
    out, _ = lstm(torch.randn(4, 7, 6))
    out.pow(2).mean().backward()
    assert all(a.input_range.grad is not None for a in arrays)


def _state_error_moments(err: torch.Tensor, w: torch.Tensor, edges: list[float]
                         ) -> list[tuple[float, float, int]]:
    """(mean, std, count) of ``err`` for |w| in each bin of ``edges``."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (w.abs() >= lo) & (w.abs() < hi)
        e = err[m].double()
        out.append((float(e.mean()), float(e.std()), int(m.sum())))
    return out


@pytest.mark.parametrize("t", [0.0, 86400.0])
def test_device_state_noise_matches_a_programmed_tile_at_t(t: float) -> None:
    """The drift-aware injection draws what a programmed, drifted, compensated tile reads:
    per |w| bin the error mean and std equal those of the real lifecycle (program →
    set_time → GDC, read through an ideal periphery with identity inputs)."""
    from aimc.config import GlobalCompensation, PCMNoiseModel

    torch.manual_seed(0)
    w = torch.rand(64, 256) * 2 - 1
    w[:, 0] = 1.0  # each output column's abs-max is 1: no rescaling between the two
    cfg = aimc.presets.ideal().replace(device=PCMNoiseModel(),
                                       drift_compensation=GlobalCompensation())
    layer = aimc.nn.AnalogLinear(256, 64, bias=False, config=cfg)
    with torch.no_grad():
        layer.weight.copy_(w)
    aimc.program(layer, generator=_gen(3))
    aimc.set_time(layer, t, generator=_gen(4))
    with torch.no_grad():
        tile_w = layer.eval()(torch.eye(256)).T  # (out, in) effective weights
    injected = apply_weight_noise(w.unsqueeze(0), DeviceStateWeightNoise(t_inference=t),
                                  generator=_gen(5), device=PCMNoiseModel(),
                                  compensation=GlobalCompensation())[0]
    edges = [0.0, 0.1, 0.4, 0.7, 1.01]
    for (m_t, s_t, n), (m_i, s_i, _) in zip(_state_error_moments(tile_w - w, w, edges),
                                           _state_error_moments(injected - w, w, edges),
                                           strict=True):
        # two independent samples of n weights: the difference of means has std
        # σ·√(2/n), of sample stds ≈ σ·√(1/n); 5σ each (α of each draw is one number per
        # tile from 16k weights, its spread ≪ these bounds)
        sigma = max(s_t, s_i)
        assert abs(m_t - m_i) < 5 * sigma * (2 / n) ** 0.5, (t, m_t, m_i)
        assert abs(s_t - s_i) < 5 * sigma * (1 / n) ** 0.5, (t, s_t, s_i)


def test_device_state_noise_ideal_limit_time_growth_and_bad_input() -> None:
    from aimc.config import GlobalCompensation, IdealDevice, NoCompensation, PCMNoiseModel

    w = (torch.rand(2, 16, 300, generator=_gen(0)) * 2 - 1).requires_grad_(True)
    ideal = apply_weight_noise(w, DeviceStateWeightNoise(), generator=_gen(1),
                               device=IdealDevice(), compensation=GlobalCompensation())
    assert torch.equal(ideal.detach(), w.detach())  # nothing injected, bit for bit
    ideal.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones_like(w))  # straight-through
    flat = torch.full((1, 100, 1000), 0.5)
    # the spread grows with t (ν spread, 1/f read noise); without compensation the mean
    # falls as ((t + t0)/t0)^(−μ_ν), with it it stays at the programmed mean
    errs = {t: apply_weight_noise(flat, DeviceStateWeightNoise(t_inference=t),
                                  generator=_gen(2), device=PCMNoiseModel(),
                                  compensation=GlobalCompensation()) for t in (0.0, 2.6e6)}
    assert float(errs[2.6e6].std()) > 1.2 * float(errs[0.0].std())
    assert abs(float(errs[2.6e6].mean()) - float(errs[0.0].mean())) < 0.003
    raw = apply_weight_noise(flat, DeviceStateWeightNoise(t_inference=2.6e6),
                             generator=_gen(2), device=PCMNoiseModel(),
                             compensation=NoCompensation())
    assert float(raw.mean()) < 0.5 * ((2.6e6 + 20) / 20) ** -0.049 + 0.003
    with pytest.raises(aimc.ConfigError, match="t_inference"):
        DeviceStateWeightNoise(t_inference=-1.0)
    with pytest.raises(aimc.ConfigError, match="device model"):
        apply_weight_noise(flat, DeviceStateWeightNoise())


def test_device_state_training_forward_drifts_the_crossbar_and_compensates_digitally() -> None:
    """In a training forward the crossbar (and its ADC) computes with the drifted,
    uncompensated weights and α multiplies the digital output scale — as a drifted tile at
    inference, where gdc_alpha is folded into the output scale. So the ADC input shrinks
    by the mean drift factor while the layer's output keeps its scale."""
    from aimc.config import GlobalCompensation, PCMNoiseModel

    class Recorder:
        def __init__(self) -> None:
            self.adc: list[float] = []

        def dac_output(self, xq: torch.Tensor, unit: float) -> None:
            return None

        def adc_input(self, y: torch.Tensor, unit: float) -> None:
            self.adc.append(float((y * unit).abs().mean()))

    torch.manual_seed(0)
    w = torch.rand(32, 256) * 2 - 1
    x = torch.rand(64, 256)
    means, outs = {}, {}
    for t in (0.0, 2.6e6):
        cfg = aimc.presets.ideal().replace(
            device=PCMNoiseModel(), drift_compensation=GlobalCompensation(),
            training=HWATraining(weight_noise=DeviceStateWeightNoise(t_inference=t)))
        layer = aimc.nn.AnalogLinear(256, 32, bias=False, config=cfg).train()
        with torch.no_grad():
            layer.weight.copy_(w)
        rec = Recorder()
        for _, tiles, _ in layer.tile_weights():
            tiles.noise_generator = _gen(7)
            tiles._mvm_observer = lambda *_, rec=rec: rec  # type: ignore[method-assign]
        outs[t] = layer(x).detach()
        means[t] = rec.adc[0]
    # mean drift factor of the weights at 1 month: ((t + t0)/t0)^(−ν), ν ≈ 0.05–0.1 for
    # these conductances, so the ADC input falls to 0.3–0.6 of its t = 0 size ...
    assert 0.3 < means[2.6e6] / means[0.0] < 0.6
    # ... while compensation keeps the output's scale (to the drift spread, a few %)
    ratio = float(outs[2.6e6].abs().mean() / outs[0.0].abs().mean())
    assert abs(ratio - 1) < 0.05
    # and the weight gradient still reaches the clean weights, straight through
    layer.zero_grad()
    layer(x).sum().backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
