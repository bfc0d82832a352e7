"""Learned input range: clipping with the input-range gradient of aihwkit (physics.md §1.3).

Forward: x̃ = clip(x, −r, r). Backward:

* to x: the incoming gradient where |x| < r, zero where the input clips;
* to r (one value per tile): g_r = Σ min(0, g·[x ≥ r]) − Σ max(0, g·[x ≤ −r]) over the
  tile's inputs; with ``relative`` multiplied by r; times ``gradient_scale``; plus
  ``decay``·r when more than ``min_fraction`` of the tile's inputs are unclipped, so that an
  unused range shrinks (aihwkit ``InputRangeForward``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["clip_to_input_range"]


class _InputRangeClip(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, r: Tensor, decay: float, min_fraction: float,
                gradient_scale: float, relative: bool) -> Tensor:
        ctx.save_for_backward(x, r)
        ctx.settings = (decay, min_fraction, gradient_scale, relative)
        return torch.minimum(torch.maximum(x, -r), r)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, r = ctx.saved_tensors
        decay, min_fraction, gradient_scale, relative = ctx.settings
        upper = x >= r
        lower = x <= -r
        clipped = upper | lower
        grad_x = grad.masked_fill(clipped, 0.0) if ctx.needs_input_grad[0] else None
        grad_r = None
        if ctx.needs_input_grad[1]:
            zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
            g = torch.where(upper, grad.clamp(max=0.0), zero) - torch.where(
                lower, grad.clamp(min=0.0), zero)
            dims = [d for d in range(g.dim()) if r.shape[d] == 1]
            grad_r = g.sum(dim=dims, keepdim=True)
            if relative:
                grad_r = grad_r * r
            grad_r = grad_r * gradient_scale
            if decay > 0:
                unclipped = 1.0 - clipped.to(grad.dtype).mean(dim=dims, keepdim=True)
                grad_r = grad_r + decay * r * (unclipped > min_fraction)
        return grad_x, grad_r, None, None, None, None


def clip_to_input_range(x: Tensor, r: Tensor, *, decay: float = 0.0, min_fraction: float = 0.95,
                        gradient_scale: float = 1.0, relative: bool = True) -> Tensor:
    """clip(x, −r, r) with the learned-input-range gradient.

    Args:
        x: tile inputs (any layout).
        r: per-tile ranges viewed to broadcast against ``x`` (e.g. (K, 1, 1)).
        decay, min_fraction, gradient_scale, relative: see the module docstring.
    """
    return _InputRangeClip.apply(x, r, decay, min_fraction, gradient_scale, relative)
