"""Which tile array holds a given weight parameter (so optimizers can find the devices)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["register_weight", "tiles_of"]

# keyed by id (tensors compare element-wise, so they cannot be dict keys); the entry holds a
# weak reference to the tensor itself to rule out a recycled id, and is dropped with it
_TILES: dict[int, tuple[weakref.ref[Tensor], weakref.ref[TileArray]]] = {}


def register_weight(weight: Tensor, tiles: TileArray) -> None:
    """Remember that ``weight`` is the digital weight of ``tiles``."""
    key = id(weight)
    entry = _TILES.get(key)
    if entry is not None and entry[0]() is weight:
        if entry[1]() is tiles:
            return
    _TILES[key] = (weakref.ref(weight, lambda _: _TILES.pop(key, None)), weakref.ref(tiles))


def tiles_of(weight: Tensor) -> TileArray | None:
    """The tile array holding ``weight``, or None for a parameter of no analog layer."""
    entry = _TILES.get(id(weight))
    if entry is None or entry[0]() is not weight:
        return None
    return entry[1]()
