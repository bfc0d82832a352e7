"""The composed analog MVM of one layer over all its tiles (physics.md §1.3).

Order, per tile: input range → noise management → DAC (+ input noise) → MVM → IR drop →
PCM read noise → output noise → output nonlinearity → ADC → digital affine (input range,
weight scale, drift compensation, management scale) → digital sum over tiles.

Gradients: the clean MVM and the quantisers carry straight-through gradients; the
nonideal perturbations (IR drop, read and output noise, nonlinearity) are computed without
gradient, so the backward pass is the ideal one (aihwkit HWA semantics).

Two code paths compute the same function: an autograd path (training) and an in-place,
allocation-light path used when no gradient is needed (inference). Both draw the noise in
the same order, so a seed gives the same result on either path.

Under ``torch.compile`` the out-of-place (autograd) path runs in every mode, and iterative
bound management runs a fixed number of masked passes instead of a data-dependent loop:
both trace into one graph without breaks, and the compiler fuses the periphery's
elementwise steps (the in-place path's ``out=`` views and early exits exist to save eager
allocations and passes, which a compiler does by itself).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from aimc.config.periphery import (
    ConstantNoiseManagement,
    IOConfig,
    IterativeBoundManagement,
    NoNoiseManagement,
)
from aimc.physics._random import randn_like
from aimc.physics.geometry import LinearGeometry, TileGeometry
from aimc.physics.input_range import clip_to_input_range
from aimc.physics.periphery import (
    adc,
    dac,
    ir_drop_coefficient,
    noise_management_scale,
)

__all__ = ["analog_mvm", "analog_mvm_prepared", "crossbar_mvm", "MVMObserver",
           "perturbation_dtype", "prepared_factors", "PerturbationWeights"]

class MVMObserver(Protocol):
    """Sees the converter signals of an MVM's first pass (iterative bound management's
    retries are not shown). It must not modify the tensors it is given.

    Users: the cost counters (:mod:`aimc.tile.counters`) and the ADC-range calibration
    (:func:`aimc.calibrate_adc_ranges`).
    """

    def dac_output(self, xq: Tensor, unit: float) -> None:
        """The DAC output x̂ = xq·unit in full-scale units, before input noise."""

    def adc_input(self, y: Tensor, unit: float) -> None:
        """The analog column outputs y·unit in full-scale units (after read/output noise and
        the output nonlinearity), before the ADC."""

_FAST_BF16: dict[str, bool] = {}


def _fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` has fast bfloat16 matmuls (cached per device type)."""
    kind = device.type
    if kind not in _FAST_BF16:
        _FAST_BF16[kind] = _probe_fast_bf16(kind)
    return _FAST_BF16[kind]


@torch.compiler.assume_constant_result
def _probe_fast_bf16(kind: str) -> bool:
    """The hardware query behind :func:`_fast_bf16` (a constant under ``torch.compile``)."""
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = [getattr(cpu, name, None) for name in
                  ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(bool(check()) for check in checks if check is not None)
    return False


#: "auto" keeps the layer's dtype for calls with fewer multiply-accumulates than this:
#: there the conversions cost more than the faster bfloat16 matmul saves (measured on
#: AVX512-BF16: a 2×392×256 bmm breaks even at 8–16 input vectors)
AUTO_BF16_MIN_MACS = 2**20


def perturbation_dtype(dtype: torch.dtype, device: torch.device, precision: str,
                       macs: int | None = None) -> torch.dtype:
    """The dtype of the perturbation MVMs (see :class:`aimc.config.Runtime`).

    ``macs`` is the size of the call's MVM in multiply-accumulates (None: assume large).
    """
    if precision == "native" or dtype != torch.float32:
        return dtype
    if precision == "bfloat16":
        return torch.bfloat16
    if _fast_bf16(device) and (macs is None or macs >= AUTO_BF16_MIN_MACS):
        return torch.bfloat16
    return dtype


def crossbar_mvm(x: Tensor, w: Tensor, io: IOConfig, geom: TileGeometry, *,
                 generator: torch.Generator | None = None) -> Tensor:
    """Steps DAC → ADC of every tile (normalised units).

    Args:
        x: tile inputs (geometry layout, e.g. (K, N, rows)), already range-scaled.
        w: normalised weights (K, out, rows), w ∈ [−1, 1] (1 ≡ g_max).
        io: periphery config.
        geom: the tile geometry.
        generator: RNG for input, read and output noise.

    Returns:
        ADC outputs (geometry layout, e.g. (K, N, out)) in units of a full-scale MVM.
    """
    y, step = _crossbar(x, None, w, io, geom, generator)
    return y if step == 1.0 else y * step


def _needs_grad(x: Tensor, w: Tensor) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)


