"""Stochastic pulse-train updates: from (x, δ) to per-device pulse counts.

The SGD step of a crossbar layer is the rank-one sum ΔW = −η·Σ_b δ_bᵀ·x_b (device units).
On chip it is applied by stochastic pulse trains (Gokmen & Vlasov, Front. Neurosci. 10:333,
2016; aihwkit ``PulseType.STOCHASTIC_COMPRESSED``):

* every input x_bj drives its row with a train of BL slots, each carrying a pulse with
  probability p_x = A·k_b·|x_bj|; every error δ_bi drives its column with
  p_δ = A·|δ_bi|/k_b, where A = √(η/(ε·BL)) and ε is the device's nominal step;
* a device receives one pulse per slot in which both of its lines pulse, in the direction
  −sign(x_bj·δ_bi) (up when x·δ < 0);
* expected pulses per device and sample: BL·p_x·p_δ = η·|x·δ|/ε, so the expected change is
  ε·η·|x·δ|/ε = η·|x·δ| — the SGD step (exactly, for a state-independent ε).

Update management (aihwkit ``update_management``): k_b = √(max|δ_b|/max|x_b|) balances the
two trains of sample b. Bit-length management (``update_bl_management``): BL is shortened
to ⌈η·max_b(max|x_b|·max|δ_b|)/ε⌉ (at least 1, at most ``desired_bl``), the shortest train
whose probabilities stay ≤ 1. Probabilities above 1 (a step larger than BL pulses) are
clipped — the update saturates, as on hardware.

Two ways to count the coincidences (``PulseUpdate.mode``):

* ``exact`` (:func:`exact_counts`): explicit Bernoulli trains, one per line, slot and sample;
  the counts are integer matrix products of the bit matrices (int8 × int8 → int32 where
  torch provides it). This is the reference semantics.
* ``fast`` (:func:`fast_counts`): per device the count is a sum of independent Bernoullis
  over (sample, slot) — a Poisson-binomial with mean μ = BL·Σ_b p_x·p_δ and variance
  σ² = μ − BL·Σ_b (p_x·p_δ)², both computed by matrix products over the batch. Each count
  is drawn from a distribution with exactly that mean and variance (:func:`_draw_counts`:
  three integer values around μ, or a rounded Gaussian for the rare wide ones). It ignores
  only the correlation between devices that share a row or column train, and the shape of
  the distribution beyond its first two moments. When the explicit trains are cheaper
  (M·BL·(in + out) < 32·in·out, e.g. small batches with a short BL), ``fast`` uses them
  instead: it is then exact, and never slower than ``exact``.

Pulses of one mini-batch are applied per device as all its up pulses, then all its down
pulses (:meth:`aimc.onchip.cells.CellArray.apply_counts`): the order of the pulses inside
a batch is not modelled (it changes the result only at second order in the step size for
state-dependent devices).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from aimc.config.onchip import PulseUpdate

__all__ = ["PulseProbabilities", "SparseCounts", "pulse_probabilities", "exact_counts",
           "fast_counts", "count_pulses", "integer_matmul", "stochastic_round_quantize"]


class PulseProbabilities:
    """Per-line pulse probabilities of one update.

    Attributes:
        px: (M, in) probabilities of the input trains (≤ 1).
        pd: (M, out) probabilities of the error trains (≤ 1).
        x_pos, d_pos: (M, in) / (M, out) bool, the sign of x / δ (True: > 0).
        bl: the bit length used.
    """

    __slots__ = ("px", "pd", "x_pos", "d_pos", "bl")

    def __init__(self, px: Tensor, pd: Tensor, x_pos: Tensor, d_pos: Tensor, bl: int):
        self.px, self.pd, self.x_pos, self.d_pos, self.bl = px, pd, x_pos, d_pos, bl


def pulse_probabilities(x: Tensor, d: Tensor, lr: float, granularity: float,
                        cfg: PulseUpdate) -> PulseProbabilities:
    """Probabilities of the pulse trains for ΔW = −lr·dᵀx (module docstring).

    Args:
        x: (M, in) inputs of the update (M = samples × positions × time steps).
        d: (M, out) errors δ.
        lr: learning rate in device units (the layer lr / weight scale), > 0.
        granularity: ε, the nominal device step (weight units), > 0.
        cfg: bit length and management settings.
    """
    xa, da = x.abs(), d.abs()
    xm = xa.amax(dim=1)
    dm = da.amax(dim=1)
    bl = cfg.desired_bl
    if cfg.bl_management:
        need = float((xm * dm).max()) * lr / granularity if x.shape[0] else 0.0
        bl = int(min(max(math.ceil(need - 1e-9), 1), cfg.desired_bl))
    a = math.sqrt(lr / (granularity * bl))
    if cfg.update_management:
        ok = (xm > 0) & (dm > 0)
        k = torch.where(ok, (dm / torch.where(ok, xm, torch.ones_like(xm))).sqrt(),
                        torch.ones_like(xm))
        px = xa.mul_((a * k).unsqueeze(1))
        pd = da.mul_((a / k).unsqueeze(1))
    else:
        px, pd = xa.mul_(a), da.mul_(a)
    return PulseProbabilities(px.clamp_(max=1.0), pd.clamp_(max=1.0), x > 0, d > 0, bl)


_INT_MM_OK: dict[str, bool] = {}


def integer_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Exact aᵀ·b for 0/1 matrices a (K, m), b (K, n): int32 counts (m, n).

    Uses torch's int8 GEMM (``torch._int_mm``) where available, else a float32 product
    (exact below 2²⁴ counts).
    """
    key = a.device.type
    if _INT_MM_OK.get(key, True) and hasattr(torch, "_int_mm"):
        try:
            out = torch._int_mm(_row_major(a.t()), _row_major(b))
            _INT_MM_OK[key] = True
            return out
        except (RuntimeError, NotImplementedError):
            _INT_MM_OK[key] = False
    return (a.t().float() @ b.float()).round_().to(torch.int32)


