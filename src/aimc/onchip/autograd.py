"""The autograd function of an on-chip-trained layer: noisy forward, noisy backward, and the
(x, δ) record the pulsed update consumes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["OnChipMVM"]


class OnChipMVM(torch.autograd.Function):
    """y = analog MVM of x with the device weights; backward through the transposed array.

    Forward: the tile's forward periphery (as in HWA training, no extra weight noise).
    Backward: the input gradient comes from the transposed MVM with the backward periphery
    (:meth:`aimc.onchip.state.OnChipState.input_gradient`); the bias gradient is exact
    (digital bias); the weight gets **no** gradient — the (x, δ) pair is recorded and
    :class:`aimc.optim.AnalogSGD` turns it into device pulses at ``step()``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                tiles: TileArray) -> Tensor:
        _check_not_tied(weight, tiles)
        g = tiles.geometry
        x_tiles = g.to_tiles(x)
        vectors = x_tiles.shape[g.batch_dim] * math.prod(x_tiles.shape[3:])
        y = tiles._digital_weight_forward(x_tiles, weight, bias, None, vectors,
                                          tiles._mvm_observer(x_tiles, weight))
        ctx.tiles = tiles
        ctx.x_shape = x.shape
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x)
        # not saved for backward: the weight may be a view of a parameter shared with other
        # arrays (attention in_proj) whose first use writes their device values into it
        ctx.weight = weight.detach()
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, Tensor | None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        weight = ctx.weight
        state = ctx.tiles.onchip
        state.record(x, grad_out, transposed_mvm=bool(ctx.needs_input_grad[0]))
        gx = None
        if ctx.needs_input_grad[0]:
            gx = state.input_gradient(grad_out, weight, ctx.x_shape)
        gb = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            dims = [0, *range(2, grad_out.dim())]
            gb = grad_out.sum(dim=dims)
        return gx, None, gb, None


def _check_not_tied(weight: Tensor, tiles: TileArray) -> None:
    """Raise if ``weight`` belongs to another on-chip array (weights tied between layers):
    its devices could follow only one layer's updates."""
    from aimc.errors import ConfigError
    from aimc.onchip.registry import arrays_of, register_weight

    param = weight if weight._base is None else weight._base
    arrays = arrays_of(param)
    if any(t is tiles for t, _ in arrays):
        return
    if any(t.onchip is not None for t, _ in arrays):
        raise ConfigError("this on-chip layer's weight is the weight of another on-chip layer "
                          "(tied weights); on-chip training keeps one device array per layer, "
                          "so untie them (give each layer its own nn.Parameter) or train with "
                          "on_chip=None")
    register_weight(weight, tiles)  # e.g. a parameter the user re-assigned
