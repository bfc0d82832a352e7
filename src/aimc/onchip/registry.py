"""Which tile arrays hold a given weight parameter (so optimizers can find the devices).

Most analog layers have one tile array per weight parameter. Attention layers keep the
query/key/value projections in one ``in_proj_weight`` parameter, so a parameter maps to a
list of (tile array, row slice) entries.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["register_weight", "tiles_of", "arrays_of"]

# keyed by id (tensors compare element-wise, so they cannot be dict keys); the entry holds a
# weak reference to the tensor itself to rule out a recycled id, and is dropped with it
_ENTRIES: dict[int, tuple[weakref.ref[Tensor], list[tuple[weakref.ref[TileArray], slice]]]] = {}


def register_weight(weight: Tensor, tiles: TileArray) -> None:
    """Remember that ``weight`` (a parameter, or a row block of one) is held by ``tiles``."""
    param, rows = weight, slice(None)
    base = weight._base
    if base is not None and base.dim() == weight.dim() and weight.is_contiguous():
        # a row block of a larger parameter (attention in_proj_weight)
        start = (weight.storage_offset() - base.storage_offset()) // max(base.stride(0), 1)
        param, rows = base, slice(start, start + weight.shape[0])
    key = id(param)
    entry = _ENTRIES.get(key)
    if entry is None or entry[0]() is not param:
        entry = (weakref.ref(param, lambda _: _ENTRIES.pop(key, None)), [])
        _ENTRIES[key] = entry
    arrays = entry[1]
    arrays[:] = [(t, r) for t, r in arrays if t() is not None and r != rows]
    arrays.append((weakref.ref(tiles), rows))


def arrays_of(weight: Tensor) -> list[tuple[TileArray, slice]]:
    """The (tile array, row slice) entries holding ``weight``; empty for a digital one."""
    entry = _ENTRIES.get(id(weight))
    if entry is None or entry[0]() is not weight:
        return []
    out = []
    for ref, rows in entry[1]:
        tiles = ref()
        if tiles is not None:
            out.append((tiles, rows))
    return out


def tiles_of(weight: Tensor) -> TileArray | None:
    """The (first) tile array holding ``weight``, or None for a parameter of no analog layer."""
    arrays = arrays_of(weight)
    return arrays[0][0] if arrays else None