def _split_by_sign(total: Tensor, net: Tensor) -> tuple[Tensor, Tensor]:
    """(up, down) from total = up + down and net = down − up (same-sign coincidences are
    depressing: Δw = −η·x·δ < 0 when x·δ > 0)."""
    if total.is_floating_point():
        return total.sub(net).mul_(0.5), total.add_(net).mul_(0.5)
    return total.sub(net).bitwise_right_shift_(1), total.add_(net).bitwise_right_shift_(1)


class SparseCounts(NamedTuple):
    """Pulse counts of the devices that receive any: flat ``index`` (K,) into (out, in),
    with ``up`` and ``down`` counts (K,) int32."""

    index: Tensor
    up: Tensor
    down: Tensor


def _row_major(t: Tensor) -> Tensor:
    """``t`` with the plain row-major strides (n, 1): torch's CPU int8 GEMM reads the
    stride of a size-1 dimension, which ``.contiguous()`` leaves arbitrary."""
    if t.stride() == (t.shape[1], 1):
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=t.device).copy_(t)


def exact_counts(p: PulseProbabilities, generator: torch.Generator | None, *,
                 sparse_ok: bool = False) -> tuple[Tensor, Tensor] | SparseCounts:
    """Up and down coincidence counts (out, in) from explicit Bernoulli pulse trains.

    Bits: one uniform per line, slot and sample (M·BL·(in + out) draws). The bit rows are
    split by sign, and the counts are two integer products over the stacked rows:
    up = [b_δ⁺; b_δ⁻]ᵀ·[b_x⁻; b_x⁺], down = [b_δ⁺; b_δ⁻]ᵀ·[b_x⁺; b_x⁻] (sign blocks
    without any bit, e.g. negative inputs after a ReLU, are left out).

    ``sparse_ok``: when only a few lines carry any pulse (e.g. batch 1), the products are
    taken over those rows and columns only and :class:`SparseCounts` is returned.
    """
    m, n_in = p.px.shape
    n_out = p.pd.shape[1]
    bl = p.bl
    dev = p.px.device
    ux = torch.rand((m, bl, n_in), generator=generator, device=dev, dtype=p.px.dtype)
    ud = torch.rand((m, bl, n_out), generator=generator, device=dev, dtype=p.pd.dtype)
    bx = (ux < p.px.unsqueeze(1)).view(m * bl, n_in)
    bd = (ud < p.pd.unsqueeze(1)).view(m * bl, n_out)
    x_pos = p.x_pos.repeat_interleave(bl, 0) if bl > 1 else p.x_pos
    d_pos = p.d_pos.repeat_interleave(bl, 0) if bl > 1 else p.d_pos
    cols = rows = None
    if sparse_ok:
        cols = bx.any(0).nonzero().squeeze(1)
        rows = bd.any(0).nonzero().squeeze(1)
        if 4 * cols.numel() * rows.numel() < n_in * n_out:
            bx, x_pos = bx.index_select(1, cols), x_pos.index_select(1, cols)
            bd, d_pos = bd.index_select(1, rows), d_pos.index_select(1, rows)
        else:
            cols = rows = None
    up, down = _sign_stacked_products(bx, bd, x_pos, d_pos)
    if cols is None or rows is None:
        return up, down
    index = (rows.unsqueeze(1) * n_in + cols.unsqueeze(0)).reshape(-1)
    up, down = up.reshape(-1), down.reshape(-1)
    keep = ((up > 0) | (down > 0)).nonzero().squeeze(1)
    return SparseCounts(index.index_select(0, keep), up.index_select(0, keep),
                        down.index_select(0, keep))


