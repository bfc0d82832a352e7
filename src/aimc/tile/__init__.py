"""Tiles (layer 3): the hardware state of a layer's crossbars and its forward pass."""

from aimc.tile.array import TileArray

__all__ = ["TileArray"]
