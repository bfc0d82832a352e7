"""The Diehl & Cook trace rule against a scripted spike sequence computed by hand
(physics.md §7.4): pre trace reset to 1, post2 read before its own reset, pre before post."""

from __future__ import annotations

import math

import pytest
import torch

from aimc.errors import ConfigError, ShapeError
from aimc.snn.stdp import DiehlCookSTDP, apply_ideal, stdp_init, stdp_step

F64 = torch.float64
RULE = DiehlCookSTDP()


def _script(events: dict[int, tuple[bool, bool]], steps: int, w0: float = 0.5):
    """One synapse, dt = 1 ms; events: step → (pre spike, post spike)."""
    w = torch.full((1, 1), w0, dtype=F64)
    traces = stdp_init(1, 1, 1, dtype=F64)
    for k in range(steps):
        pre, post = events.get(k, (False, False))
        dep, pot, traces = stdp_step(torch.tensor([[pre]]), torch.tensor([[post]]), traces,
                                     RULE, 1.0)
        apply_ideal(w, dep, pot, RULE)
    return float(w[0, 0]), traces


def test_scripted_sequence_by_hand() -> None:
    """pre at 0; post at 5 (isolated pair: post2 was 0 → no potentiation); post at 10
    (Δw = 0.01·e^(−10/20)·e^(−5/40)); pre at 12 (Δw = −1e-4·e^(−2/20)):
    w = 0.5 + 0.01·e^(−0.5)·e^(−0.125) − 1e-4·e^(−0.1)."""
    w, _ = _script({0: (True, False), 5: (False, True), 12: (True, False),
                    10: (False, True)}, 13)
    expected = 0.5 + 0.01 * math.exp(-0.5) * math.exp(-0.125) - 1e-4 * math.exp(-0.1)
    assert w == pytest.approx(expected, rel=1e-13)


def test_isolated_pair_does_not_potentiate_and_post_before_pre_depresses() -> None:
    """pre → post alone: no change (post2 needs an earlier post spike); post → pre:
    Δw = −1e-4·e^(−Δt/20)."""
    w, traces = _script({0: (True, False), 3: (False, True)}, 4)
    assert w == 0.5
    assert float(traces.post2[0, 0]) == 1.0 and float(traces.post1[0, 0]) == 1.0
    w, _ = _script({0: (False, True), 3: (True, False)}, 4)
    assert w == pytest.approx(0.5 - 1e-4 * math.exp(-3 / 20), rel=1e-13)


def test_pre_and_post_in_the_same_step() -> None:
    """Pre before post within a step: potentiation with x_pre = 1 (after an earlier post
    at step 0 sets post2): Δw = +0.01·1·e^(−4/40) − 1e-4·e^(−4/20)."""
    w, _ = _script({0: (False, True), 4: (True, True)}, 5)
    assert w == pytest.approx(0.5 + 0.01 * math.exp(-0.1) - 1e-4 * math.exp(-0.2), rel=1e-13)


def test_weights_stay_in_bounds_and_batch_sums() -> None:
    """Clip to [0, 1] after each update; requests are summed over the batch."""
    traces = stdp_init(2, 3, 2, dtype=F64)
    traces = traces._replace(post1=torch.ones(2, 2, dtype=F64),
                             post2=torch.ones(2, 2, dtype=F64), pre=torch.ones(2, 3, dtype=F64))
    pre = torch.tensor([[True, False, False], [True, True, False]])
    post = torch.tensor([[True, False], [True, True]])
    dep, pot, _ = stdp_step(pre, post, traces, RULE, 1.0)
    d1, d2 = math.exp(-1 / 20), math.exp(-1 / 40)
    assert float(dep[0, 0]) == pytest.approx(2 * 1e-4 * d1, rel=1e-13)  # two samples
    assert float(dep[2, 0]) == 0.0
    assert float(pot[0, 0]) == pytest.approx(2 * 0.01 * d2, rel=1e-13)
    assert float(pot[2, 1]) == pytest.approx(0.01 * d1 * d2, rel=1e-13)  # decayed x_pre
    w = torch.tensor([[0.999, 0.0]] * 3, dtype=F64)
    apply_ideal(w, torch.full_like(w, 0.5), torch.full_like(w, 0.7), RULE)
    assert float(w.max()) <= 1.0 and float(w.min()) >= 0.0
    assert w[0].tolist() == [1.0, 0.7]  # 0.999 − 0.5 + 0.7 clipped; 0 − 0.5 → 0, + 0.7


def test_bad_input() -> None:
    traces = stdp_init(1, 3, 2)
    with pytest.raises(ConfigError, match="nu_pre must be > 0"):
        DiehlCookSTDP(nu_pre=0.0)
    with pytest.raises(ConfigError, match="dt must be"):
        stdp_step(torch.zeros(1, 3, dtype=torch.bool), torch.zeros(1, 2, dtype=torch.bool),
                  traces, RULE, 0.0)
    with pytest.raises(ShapeError, match="bool tensor"):
        stdp_step(torch.zeros(1, 3), torch.zeros(1, 2, dtype=torch.bool), traces, RULE, 1.0)
    with pytest.raises(ShapeError, match="pass \\(batch, neurons\\)"):
        stdp_step(torch.zeros(1, 2, dtype=torch.bool), torch.zeros(1, 2, dtype=torch.bool),
                  traces, RULE, 1.0)
    with pytest.raises(ShapeError, match="same"):
        apply_ideal(torch.zeros(3, 2), torch.zeros(2, 3), torch.zeros(3, 2), RULE)


def test_sparse_ideal_step_equals_the_dense_pair_bit_for_bit() -> None:
    """Random sparse spikes (batch 1, 50 inputs, 7 outputs, 300 steps): the in-place sparse
    step leaves exactly the weights and traces of stdp_step + apply_ideal."""
    from aimc.snn.stdp import stdp_step_ideal_

    gen = torch.Generator().manual_seed(3)
    w_dense = torch.rand(50, 7, generator=gen, dtype=F64)
    w_sparse = w_dense.clone()
    t_dense = t_sparse = stdp_init(1, 50, 7, dtype=F64)
    for _ in range(300):
        pre = torch.rand(1, 50, generator=gen) < 0.05
        post = torch.rand(1, 7, generator=gen) < 0.1
        dep, pot, t_dense = stdp_step(pre, post, t_dense, RULE, 0.5)
        apply_ideal(w_dense, dep, pot, RULE)
        t_sparse = stdp_step_ideal_(w_sparse, pre, post, t_sparse, RULE, 0.5)
    assert torch.equal(w_sparse, w_dense)
    assert all(torch.equal(a, b) for a, b in zip(t_sparse, t_dense, strict=True))
    assert not torch.equal(w_dense, torch.rand(50, 7, generator=torch.Generator().manual_seed(3),
                                               dtype=F64))  # the rule did act