def _sign_stacked_products(bx: Tensor, bd: Tensor, x_pos: Tensor, d_pos: Tensor
                           ) -> tuple[Tensor, Tensor]:
    """(up, down) counts (out, in) from bit rows bx (K, in), bd (K, out) and their signs."""
    n_in, n_out = bx.shape[1], bd.shape[1]
    xb = {True: bx & x_pos, False: bx & ~x_pos}
    db = {True: bd & d_pos, False: bd & ~d_pos}
    # which sign blocks hold any bit: one host sync for all four
    flags = torch.stack([xb[True].any(), xb[False].any(), db[True].any(),
                         db[False].any()]).tolist()
    x_any = {True: flags[0], False: flags[1]}
    d_blocks = [(sign, db[sign]) for sign in (True, False) if flags[2 if sign else 3]]
    out = []
    for same in (False, True):  # up: opposite signs; down: same signs
        pairs = [(b, xb[sign if same else not sign]) for sign, b in d_blocks
                 if x_any[sign if same else not sign]]
        if not pairs:
            out.append(torch.zeros((n_out, n_in), dtype=torch.int32, device=bx.device))
            continue
        d_stack = torch.cat([d for d, _ in pairs]) if len(pairs) > 1 else pairs[0][0]
        x_stack = torch.cat([x for _, x in pairs]) if len(pairs) > 1 else pairs[0][1]
        out.append(integer_matmul(d_stack.to(torch.int8), x_stack.to(torch.int8)))
    return out[0], out[1]


def _draw_counts(mean: Tensor, var: Tensor, limit: int, generator: torch.Generator | None
                 ) -> Tensor:
    """Integer counts with the given mean μ and variance σ² (module docstring).

    With k = ⌊μ⌋, f = μ − k: n ∈ {k, k+1, k+2} with P(k+2) = (σ² + f² − f)/2 and
    P(k+1) = f − 2·P(k+2) — exact in mean and variance whenever f(1 − f) ≤ σ² ≤ f(2 − f),
    which covers every device with μ < 1 (a Poisson-binomial has σ² ≤ μ). Wider
    distributions (μ ≳ 1) are drawn as Binomial(N, μ/N) with N = ⌈μ/(1 − σ²/μ)⌉ (Poisson
    when σ² ≈ μ): non-negative, mean exact, variance exact up to rounding N (an excess
    below (1 − σ²/μ)² ≤ 1 count²). One uniform per device, and a binomial draw only for the
    wide ones.
    """
    k = mean.floor()
    f = mean - k
    p2 = (var + f * f - f).mul_(0.5).clamp_(min=0.0)
    p1 = f - 2.0 * p2
    u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    n = k.add_((u < p1 + p2).to(mean.dtype)).add_((u < p2).to(mean.dtype))
    wide = (p1 < 0).reshape(-1).nonzero().squeeze(1)
    if wide.numel():
        mu = mean.reshape(-1).index_select(0, wide)
        v = var.reshape(-1).index_select(0, wide)
        q = (1.0 - v / mu).clamp_(min=0.0, max=1.0)
        poisson = q < 1e-6
        trials = torch.where(poisson, torch.ones_like(mu), (mu / q.clamp(min=1e-6)).ceil_())
        draw = torch.binomial(trials, (mu / trials).clamp_(max=1.0), generator=generator)
        if bool(poisson.any()):
            draw = torch.where(poisson, torch.poisson(mu, generator=generator), draw)
        n.view(-1).index_copy_(0, wide, draw)
    return n.clamp_(0, limit).to(torch.int32)


