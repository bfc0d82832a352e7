"""NormAD (physics.md §5.3, reconstructed): the event-driven LIF layer against the stepped
reference, the PSP kernel against exact stepping, the update on a hand-computed case, a
single neuron learning a target train to ±1 ms, the ±25 ms matching metric, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from aimc.config.normad import NormADNeuron
from aimc.errors import ConfigError, ShapeError
from aimc.snn.normad import (
    filter_spikes,
    match_spikes,
    normad_update,
    psp_kernel,
    simulate,
    simulate_stepped,
)

F64 = torch.float64


def _poisson(steps: int, batch: int, n: int, rate_hz: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(steps, batch, n, generator=g) < rate_hz / 1000.0


@pytest.mark.parametrize("window", [1, 5, 32])
@pytest.mark.parametrize("refractory", [0.0, 2.0, 5.0])
def test_event_driven_layer_equals_the_stepped_reference(
        refractory: float, window: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same spikes, step for step, in float64 (both exact in exact arithmetic; rounding
    differs by ~1e-13 mV, so a tie within that of the threshold could split them: none in
    these seeded draws, checked over 3 × 2 × 40 neurons and ~10⁴ spikes). Every search
    window gives the same spikes: a window of 1 sends most searches down the far path."""
    monkeypatch.setattr("aimc.snn.normad.SEARCH_WINDOW", window)
    cfg = NormADNeuron(refractory=refractory)
    s = _poisson(600, 2, 50, 30.0, seed=1)
    g = torch.Generator().manual_seed(2)
    w = torch.randn(50, 40, generator=g, dtype=F64) * 4.0 + 1.5
    fast = simulate(filter_spikes(s, psp_kernel(cfg), F64), w, cfg)
    ref = simulate_stepped(s, w, cfg)
    assert int(ref.sum()) > 1000
    assert torch.equal(fast, ref)


def test_refractory_period_separates_spikes() -> None:
    cfg = NormADNeuron(refractory=5.0)
    s = _poisson(400, 1, 30, 80.0, seed=3)
    w = torch.full((30, 3), 30.0, dtype=F64)
    out = simulate(filter_spikes(s, psp_kernel(cfg), F64), w, cfg)
    for j in range(3):
        t = torch.nonzero(out[:, 0, j]).flatten()
        assert t.numel() > 10 and int(torch.diff(t).min()) > cfg.refractory_steps


def test_psp_kernel_is_the_exactly_stepped_response_to_one_spike() -> None:
    """One input spike at step 0, threshold out of reach: V − v_rest = w·P(k·dt) at every
    step (the reference steps traces and membrane with the one-step propagators only)."""
    for dt in (0.25, 1.0):
        cfg = NormADNeuron(dt=dt, v_threshold=1e9)
        p = psp_kernel(cfg)
        steps = p.numel()
        s = torch.zeros(steps, 1, 1, dtype=torch.bool)
        s[0] = True
        u = filter_spikes(s, p, F64)[:, 0, 0]
        torch.testing.assert_close(u, p, rtol=0, atol=1e-15)
        # closed form at the peak: P′ = 0 ⇔ Σ ±(e^(−t/τ_m)/τ_m − e^(−t/τ_a)/τ_a)·… (numeric)
        t = torch.arange(steps, dtype=F64) * dt
        assert float(p[0]) == 0.0 and 0 < float(t[int(p.argmax())]) < 3 * cfg.tau_syn1
        # unit-area kernel into a leaky integrator: ∫P dt = τ_m (up to the cut tail and
        # the trapezoid rule's O(dt²) error)
        assert float(p.sum()) * dt == pytest.approx(cfg.tau_mem, rel=2e-3)


def test_normad_update_matches_a_hand_computed_case() -> None:
    """Two inputs, input 0 spikes at 0 ms and input 1 at 10 ms; desired spike at 12 ms,
    observed at 30 ms: Δw_j = r·(d̂(12)/‖d̂(12)‖ − d̂(30)/‖d̂(30)‖) with d̂_i = P(t − t_i)."""
    cfg = NormADNeuron()
    p = psp_kernel(cfg)
    s = torch.zeros(60, 1, 2, dtype=torch.bool)
    s[0, 0, 0] = s[10, 0, 1] = True
    d_hat = filter_spikes(s, p, F64)
    desired = torch.zeros(60, 1, 1, dtype=torch.bool)
    observed = torch.zeros_like(desired)
    desired[12] = observed[30] = True
    dw = normad_update(d_hat, desired, observed, 2.0)

    def unit(t: int) -> torch.Tensor:
        v = torch.tensor([float(p[t]), float(p[t - 10])], dtype=F64)
        return v / v.norm()

    torch.testing.assert_close(dw[:, 0], 2.0 * (unit(12) - unit(30)), rtol=0, atol=1e-14)
    # a desired spike raises every input that was active before it; nothing when they agree
    assert normad_update(d_hat, desired, desired, 2.0).abs().max() == 0
    assert bool((normad_update(d_hat, desired, torch.zeros_like(desired), 1.0) > 0).all())