def _crossbar(x: Tensor, in_mul: Tensor | None, w: Tensor, io: IOConfig, geom: TileGeometry,
              generator: torch.Generator | None, pert: PerturbationWeights | None = None,
              observe: MVMObserver | None = None) -> tuple[Tensor, float]:
    """Crossbar of x·in_mul; returns (y, step) with the ADC output equal to y·step."""
    if pert is None:
        pert = PerturbationWeights(w.dtype)
    if (_needs_grad(x, w) or (in_mul is not None and in_mul.requires_grad)
            or torch.compiler.is_compiling()):
        xs = x if in_mul is None else x * in_mul
        return _crossbar_autograd(xs, w, io, geom, generator, pert, observe), 1.0
    return _crossbar_inplace(x, in_mul, w, io, geom, generator, pert, observe=observe)


class PerturbationWeights:
    """The weights as the perturbation MVMs use them: |w| and w in the perturbation dtype.

    Built lazily from ``w`` unless a tile array hands in cached copies.
    """

    __slots__ = ("dtype", "abs", "low")

    def __init__(self, dtype: torch.dtype, abs: Tensor | None = None, low: Tensor | None = None):
        self.dtype = dtype
        self.abs = abs
        self.low = low

    def weight_abs(self, w: Tensor) -> Tensor:
        if self.abs is None:
            self.abs = w.abs().to(self.dtype)
        return self.abs

    def weight(self, w: Tensor) -> Tensor:
        if self.dtype == w.dtype:
            return w
        if self.low is None:
            self.low = w.to(self.dtype)
        return self.low


def _crossbar_autograd(x: Tensor, w: Tensor, io: IOConfig, geom: TileGeometry,
                       generator: torch.Generator | None, pert: PerturbationWeights,
                       observe: MVMObserver | None = None) -> Tensor:
    xq = dac(x, io.dac)
    if observe is not None:
        observe.dac_output(xq.detach(), 1.0)
    if io.inp_noise > 0:
        xq = xq + io.inp_noise * randn_like(xq, generator, batch_dim=geom.batch_dim)
    y = geom.mvm(xq, w)
    ir_on = io.ir_drop is not None and io.ir_drop.scale > 0
    if not (ir_on or io.read_noise > 0 or io.out_noise > 0 or io.out_nonlinearity > 0):
        if observe is not None:
            observe.adc_input(y.detach(), 1.0)
        return adc(y, io.adc)
    with torch.no_grad():
        xd, wd = xq.detach(), w.detach()
        delta = torch.zeros_like(y)
        _apply_perturbation(delta, xd, wd, None, io, geom, generator, ir_on, pert)
    y = y + delta
    if io.out_nonlinearity > 0:
        y = y + (y / (1.0 + io.out_nonlinearity * y.detach().abs()) - y).detach()
    if observe is not None:
        observe.adc_input(y.detach(), 1.0)
    return adc(y, io.adc)


