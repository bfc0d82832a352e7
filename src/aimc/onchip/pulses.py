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

* ``exact`` (:func:`exact_coincidences`): explicit Bernoulli trains, one per line, slot and
  sample; the counts are integer matrix products of the bit matrices (int8 × int8 → int32
  where torch provides it): total = b_δᵀ·b_x and net = (s_δ·b_δ)ᵀ·(s_x·b_x). This is the
  reference semantics. The bits compare 32-bit uniforms (two per 64-bit draw,
  :func:`uniform32`) with the probabilities resolved to 2⁻³² (:func:`bernoulli_threshold`).
* ``fast`` (:func:`fast_counts`): per device the count is a sum of independent Bernoullis
  over (sample, slot) — a Poisson-binomial with mean μ = BL·Σ_b p_x·p_δ and variance
  σ² = μ − BL·Σ_b (p_x·p_δ)², both computed by matrix products over the batch. Each count
  is drawn from a distribution with exactly that mean and variance (:func:`_draw_counts`:
  three integer values around μ, or a binomial/Poisson for the rare wide ones). It ignores
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
from aimc.physics._indexing import flat_nonzero

__all__ = ["PulseProbabilities", "SparseCounts", "pulse_probabilities", "exact_counts",
           "fast_counts", "count_pulses", "integer_matmul", "stochastic_round_quantize",
           "uniform32", "bernoulli_threshold", "exact_coincidences", "DenseCounts",
           "split_by_sign", "line_counts"]


class PulseProbabilities:
    """Per-line pulse probabilities of one update.

    Attributes:
        px: (M, in) probabilities of the input trains (≤ 1).
        pd: (M, out) probabilities of the error trains (≤ 1).
        x_sign, d_sign: (M, in) / (M, out), the sign of x / δ (±1, 0 where the value is 0).
        bl: the bit length used.
    """

    __slots__ = ("px", "pd", "x_sign", "d_sign", "bl")

    def __init__(self, px: Tensor, pd: Tensor, x_sign: Tensor, d_sign: Tensor, bl: int):
        self.px, self.pd, self.x_sign, self.d_sign, self.bl = px, pd, x_sign, d_sign, bl


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
        # k_b = √(max|δ_b|/max|x_b|); a sample with x_b = 0 or δ_b = 0 has no coincidences
        # whatever k_b is, and k_b cancels in the expectation p_x·p_δ anyway: k_b = 1 where
        # either maximum is 0, NaN or subnormal keeps the probabilities finite
        tiny = torch.finfo(xm.dtype).tiny
        ok = (xm >= tiny).logical_and_(dm >= tiny)
        k = dm.div(xm).sqrt_().masked_fill_(ok.logical_not_(), 1.0)
        px = xa.mul_((a * k).unsqueeze(1))
        pd = da.mul_((a / k).unsqueeze(1))
    else:
        px, pd = xa.mul_(a), da.mul_(a)
    return PulseProbabilities(px.clamp_(max=1.0), pd.clamp_(max=1.0), x.sign(), d.sign(), bl)


#: the sparse coincidence path is tried only for at most this many (sample, slot) rows:
#: beyond, nearly every line carries a pulse (measured: batch 64 at BL 1 on the MLP benchmark)
_SPARSE_MAX_ROWS = 32

_INT_MM_OK: dict[str, bool] = {}


def integer_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Exact aᵀ·b for int8 matrices a (K, m), b (K, n) of small entries (here 0/±1):
    int32 (m, n).

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


def split_by_sign(total: Tensor, net: Tensor) -> tuple[Tensor, Tensor]:
    """(up, down) from total = up + down and net = down − up (same-sign coincidences are
    depressing: Δw = −η·x·δ < 0 when x·δ > 0)."""
    if total.is_floating_point():
        return total.sub(net).mul_(0.5), total.add_(net).mul_(0.5)
    return total.sub(net).bitwise_right_shift_(1), total.add_(net).bitwise_right_shift_(1)


