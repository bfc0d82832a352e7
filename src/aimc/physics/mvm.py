"""The composed analog MVM of one layer over all its tiles (physics.md §1.3).

Order, per tile: input range → noise management → DAC (+ input noise) → MVM → IR drop →
PCM read noise → output noise → output nonlinearity → ADC → digital affine (input range,
weight scale, drift compensation, management scale) → digital sum over tiles.

Gradients: the clean MVM and the quantisers carry straight-through gradients; the
nonideal perturbations (IR drop, read and output noise, nonlinearity) are computed without
gradient, so the backward pass is the ideal one (aihwkit HWA semantics).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.config.periphery import IOConfig, IterativeBoundManagement
from aimc.physics._random import randn_like
from aimc.physics.geometry import TileGeometry
from aimc.physics.periphery import (
    adc,
    apply_noise_management,
    dac,
    ir_drop_coefficient,
    ir_drop_row_factor,
)

__all__ = ["analog_mvm", "crossbar_mvm"]


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
    xq = dac(x, io.dac)
    if io.inp_noise > 0:
        xq = xq + io.inp_noise * randn_like(xq, generator)
    ir_on = io.ir_drop is not None and io.ir_drop.scale > 0
    needs_abs = ir_on or io.read_noise > 0
    if not (needs_abs or io.out_noise > 0 or io.out_nonlinearity > 0):
        return adc(geom.mvm(xq, w), io.adc)

    grad = torch.is_grad_enabled() and (xq.requires_grad or w.requires_grad)
    with torch.no_grad():
        xd, wd = xq.detach(), w.detach()
        if ir_on:
            f = ir_drop_row_factor(geom.rows, device=w.device, dtype=w.dtype)
            if grad:
                y = geom.mvm(xq, w)
                y_f = geom.mvm_row_weighted(xd, wd, f)
            else:
                y, y_f = geom.mvm_pair(xd, wd, f)
        else:
            y = geom.mvm(xq, w) if grad else geom.mvm(xd, wd)
        # perturbation (no gradient: ideal backward)
        var = None
        if needs_abs:
            w_abs = wd.abs()
            if ir_on and io.read_noise > 0:
                n = xd.shape[geom.batch_dim]
                both = geom.mvm(torch.cat((xd.abs(), xd * xd), dim=geom.batch_dim), w_abs)
                abs_sum, var = both.split(n, dim=geom.batch_dim)
            elif ir_on:
                abs_sum = geom.mvm(xd.abs(), w_abs)
            else:
                var = geom.mvm(xd * xd, w_abs)
        delta = None
        if ir_on:
            delta = ir_drop_coefficient(abs_sum, geom.rows, io.ir_drop).mul_(y_f).neg_()
        if var is not None or io.out_noise > 0:
            if var is not None:
                # read noise and output noise are independent Gaussians: one draw, summed σ²
                std = var.mul_(io.read_noise**2)
                if io.out_noise > 0:
                    std.add_(io.out_noise**2)
                std.sqrt_()
                noise = std.mul_(randn_like(std, generator))
            else:
                noise = io.out_noise * randn_like(y, generator)
            delta = noise if delta is None else delta.add_(noise)
    y = y + delta if delta is not None else y
    if io.out_nonlinearity > 0:
        y = y + (y / (1.0 + io.out_nonlinearity * y.detach().abs()) - y).detach()
    return adc(y, io.adc)


def analog_mvm(x: Tensor, w: Tensor, io: IOConfig, geom: TileGeometry, *,
               out_scale: Tensor, input_range: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
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

    Returns:
        Layer output in the layout of ``geom.from_tiles`` (digital units).
    """
    if input_range is not None:
        x = x / geom.per_tile_in(input_range)
    x, nm_scale = apply_noise_management(x, io.noise_management, geom.in_vector_dims)
    y = crossbar_mvm(x, w, io, geom, generator=generator)
    if isinstance(io.bound_management, IterativeBoundManagement):
        y, nm_scale = _iterative_bound_management(x, w, y, nm_scale, io, geom, generator)
    scale = out_scale if input_range is None else out_scale * input_range.unsqueeze(-1)
    y = y * geom.per_tile_out(scale)
    if not isinstance(nm_scale, float) or nm_scale != 1.0:
        y = y * nm_scale
    return geom.from_tiles(y)


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
    current = 1.0
    while True:
        saturated = (y.detach().abs() >= bound).amax(dim=geom.out_vector_dims, keepdim=True)
        if not bool(saturated.any()):
            break
        current *= 2.0
        if current > bm.max_factor or (dac_step > 0 and dac_step * current > bm.max_res):
            break
        factor = torch.where(saturated, factor * 2.0, factor)
        in_factor = factor.view(_in_shape(factor, x, geom))
        y_new = crossbar_mvm(x / in_factor, w, io, geom, generator=generator)
        y = torch.where(saturated, y_new, y)
    return y, factor * nm_scale


def _in_shape(factor: Tensor, x: Tensor, geom: TileGeometry) -> list[int]:
    shape = [1] * x.dim()
    for d in range(x.dim()):
        if d not in geom.in_vector_dims:
            shape[d] = x.shape[d]
    return shape
