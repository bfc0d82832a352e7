"""``AnalogLinear``: ``torch.nn.Linear`` computed on crossbar tiles."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from aimc.config import AnalogConfig
from aimc.nn.base import AnalogLayerMixin, make_tile_array, resolve_config
from aimc.physics.geometry import LinearGeometry
from aimc.tile.array import TileArray

__all__ = ["AnalogLinear"]


class AnalogLinear(AnalogLayerMixin, nn.Linear):
    """y = x·Wᵀ + b with W on analog tiles (the bias is added digitally).

    Same signature as :class:`torch.nn.Linear` plus ``config`` (default
    ``presets.rasch2023()``). ``weight``/``bias`` are ordinary parameters (the digital
    master weights); the hardware state lives in ``self.tiles``.

    Shapes: x (*, in_features) → y (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, *,
                 config: AnalogConfig | None = None):
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.analog_config = resolve_config(config)
        geometry = LinearGeometry(in_features, out_features,
                                  self.analog_config.mapping.tiles.max_rows)
        self.tiles = make_tile_array(geometry, self.analog_config, device=self.weight.device,
                                     dtype=self.weight.dtype)
        self._register_checkpoint_validation()

    def tile_weights(self) -> Iterator[tuple[str, TileArray, Tensor]]:
        yield "weight", self.tiles, self.weight

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input, "input", tuple(range(1, 9)), self.in_features, -1)
        lead = input.shape[:-1]
        y = self.tiles(input.reshape(-1, self.in_features), self.weight, self.bias)
        return y.view(*lead, self.out_features)

    @classmethod
    def from_float(cls, module: nn.Linear, config: AnalogConfig | None = None) -> AnalogLinear:
        """An analog copy of ``module`` (weights copied, same device, dtype and mode)."""
        new = cls(module.in_features, module.out_features, module.bias is not None,
                  device=module.weight.device, dtype=module.weight.dtype, config=config)
        with torch.no_grad():
            new.weight.copy_(module.weight)
            new.weight.requires_grad_(module.weight.requires_grad)
            if module.bias is not None:
                new.bias.copy_(module.bias)
                new.bias.requires_grad_(module.bias.requires_grad)
        new._copy_mode_from(module)
        return new

    def to_float(self, *, realistic: bool = False) -> nn.Linear:
        """A plain ``nn.Linear``: digital weights, or (``realistic``) the programmed ones now."""
        out = nn.Linear(self.in_features, self.out_features, self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.float_weights(realistic=realistic)["weight"])
            if self.bias is not None:
                out.bias.copy_(self.bias)
        out.train(self.training)
        return out
