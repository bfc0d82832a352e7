"""NormAD: supervised spike timing for a layer of LIF neurons (Anwani & Rajendran, IJCNN
2015; RECONSTRUCTED, ``../shared/reference/physics.md`` §5.3).

Neuron and kernels: :class:`aimc.config.normad.NormADNeuron`. Shapes: time first,
spikes ``(T, B, n_in)`` on the grid t_k = k·dt, weights ``(n_in, n_out)`` in mV.

**Forward (event-driven).** Without resets the membrane is linear in the input:

    U[k] = v_rest + Σ_i w_i·u_i[k],   u_i[k] = Σ_{j<k} s_i[j]·P((k − j)·dt),
    P(t) = ∫₀ᵗ e^(−(t−s)/τ_m)·κ(s) ds = (E(τ₁, t) − E(τ₂, t))/(τ₁ − τ₂),
    E(a, t) = ∫₀ᵗ e^(−(t−s)/τ_m)·e^(−s/a) ds = a·τ_m/(τ_m − a)·(e^(−t/τ_m) − e^(−t/a)),

(exact for input spikes on the grid: u is a causal FIR filter of the spikes, computed for all
channels by FFT, and U one matrix product). A spike at step k (V ≥ v_threshold) resets V to
v_reset and holds it there to t₀ = k + ⌈refractory/dt⌉; after t₀, V and U obey the same
linear equation, so

    V[t] = U[t] − a^(t−t₀)·(U[t₀] − v_reset),   a = e^(−dt/τ_m),   t > t₀,

and the next spike is the first t > t₀ with V[t] ≥ v_threshold. :func:`simulate` finds the
spikes of all neurons of all samples this way, one vectorised search per spike rank — the
first over the whole pattern, each later one over the :data:`SEARCH_WINDOW` steps after the
reset and, only for neurons without a spike there, over the rest — so the cost is about
T·neurons + window·spikes element operations, not a Python step loop;
:func:`simulate_stepped` is the plain step-by-step reference (exact propagation of the
traces and the membrane over each step) that it is tested against.

**NormAD update.** With e(t) = S_desired(t) − S_observed(t) and the filtered input
d̂_i = ĥ ∗ c_i, ĥ(t) = e^(−t/τ′) (same FIR form as P with τ′ for τ_m),

    Δw_ij = r·Σ_k e_j[k]·d̂_i[k]/‖d̂[k]‖₂          (‖·‖ over the inputs i)

— the sum over the desired spikes of neuron j minus the sum over its observed spikes of the
unit vector d̂/‖d̂‖ (:func:`normad_update`: one product over the time steps that hold an
event). A desired spike raises V at its time by r·‖d̂‖ (when τ′ = τ_m), whatever the input's
scale: the normalisation that gives the rule its name.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from aimc.config.normad import NormADNeuron
from aimc.errors import ConfigError, ShapeError

#: spikes per ``index_add_`` of :func:`filter_spikes` (bounds its index memory: chunk × taps)
FILTER_CHUNK = 2048

#: steps after a reset searched first for a neuron's next spike (then the rest of the
#: pattern): a busy neuron costs this many steps per spike instead of the whole pattern
SEARCH_WINDOW = 32

__all__ = ["psp_kernel", "filter_spikes", "simulate", "simulate_stepped", "normad_update",
           "match_spikes", "MatchCounts"]


def _exp_conv(a: float, m: float, t: Tensor) -> Tensor:
    """E(a, t) = ∫₀ᵗ e^(−(t−s)/m)·e^(−s/a) ds (ms)."""
    if math.isclose(a, m, rel_tol=1e-12):
        return t * torch.exp(-t / m)
    return a * m / (m - a) * (torch.exp(-t / m) - torch.exp(-t / a))


def psp_kernel(cfg: NormADNeuron, tau: float | None = None) -> Tensor:
    """P(k·dt), k = 0 … L−1 (float64; P(0) = 0): the response of a leaky integrator with
    time constant ``tau`` (default τ_m) to one input spike of unit weight; cut after its
    peak where it falls below ``cfg.kernel_tol`` of the peak."""
    tau = cfg.tau_mem if tau is None else tau
    longest = max(tau, cfg.tau_syn1)
    n = math.ceil(longest * (math.log(1.0 / cfg.kernel_tol) + 10.0) / cfg.dt) + 2
    t = torch.arange(n, dtype=torch.float64) * cfg.dt
    p = (_exp_conv(cfg.tau_syn1, tau, t) - _exp_conv(cfg.tau_syn2, tau, t)) / (
        cfg.tau_syn1 - cfg.tau_syn2)
    peak = int(torch.argmax(p))
    small = torch.nonzero(p[peak:] < cfg.kernel_tol * p[peak]).flatten()
    return p[: peak + int(small[0]) + 1] if small.numel() else p


def _check_spike_train(name: str, spikes: Tensor) -> None:
    if not isinstance(spikes, Tensor):
        raise ShapeError(f"{name} must be a tensor, got {type(spikes).__name__}")
    if spikes.dim() != 3:
        raise ShapeError(f"{name} must be shaped (time, batch, neurons), got "
                         f"{tuple(spikes.shape)}; add a batch dimension with .unsqueeze(1)")
    if spikes.dtype != torch.bool and not spikes.dtype.is_floating_point:
        raise ShapeError(f"{name} must be bool (or float 0/1), got {spikes.dtype}")


def filter_spikes(spikes: Tensor, kernel: Tensor, dtype: torch.dtype = torch.float32
                  ) -> Tensor:
    """Causal FIR filter along time: out[k] = Σ_{j≤k} s[j]·kernel[k − j].

    Event-driven: the whole kernel is added after every spike (``index_add_`` over the
    spikes only, in chunks of :data:`FILTER_CHUNK` spikes; each spike's taps are contiguous
    in a (B, n, time) buffer), so the cost is taps × spikes and steps without input stay
    exact zeros.

    Args:
        spikes: (T, B, n) bool (or float 0/1: any non-zero counts as one spike).
        kernel: (L,) float.
        dtype: result dtype, also the accumulation's (float32: each value is a sum of a few
            dozen taps, so ≤ ~1e-6 relative rounding; pass float64 for reference work).

    Returns:
        (T, B, n) of ``dtype``, on the spikes' device: a permuted view of a (B, n, T)
        buffer, the layout :func:`simulate`'s product reads (``.contiguous()`` if needed).
    """
    _check_spike_train("spikes", spikes)
    t_len, batch, n = spikes.shape
    taps = min(kernel.numel(), t_len)
    span = t_len + taps
    b, c, t = torch.nonzero(spikes.permute(1, 2, 0), as_tuple=True)
    start = (b * n + c) * span + t
    out = torch.zeros(batch * n * span, dtype=dtype, device=spikes.device)
    k = kernel[:taps].to(device=spikes.device, dtype=dtype)
    offsets = torch.arange(taps, device=spikes.device).view(1, -1)
    for i in range(0, start.numel(), FILTER_CHUNK):
        first = start[i:i + FILTER_CHUNK].view(-1, 1)
        out.index_add_(0, (first + offsets).view(-1), k.expand(first.numel(), taps).reshape(-1))
    return out.view(batch, n, span)[..., :t_len].permute(2, 0, 1)


def _check_weights(weights: Tensor, u: Tensor) -> None:
    if not isinstance(weights, Tensor) or weights.dim() != 2:
        raise ShapeError(f"weights must be a (n_in, n_out) tensor, got "
                         f"{getattr(weights, 'shape', type(weights).__name__)}")
    if weights.shape[0] != u.shape[-1]:
        raise ShapeError(f"weights have {weights.shape[0]} input rows but the input has "
                         f"{u.shape[-1]} channels; build the layer with n_in = "
                         f"{u.shape[-1]}")
    if weights.device != u.device:
        raise ShapeError(f"weights are on {weights.device}, the input on {u.device}; move "
                         f"one with .to()")


def simulate(u: Tensor, weights: Tensor, cfg: NormADNeuron, *, max_spikes: int | None = None
             ) -> Tensor:
    """Output spikes (T, B, n_out) bool of the LIF layer, event-driven (module docstring).

    Args:
        u: the membrane-filtered input ``filter_spikes(s, psp_kernel(cfg))``, (T, B, n_in).
        weights: (n_in, n_out) mV.
        cfg: the neuron.
        max_spikes: stop each neuron after this many spikes (None: no limit).
    """
    _check_weights(weights, u)
    t_len, batch, _ = u.shape
    n_out = weights.shape[1]
    n_all = batch * n_out
    dtype = torch.promote_types(u.dtype, weights.dtype)
    # neuron-major potential (B·n_out, T): each neuron's trajectory contiguous; the product
    # reads filter_spikes's (B, n_in, T) buffer as it is
    pot = torch.matmul(weights.to(dtype).T, u.permute(1, 2, 0).to(dtype))
    pot = pot.add_(cfg.v_rest).reshape(n_all, t_len)
    out = torch.zeros(n_all, t_len, dtype=torch.bool, device=u.device)
    a = math.exp(-cfg.dt / cfg.tau_mem)
    decay = torch.pow(torch.tensor(a, dtype=torch.float64),
                      torch.arange(t_len + 1, dtype=torch.float64)).to(dtype).to(u.device)
    steps = torch.arange(t_len, device=u.device).view(1, -1)
    n_ref = cfg.refractory_steps
    thr = cfg.v_threshold
    # first spikes: V = U until then
    active = torch.nonzero(pot.amax(dim=1) >= thr).flatten()
    first = torch.argmax((pot[active] >= thr).to(torch.uint8), dim=1)
    rank = 0
    flat = pot.view(-1)
    ahead = torch.arange(1, SEARCH_WINDOW + 1, device=u.device).view(1, -1)
    decay_ahead = decay[1:SEARCH_WINDOW + 1].view(1, -1)
    while active.numel():
        out[active, first] = True
        rank += 1
        t0 = first + n_ref
        keep = t0 < t_len - 1
        active, t0 = active[keep], t0[keep]
        if not active.numel() or (max_spikes is not None and rank >= max_spikes):
            break
        c0 = (flat[active * t_len + t0] - cfg.v_reset).view(-1, 1)
        # the next spike: first within SEARCH_WINDOW steps after t₀ (busy neurons), ...
        t = t0.view(-1, 1) + ahead
        v = flat[active.view(-1, 1) * t_len + t.clamp(max=t_len - 1)] - decay_ahead * c0
        cross = (v >= thr) & (t < t_len)
        hit = cross.any(dim=1)
        first = t0 + 1 + torch.argmax(cross.to(torch.uint8), dim=1)
        # ... else anywhere later (quiet neurons: usually none, and they drop out)
        far = torch.nonzero(~hit & (t0 + SEARCH_WINDOW < t_len - 1)).flatten()
        if far.numel():
            lag = steps - t0[far].view(-1, 1)
            v = pot[active[far]] - decay[lag.clamp(0, t_len)] * c0[far]
            cross = (v >= thr) & (lag > SEARCH_WINDOW)
            hit[far] = cross.any(dim=1)
            first[far] = torch.argmax(cross.to(torch.uint8), dim=1)
        active, first = active[hit], first[hit]
    return out.view(batch, n_out, t_len).permute(2, 0, 1)


def simulate_stepped(spikes: Tensor, weights: Tensor, cfg: NormADNeuron) -> Tensor:
    """The step-by-step reference of :func:`simulate` (from the input spikes themselves).

    Per step: the membrane and the two synaptic traces x₁, x₂ (weights/(τ₁ − τ₂) added on
    input spikes, I = x₁ − x₂) are propagated exactly over dt, V ← v_reset while refractory,
    then a spike where V ≥ v_threshold. In the weights' dtype.
    """
    _check_spike_train("spikes", spikes)
    _check_weights(weights, spikes)
    dtype = weights.dtype
    t_len, batch, _ = spikes.shape
    n_out = weights.shape[1]
    s = spikes.to(dtype)
    d1, d2 = math.exp(-cfg.dt / cfg.tau_syn1), math.exp(-cfg.dt / cfg.tau_syn2)
    a = math.exp(-cfg.dt / cfg.tau_mem)
    dt = torch.tensor([cfg.dt], dtype=torch.float64)
    e1 = float(_exp_conv(cfg.tau_syn1, cfg.tau_mem, dt))
    e2 = float(_exp_conv(cfg.tau_syn2, cfg.tau_mem, dt))
    scale = 1.0 / (cfg.tau_syn1 - cfg.tau_syn2)
    x1 = torch.zeros(batch, n_out, dtype=dtype, device=spikes.device)
    x2 = torch.zeros_like(x1)
    v = torch.full_like(x1, cfg.v_rest)
    counter = torch.zeros(batch, n_out, dtype=torch.long, device=spikes.device)
    out = torch.zeros(t_len, batch, n_out, dtype=torch.bool, device=spikes.device)
    n_ref = cfg.refractory_steps
    for k in range(t_len):
        if k:
            v = cfg.v_rest + a * (v - cfg.v_rest) + e1 * x1 - e2 * x2
            x1, x2 = x1 * d1, x2 * d2
        drive = (s[k] @ weights) * scale
        x1, x2 = x1 + drive, x2 + drive
        ref = counter > 0
        v = torch.where(ref, torch.full_like(v, cfg.v_reset), v)
        spk = (v >= cfg.v_threshold) & ~ref
        out[k] = spk
        v = torch.where(spk, torch.full_like(v, cfg.v_reset), v)
        counter = torch.where(spk, torch.full_like(counter, n_ref), (counter - 1).clamp_(min=0))
    return out


def normad_update(d_hat: Tensor, desired: Tensor, observed: Tensor, rate: float) -> Tensor:
    """Δw (n_in, n_out) = r·Σ_{k,b} (desired − observed)[k, b, j]·d̂[k, b, i]/‖d̂[k, b]‖.

    Args:
        d_hat: NormAD's filtered input (T, B, n_in).
        desired, observed: output spikes (T, B, n_out), bool.
        rate: r (mV per unit vector).

    Steps where ‖d̂‖ = 0 (no input yet) contribute nothing.
    """
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ConfigError(f"the NormAD rate r must be a finite number > 0 (mV), got {rate!r}")
    for name, t in (("desired", desired), ("observed", observed)):
        _check_spike_train(name, t)
        if t.shape[:2] != d_hat.shape[:2]:
            raise ShapeError(f"{name} spikes have (time, batch) {tuple(t.shape[:2])}, the "
                             f"input {tuple(d_hat.shape[:2])}; give both the same pattern "
                             f"length and batch")
    if desired.shape != observed.shape:
        raise ShapeError(f"desired {tuple(desired.shape)} and observed "
                         f"{tuple(observed.shape)} spikes differ in shape")
    n_in = d_hat.shape[-1]
    err = desired.to(d_hat.dtype) - observed.to(d_hat.dtype)
    err = err.reshape(-1, err.shape[-1])
    rows = torch.nonzero(err.ne(0).any(dim=1)).flatten()
    if rows.numel() == 0:
        return torch.zeros(n_in, desired.shape[-1], dtype=d_hat.dtype, device=d_hat.device)
    d = d_hat.reshape(-1, n_in).index_select(0, rows)
    norm = torch.linalg.vector_norm(d, dim=1, keepdim=True)
    unit = torch.where(norm > 0, d / norm.clamp_min(torch.finfo(d.dtype).tiny),
                       torch.zeros_like(d))
    return rate * (unit.T @ err.index_select(0, rows))


class MatchCounts:
    """Totals of :func:`match_spikes`: ``matched`` desired spikes, all ``desired`` and
    ``observed`` spikes; ``recall`` = matched/desired (the paper's "spikes within ±25 ms"),
    ``precision`` = matched/observed."""

    def __init__(self, matched: int, desired: int, observed: int) -> None:
        self.matched, self.desired, self.observed = matched, desired, observed

    @property
    def recall(self) -> float:
        return self.matched / self.desired if self.desired else float("nan")

    @property
    def precision(self) -> float:
        return self.matched / self.observed if self.observed else float("nan")

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(self.matched + other.matched, self.desired + other.desired,
                           self.observed + other.observed)

    def __repr__(self) -> str:
        return (f"MatchCounts(matched={self.matched}, desired={self.desired}, "
                f"observed={self.observed})")


def _match_sorted(d: np.ndarray, o: np.ndarray, tol: float) -> int:
    """One-to-one matches of sorted times ``d`` to sorted ``o`` with |o − d| ≤ tol: each
    desired spike takes the earliest free observed spike in its window (optimal on a line,
    since all windows have the same width)."""
    j, n = 0, 0
    for t in d:
        while j < o.size and o[j] < t - tol:
            j += 1
        if j < o.size and o[j] <= t + tol:
            n += 1
            j += 1
    return n


def match_spikes(desired: Tensor, observed: Tensor, tolerance_ms: float, dt: float = 1.0
                 ) -> MatchCounts:
    """Match desired to observed spikes one to one within ±``tolerance_ms``, per neuron.

    Args:
        desired, observed: spike trains (T, B, n) bool on the grid of step ``dt`` (ms).
        tolerance_ms: the window half-width (ms), > 0 (the paper: 25 ms).
    """
    if not (isinstance(tolerance_ms, (int, float)) and math.isfinite(tolerance_ms)
            and tolerance_ms > 0):
        raise ConfigError(f"the matching tolerance must be > 0 ms, got {tolerance_ms!r}")
    for name, t in (("desired", desired), ("observed", observed)):
        _check_spike_train(name, t)
    if desired.shape != observed.shape:
        raise ShapeError(f"desired {tuple(desired.shape)} and observed "
                         f"{tuple(observed.shape)} spikes differ in shape; compare trains of "
                         f"the same length and neurons")
    tol = tolerance_ms / dt + 1e-9
    d = desired.reshape(desired.shape[0], -1).T.cpu().numpy()
    o = observed.reshape(observed.shape[0], -1).T.cpu().numpy()
    n_d, n_o = int(d.sum()), int(o.sum())
    matched = 0
    for train in np.flatnonzero(d.any(axis=1) & o.any(axis=1)):
        matched += _match_sorted(np.flatnonzero(d[train]), np.flatnonzero(o[train]), tol)
    return MatchCounts(matched, n_d, n_o)
