"""The Diehl & Cook network: it learns two patterns without labels, evaluation does not
change it, checkpoint → resume is bit-exact, bad input is rejected; on real MNIST (slow) it
learns well above chance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from seeding import seeded

from aimc.config.snn import DiehlCookSTDP, diehl_cook_excitatory
from aimc.errors import ConfigError, ShapeError
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings, assign_labels, predict

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
# 20 inputs, 4 neurons, short presentations (dt 1 ms, 100 ms + 20 ms rest): fast but the
# same dynamics; norm scaled with the input count (78 for 784 inputs ≈ 0.1 per input → 2)
# no firing lockout: these tests check the STDP rule's mechanics, whose potentiation needs a
# post spike within ≈ 40 ms of the last one (post2); the reference code's 50 ms lockout
# leaves post2 ≤ e^(−50/40) at a post spike, so a 4-neuron toy learns too slowly to test
SMALL = DiehlCookSettings(n_input=20, n_neurons=4, dt=1.0, t_present=100.0, t_rest=20.0,
                          norm=4.0, intensity=8.0, exc=diehl_cook_excitatory(lockout=None))


def _patterns() -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.zeros(20)
    a[:10] = 1.0
    b = torch.zeros(20)
    b[10:] = 1.0
    x = torch.stack([a, b] * 8)
    y = torch.tensor([0, 1] * 8)
    return x, y


def test_stdp_moves_weight_onto_the_presented_pattern() -> None:
    """Pattern A (inputs 0–9) presented 10 times. The rule potentiates only on a post spike
    with an earlier post spike within ≈ 40 ms (post2), so the neuron that fires in bursts
    gains a much larger share of its normalised input weight on A's inputs (+0.1 or more;
    measured 0.56 → 0.83 with 34 spikes), while neurons that barely fire (≤ 2 spikes) keep
    their share within 0.02. A rule with the wrong sign would shrink the winner's share."""
    x, _ = _patterns()
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    net.normalize()
    share0 = net.weights[:10].sum(0) / net.weights.sum(0)
    fired = torch.zeros(SMALL.n_neurons, dtype=torch.long)
    for _ in range(10):
        fired += net.present(x[:1], learn=True)[0]
    share = net.weights[:10].sum(0) / net.weights.sum(0)
    winner = int(fired.argmax())
    assert int(fired[winner]) >= 10, fired
    assert float(share[winner]) > float(share0[winner]) + 0.1, (share0, share, fired)
    quiet = fired <= 2
    assert bool(((share - share0).abs()[quiet] < 0.02).all()), (share0, share, fired)


def test_learns_two_patterns_without_labels() -> None:
    """After 16 alternating presentations labels assigned from the responses classify both
    patterns, and neurons of both classes exist (lateral inhibition makes them compete)."""
    x, y = _patterns()
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    for i in range(len(x)):
        net.present(x[i:i + 1], learn=True)
    counts = net.present(x[:4], learn=False)
    assignment = assign_labels(counts, y[:4], n_classes=2)
    assert predict(counts, assignment, n_classes=2).tolist() == [0, 1, 0, 1]
    assert set(assignment.tolist()) == {0, 1}


def test_evaluation_changes_nothing_and_repeats_with_the_generator() -> None:
    x, _ = _patterns()
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    before = net.state_dict()
    c1 = net.present(x[:2], learn=False, generator=seeded(5))
    c2 = net.present(x[:2], learn=False, generator=seeded(5))
    assert torch.equal(c1, c2)
    after = net.state_dict()
    assert before.keys() == after.keys() and before["synapses"] == after["synapses"]
    assert all(torch.equal(before[k], after[k]) for k in before if k != "synapses")


def test_checkpoint_resume_is_bit_exact() -> None:
    """Five training images in one go equal three, a save/load into a fresh network and
    generator, and two more."""
    x, _ = _patterns()
    ref = DiehlCookNetwork(SMALL, generator=seeded(0))
    for i in range(5):
        ref.present(x[i:i + 1], learn=True)
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    for i in range(3):
        net.present(x[i:i + 1], learn=True)
    state, rng = net.state_dict(), net.generator.get_state()
    resumed = DiehlCookNetwork(SMALL, generator=torch.Generator())
    resumed.load_state_dict(state)
    resumed.generator.set_state(rng)
    for i in range(3, 5):
        resumed.present(x[i:i + 1], learn=True)
    assert torch.equal(resumed.weights, ref.weights) and torch.equal(resumed.theta, ref.theta)


def test_normalisation_and_bounds() -> None:
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    net.normalize()
    torch.testing.assert_close(net.weights.sum(0), torch.full((4,), 4.0), rtol=1e-6, atol=0)
    x, _ = _patterns()
    net.present(x[:1], learn=True)
    assert float(net.weights.min()) >= 0.0 and float(net.weights.max()) <= 1.0


def test_bad_input() -> None:
    net = DiehlCookNetwork(SMALL, generator=seeded(0))
    with pytest.raises(ShapeError, match="20 inputs"):
        net.present(torch.zeros(1, 784), learn=False)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        net.present(torch.full((1, 20), 255.0), learn=False)
    with pytest.raises(ShapeError, match="floating-point"):
        net.present(torch.zeros(1, 20, dtype=torch.uint8), learn=False)
    with pytest.raises(ConfigError, match="dt"):
        DiehlCookSettings(dt=2.0)
    with pytest.raises(ConfigError, match="n_neurons"):
        DiehlCookSettings(n_neurons=0)
    with pytest.raises(ShapeError, match="another network"):
        net.load_state_dict(DiehlCookNetwork(DiehlCookSettings(n_input=20, n_neurons=5),
                                             generator=seeded(0)).state_dict())
    with pytest.raises(ShapeError, match="must match"):
        assign_labels(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))
    assert DiehlCookSTDP().nu_post == 0.01


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST / "train-labels-idx1-ubyte.gz").is_file(),
                    reason="shared MNIST (../shared/data/mnist) not present")
def test_mnist_subset_learns_well_above_chance() -> None:
    """40 neurons, 200 training images (dt 1 ms, 250 ms per image + 50 ms rest): test
    accuracy on 200 images > 0.3 (chance 0.1; 50 neurons after 400 images at the paper's
    dt 0.5 ms and 350 + 150 ms measured 0.445)."""
    from aimc.data import load_mnist

    xtr, ytr = load_mnist(MNIST, "train", limit=200).tensors
    xte, yte = load_mnist(MNIST, "test", limit=200).tensors
    s = DiehlCookSettings(n_neurons=40, dt=1.0, t_present=250.0, t_rest=50.0)
    net = DiehlCookNetwork(s, generator=seeded(0))
    for i in range(len(xtr)):
        net.present(xtr[i:i + 1], learn=True)
    assignment = assign_labels(net.present(xtr, learn=False), ytr)
    acc = float((predict(net.present(xte, learn=False), assignment) == yte).double().mean())
    assert acc > 0.3, acc
