"""Device synapse arrays (aimc.snn.synapses): requests become device physics — pulses with
stochastic rounding on pulsed cells, spike pairs on the Cu/SiO2/W memristor — within the
device bounds, state dependent, checkpointable; and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc.errors import CheckpointError, ConfigError
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings
from aimc.snn.synapses import IdealSynapses, MemristorSynapses, PulsedSynapses, make_synapses

SMALL = DiehlCookSettings(n_input=20, n_neurons=4, dt=1.0, t_present=100.0, t_rest=20.0,
                          norm=4.0, intensity=8.0)


def _weights(n_in: int = 20, n_out: int = 4, value: float = 0.5) -> torch.Tensor:
    return torch.full((n_in, n_out), value)


def _nominal_soft_bounds(**changes: float) -> PulsedSynapses:
    """Soft-bounds synapses without d2d spread (every device nominal)."""
    return make_synapses("soft-bounds", _weights(), 1.0, generator=seeded(0),
                         dw_min_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0, up_down_dtod=0.0,
                         **changes)  # type: ignore[return-value]


def test_pulse_count_is_the_request_in_expectation() -> None:
    """A request of 0.35 pulses per weight on 20×4 weights, 200 times: the number of pulses
    is Binomial(16000, 0.35) (stochastic rounding of 0.35): mean 5600, σ = √(16000·0.35·0.65)
    = 60.3; within 5σ. Rounding down (always 0 pulses) or up (always 1) fails."""
    syn = _nominal_soft_bounds(dw_min_std=0.0)
    eps = syn.w_max * syn.epsilon
    for _ in range(200):
        syn.potentiate(torch.arange(4), torch.full((20, 4), 0.35 * eps))
    sd = math.sqrt(16000 * 0.35 * 0.65)
    assert abs(syn.updates - 5600) < 5 * sd, syn.updates


def test_soft_bounds_steps_shrink_toward_the_bound_and_stay_inside() -> None:
    """The same potentiation request (5 pulses) moves a low weight more than a high one
    (soft bounds: Δw ∝ 1 − w/b_max), and 2000 such requests never pass w_max."""
    low = _nominal_soft_bounds(dw_min_std=0.0)
    high = make_synapses("soft-bounds", _weights(value=0.9), 1.0, generator=seeded(0),
                         dw_min_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0, up_down_dtod=0.0,
                         dw_min_std=0.0)
    req = torch.full((20, 4), 5 * low.w_max * low.epsilon)
    before_low, before_high = low.weights().clone(), high.weights().clone()
    low.potentiate(torch.arange(4), req)
    high.potentiate(torch.arange(4), req)
    d_low = float((low.weights() - before_low).mean())
    d_high = float((high.weights() - before_high).mean())
    # soft bounds on [−1, 1]: step ∝ 1 − w_dev; w_dev = 0 (ŵ 0.5) vs 0.8 (ŵ 0.9): ratio 5
    assert d_low > 0 and d_high > 0
    assert d_low / d_high == pytest.approx(5.0, rel=0.05)
    for _ in range(2000):
        high.potentiate(torch.arange(4), req)
    assert float(high.weights().max()) <= 1.0 + 1e-6
    high.depress(torch.arange(20), None, torch.full((4,), 0.5))
    assert float(high.weights().min()) >= 0.0


def test_pcm_pair_depresses_by_setting_the_negative_device() -> None:
    """PCM only takes SET pulses: a depression request raises G⁻ of the pair, the weight
    falls; G⁺ is untouched."""
    syn = make_synapses("pcm", _weights(), 1.0, generator=seeded(1))
    assert isinstance(syn, PulsedSynapses)
    plus = syn.cells.plus[0].value.clone()
    minus = syn.cells.minus[0].value.clone()
    w0 = syn.weights().clone()
    syn.depress(torch.arange(20), None, torch.full((4,), 20 * syn.w_max * syn.epsilon))
    assert torch.equal(syn.cells.plus[0].value, plus)
    assert float((syn.cells.minus[0].value - minus).min()) >= 0
    assert float((syn.weights() - w0).mean()) < -0.01


def test_memristor_pairs_follow_the_spike_order_and_window() -> None:
    """A post spike 3 ms after the inputs' last spikes potentiates (Δt > 0); a pre spike
    3 ms after the neurons' last spikes depresses (Δt < 0); partners outside the device's
    window (200 ms ago) change nothing."""
    syn = make_synapses("cu-sio2-w", _weights(), 1.0, generator=seeded(2))
    assert isinstance(syn, MemristorSynapses) and syn.window_ms < 100
    w0 = syn.weights().clone()
    syn.potentiate(torch.tensor([1]), None, since_pre=torch.full((20,), 3), dt=1.0)
    assert bool((syn.weights()[:, 1] > w0[:, 1]).all())
    assert torch.equal(syn.weights()[:, [0, 2, 3]], w0[:, [0, 2, 3]])
    w1 = syn.weights().clone()
    syn.depress(torch.tensor([5]), None, None, since_post=torch.full((4,), 3), dt=1.0)
    assert bool((syn.weights()[5] < w1[5]).all())
    w2 = syn.weights().clone()
    syn.depress(torch.tensor([6]), None, None, since_post=torch.full((4,), 200), dt=1.0)
    assert torch.equal(syn.weights(), w2)
    assert float(syn.weights().max()) <= 1.0 and float(syn.weights().min()) >= 0.0


@pytest.mark.parametrize("kind", ["soft-bounds", "pcm", "cu-sio2-w"])
def test_device_network_learns_and_resumes_bit_exactly(kind: str) -> None:
    """Six images on a device-synapse network equal three, a checkpoint into a fresh
    network, and three more (device state, gain and the device generator restored); the
    weights moved and stayed in [0, w_max·gain]."""
    x = torch.zeros(6, 20)
    x[::2, :10] = 1.0
    x[1::2, 10:] = 1.0

    def build() -> DiehlCookNetwork:
        base = DiehlCookNetwork(SMALL, generator=seeded(0))
        syn = make_synapses(kind, base.weights, 1.0, generator=seeded(7))
        return DiehlCookNetwork(SMALL, generator=seeded(0), synapses=syn)

    ref = build()
    w0 = ref.weights.clone()
    for i in range(6):
        ref.present(x[i:i + 1], learn=True, generator=seeded(100 + i))
    net = build()
    for i in range(3):
        net.present(x[i:i + 1], learn=True, generator=seeded(100 + i))
    state = net.state_dict()
    resumed = build()
    resumed.load_state_dict(state)
    for i in range(3, 6):
        resumed.present(x[i:i + 1], learn=True, generator=seeded(100 + i))
    assert torch.equal(resumed.weights, ref.weights)
    assert torch.equal(resumed.theta, ref.theta)
    assert not torch.equal(ref.weights, w0)
    assert float(ref.weights.min()) >= 0.0


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="choose from"):
        make_synapses("flash", _weights(), 1.0)
    # a device that cannot take depressions (one-sided) in a single-device cell
    with pytest.raises(ConfigError, match="DifferentialCell"):
        make_synapses("soft-bounds", _weights(), 1.0, w_min=0.0)
    with pytest.raises(ConfigError, match="unit-cell config"):
        PulsedSynapses("SoftBounds", _weights(), 1.0)
    with pytest.raises(ConfigError, match="CuSiO2WMemristor"):
        MemristorSynapses(object(), _weights(), 1.0)
    mem = make_synapses("cu-sio2-w", _weights(), 1.0, generator=seeded(0))
    with pytest.raises(ConfigError, match="since_pre"):
        mem.potentiate(torch.tensor([0]), torch.zeros(20, 1))
    # a memristive network learns from one image at a time
    base = DiehlCookNetwork(SMALL, generator=seeded(0))
    net = DiehlCookNetwork(SMALL, generator=seeded(0),
                           synapses=make_synapses("cu-sio2-w", base.weights, 1.0))
    with pytest.raises(ConfigError, match="batches of 1"):
        net.present(torch.zeros(2, 20), learn=True)
    # a checkpoint of another synapse model, or another size: refused, network unchanged
    ideal = DiehlCookNetwork(SMALL, generator=seeded(0))
    before = ideal.weights.clone()
    with pytest.raises(CheckpointError, match="same synapse model"):
        ideal.load_state_dict(net.state_dict())
    assert torch.equal(ideal.weights, before)
    with pytest.raises(ConfigError, match="SynapseArray"):
        DiehlCookNetwork(SMALL, synapses=torch.zeros(20, 4))  # type: ignore[arg-type]
    from aimc.errors import ShapeError
    with pytest.raises(ShapeError, match="n_input × n_neurons"):
        DiehlCookNetwork(SMALL, synapses=IdealSynapses(torch.zeros(5, 4), 1.0))