class DenseCounts:
    """Pulse counts of every device (out, in) as ``total`` = up + down and
    ``net`` = down − up (int32): the pulsed devices are total > 0.

    Deliberately not a tuple, so that ``up, down = count_pulses(...)`` fails loudly instead
    of binding (total, net); use :meth:`up_down`.
    """

    __slots__ = ("total", "net")

    def __init__(self, total: Tensor, net: Tensor):
        self.total, self.net = total, net

    def up_down(self) -> tuple[Tensor, Tensor]:
        """(up, down) counts."""
        return split_by_sign(self.total.clone(), self.net)


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


def uniform32(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` independent uniform 32-bit integers (int32, −2³¹ … 2³¹ − 1).

    Two per 64-bit draw of ``generator``: torch's CPU sampler costs about the same per
    element for any dtype, so this is cheaper than ``torch.rand`` (measured: 76 against
    99 µs for 5·10⁴ values) at a finer probability resolution (2⁻³² against 2⁻²⁴), which
    keeps small pulse probabilities unbiased (:func:`bernoulli_threshold`).
    """
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device)
    words.random_(-2**63, 2**63 - 1, generator=generator)
    return words.view(torch.int32)[:n]


def bernoulli_threshold(p: Tensor) -> Tensor:
    """int64 thresholds t with P(u < t) = round(p·2³²)/2³² for u from :func:`uniform32`
    (p in [0, 1]: p = 0 never fires, p = 1 always; |bias| ≤ 1.2·10⁻¹⁰). p·2³² is exact in
    floating point (a power-of-two scale), so only p below 2⁻⁸ is rounded at all."""
    return p.mul(4294967296.0).round_().to(torch.int64).sub_(2**31)


def exact_coincidences(p: PulseProbabilities, generator: torch.Generator | None, *,
                        sparse_ok: bool = False) -> DenseCounts | SparseCounts:
    """Coincidence counts (out, in) from explicit Bernoulli pulse trains.

    Bits: one uniform per line, slot and sample (M·BL·(in + out) draws, 32-bit resolution:
    :func:`uniform32`). With b the 0/1 bit matrices and s = ±1 their line signs, the counts
    come from two integer products over the (sample, slot) rows:
    total = b_δᵀ·b_x and net = (s_δ·b_δ)ᵀ·(s_x·b_x) = down − up (same-sign coincidences
    depress), so up = (total − net)/2, down = (total + net)/2 (int8 × int8 → int32).

    ``sparse_ok``: when only a few lines carry any pulse (e.g. batch 1), the products are
    taken over those rows and columns only and :class:`SparseCounts` is returned.
    """
    m, n_in = p.px.shape
    n_out = p.pd.shape[1]
    bl = p.bl
    k = m * bl
    u = uniform32(k * (n_in + n_out), generator, p.px.device)
    # input bits as rows (sample, slot) × line; error bits transposed, line × (sample, slot),
    # the row-major left operand of the integer products; bool → int8 is a free view (0/1)
    if bl == 1:  # (BL management at large batches) no slot dimension: fewer tensor ops
        bxi = (u[:k * n_in].view(m, n_in) < bernoulli_threshold(p.px)).view(torch.int8)
        bdi = (u[k * n_in:].view(n_out, m) < bernoulli_threshold(p.pd).t()).view(torch.int8)
        sx = bxi * p.x_sign.to(torch.int8)
        sd = bdi * p.d_sign.t().to(torch.int8)
    else:
        bx = (u[:k * n_in].view(m, bl, n_in) < bernoulli_threshold(p.px).unsqueeze(1))
        bd = (u[k * n_in:].view(n_out, m, bl) < bernoulli_threshold(p.pd).t().unsqueeze(2))
        bxi, bdi = bx.view(k, n_in).view(torch.int8), bd.view(n_out, k).view(torch.int8)
        sx = (bxi.view(m, bl, n_in) * p.x_sign.to(torch.int8).unsqueeze(1)).view(k, n_in)
        sd = (bdi.view(n_out, m, bl) * p.d_sign.t().to(torch.int8).unsqueeze(2)).view(n_out, k)
    cols = rows = None
    if sparse_ok and k <= _SPARSE_MAX_ROWS:
        cols = bxi.any(0).nonzero().squeeze(1)
        rows = bdi.any(1).nonzero().squeeze(1)
        if 4 * cols.numel() * rows.numel() < n_in * n_out:
            bxi, sx = bxi.index_select(1, cols), sx.index_select(1, cols)
            bdi, sd = bdi.index_select(0, rows), sd.index_select(0, rows)
        else:
            cols = rows = None
    # total = b_δᵀ·b_x, net = (s_δ·b_δ)ᵀ·(s_x·b_x)
    total, net = _int_mm_rows(bdi, bxi), _int_mm_rows(sd, sx)
    if cols is None or rows is None:
        return DenseCounts(total, net)
    index = (rows.unsqueeze(1) * n_in + cols.unsqueeze(0)).reshape(-1)
    total, net = total.reshape(-1), net.reshape(-1)
    keep = flat_nonzero(total > 0)
    up, down = split_by_sign(total.index_select(0, keep), net.index_select(0, keep))
    return SparseCounts(index.index_select(0, keep), up, down)


def exact_counts(p: PulseProbabilities, generator: torch.Generator | None, *,
                 sparse_ok: bool = False) -> tuple[Tensor, Tensor] | SparseCounts:
    """Up and down coincidence counts (out, in) from explicit Bernoulli pulse trains
    (:func:`exact_coincidences`, with the dense result split into (up, down))."""
    c = exact_coincidences(p, generator, sparse_ok=sparse_ok)
    return c.up_down() if isinstance(c, DenseCounts) else c


def _int_mm_rows(a: Tensor, b: Tensor) -> Tensor:
    """a·b for int8 a (m, K) and b (K, n): int32 (m, n) (:func:`integer_matmul` of aᵀ)."""
    return integer_matmul(a.t(), b)


def _draw_counts(mean: Tensor, var: Tensor, limit: int, generator: torch.Generator | None
                 ) -> Tensor:
    """Integer counts with the given mean μ and variance σ² (module docstring).

    With k = ⌊μ⌋, f = μ − k: n ∈ {k, k+1, k+2} with P(k+2) = (σ² + f² − f)/2 and
    P(k+1) = f − 2·P(k+2) — exact in mean and variance whenever f(1 − f) ≤ σ² ≤ f(2 − f),
    which covers every device with μ < 1 (a Poisson-binomial has σ² ≤ μ). Wider
    distributions (μ ≳ 1) are drawn as Binomial(N, μ/N) with N = ⌈μ/(1 − σ²/μ)⌉ (Poisson
    when σ² ≈ μ): non-negative, mean exact, variance exact up to rounding N (an excess
    below (1 − σ²/μ)² ≤ 1 count²). One 32-bit uniform per device, and a binomial draw only for the
    wide ones.
    """
    k = mean.floor()
    f = mean - k
    p2 = (var + f * f - f).mul_(0.5).clamp_(min=0.0)
    p1 = f - 2.0 * p2
    u = uniform32(mean.numel(), generator, mean.device).view(mean.shape)
    n = (k.add_((u < bernoulli_threshold((p1 + p2).clamp_(0.0, 1.0))).to(mean.dtype))
         .add_((u < bernoulli_threshold(p2.clamp(max=1.0))).to(mean.dtype)))
    wide = flat_nonzero(p1 < 0)
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
    sx, sd = p.x_sign, p.d_sign
    pdt = p.pd.t()
    mean_up, mean_down = split_by_sign((pdt @ p.px).mul_(bl),
                                        ((pdt * sd.t()) @ (p.px * sx)).mul_(bl))
    px2, pd2t = p.px.square(), pdt.square()
    sq_up, sq_down = split_by_sign((pd2t @ px2).mul_(bl), ((pd2t * sd.t()) @ (px2 * sx))
                                    .mul_(bl))
    limit = p.bl * p.px.shape[0]
    return (_draw_counts(mean_up, mean_up - sq_up, limit, generator),
            _draw_counts(mean_down, mean_down - sq_down, limit, generator))


def count_pulses(x: Tensor, d: Tensor, lr: float, granularity: float, cfg: PulseUpdate,
                 generator: torch.Generator | None, *, sparse_ok: bool = False
                 ) -> DenseCounts | SparseCounts:
    """Pulse counts (out, in) for the update −lr·dᵀx, in ``cfg.mode``.

    ``sparse_ok``: allow a :class:`SparseCounts` result when few devices receive pulses.
    """
    p = pulse_probabilities(x, d, lr, granularity, cfg)
    if cfg.mode == "exact" or _trains_are_cheaper(p):
        return exact_coincidences(p, generator, sparse_ok=sparse_ok)
    up, down = fast_counts(p, generator)
    return DenseCounts(up + down, down.sub_(up))


#: ``fast`` draws its counts per device only when the explicit trains would cost more: the
#: trains need M·BL·(in + out) uniforms and an int8 product, the per-device draw about this
#: many uniform-equivalents per device (measured on CPU: two draws and ~25 element-wise
#: passes per direction)
FAST_COST_PER_DEVICE = 32


def _trains_are_cheaper(p: PulseProbabilities) -> bool:
    m, n_in = p.px.shape
    n_out = p.pd.shape[1]
    return m * p.bl * (n_in + n_out) < FAST_COST_PER_DEVICE * n_in * n_out


def line_counts(v: Tensor, lr: float, granularity: float, cfg: PulseUpdate,
                generator: torch.Generator | None) -> Tensor:
    """Signed pulse counts (up − down, int32) of the update Δw_i = lr·v_i on one input line.

    The Tiki-Taka transfer writes a column j with the one-hot input x = eⱼ and δ = −v: this
    is :func:`count_pulses` (``exact``) for x = [[1]], d = −vᵀ, computed directly — the same
    probabilities (x_max = 1: k = √max|v|, p_x = A·k, p_δ,i = A·|v_i|/k, BL management on
    lr·max|v|/ε), the same 32-bit Bernoulli trains, count_i = Σ_t b_x,t·b_δ,i,t with the sign
    of v_i — in a handful of tensor ops instead of the general matrix path.

    Args:
        v: (n,) the desired change per device divided by lr (weight units).
        lr, granularity, cfg, generator: as :func:`count_pulses`.
    """
    va = v.abs()
    vm = float(va.max()) if v.numel() else 0.0
    if vm == 0.0:
        return torch.zeros(v.shape, dtype=torch.int32, device=v.device)
    bl = cfg.desired_bl
    if cfg.bl_management:
        bl = int(min(max(math.ceil(vm * lr / granularity - 1e-9), 1), cfg.desired_bl))
    a = math.sqrt(lr / (granularity * bl))
    k = math.sqrt(vm) if cfg.update_management else 1.0
    px = min(a * k, 1.0)
    u = uniform32(bl * (1 + v.numel()), generator, v.device)
    bx = u[:bl] < bernoulli_threshold(torch.full((1,), px, dtype=v.dtype, device=v.device))
    pd = va.mul_(a / k).clamp_(max=1.0)
    bd = u[bl:].view(v.numel(), bl) < bernoulli_threshold(pd).unsqueeze(1)
    count = bd.logical_and_(bx).sum(1, dtype=torch.int32)
    return count.mul_(v.sign().to(torch.int32))


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
