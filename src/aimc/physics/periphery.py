"""Converters, noise management and IR drop (physics.md §1.3).

Quantisers use a straight-through estimator: the forward value is rounded, the gradient
passes as if the rounding were the identity. Clipping passes no gradient outside the range
(as ``torch.clamp``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.config.periphery import (
    AbsMaxNoiseManagement,
    ConstantNoiseManagement,
    Converter,
    IRDrop,
    NoiseManagement,
    NoNoiseManagement,
)

__all__ = ["quantize", "dac", "adc", "apply_noise_management", "noise_management_scale",
           "ir_drop_coefficient", "ir_drop_row_factor"]


def _round_ste(x: Tensor) -> Tensor:
    if x.requires_grad:
        return x + (torch.round(x) - x).detach()
    return torch.round(x)


def quantize(x: Tensor, step: float) -> Tensor:
    """round(x/step)·step with a straight-through gradient; identity for step <= 0."""
    if step <= 0:
        return x
    return _round_ste(x * (1.0 / step)) * step


def _clip(x: Tensor, cfg: Converter) -> Tensor:
    """Clip to the converter's range: [−bound, bound] signed, [0, bound] unsigned."""
    if not cfg.clips:
        return x
    return x.clamp(cfg.low, None if math.isinf(cfg.bound) else cfg.bound)


def dac(x: Tensor, cfg: Converter) -> Tensor:
    """DAC: clip to the range, then quantise to Δ (2·bound/steps signed, bound/steps unsigned)."""
    return quantize(_clip(x, cfg), cfg.step_size)


def adc(y: Tensor, cfg: Converter) -> Tensor:
    """ADC: quantise to Δ, then clip to the range (physics.md §1.3 step 7)."""
    return _clip(quantize(y, cfg.step_size), cfg)


def apply_noise_management(x: Tensor, cfg: NoiseManagement, reduce_dims: tuple[int, ...]
                           ) -> tuple[Tensor, Tensor | float]:
    """Scale inputs into the DAC range; returns (x/scale, scale) — multiply outputs by scale.

    ``reduce_dims`` are the dims that make up one input vector (for ABS_MAX). The scale is
    detached (no gradient flows through the management itself). All-zero vectors keep
    scale 1 (their output is then zeroed by :func:`aimc.physics.mvm.analog_mvm` when there
    is no input noise: no MVM is issued for them).
    """
    scale = noise_management_scale(x, cfg, reduce_dims)
    if isinstance(scale, float):
        return (x, 1.0) if scale == 1.0 else (x * (1.0 / scale), scale)
    return x / scale, scale


def noise_management_scale(x: Tensor, cfg: NoiseManagement, reduce_dims: tuple[int, ...]
                           ) -> Tensor | float:
    """The scale of :func:`apply_noise_management` alone (detached): ABS_MAX gives
    max|x| over ``reduce_dims`` per input vector (keepdim), CONSTANT its value, NONE 1.0.

    ABS_MAX uses 1 for a vector whose abs-max is 0, NaN, or below the smallest normal
    float (``torch.finfo(dtype).tiny``): such a vector is numerically zero, and its
    reciprocal scale would overflow to inf.
    """
    if isinstance(cfg, NoNoiseManagement):
        return 1.0
    if isinstance(cfg, ConstantNoiseManagement):
        return float(cfg.value)
    if isinstance(cfg, AbsMaxNoiseManagement):
        scale = x.detach().abs().amax(dim=reduce_dims, keepdim=True)
        return torch.where(scale >= torch.finfo(scale.dtype).tiny, scale, 1.0)
    raise TypeError(f"unknown noise management {cfg!r}")


def ir_drop_row_factor(rows: int, device: torch.device | None = None,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """f_j = 1 − (1 − j/n)², j = 0..n−1 (row 0 farthest from the output), shape (rows,)."""
    j = torch.arange(rows, device=device, dtype=dtype)
    return 1.0 - (1.0 - j / rows) ** 2


def ir_drop_coefficient(abs_sum: Tensor, rows: int, cfg: IRDrop, unit: float = 1.0) -> Tensor:
    """c_i = scale·a_i·(a_i·(0.05·a_i − 0.2) + 0.5), a_i = n·unit·Σ_j|w_ij||x_j| / g_ratio.

    ``abs_sum`` holds Σ_j |w_ij|·|x_j| per output (in units of ``unit``). The IR-drop
    correction is then Δy_i = −c_i·Σ_j w_ij·x_j·f_j (aihwkit ``rpu_forward_backward_pass.cpp``).
    Evaluated as a Horner polynomial in ``abs_sum`` with the constants folded in (5 passes).
    """
    k = rows * unit / cfg.g_ratio
    sc = cfg.scale
    c = abs_sum * (0.05 * k**3 * sc)
    c.sub_(0.2 * k**2 * sc).mul_(abs_sum).add_(0.5 * k * sc).mul_(abs_sum)
    return c
