"""Shared behaviour of all analog layers: lifecycle, input checks, read-out."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from aimc.config import AnalogConfig
from aimc.errors import ConfigError, ShapeError
from aimc.onchip.registry import register_weight
from aimc.onchip.state import OnChipState
from aimc.physics.geometry import TileGeometry
from aimc.tile.array import TileArray
from aimc.tile.validate import validate_state_dict_hook

__all__ = ["AnalogLayerMixin", "make_tile_array", "resolve_config"]


def make_tile_array(geometry: TileGeometry, config: AnalogConfig, *,
                    device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> TileArray:
    """A layer's :class:`TileArray`, with its on-chip training state when
    ``config.on_chip`` is set (the layer, not the tile, knows about on-chip training)."""
    tiles = TileArray(geometry, config, device=device, dtype=dtype)
    if config.on_chip is not None:
        tiles.onchip = OnChipState(config.on_chip, config.forward, geometry, device=device,
                                   dtype=dtype)
    return tiles


def resolve_config(config: AnalogConfig | None) -> AnalogConfig:
    """The given config, or the standard crossbar (``presets.rasch2023()``) when None."""
    if config is None:
        from aimc.presets import rasch2023

        return rasch2023()
    if isinstance(config, type):
        raise ConfigError(f"config must be an AnalogConfig instance, got the class "
                          f"{config.__name__}; write config={config.__name__}() or use a preset")
    if not isinstance(config, AnalogConfig):
        raise ConfigError(f"config must be an AnalogConfig (e.g. aimc.presets.rasch2023()), got "
                          f"{type(config).__name__}")
    return config


class AnalogLayerMixin:
    """Mixed into every analog layer (which also subclasses its torch layer).

    Subclasses implement :meth:`tile_weights`, yielding each tile array with the digital
    weight it holds.
    """

    analog_config: AnalogConfig

    def tile_weights(self) -> Iterator[tuple[str, TileArray, Tensor]]:
        """Yield (name, tile array, digital weight) for every weight matrix of the layer."""
        raise NotImplementedError

    # -------------------------------------------------------------------- lifecycle
    def program(self, *, generator: torch.Generator | None = None) -> None:
        """Program the current digital weights onto the devices (noise and ν drawn once)."""
        for _, tiles, weight in self.tile_weights():
            tiles.program(weight, generator=generator)

    def set_time(self, t_inference: float, *, generator: torch.Generator | None = None) -> None:
        """Drift to ``t_inference`` s after programming, with fresh read noise and GDC."""
        for _, tiles, _ in self.tile_weights():
            tiles.set_time(t_inference, generator=generator)

    @property
    def is_programmed(self) -> bool:
        """True when every tile array of the layer is programmed."""
        return all(t.is_programmed for _, t, _ in self.tile_weights())

    def read_weights(self, *, compensated: bool = True) -> Tensor | dict[str, Tensor]:
        """Effective weights the hardware holds now, in the layout of the digital weight.

        Single-matrix layers return one tensor; recurrent and attention layers a dict keyed
        by the torch parameter name. ``compensated`` includes drift compensation α.
        """
        out = {name: tiles.geometry.weight_from_tiles(tiles.read_weights(compensated=compensated))
               for name, tiles, _ in self.tile_weights()}
        return next(iter(out.values())) if len(out) == 1 else out

    def float_weights(self, *, realistic: bool = False) -> dict[str, Tensor]:
        """Weights for a digital copy, keyed by parameter name.

        ``realistic``: the weights the programmed hardware holds now (``read_weights``);
        otherwise the digital weights (times learnable output scales, if any).
        """
        with torch.no_grad():
            return {name: (tiles.geometry.weight_from_tiles(tiles.read_weights()) if realistic
                           else tiles.effective_weight(weight)).detach().clone()
                    for name, tiles, weight in self.tile_weights()}

    # -------------------------------------------------------------------- checks
    def _check_input(self, x: Tensor, what: str, dims: tuple[int, ...], size: int,
                     size_dim: int) -> None:
        ref = next(iter(self.parameters()))  # type: ignore[attr-defined]
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise ShapeError(f"{name} expects a torch.Tensor {what}, got {type(x).__name__}")
        if x.dim() not in dims:
            raise ShapeError(f"{name} expects {what} with {' or '.join(map(str, dims))} dims, got "
                             f"shape {tuple(x.shape)}")
        if x.shape[size_dim] != size:
            raise ShapeError(f"{name} expects {size} features in dim {size_dim} of the {what}, "
                             f"got shape {tuple(x.shape)}; check the previous layer's output "
                             f"size")
        if x.dtype != ref.dtype:
            raise ShapeError(f"{name} has {ref.dtype} weights but got a {x.dtype} {what}; "
                             f"cast with x.to({ref.dtype}) or model.to({x.dtype})")
        if x.device != ref.device:
            raise ShapeError(f"{name} lives on {ref.device} but got a {what} on {x.device}; "
                             f"move it with x.to('{ref.device}') or model.to('{x.device}')")

    def _register_checkpoint_validation(self) -> None:
        """Validate checkpoints against this layer before any tensor is copied (and register
        its weights, so that :class:`aimc.optim.AnalogSGD` finds their tile arrays)."""
        self.register_load_state_dict_pre_hook(validate_state_dict_hook)  # type: ignore[attr-defined]
        self._register_weights()

    def _register_weights(self) -> None:
        for _, tiles, weight in self.tile_weights():
            register_weight(weight, tiles)

    def __setstate__(self, state: dict) -> None:  # copy.deepcopy / pickle: new parameters
        super().__setstate__(state)  # type: ignore[misc]
        self._register_weights()

    def _copy_mode_from(self, module: nn.Module) -> None:
        self.train(module.training)  # type: ignore[attr-defined]