def _apply_perturbation(y: Tensor, xq: Tensor, w: Tensor, y_f: Tensor | None, io: IOConfig,
                        geom: TileGeometry, generator: torch.Generator | None, ir_on: bool,
                        pert: PerturbationWeights, unit: float = 1.0) -> None:
    """Add IR drop (−c·Σ w·x·f), read noise and output noise to ``y`` in place.

    ``xq`` and ``y`` may be in units of ``unit`` (the DAC step): real x = unit·xq and real
    y = unit·y, so a = n·unit·Σ|w||xq|/g_ratio and the noise σ is divided by ``unit``.
    The MVMs here only feed perturbations and run in ``pert.dtype``.
    """
    rn, on = io.read_noise, io.out_noise / unit
    if not (ir_on or rn > 0):  # output noise only: no perturbation MVM
        if on > 0:
            y.add_(randn_like(y, generator, batch_dim=geom.batch_dim), alpha=on)
        return
    n = xq.shape[geom.batch_dim]
    bd = geom.batch_dim
    xl = xq if pert.dtype == xq.dtype else xq.to(pert.dtype)
    if ir_on and y_f is None:
        y_f = geom.mvm_row_weighted(xl, pert.weight(w), geom.ir_row_factor(xl))
    var = abs_sum = None
    if ir_on or rn > 0:
        w_abs = pert.weight_abs(w)
        if ir_on and rn > 0:
            stacked = _stack_pair(xl, bd, lambda out: torch.abs(xl, out=out),
                                  lambda out: torch.mul(xl, xl, out=out))
            both = geom.mvm(stacked, w_abs)
            abs_sum, var = both.narrow(bd, 0, n), both.narrow(bd, n, n)
        elif ir_on:
            abs_sum = geom.mvm(xl.abs(), w_abs)
        else:
            var = geom.mvm(xl * xl, w_abs)
    # the perturbation terms stay in pert.dtype; in-place updates of y promote to y's dtype
    if ir_on:
        assert io.ir_drop is not None and abs_sum is not None and y_f is not None
        c = ir_drop_coefficient(abs_sum, geom.rows, io.ir_drop, unit=unit)
        y.addcmul_(c, y_f, value=-1.0)
    if var is not None:
        # read and output noise are independent Gaussians: one draw with the summed variance
        std = var.mul_(rn * rn)
        if on > 0:
            std.add_(on * on)
        y.addcmul_(randn_like(y, generator, batch_dim=bd), std.sqrt_())
    elif on > 0:
        y.add_(randn_like(y, generator, batch_dim=bd), alpha=on)


def _stack_pair(x: Tensor, dim: int, first, second) -> Tensor:  # type: ignore[no-untyped-def]
    """Tensor with ``first(out=…)`` and ``second(out=…)`` written side by side along ``dim``.

    Under ``torch.compile`` (which cannot write into strided ``out=`` views) a ``cat`` of
    the two results, which the compiler fuses the same way.
    """
    if torch.compiler.is_compiling():
        return torch.cat([first(None), second(None)], dim=dim)
    shape = list(x.shape)
    n = shape[dim]
    shape[dim] = 2 * n
    out = torch.empty(shape, dtype=x.dtype, device=x.device)
    first(out.narrow(dim, 0, n))
    second(out.narrow(dim, n, n))
    return out


def _crossbar_inplace(x: Tensor, in_mul: Tensor | None, w: Tensor, io: IOConfig,
                      geom: TileGeometry, generator: torch.Generator | None,
                      pert: PerturbationWeights, prescaled: bool = False,
                      observe: MVMObserver | None = None) -> tuple[Tensor, float]:
    """No-grad crossbar with few allocations; returns (y, step), ADC output = y·step.

    Works in units of the DAC step u internally (inputs become integers after rounding),
    which saves two passes over the inputs; the unit is folded into the output step.
    """
    bd = geom.batch_dim
    n = x.shape[bd]
    ir_on = io.ir_drop is not None and io.ir_drop.scale > 0
    # in the layer's own precision, Σ w·x and Σ w·x·f share one matmul (stacked inputs)
    pair_inputs = ir_on and isinstance(geom, LinearGeometry) and pert.dtype == x.dtype
    shape = list(x.shape)
    if pair_inputs:
        shape[bd] = 2 * n
    buf = torch.empty(shape, dtype=x.dtype, device=x.device)
    xq = buf.narrow(bd, 0, n) if pair_inputs else buf
    d = io.dac
    unit = d.step_size if d.steps is not None else 1.0
    # DAC: scale to units of u, clip, round (in place); ``prescaled`` in_mul includes 1/u
    if in_mul is None:
        if unit == 1.0:
            xq.copy_(x)
        else:
            torch.mul(x, 1.0 / unit, out=xq)
    else:
        torch.mul(x, in_mul if (unit == 1.0 or prescaled) else in_mul * (1.0 / unit), out=xq)
    if d.clips:
        xq.clamp_(d.low / unit, None if math.isinf(d.bound) else d.bound / unit)
    if d.steps is not None:
        xq.round_()
    if observe is not None:
        observe.dac_output(xq, unit)
    if io.inp_noise > 0:
        xq.add_(randn_like(xq, generator, batch_dim=bd), alpha=io.inp_noise / unit)
    # MVM (+ the IR-drop weighted MVM in the same call)
    y_f = None
    if pair_inputs:
        torch.mul(xq, geom.row_view(geom.ir_row_factor(w)), out=buf.narrow(bd, n, n))
        both = geom.mvm(buf, w)
        y, y_f = both.narrow(bd, 0, n), both.narrow(bd, n, n)
    elif ir_on and pert.dtype == x.dtype:
        y, y_f = geom.mvm_pair(xq, w, geom.ir_row_factor(w))
    else:
        y = geom.mvm(xq, w)
    if ir_on or io.read_noise > 0 or io.out_noise > 0:
        _apply_perturbation(y, xq, w, y_f, io, geom, generator, ir_on, pert, unit)
    if io.out_nonlinearity > 0:
        y.div_(y.abs().mul_(io.out_nonlinearity * unit).add_(1.0))
    if observe is not None:
        observe.adc_input(y, unit)
    # ADC: quantise to integer steps, clip; the step is folded into the digital scale
    a = io.adc
    if a.steps is not None:
        step = a.step_size
        y.mul_(unit / step).round_()
    else:
        step = unit
    if a.clips:
        y.clamp_(a.low / step, None if math.isinf(a.bound) else a.bound / step)
    return y, step


