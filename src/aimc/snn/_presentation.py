"""Event-driven presentation of a batch of images to a Diehl & Cook network (the fast path
of :meth:`aimc.snn.DiehlCookNetwork.present`).

The same model as the step-by-step reference (``present(..., reference=True)``, built from
:func:`aimc.snn.lif_step` and :func:`aimc.snn.stdp.stdp_step`), computed with fewer operations
per time step — the time loop stays the only Python loop and every neuron of every sample
still advances in one operation per quantity:

* both populations (n excitatory, then n inhibitory neurons) are one state vector of 2n
  entries with per-neuron constants, so one membrane update serves both;
* the Poisson input of the whole presentation is drawn at once as events
  (:func:`aimc.snn.encoders.poisson_events`: independent Bernoulli(min(1, rate·dt)) per input
  and step, drawn through geometric gaps, nothing drawn for black pixels);
* batch 1: the excitatory drive is the sum of the weight rows of the inputs that spiked (a
  few of 784 per step), not a matrix product; batch > 1: the step's spikes written into a
  reused 0/1 matrix and one matrix product (faster than gathering rows for ~10⁴ events);
* work that only follows spikes runs only after spikes: the recurrent excitatory → inhibitory
  and inhibitory → excitatory inputs in the step after a spike, the refractory bookkeeping
  while some neuron can be refractory, STDP potentiation at post spikes, depression once a
  post spike has happened (before it, the post1 trace is exactly 0);
* the pre and post2 traces are only read at post spikes; each neuron's last spike step is kept
  and the trace read from a table of the stepped decay (``table[k] = table[k−1]·e^(−dt/τ)``,
  the same multiplications as decaying every step, so the same bits);
* the rest period is simulated only until the network provably cannot spike again (below);
  what remains of it is applied in closed form: θ ← θ·e^(−m·dt/τ_θ) for the m steps left
  (the state is reset at the next presentation, so θ is all it carries).

**Quiescence bound.** With conductance synapses, τ_m·dv/dt = (v_rest − v) + g_e(E_e − v) +
g_i(E_i − v), and between spikes g_e decays from s_e with τ_e, so from now on
v ≤ max(v, v_rest, v_reset) + (E_e − V_low)·s_e·τ_e/τ_m, V_low = min(E_i, v_rest, v_reset, v)
(the exponential integrator of :func:`aimc.snn.lif_step` obeys the same bound: its mean
conductances over the steps sum to s_e·τ_e). When that bound lies below v_threshold + θ·
e^(−t_rest/τ_θ) for every neuron and no spike of the last step is still in flight, no neuron can
spike again before the next image.

Within a step the order is the reference's: inputs arrive (Poisson of this step, recurrent
spikes of the previous one), membranes advance, refractory neurons are held, spikes and
resets, θ adapts, synapses decay; then the STDP rule of :mod:`aimc.snn.stdp`: post1 decays,
pre spikes depress, post spikes potentiate with x_pre (after this step's pre resets) and
x_post2 (before its own reset).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from aimc.errors import ConfigError
from aimc.snn._backend import array_module, flat_nonzero, to_torch, view
from aimc.snn.encoders import poisson_events
from aimc.snn.neurons import lockout_steps, refractory_steps

if TYPE_CHECKING:  # pragma: no cover
    from aimc.snn.diehl_cook import DiehlCookNetwork

__all__ = ["present_fast", "spike_probability"]

def _vector(xp: ModuleType, exc: float, inh: float, n: int, like: Any) -> Any:
    """A (2n,) array: ``exc`` for the excitatory half, ``inh`` for the inhibitory half."""
    if xp is np:
        return np.concatenate([np.full(n, exc, dtype=like.dtype),
                               np.full(n, inh, dtype=like.dtype)])
    return torch.cat([torch.full((n,), exc, dtype=like.dtype, device=like.device),
                      torch.full((n,), inh, dtype=like.dtype, device=like.device)])


@functools.lru_cache(maxsize=32)
def _table(r: float, steps: int, dtype: str) -> np.ndarray:
    """table[k] = r^k by repeated multiplication in ``dtype`` (k ≤ steps), the bits of a
    trace decayed k times from 1; table[steps + 1] = 0 (never spiked). Read-only."""
    rr = np.dtype(dtype).type(r)
    t = np.empty(steps + 2, dtype=dtype)
    t[0] = 1.0
    for k in range(1, steps + 1):
        t[k] = t[k - 1] * rr
    t[steps + 1] = 0.0
    t.flags.writeable = False
    return t


def _decay_table(xp: ModuleType, r: float, steps: int, like: Any) -> Any:
    """:func:`_table` as an array of the backend, on ``like``'s device."""
    if xp is np:
        return _table(r, steps, str(like.dtype))
    name = str(like.dtype).removeprefix("torch.")
    return torch.from_numpy(_table(r, steps, name).copy()).to(like.device)