def test_a_single_neuron_learns_a_target_train_to_within_one_millisecond() -> None:
    """Fixed Poisson input (200 inputs × 20 Hz, 500 ms), target spikes at 120, 260, 410 ms:
    NormAD with ideal weights reaches every target within ±1 ms and no extra spike."""
    cfg = NormADNeuron()
    s = _poisson(500, 1, 200, 20.0, seed=4)
    u = filter_spikes(s, psp_kernel(cfg), F64)
    target = torch.zeros(500, 1, 1, dtype=torch.bool)
    target[[120, 260, 410]] = True
    w = torch.zeros(200, 1, dtype=F64)
    for epoch in range(400):
        out = simulate(u, w, cfg)
        m = match_spikes(target, out, 1.0)
        if m.matched == 3 and m.observed == 3:
            break
        w += normad_update(u, target, out, 1.0 / (1 + epoch / 50))
    assert m.matched == 3 and m.observed == 3, (epoch, m)


def test_matching_metric_on_hand_made_trains() -> None:
    def train(*times: int) -> torch.Tensor:
        t = torch.zeros(300, 1, 1, dtype=torch.bool)
        t[list(times)] = True
        return t

    d = train(100, 200)
    assert match_spikes(d, train(100, 200), 25.0).recall == 1.0
    assert match_spikes(d, train(124, 176), 25.0).recall == 1.0  # shifted by ±24 ms
    assert match_spikes(d, train(126, 174), 25.0).recall == 0.0  # shifted by ±26 ms
    assert match_spikes(d, train(125), 25.0).matched == 1        # edge: exactly 25 ms
    m = match_spikes(d, train(100, 110, 200, 280), 25.0)          # extra spikes
    assert (m.matched, m.desired, m.observed) == (2, 2, 4) and m.precision == 0.5
    assert match_spikes(d, train(200), 25.0).recall == 0.5        # a missing spike
    # one to one: two desired spikes cannot share one observed spike
    assert match_spikes(train(100, 110), train(105), 25.0).matched == 1
    # greedy earliest-free is optimal: 100→90 would leave 130 unmatched with 120
    assert match_spikes(train(100, 130), train(90, 120), 25.0).matched == 2


def test_normad_bad_input() -> None:
    cfg = NormADNeuron()
    u = torch.zeros(10, 1, 4)
    with pytest.raises(ConfigError, match="tolerance"):
        match_spikes(torch.zeros(10, 1, 2, dtype=torch.bool),
                     torch.zeros(10, 1, 2, dtype=torch.bool), 0.0)
    with pytest.raises(ShapeError, match="differ"):
        match_spikes(torch.zeros(10, 1, 2, dtype=torch.bool),
                     torch.zeros(10, 1, 3, dtype=torch.bool), 25.0)
    with pytest.raises(ShapeError, match="n_in = 4"):
        simulate(u, torch.zeros(5, 2), cfg)
    with pytest.raises(ShapeError, match="batch"):
        filter_spikes(torch.zeros(10, 4, dtype=torch.bool), psp_kernel(cfg))
    with pytest.raises(ConfigError, match="rate"):
        normad_update(u, torch.zeros(10, 1, 2, dtype=torch.bool),
                      torch.zeros(10, 1, 2, dtype=torch.bool), -1.0)
    with pytest.raises(ShapeError, match="pattern"):
        normad_update(u, torch.zeros(12, 1, 2, dtype=torch.bool),
                      torch.zeros(12, 1, 2, dtype=torch.bool), 1.0)
    with pytest.raises(ConfigError, match="dt"):
        NormADNeuron(dt=2.0)
    with pytest.raises(ConfigError, match="swap"):
        NormADNeuron(tau_syn1=1.0, tau_syn2=5.0)
    with pytest.raises(ConfigError, match="threshold"):
        NormADNeuron(v_threshold=-80.0)
    assert math.isfinite(cfg.filter_tau)