def analog_mvm(x: Tensor, w: Tensor, io: IOConfig, geom: TileGeometry, *,
               out_scale: Tensor, input_range: Tensor | None = None,
               generator: torch.Generator | None = None,
               pert: PerturbationWeights | None = None, bias: Tensor | None = None,
               range_learning: tuple[float, float, float] | None = None,
               observe: MVMObserver | None = None) -> Tensor:
    """The full analog forward of one layer (without bias).

    Args:
        x: tile inputs from ``geom.to_tiles`` (digital units).
        w: normalised weights (K, out, rows).
        io: periphery config.
        geom: tile geometry.
        out_scale: digital per-column factor (K, out): weight scale × drift compensation ×
            learned output scale.
        input_range: per-tile input range r (K,), or None for no range scaling.
        generator: RNG for the MVM noise.
        pert: the weights for the perturbation MVMs (dtype, cached |w|); default: the
            layer's dtype, computed from ``w``.
        bias: optional digital bias (out features,), added after the digital sum.
        range_learning: (decay, min_fraction, gradient_scale) of the input-range gradient
            (physics.md §1.3); used when ``input_range`` requires grad.
        observe: an :class:`MVMObserver` shown the DAC output and the ADC input of the
            first pass (cost counters, ADC-range calibration).

    Returns:
        Layer output in the layout of ``geom.from_tiles`` (digital units).
    """
    in_mul = None
    if input_range is not None:
        if input_range.requires_grad and torch.is_grad_enabled():
            decay, min_fraction, gradient_scale = range_learning or (0.0, 0.95, 1.0)
            x = clip_to_input_range(x, geom.per_tile_in(input_range), decay=decay,
                                    min_fraction=min_fraction, gradient_scale=gradient_scale)
            input_range = input_range.detach()
        in_mul = geom.per_tile_in(input_range.reciprocal())
    nm_scale: Tensor | float = 1.0
    silent: Tensor | None = None  # 1 per input vector that is issued, 0 for a zero vector
    if _uses_noise_management(io):
        x = x if in_mul is None else x * in_mul
        nm_scale = noise_management_scale(x, io.noise_management, geom.in_vector_dims)
        if isinstance(nm_scale, float):
            x, in_mul = x * (1.0 / nm_scale), None
        else:  # x/scale is taken in the crossbar's DAC pass (one pass over x, not two)
            in_mul = nm_scale.reciprocal()
            if io.inp_noise == 0.0:
                silent = _issued_vectors(x, geom)
    y, step = _crossbar(x, in_mul, w, io, geom, generator, pert, observe)
    if isinstance(io.bound_management, IterativeBoundManagement) and (
            torch.compiler.is_compiling() or _may_saturate(y, step, io)):
        y = y if step == 1.0 else y * step
        step = 1.0
        # the managed input as x/scale (not x·(1/scale)): halving then puts DAC ties where
        # they were before the DAC-pass fusion
        if isinstance(nm_scale, Tensor):
            base = x / nm_scale
        else:
            base = x if in_mul is None else x * in_mul
        y, nm_scale = _iterative_bound_management(base, w, y, nm_scale, io, geom, generator)
    scale = out_scale if input_range is None else out_scale * input_range.unsqueeze(-1)
    if step != 1.0:
        scale = scale * step
    if silent is not None:
        if y.requires_grad:  # zero forward, straight-through gradient (as if issued)
            y = y - y.detach() * (1.0 - silent)
        else:
            nm_scale = nm_scale * silent
    return _digital_output(y, geom.per_tile_out(scale), nm_scale, bias, geom)


