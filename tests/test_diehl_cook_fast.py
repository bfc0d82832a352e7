"""The event-driven Diehl & Cook simulation (aimc.snn._presentation) against the plain
step-by-step reference (``present(..., reference=True)``): the same spikes, weights and
thresholds, on the NumPy (CPU) and the torch (CUDA) code path; the closed-form rest period
against the stepped one; the event-drawn Poisson input against its distribution."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from seeding import seeded

from aimc.config.snn import diehl_cook_excitatory
from aimc.errors import ConfigError, ShapeError
from aimc.snn import _presentation
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings
from aimc.snn.encoders import poisson_events

# 784 inputs as in MNIST but only 16 neurons and 120 ms per image: the same code paths
NO_REST = DiehlCookSettings(n_neurons=16, dt=1.0, t_present=120.0, t_rest=0.0)
# min_spikes 0: one presentation per image, so one rest period per comparison
WITH_REST = DiehlCookSettings(n_neurons=16, dt=0.5, t_present=100.0, t_rest=60.0,
                              min_spikes=0)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """Digit-like inputs: 20 % of the pixels lit at random intensities, the rest black."""
    g = seeded(seed)
    lit = torch.rand(n, 784, generator=g) < 0.2
    return torch.rand(n, 784, generator=g) * lit


def _pair(settings: DiehlCookSettings) -> tuple[DiehlCookNetwork, DiehlCookNetwork]:
    return (DiehlCookNetwork(settings, generator=seeded(0)),
            DiehlCookNetwork(settings, generator=seeded(0)))


@pytest.fixture(params=["numpy", "torch"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both code paths of the fast simulation: NumPy views (CPU) and torch (as on CUDA)."""
    if request.param == "torch":
        monkeypatch.setattr(_presentation, "array_module", lambda device, batch=1: torch)
    return request.param


def test_training_equals_the_stepped_reference_bit_for_bit(backend: str) -> None:
    """Ten training images (dt 1 ms, no rest; images with < 5 spikes presented again at a
    higher intensity) from the same generator: identical spike counts, weights and
    thresholds, bit for bit — both paths do the same float32 operations on every weight and
    threshold (the drive sums the spiking rows in another order, which moves v by ulps but
    no spike here). A wrong STDP order, trace or refractory rule in the fast path changes
    the weights."""
    x = _images(10)
    ref, fast = _pair(NO_REST)
    g_ref, g_fast = seeded(3), seeded(3)
    total = 0
    for i in range(10):
        c_ref = ref.present(x[i:i + 1], learn=True, generator=g_ref, reference=True)
        c_fast = fast.present(x[i:i + 1], learn=True, generator=g_fast)
        assert torch.equal(c_ref, c_fast), i
        total += int(c_ref.sum())
    assert total > 50  # the neurons fired and STDP acted
    assert torch.equal(ref.weights, fast.weights)
    assert torch.equal(ref.theta, fast.theta)


@pytest.mark.parametrize("lockout", [None, 50.0])
def test_training_with_and_without_a_lockout_equals_the_stepped_reference(
        backend: str, lockout: float | None) -> None:
    """The reference code's 50 ms firing lockout (v integrates again after 5 ms; the
    default) and none: the fast path's counter rule (held above lockout − refractory
    steps, no spike while > 0) gives the same counts, weights and thresholds as
    :func:`aimc.snn.lif_step`, bit for bit."""
    settings = dataclasses.replace(NO_REST, exc=diehl_cook_excitatory(lockout=lockout))
    x = _images(6, seed=7)
    ref = DiehlCookNetwork(settings, generator=seeded(0))
    fast = DiehlCookNetwork(settings, generator=seeded(0))
    g_ref, g_fast = seeded(8), seeded(8)
    for i in range(6):
        c_ref = ref.present(x[i:i + 1], learn=True, generator=g_ref, reference=True)
        c_fast = fast.present(x[i:i + 1], learn=True, generator=g_fast)
        assert torch.equal(c_ref, c_fast), i
    assert torch.equal(ref.weights, fast.weights)
    assert torch.equal(ref.theta, fast.theta)