def fast_counts(p: PulseProbabilities, generator: torch.Generator | None
                ) -> tuple[Tensor, Tensor]:
    """Up and down counts (out, in) drawn per device with the exact mean and variance.

    Means from total = p_δᵀ·p_x and net = (s_δ·p_δ)ᵀ·(s_x·p_x) (× BL), the Poisson-binomial
    variance correction from the same products of the squared probabilities.
    """
    bl = float(p.bl)
    sx = p.x_pos.to(p.px.dtype).mul_(2).sub_(1)
    sd = p.d_pos.to(p.pd.dtype).mul_(2).sub_(1)
    pdt = p.pd.t()
    mean_up, mean_down = _split_by_sign((pdt @ p.px).mul_(bl),
                                        ((pdt * sd.t()) @ (p.px * sx)).mul_(bl))
    px2, pd2t = p.px.square(), pdt.square()
    sq_up, sq_down = _split_by_sign((pd2t @ px2).mul_(bl), ((pd2t * sd.t()) @ (px2 * sx))
                                    .mul_(bl))
    limit = p.bl * p.px.shape[0]
    return (_draw_counts(mean_up, mean_up - sq_up, limit, generator),
            _draw_counts(mean_down, mean_down - sq_down, limit, generator))


def count_pulses(x: Tensor, d: Tensor, lr: float, granularity: float, cfg: PulseUpdate,
                 generator: torch.Generator | None, *, sparse_ok: bool = False
                 ) -> tuple[Tensor, Tensor] | SparseCounts:
    """Up and down pulse counts (out, in) for the update −lr·dᵀx, in ``cfg.mode``.

    ``sparse_ok``: allow a :class:`SparseCounts` result when few devices receive pulses.
    """
    p = pulse_probabilities(x, d, lr, granularity, cfg)
    if cfg.mode == "exact" or _trains_are_cheaper(p):
        return exact_counts(p, generator, sparse_ok=sparse_ok)
    return fast_counts(p, generator)


#: ``fast`` draws its counts per device only when the explicit trains would cost more: the
#: trains need M·BL·(in + out) uniforms and an int8 product, the per-device draw about this
#: many uniform-equivalents per device (measured on CPU: two draws and ~25 element-wise
#: passes per direction)
FAST_COST_PER_DEVICE = 32


def _trains_are_cheaper(p: PulseProbabilities) -> bool:
    m, n_in = p.px.shape
    n_out = p.pd.shape[1]
    return m * p.bl * (n_in + n_out) < FAST_COST_PER_DEVICE * n_in * n_out


def stochastic_round_quantize(v: Tensor, bins: int, stochastic: bool,
                              generator: torch.Generator | None) -> Tensor:
    """Quantise each row of ``v`` (M, n) to ``bins`` levels of its abs-max (0: unchanged).

    Levels are k·m/bins for integer |k| ≤ bins (m = the row's max |v|); stochastic rounding
    keeps the expectation (aihwkit ``MixedPrecisionCompound`` ``n_x_bins``/``n_d_bins``).
    """
    if bins <= 0:
        return v
    m = v.abs().amax(dim=1, keepdim=True)
    step = torch.where(m > 0, m / bins, torch.ones_like(m))
    z = v / step
    if stochastic:
        z = (z + torch.rand(z.shape, generator=generator, device=z.device, dtype=z.dtype)
             ).floor_()
    else:
        z = z.round()
    return z.clamp_(-bins, bins).mul_(step)