def _issued_vectors(x: Tensor, geom: TileGeometry) -> Tensor:
    """1 for each input vector with a non-zero entry, 0 for an all-zero one (keepdim over
    ``geom.in_vector_dims``, the layout of the abs-max scale).

    With abs-max noise management the digital unit knows max|x| before the MVM; for a zero
    vector (a dense layer's input silenced by a ReLU; for a convolution the vector is a
    sample's whole tile input) it issues none and the output is an exact zero, without the
    output noise a conversion would add (aihwkit
    ``ForwardBackwardPassIOManaged::forwardVector``: "output will be zero anyway", taken only
    without input noise, as here). In training the gradient still flows as if the vector had
    been converted (aihwkit's input gradient is its own backward pass, which the forward
    short-cut does not touch).
    """
    return (x.detach() != 0).any(dim=geom.in_vector_dims, keepdim=True).to(x.dtype)


def _digital_output(y: Tensor, scale: Tensor, nm_scale: Tensor | float, bias: Tensor | None,
                    geom: TileGeometry) -> Tensor:
    """y·scale (·management scale) summed over tiles, plus the digital bias."""
    has_nm = not isinstance(nm_scale, float) or nm_scale != 1.0
    fused_bias = None if bias is None or has_nm else geom.bias_tile_view(bias)
    if fused_bias is not None:  # y·scale + bias in one pass, contiguous for from_tiles
        return geom.from_tiles(torch.addcmul(fused_bias, y, scale))
    y = y * scale if y.requires_grad else y.mul_(scale)
    if has_nm:
        y = y * nm_scale
    out = geom.from_tiles(y)
    if bias is not None:
        b = geom.bias_out_view(bias)
        out = out + b if (out.requires_grad or b.requires_grad) else out.add_(b)
    return out


def prepared_factors(io: IOConfig, geom: TileGeometry, out_scale: Tensor,
                     input_range: Tensor | None) -> tuple[Tensor | None, Tensor] | None:
    """Input and output factors for :func:`analog_mvm_prepared`, or None if it cannot apply.

    The prepared path needs no per-call management: no (non-trivial) noise management and
    no iterative bound management. Returns (in_mul, out_mul): in_mul = 1/(r·u) per tile
    (u the DAC step) in tile-input layout, out_mul = out_scale·r·step per tile column in
    tile-output layout (step the unit of the in-place crossbar's output).
    """
    if _uses_noise_management(io) or isinstance(io.bound_management, IterativeBoundManagement):
        return None
    unit = io.dac.step_size if io.dac.steps is not None else 1.0
    step = io.adc.step_size if io.adc.steps is not None else unit
    in_mul = None
    if input_range is not None:
        in_mul = geom.per_tile_in((input_range * unit).reciprocal())
        out_scale = out_scale * input_range.unsqueeze(-1)
    elif unit != 1.0:
        in_mul = geom.per_tile_in(torch.full_like(out_scale[:, 0], 1.0 / unit))
    return in_mul, geom.per_tile_out(out_scale * step)


def analog_mvm_prepared(x: Tensor, w: Tensor, io: IOConfig, geom: TileGeometry, *,
                        factors: tuple[Tensor | None, Tensor], pert: PerturbationWeights,
                        bias: Tensor | None = None,
                        generator: torch.Generator | None = None,
                        observe: MVMObserver | None = None) -> Tensor:
    """:func:`analog_mvm` without gradient, with factors from :func:`prepared_factors`.

    The inference fast path of programmed layers: the per-call scale arithmetic is done
    once per programmed state instead of on every forward.
    """
    in_mul, out_mul = factors
    y, _ = _crossbar_inplace(x, in_mul, w, io, geom, generator, pert, prescaled=True,
                             observe=observe)
    return _digital_output(y, out_mul, 1.0, bias, geom)