def test_the_lockout_caps_each_neurons_spikes_per_presentation() -> None:
    """With the 50 ms lockout at dt 1 ms a neuron can fire again 51 steps after a spike, so
    at most 3 times in a 120-step presentation (steps t, t + 51, t + 102); without it the
    same images (at intensity 16) drive some neuron above that."""
    x = _images(6, seed=7)
    most = {}
    for lockout in (None, 50.0):
        settings = dataclasses.replace(NO_REST, exc=diehl_cook_excitatory(lockout=lockout),
                                       min_spikes=0, intensity=16.0)
        net = DiehlCookNetwork(settings, generator=seeded(0))
        most[lockout] = int(net.present(x, learn=False, generator=seeded(8)).max())
    assert most[50.0] <= 3 < most[None], most


def test_evaluation_batch_equals_the_reference(backend: str) -> None:
    """A batch of 12 images without learning: the same counts as the reference."""
    x = _images(12, seed=1)
    ref, fast = _pair(NO_REST)
    c_ref = ref.present(x, learn=False, generator=seeded(4), reference=True)
    c_fast = fast.present(x, learn=False, generator=seeded(4))
    assert torch.equal(c_ref, c_fast)
    assert int(c_ref.sum()) > 12 * NO_REST.min_spikes


def test_batched_learning_equals_the_reference(backend: str) -> None:
    """Batch 3 with learning (requests summed over the batch, θ averaged)."""
    x = _images(3, seed=2)
    ref, fast = _pair(NO_REST)
    c_ref = ref.present(x, learn=True, generator=seeded(5), reference=True)
    c_fast = fast.present(x, learn=True, generator=seeded(5))
    assert torch.equal(c_ref, c_fast)
    # the batch's drive is a matrix product in both, but of different libraries: the
    # summation order may differ, so weights agree to float32 rounding of sums of ≤ 784
    # products of numbers ≤ 1: |Δ| ≤ 784·2⁻²⁴·(max |w| ≤ 1)·(steps 120) ≈ 6e-3 bound; the
    # weights only see those sums through spike times, which are equal, so they match
    assert torch.equal(ref.weights, fast.weights)
    assert torch.allclose(ref.theta, fast.theta, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lockout", [50.0, None])
def test_closed_form_rest_equals_the_stepped_rest(backend: str, lockout: float | None) -> None:
    """dt 0.5 ms with a 60 ms rest, one image at a time from the same state: the same
    counts and weights (no plasticity in the rest), and θ within the error of the stepped
    float32 decay. The reference multiplies θ ∈ [16, 32) mV by fl(r), r = e^(−dt/τ_θ), every
    step: each product is off the exact θ·r by ≤ ulp/2 = 2⁻²⁰ mV plus θ·|fl(r) − r|
    (≤ 32·1.1e-8 mV), so over the m = 120 rest steps by ≤ m·(2⁻²⁰ + 3.5e-7) = 1.7e-4 mV
    (measured 1.1e-4); the closed form θ·fl(e^(−m·dt/τ_θ)) is within 4 ulps of exact. With
    the reference code's lockout (the default) and without it (the quiescence check then
    waits only for the refractory period)."""
    x = _images(6, seed=3)
    settings = dataclasses.replace(WITH_REST, exc=diehl_cook_excitatory(lockout=lockout))
    ref, fast = _pair(settings)
    m = WITH_REST.rest_steps
    r = math.exp(-WITH_REST.dt / WITH_REST.exc.tau_theta)
    bound = m * (2.0 ** -20 + 32 * abs(float(np.float32(r)) - r)) + 4 * 2.0 ** -19
    for i in range(6):
        fast.load_state_dict(ref.state_dict())
        g = seeded(10 + i)
        c_ref = ref.present(x[i:i + 1], learn=True, generator=g, reference=True)
        c_fast = fast.present(x[i:i + 1], learn=True, generator=seeded(10 + i))
        assert torch.equal(c_ref, c_fast), i
        assert torch.equal(ref.weights, fast.weights), i
        assert float((ref.theta - fast.theta).abs().max()) <= bound, i


def test_quiescence_bound() -> None:
    """The rest shortcut only starts once no neuron can fire: a network at rest is
    quiescent; one with a strong excitatory conductance left is not."""
    net = DiehlCookNetwork(NO_REST, generator=seeded(0))
    theta = np.concatenate([net.theta.numpy(), np.zeros(16, np.float32)])[None]
    c = _presentation._Consts(net, np, theta)
    v = c.v_rest[None].copy()
    s_e = np.zeros_like(v)
    assert _presentation._quiescent(np, v, s_e, theta, c, 150.0, 1e7)
    s_e[0, 0] = 5.0  # 5 leak conductances, τ_e 1 ms: pushes v up by ≤ 65·5/100 = 3.25 mV
    assert _presentation._quiescent(np, v, s_e, theta, c, 150.0, 1e7)  # −65 + 3.3 < −52
    s_e[0, 0] = 50.0  # ≤ 32.5 mV: could cross −52 mV
    assert not _presentation._quiescent(np, v, s_e, theta, c, 150.0, 1e7)


# ---------------------------------------------------------------- the event-drawn input
def test_poisson_events_have_the_bernoulli_distribution() -> None:
    """Counts of 4000 units over 200 steps against Binomial(200, p): the mean of the
    standardised squared deviations is 1 ± 5·√(2/4000) (χ² with 4000 degrees of freedom,
    ≈ normal), and the spikes of each step have the per-step rate p (pooled over units:
    z within 5σ). p = 0 never spikes, p = 1 spikes every step. A gap law off by one step
    (⌊·⌋ without + 1) gives rates ~p/(1 − p)·… and fails the mean test."""
    g = seeded(0)
    p = torch.rand(4000, generator=g) * 0.1
    p[:10] = 0.0
    p[10:20] = 1.0
    step, unit = poisson_events(p, 200, g)
    counts = torch.bincount(unit, minlength=4000).double()
    assert int(counts[:10].sum()) == 0
    assert bool((counts[10:20] == 200).all())
    mean = 200 * p.double()[20:]
    var = mean * (1 - p.double()[20:])
    chi = float(((counts[20:] - mean) ** 2 / var).mean())
    assert abs(chi - 1) < 5 * math.sqrt(2 / 3980), chi
    z = (counts[20:].sum() - mean.sum()) / var.sum().sqrt()
    assert abs(float(z)) < 5
    per_step = torch.bincount(step[unit >= 20], minlength=200).double()
    expect = float(p.double()[20:].sum())
    sd = math.sqrt(float((p.double()[20:] * (1 - p.double()[20:])).sum()))
    assert float((per_step - expect).abs().max()) < 5 * sd * 1.5  # 200 steps: max of 200 z
    assert bool((step[1:] >= step[:-1]).all())


def test_poisson_events_reject_bad_probabilities() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        poisson_events(torch.tensor([0.5, 1.5]), 10)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        poisson_events(torch.tensor([-0.1]), 10)
    with pytest.raises(ShapeError, match="floating"):
        poisson_events(torch.tensor([1, 0]), 10)
    with pytest.raises(ConfigError, match="steps"):
        poisson_events(torch.tensor([0.5]), 0)


def test_monitors_record_every_step_like_the_reference() -> None:
    """With monitors, both paths record the same spikes and (to float32 rounding of the
    drive's summation order: |Δv| ≤ 1e-3 mV, far below the 13 mV between rest and
    threshold) the same voltages at every step, rest included."""
    from aimc.snn.monitors import SpikeMonitor, StateMonitor

    x = _images(1, seed=4)
    ref, fast = _pair(WITH_REST)
    mons = [(SpikeMonitor(), StateMonitor()) for _ in range(2)]
    ref.present(x, learn=True, generator=seeded(6), reference=True, spikes=mons[0][0],
                voltages=mons[0][1])
    fast.present(x, learn=True, generator=seeded(6), spikes=mons[1][0], voltages=mons[1][1])
    steps = WITH_REST.present_steps + WITH_REST.rest_steps
    assert mons[0][0].spikes.shape == (steps, 1, 16) == mons[1][0].spikes.shape
    assert torch.equal(mons[0][0].spikes, mons[1][0].spikes)
    assert float((mons[0][1].values - mons[1][1].values).abs().max()) < 1e-3
    with pytest.raises(ConfigError, match="SpikeMonitor"):
        fast.present(x, learn=False, spikes=StateMonitor())  # type: ignore[arg-type]