def _put(xp: ModuleType, dst: Any, mask: Any, src: Any) -> None:
    """dst[mask] = src (src broadcast to dst's shape), in place."""
    if xp is np:
        np.copyto(dst, src, where=mask, casting="unsafe")
    else:
        dst.copy_(torch.where(mask, src.to(dst.dtype), dst))


class _Consts:
    """Per-neuron constants of the two populations, as (2n,) arrays of the backend."""

    def __init__(self, net: DiehlCookNetwork, xp: ModuleType, like: Any) -> None:
        s = net.settings
        n, dt = s.n_neurons, s.dt
        e, i = s.exc, s.inh

        def mean_factor(tau: float) -> float:
            return 1.0 if math.isinf(tau) else tau / dt * -math.expm1(-dt / tau)

        def decay(tau: float) -> float:
            return 1.0 if math.isinf(tau) else math.exp(-dt / tau)

        def vec(a: float, b: float) -> Any:
            return _vector(xp, a, b, n, like)

        self.c_e = vec(mean_factor(e.tau_exc), mean_factor(i.tau_exc))
        self.c_i = vec(mean_factor(e.tau_inh), mean_factor(i.tau_inh))
        self.r_e = vec(decay(e.tau_exc), decay(i.tau_exc))
        self.r_i = vec(decay(e.tau_inh), decay(i.tau_inh))
        self.r_theta = vec(decay(e.tau_theta), decay(i.tau_theta))
        self.e_exc = vec(e.e_exc, i.e_exc)
        self.e_inh = vec(e.e_inh, i.e_inh)
        self.v_rest = vec(e.v_rest, i.v_rest)
        self.v_reset = vec(e.v_reset, i.v_reset)
        self.v_threshold = vec(e.v_threshold, i.v_threshold)
        self.k_mem = vec(-dt / e.tau_mem, -dt / i.tau_mem)
        self.theta_plus = vec(e.theta_plus, i.theta_plus)
        # one counter per neuron (aimc.snn.neurons): set to the lockout steps on a spike, v
        # held while it exceeds lockout − refractory steps, no spike while it is > 0
        lock_e, lock_i = lockout_steps(e, dt), lockout_steps(i, dt)
        free_e, free_i = lock_e - refractory_steps(e, dt), lock_i - refractory_steps(i, dt)
        as_int = (lambda a: a.astype(np.int32)) if xp is np else (lambda a: a.int())
        self.n_ref = as_int(vec(lock_e, lock_i))
        self.hold_above = as_int(vec(free_e, free_i))
        self.lockout_differs = free_e > 0 or free_i > 0
        self.max_ref = max(lock_e, lock_i)
        # quiescence bound: v ≤ v_high + span·s_e·τ_e/τ_m  (module docstring)
        self.v_high = vec(max(e.v_rest, e.v_reset), max(i.v_rest, i.v_reset))
        self.v_low = vec(min(e.e_inh, e.v_rest, e.v_reset), min(i.e_inh, i.v_rest, i.v_reset))
        self.push = vec(e.tau_exc / e.tau_mem, i.tau_exc / i.tau_mem)


def spike_probability(x: Tensor, intensity: float, dt: float) -> Tensor:
    """Bernoulli probability per step of each input: min(1, pixel·255/8·intensity Hz · dt)."""
    return (x * (255.0 / 8.0 * intensity * dt / 1000.0)).clamp_(max=1.0)


