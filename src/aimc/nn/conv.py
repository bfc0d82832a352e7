"""``AnalogConv1d`` / ``AnalogConv2d``: convolutions on crossbar tiles.

The unfolded kernel (C_in/groups·k rows × C_out/groups columns per group) is split over
tiles on input-channel boundaries; every group is its own set of tiles (so grouped and
depthwise convolutions map as block-diagonal crossbars). All tiles run as one grouped
convolution, so there is no Python loop over tiles or patches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aimc.config import AnalogConfig
from aimc.nn.base import AnalogLayerMixin, make_tile_array, resolve_config
from aimc.physics.geometry import ConvGeometry
from aimc.tile.array import TileArray

__all__ = ["AnalogConv1d", "AnalogConv2d"]


class _AnalogConvNd(AnalogLayerMixin):
    """Shared code of the analog convolutions (mixed before the torch conv class)."""

    _spatial: int
    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init_tiles(self, config: AnalogConfig | None) -> None:
        self.analog_config = resolve_config(config)
        conv: Any = self
        padding = conv.padding if conv.padding_mode == "zeros" else (0,) * self._spatial
        geometry = ConvGeometry(conv.in_channels, conv.out_channels, tuple(conv.kernel_size),
                                conv.groups, self.analog_config.mapping.tiles.max_rows,
                                tuple(conv.stride), padding, tuple(conv.dilation))
        self.tiles = make_tile_array(geometry, self.analog_config, device=self.weight.device,
                                     dtype=self.weight.dtype)
        self._register_checkpoint_validation()

    def tile_weights(self) -> Iterator[tuple[str, TileArray, Tensor]]:
        yield "weight", self.tiles, self.weight

    def forward(self, input: Tensor) -> Tensor:
        conv: Any = self
        n = self._spatial
        self._check_input(input, "input", (n + 1, n + 2), conv.in_channels, -(n + 1))
        unbatched = input.dim() == n + 1
        x = input.unsqueeze(0) if unbatched else input
        if conv.padding_mode != "zeros":
            x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        y = self.tiles(x, self.weight, self.bias)
        return y.squeeze(0) if unbatched else y

    @classmethod
    def from_float(cls, module: Any, config: AnalogConfig | None = None) -> Any:
        """An analog copy of a torch convolution (weights copied, same device/dtype/mode)."""
        new = cls(module.in_channels, module.out_channels, module.kernel_size,
                  stride=module.stride, padding=module.padding, dilation=module.dilation,
                  groups=module.groups, bias=module.bias is not None,
                  padding_mode=module.padding_mode, device=module.weight.device,
                  dtype=module.weight.dtype, config=config)
        with torch.no_grad():
            new.weight.copy_(module.weight)
            new.weight.requires_grad_(module.weight.requires_grad)
            if module.bias is not None:
                new.bias.copy_(module.bias)
                new.bias.requires_grad_(module.bias.requires_grad)
        new._copy_mode_from(module)
        return new

    def to_float(self, *, realistic: bool = False) -> nn.Module:
        """The torch convolution with digital (or, ``realistic``, programmed) weights."""
        conv: Any = self
        base = nn.Conv1d if self._spatial == 1 else nn.Conv2d
        out = base(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                   padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                   bias=self.bias is not None, padding_mode=conv.padding_mode,
                   device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.float_weights(realistic=realistic)["weight"])
            if self.bias is not None:
                out.bias.copy_(self.bias)
        out.train(conv.training)
        return out


class AnalogConv1d(_AnalogConvNd, nn.Conv1d):
    """:class:`torch.nn.Conv1d` on analog tiles; same signature plus ``config``.

    Shapes: (B, C_in, L) or (C_in, L) → (B, C_out, L_out) or (C_out, L_out).
    """

    _spatial = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *,
                 config: AnalogConfig | None = None):
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                           dilation, groups, bias, padding_mode, device=device, dtype=dtype)
        self._init_tiles(config)


class AnalogConv2d(_AnalogConvNd, nn.Conv2d):
    """:class:`torch.nn.Conv2d` on analog tiles; same signature plus ``config``.

    Shapes: (B, C_in, H, W) or (C_in, H, W) → (B, C_out, H', W') or (C_out, H', W').
    """

    _spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *,
                 config: AnalogConfig | None = None):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                           dilation, groups, bias, padding_mode, device=device, dtype=dtype)
        self._init_tiles(config)
