"""The Diehl & Cook (2015) trace STDP rule, as in its reference code (physics.md §7.4).

``[3rd peter-u-diehl/stdp-mnist Diehl&Cook_spiking_MNIST.py]``, input → excitatory synapses:

* traces decay exactly, τ_pre = 20 ms, τ_post1 = 20 ms, τ_post2 = 40 ms;
* a pre spike sets x_pre = 1 and depresses:   Δw_ij = −ν_pre·x_post1_j;
* a post spike potentiates with the post2 trace read *before* its own reset:
  Δw_ij = +ν_post·x_pre_i·x_post2_j(before), then x_post1 = x_post2 = 1;
* w is clipped to [0, w_max] after each of the two updates (ideal synapses).

Within one time step the order is: decay all traces, pre events (set x_pre, depress), post
events (potentiate, reset the post traces) — pre before post, as Brian processes the two
pathways. So a pre and a post spike in the same step potentiate with x_pre = 1.

The rule only *requests* changes: :func:`stdp_step` returns the depression and the
potentiation of the step separately, and a synapse array decides what the device does with
them (:func:`apply_ideal` applies them exactly, with the reference code's clip). Shapes:
pre (batch, n_in), post (batch, n_out), weights (n_in, n_out); requests are summed over the
batch (Diehl & Cook train with batch 1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from aimc.config.snn import DiehlCookSTDP
from aimc.errors import ShapeError
from aimc.snn._checks import check_spikes, check_time_step

__all__ = ["DiehlCookSTDP", "STDPTraces", "stdp_init", "stdp_step", "apply_ideal",
           "stdp_step_ideal_"]


class STDPTraces(NamedTuple):
    """pre (batch, n_in); post1, post2 (batch, n_out)."""

    pre: Tensor
    post1: Tensor
    post2: Tensor


def stdp_init(batch: int, n_in: int, n_out: int, *, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> STDPTraces:
    """All traces at 0."""
    return STDPTraces(pre=torch.zeros(batch, n_in, dtype=dtype, device=device),
                      post1=torch.zeros(batch, n_out, dtype=dtype, device=device),
                      post2=torch.zeros(batch, n_out, dtype=dtype, device=device))


def _decayed(pre: Tensor, post: Tensor, traces: STDPTraces, params: DiehlCookSTDP,
             dt: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Checked spikes as floats (p, q) and the traces after this step's decay, with x_pre
    already reset to 1 where an input spiked (pre events come first)."""
    dt = check_time_step(dt)
    p = check_spikes("pre spikes", pre, traces.pre).to(traces.pre.dtype)
    q = check_spikes("post spikes", post, traces.post1).to(traces.post1.dtype)
    x_pre = traces.pre * math.exp(-dt / params.tau_pre)
    x_pre = torch.where(pre, torch.ones_like(x_pre), x_pre)
    x_post1 = traces.post1 * math.exp(-dt / params.tau_post1)
    x_post2 = traces.post2 * math.exp(-dt / params.tau_post2)
    return p, q, x_pre, x_post1, x_post2


def _after_post(post: Tensor, x_pre: Tensor, x_post1: Tensor, x_post2: Tensor) -> STDPTraces:
    """The traces once the post spikes of the step have reset theirs to 1."""
    one = torch.ones_like(x_post1)
    return STDPTraces(x_pre, torch.where(post, one, x_post1), torch.where(post, one, x_post2))


def stdp_step(pre: Tensor, post: Tensor, traces: STDPTraces, params: DiehlCookSTDP,
              dt: float) -> tuple[Tensor, Tensor, STDPTraces]:
    """One time step of the rule.

    Returns:
        ``(depression, potentiation, traces)``: the requested decrease and increase of each
        weight, both (n_in, n_out) and ≥ 0, to be applied in that order; and the new traces.
    """
    p, q, x_pre, x_post1, x_post2 = _decayed(pre, post, traces, params, dt)
    depression = params.nu_pre * (p.t() @ x_post1)
    potentiation = params.nu_post * (x_pre.t() @ (q * x_post2))
    return depression, potentiation, _after_post(post, x_pre, x_post1, x_post2)


def apply_ideal(weights: Tensor, depression: Tensor, potentiation: Tensor,
                params: DiehlCookSTDP) -> Tensor:
    """The ideal synapse: w ← clip(clip(w − depression, 0, w_max) + potentiation, 0, w_max),
    in place (returns ``weights``)."""
    if weights.shape != depression.shape or weights.shape != potentiation.shape:
        raise ShapeError(f"weights {tuple(weights.shape)} and the requested changes "
                         f"{tuple(depression.shape)} must have the same (n_in, n_out) shape")
    weights.sub_(depression).clamp_(0.0, params.w_max)
    return weights.add_(potentiation).clamp_(0.0, params.w_max)


def stdp_step_ideal_(weights: Tensor, pre: Tensor, post: Tensor, traces: STDPTraces,
                     params: DiehlCookSTDP, dt: float) -> STDPTraces:
    """:func:`stdp_step` followed by :func:`apply_ideal`, touching only the weights that
    change: the rows of inputs that spiked (depression) and the columns of neurons that
    spiked (potentiation). Same arithmetic per weight, so with batch 1 the result is
    bit-identical to the dense pair (tested); spikes are sparse, so this is the fast path
    of :class:`aimc.snn.DiehlCookNetwork`. Updates ``weights`` in place; returns the traces.
    """
    p, q, x_pre, x_post1, x_post2 = _decayed(pre, post, traces, params, dt)
    rows = torch.nonzero(pre.any(dim=0)).flatten()
    if rows.numel():
        dep = params.nu_pre * (p[:, rows].t() @ x_post1)
        weights[rows] = (weights[rows] - dep).clamp_(0.0, params.w_max)
    cols = torch.nonzero(post.any(dim=0)).flatten()
    if cols.numel():
        # the dense path clamps every weight after the depression too; untouched ones are
        # already inside [0, w_max], so clamping only the touched rows is the same
        pot = params.nu_post * (x_pre.t() @ (q[:, cols] * x_post2[:, cols]))
        weights[:, cols] = (weights[:, cols] + pot).clamp_(0.0, params.w_max)
    return _after_post(post, x_pre, x_post1, x_post2)