def present_fast(net: DiehlCookNetwork, x: Tensor, intensity: float, learn: bool,
                 generator: torch.Generator | None, xp: ModuleType | None = None, *,
                 record: Callable[[Tensor, Tensor], None] | None = None) -> Tensor:
    """One presentation of images ``x`` (batch, n_input) at ``intensity``; returns the
    excitatory spike counts (batch, n) as int64, updates the synapses and θ when ``learn``.
    ``xp`` forces the array library (default: :func:`aimc.snn._backend.array_module`; the
    tests run the torch path on CPU with it). ``record(spikes, v)`` is called every step with
    the excitatory spikes and potentials (torch; the rest is then simulated in full)."""
    s = net.settings
    xp = xp or array_module(x.device, x.shape[0])
    b, n, n_in = x.shape[0], s.n_neurons, s.n_input
    steps = s.present_steps
    syn = net.synapses
    timing = learn and syn.needs_timing
    if timing and b > 1:
        raise ConfigError(f"{type(syn).__name__} pairs individual spikes, so it learns "
                          f"from one image at a time: present batches of 1 with learn=True")
    syn.begin(xp)
    p_spike = spike_probability(x, intensity, s.dt)
    theta0 = torch.cat([net.theta.expand(b, n),
                        torch.full((b, n), s.inh.theta_init, dtype=x.dtype, device=x.device)],
                       dim=1)
    theta = view(theta0.contiguous(), xp)
    like = theta
    c = _Consts(net, xp, like)
    zeros = (lambda *shape: np.zeros(shape, dtype=like.dtype)) if xp is np else \
        (lambda *shape: torch.zeros(shape, dtype=like.dtype, device=x.device))
    v = c.v_rest + zeros(b, 2 * n)
    s_e, s_i = zeros(b, 2 * n), zeros(b, 2 * n)
    counter = (np.zeros((b, 2 * n), dtype=np.int32) if xp is np else
               torch.zeros((b, 2 * n), dtype=torch.int32, device=x.device))
    counts = zeros(b, n)
    zero_int = counter[0, :1] * 0
    g, tmp, v_inf = zeros(b, 2 * n), zeros(b, 2 * n), zeros(b, 2 * n)
    spk = (np.zeros((b, 2 * n), dtype=bool) if xp is np else
           torch.zeros((b, 2 * n), dtype=torch.bool, device=x.device))
    # STDP state (module docstring): post1 decays every step; pre and post2 from tables
    stdp = s.stdp
    r_post1 = math.exp(-s.dt / stdp.tau_post1)
    post1 = zeros(b, n)
    never = -(steps + 1)
    if learn:
        tab_pre = _decay_table(xp, math.exp(-s.dt / stdp.tau_pre), steps, like)
        tab_post2 = _decay_table(xp, math.exp(-s.dt / stdp.tau_post2), steps, like)
        int_zeros = (lambda *shape: np.full(shape, never, dtype=np.int64)) if xp is np else \
            (lambda *shape: torch.full(shape, never, dtype=torch.int64, device=x.device))
        last_pre, last_post = int_zeros(b, n_in), int_zeros(b, n)
    post_seen = False
    spiked_last = False
    prev_exc, prev_inh = zeros(b, n), zeros(b, n)  # last step's spikes (after spikes)
    ref_until = -1
    w_ei, w_ie = s.w_exc_inh, s.w_inh_exc
    se_exc, si_exc, se_inh = s_e[:, :n], s_i[:, :n], s_e[:, n:]
    spk_exc, spk_inh = spk[:, :n], spk[:, n:]
    total = steps + s.rest_steps
    # the whole presentation's input spikes as events (aimc.snn.encoders.poisson_events)
    ev_step, ev_unit = poisson_events(p_spike, steps, generator)
    bounds = torch.searchsorted(ev_step, torch.arange(steps + 1, device=x.device)).tolist()
    units = view(ev_unit, xp)
    if b > 1:  # (always the torch path: array_module)
        ev_sample = ev_unit // n_in
        ev_input = ev_unit - ev_sample * n_in
        dense = torch.zeros((b, n_in), dtype=x.dtype, device=x.device)
    t = 0
    while t < total:
        resting = t >= steps
        if not resting:
            k = steps - t
        else:
            k = total - t
        for _ in range(k):
            # ---------------------------------------------------------------- inputs
            idx = None
            if not resting:
                if b == 1:
                    lo, hi = bounds[t], bounds[t + 1]
                    if hi > lo:
                        idx = units[lo:hi]
                        rows = syn.read_rows(idx)
                        se_exc += rows.sum(0)
                else:
                    lo, hi = bounds[t], bounds[t + 1]
                    if hi > lo:  # this step's spikes as a 0/1 matrix, one product
                        smp, inp = ev_sample[lo:hi], ev_input[lo:hi]
                        dense.zero_()
                        dense.view(-1).index_fill_(0, ev_unit[lo:hi], 1.0)
                        se_exc += dense @ syn.read_all()
            if spiked_last:
                se_inh += w_ei * prev_exc
                si_exc += w_ie * (prev_inh.sum(1, keepdims=True) - prev_inh)
            # ---------------------------------------------------------------- membranes
            xp.multiply(s_e, c.c_e, out=g)           # g_e
            xp.multiply(g, c.e_exc, out=v_inf)        # g_e·E_e
            v_inf += c.v_rest
            xp.multiply(s_i, c.c_i, out=tmp)          # g_i
            g += 1.0
            g += tmp                                  # G = 1 + g_e + g_i
            tmp *= c.e_inh
            v_inf += tmp                              # v_rest + g_e·E_e + g_i·E_i
            v_inf /= g
            g *= c.k_mem
            xp.exp(g, out=g)                          # e^(−dt·G/τ_m)
            v -= v_inf
            v *= g
            v += v_inf
            refractory = t <= ref_until
            if refractory:
                blocked = counter > 0
                held = (counter > c.hold_above) if c.lockout_differs else blocked
                _put(xp, v, held, c.v_reset)
            theta *= c.r_theta
            xp.add(theta, c.v_threshold, out=tmp)
            xp.greater(v, tmp, out=spk)
            if refractory:
                spk &= ~blocked
            spiked = bool(spk.any())
            if spiked:
                _put(xp, v, spk, c.v_reset)
                if learn:
                    theta += spk * c.theta_plus
                ref_until = t + c.max_ref
            if refractory or spiked:
                counter -= 1
                _put(xp, counter, counter < 0, zero_int)
                _put(xp, counter, spk, c.n_ref)
            s_e *= c.r_e
            s_i *= c.r_i
            # ---------------------------------------------------------------- plasticity
            if learn and not resting:
                if post_seen:
                    post1 *= r_post1
                if b == 1:
                    if idx is not None:
                        if post_seen and timing:
                            syn.depress(idx, rows, None, since_post=t - last_post[0], dt=s.dt)
                        elif post_seen:
                            syn.depress(idx, rows, stdp.nu_pre * post1[0])
                        last_pre[0, idx] = t
                else:
                    lo, hi = bounds[t], bounds[t + 1]
                    if hi > lo:
                        if post_seen:  # summed over the samples whose input i spiked
                            rows_b, inv = torch.unique(inp, return_inverse=True)
                            amount = torch.zeros((rows_b.numel(), n), dtype=post1.dtype,
                                                 device=post1.device)
                            amount.index_add_(0, inv, post1[smp])
                            syn.depress(rows_b, syn.read_rows(rows_b), stdp.nu_pre * amount)
                        last_pre.view(-1)[ev_unit[lo:hi]] = t
                if spiked and bool(spk_exc.any()):
                    q = spk_exc
                    cols = flat_nonzero(q.any(0), xp)
                    x_pre = tab_pre[np.minimum(t - last_pre, steps + 1) if xp is np else
                                    (t - last_pre).clamp_(max=steps + 1)]
                    x_post2 = tab_post2[np.minimum(t - last_post[:, cols], steps + 1)
                                        if xp is np else
                                        (t - last_post[:, cols]).clamp_(max=steps + 1)]
                    if timing:
                        syn.potentiate(cols, None, since_pre=t - last_pre[0], dt=s.dt)
                    else:
                        amount = stdp.nu_post * (x_pre.T @ (q[:, cols] * x_post2))
                        syn.potentiate(cols, amount)
                    post1[q] = 1.0
                    last_post[q] = t
                    post_seen = True
            if not resting:
                counts += spk_exc
            if spiked:
                prev_exc = spk_exc.astype(like.dtype) if xp is np else spk_exc.to(like.dtype)
                prev_inh = spk_inh.astype(like.dtype) if xp is np else spk_inh.to(like.dtype)
            spiked_last = spiked
            if record is not None:
                record(to_torch(spk_exc.copy() if xp is np else spk_exc.clone(), x),
                       to_torch(v[:, :n].copy() if xp is np else v[:, :n].clone(), x))
            t += 1
            if record is None and resting and not spiked_last and not (t <= ref_until) and \
                    _quiescent(xp, v, s_e, theta, c, s.rest_steps * s.dt, s.exc.tau_theta):
                remaining = total - t
                if remaining:
                    theta[:, :n] *= math.exp(-remaining * s.dt / s.exc.tau_theta)
                t = total
                break
    syn.end()
    if learn:  # θ persists across images (mean over the batch for batch > 1)
        net.theta = to_torch(theta[:, :n], x).mean(dim=0).to(net.theta.dtype).clone()
    return to_torch(counts, x).round().long()


def _quiescent(xp: ModuleType, v: Any, s_e: Any, theta: Any, c: _Consts, t_rest: float,
               tau_theta: float) -> bool:
    """No neuron can reach its threshold before the next image (module docstring)."""
    high = xp.maximum(v, c.v_high)
    low = xp.minimum(v, c.v_low)
    bound = high + (c.e_exc - low) * s_e * c.push
    floor = c.v_threshold + theta * math.exp(-t_rest / tau_theta)
    return not bool((bound >= floor).any())