def _uses_noise_management(io: IOConfig) -> bool:
    nm = io.noise_management
    return not (isinstance(nm, NoNoiseManagement)
                or (isinstance(nm, ConstantNoiseManagement) and nm.value == 1.0))


def _may_saturate(y: Tensor, step: float, io: IOConfig) -> bool:
    """Whether any ADC output y·step may be at the bound (a cheap global pre-check of
    :func:`_iterative_bound_management`, which decides per vector; its margin is wider)."""
    bound = io.adc.bound
    if math.isinf(bound) or y.numel() == 0:
        return False
    # "not below" rather than ">=": a NaN output must not switch the management off
    return not float(y.detach().abs().amax()) * step < bound * (1.0 - 2e-6)


def _iterative_bound_management(x: Tensor, w: Tensor, y: Tensor, nm_scale: Tensor | float,
                                io: IOConfig, geom: TileGeometry,
                                generator: torch.Generator | None
                                ) -> tuple[Tensor, Tensor | float]:
    """Halve the input of every saturated vector and recompute, until none saturates.

    Stops when the factor would exceed ``max_factor`` or DAC step × factor > ``max_res``.
    Returns the merged outputs and the per-vector scale to multiply them by.
    """
    bm = io.bound_management
    assert isinstance(bm, IterativeBoundManagement)
    bound = io.adc.bound * (1.0 - 1e-6)
    keep_shape = [1] * y.dim()
    for d in range(y.dim()):
        if d not in geom.out_vector_dims:
            keep_shape[d] = y.shape[d]
    factor = torch.ones(keep_shape, dtype=y.dtype, device=y.device)
    dac_step = io.dac.step_size
    if torch.compiler.is_compiling():
        return _masked_bound_management(x, w, y, factor, nm_scale, bound, io, geom, generator)
    current = 1.0
    while True:
        saturated = (y.detach().abs() >= bound).amax(dim=geom.out_vector_dims, keepdim=True)
        if not bool(saturated.any()):
            break
        current *= 2.0
        if current > bm.max_factor or (dac_step > 0 and dac_step * current > bm.max_res):
            break
        factor = torch.where(saturated, factor * 2.0, factor)
        in_factor = factor.view(_in_shape(x, geom))
        y_new, step = _crossbar(x / in_factor, None, w, io, geom, generator)
        y_new = y_new if step == 1.0 else y_new * step
        y = torch.where(saturated, y_new, y)
    return y, factor * nm_scale


def bound_management_passes(io: IOConfig) -> int:
    """The most halvings :func:`_iterative_bound_management` can make under ``io``.

    A halving is allowed while the accumulated factor 2^k stays ≤ ``max_factor`` and the
    effective DAC step u·2^k stays ≤ ``max_res``.
    """
    bm = io.bound_management
    assert isinstance(bm, IterativeBoundManagement)
    dac_step = io.dac.step_size
    k, current = 0, 2.0
    while current <= bm.max_factor and not (dac_step > 0 and dac_step * current > bm.max_res):
        k, current = k + 1, current * 2.0
    return k


def _masked_bound_management(x: Tensor, w: Tensor, y: Tensor, factor: Tensor,
                             nm_scale: Tensor | float, bound: float, io: IOConfig,
                             geom: TileGeometry, generator: torch.Generator | None
                             ) -> tuple[Tensor, Tensor | float]:
    """:func:`_iterative_bound_management` as a fixed number of masked passes (compiled).

    Every pass recomputes all vectors and keeps the new output only where the previous
    one saturated; a pass in which nothing saturated changes nothing, so the result is the
    eager loop's (which stops at the first such pass), with more noise drawn.
    """
    for _ in range(bound_management_passes(io)):
        saturated = (y.detach().abs() >= bound).amax(dim=geom.out_vector_dims, keepdim=True)
        factor = torch.where(saturated, factor * 2.0, factor)
        y_new, step = _crossbar(x / factor.view(_in_shape(x, geom)), None, w, io, geom,
                                generator)
        y_new = y_new if step == 1.0 else y_new * step
        y = torch.where(saturated, y_new, y)
    return y, factor * nm_scale


def _in_shape(x: Tensor, geom: TileGeometry) -> list[int]:
    shape = [1] * x.dim()
    for d in range(x.dim()):
        if d not in geom.in_vector_dims:
            shape[d] = x.shape[d]
    return shape
