"""How a layer's weight matrix lies on a grid of tiles, and how one MVM runs over all tiles.

A geometry turns a layer's digital weight into the *tile layout* ``(K, out, rows)`` — K
tiles, each with ``out`` columns and ``rows`` inputs (zero-padded) — and runs the crossbar
MVM of every tile as one batched contraction (``bmm`` for dense layers, a grouped
convolution for convolutions). Per-tile input tensors ("tile inputs") and per-tile outputs
keep the tile index on a fixed axis so that per-tile and per-column quantities broadcast.

Tiles split the input dimension into near-equal row blocks of at most ``max_rows``; for
convolutions the split is aligned to input channels (a tile holds whole kernels), and each
convolution group is its own set of tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from aimc.errors import ConfigError
from aimc.physics.periphery import ir_drop_row_factor

__all__ = ["LinearGeometry", "ConvGeometry", "TileGeometry", "split_rows"]


def split_rows(n: int, max_rows: int) -> tuple[int, int]:
    """(tiles, rows per tile) for ``n`` inputs in near-equal blocks of <= ``max_rows``."""
    tiles = max(1, math.ceil(n / max_rows))
    return tiles, math.ceil(n / tiles)


class TileGeometry:
    """Interface; see :class:`LinearGeometry` and :class:`ConvGeometry`."""

    def ir_row_factor(self, like: Tensor) -> Tensor:
        """IR-drop row factor f_j (rows,) on the device/dtype of ``like`` (cached)."""
        cache = self.__dict__.setdefault("_row_factors", {})
        key = (like.device, like.dtype)
        if key not in cache:
            cache[key] = ir_drop_row_factor(self.rows, device=like.device, dtype=like.dtype)
        return cache[key]

    num_tiles: int
    rows: int
    out: int
    in_vector_dims: tuple[int, ...]  # dims of a tile input that form one input vector
    out_vector_dims: tuple[int, ...]  # dims of a tile output that form one output vector
    batch_dim: int  # the sample axis of tile inputs and outputs

    def weight_to_tiles(self, weight: Tensor) -> Tensor: ...
    def row_view(self, f: Tensor) -> Tensor: ...
    def weight_from_tiles(self, tiles: Tensor) -> Tensor: ...
    def to_tiles(self, x: Tensor) -> Tensor: ...
    def from_tiles(self, y: Tensor) -> Tensor: ...
    def per_tile_in(self, v: Tensor) -> Tensor: ...
    def per_tile_out(self, v: Tensor) -> Tensor: ...
    def mvm(self, x: Tensor, w: Tensor) -> Tensor: ...
    def mvm_row_weighted(self, x: Tensor, w: Tensor, f: Tensor) -> Tensor: ...
    def mvm_pair(self, x: Tensor, w: Tensor, f: Tensor) -> tuple[Tensor, Tensor]: ...
    def bias_tile_view(self, bias: Tensor) -> Tensor | None: ...
    def bias_out_view(self, bias: Tensor) -> Tensor: ...


@dataclass
class LinearGeometry(TileGeometry):
    """Dense matrix (out_features × in_features) over ``num_tiles`` row blocks.

    Tile inputs: (K, N, rows); tile outputs: (K, N, out).
    """

    in_features: int
    out_features: int
    max_rows: int

    def __post_init__(self) -> None:
        self.num_tiles, self.rows = split_rows(self.in_features, self.max_rows)
        self.out = self.out_features
        self.pad = self.num_tiles * self.rows - self.in_features
        self.in_vector_dims = (2,)
        self.out_vector_dims = (2,)
        self.batch_dim = 1

    def weight_to_tiles(self, weight: Tensor) -> Tensor:
        """(out, in) → (K, out, rows)."""
        if self.pad:
            weight = F.pad(weight, (0, self.pad))
        return weight.view(self.out, self.num_tiles, self.rows).transpose(0, 1)

    def weight_from_tiles(self, tiles: Tensor) -> Tensor:
        """(K, out, rows) → (out, in)."""
        w = tiles.transpose(0, 1).reshape(self.out, self.num_tiles * self.rows)
        return w[:, : self.in_features]

    def to_tiles(self, x: Tensor) -> Tensor:
        """(N, in) → (K, N, rows)."""
        if self.pad:
            x = F.pad(x, (0, self.pad))
        return x.view(x.shape[0], self.num_tiles, self.rows).transpose(0, 1)

    def from_tiles(self, y: Tensor) -> Tensor:
        """(K, N, out) → (N, out): digital sum of the partial outputs."""
        return y[0] if self.num_tiles == 1 else y.sum(0)

    def per_tile_in(self, v: Tensor) -> Tensor:
        return v.view(self.num_tiles, 1, 1)

    def per_tile_out(self, v: Tensor) -> Tensor:
        """(K,) or (K, out) → broadcastable to (K, N, out)."""
        return v.view(self.num_tiles, 1, -1)

    def row_view(self, f: Tensor) -> Tensor:
        return f.view(1, 1, self.rows)

    def bias_tile_view(self, bias: Tensor) -> Tensor | None:
        """Bias broadcastable to tile outputs when there is one tile (else None)."""
        return bias.view(1, 1, -1) if self.num_tiles == 1 else None

    def bias_out_view(self, bias: Tensor) -> Tensor:
        return bias

    def mvm(self, x: Tensor, w: Tensor) -> Tensor:
        """(K, N, rows) × (K, out, rows) → (K, N, out)."""
        return torch.bmm(x, w.transpose(1, 2))

    def mvm_row_weighted(self, x: Tensor, w: Tensor, f: Tensor) -> Tensor:
        """Σ_j w_ij·x_j·f_j with f a per-row factor (rows,)."""
        return self.mvm(x * self.row_view(f), w)

    def mvm_pair(self, x: Tensor, w: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
        """(Σ_j w_ij·x_j, Σ_j w_ij·x_j·f_j) in one matmul (inputs stacked on the batch)."""
        n = x.shape[1]
        y = self.mvm(torch.cat((x, x * self.row_view(f)), dim=1), w)
        return y[:, :n], y[:, n:]


@dataclass
class ConvGeometry(TileGeometry):
    """N-d convolution (1 or 2 spatial dims); each group split into channel-aligned tiles.

    Tile grid K = groups·T; tile k = (g, t) holds output channels of group g and input
    channels [t·C_t, (t+1)·C_t) of that group (zero-padded), rows = C_t·prod(kernel).
    Tile inputs: (B, K, C_t, *spatial); tile outputs: (B, K, out_g, *out_spatial).
    """

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    groups: int
    max_rows: int
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]

    def __post_init__(self) -> None:
        self.spatial = len(self.kernel_size)
        k = math.prod(self.kernel_size)
        if k > self.max_rows:
            raise ConfigError(
                f"a {self.kernel_size} kernel has {k} rows per input channel, more than a tile's "
                f"max_rows={self.max_rows}; raise TileSplit(max_rows=...) to at least {k}"
            )
        self.in_g = self.in_channels // self.groups
        self.out_g = self.out_channels // self.groups
        t, c_t = split_rows(self.in_g, self.max_rows // k)
        self.tiles_per_group = t
        self.c_t = c_t
        self.num_tiles = self.groups * t
        self.rows = c_t * k
        self.out = self.out_g
        self.pad = t * c_t - self.in_g
        self.in_vector_dims = tuple(range(2, 3 + self.spatial))
        self.out_vector_dims = tuple(range(2, 3 + self.spatial))
        self.batch_dim = 0
        self._conv = F.conv1d if self.spatial == 1 else F.conv2d
        if self.spatial not in (1, 2):
            raise ConfigError("only 1-d and 2-d convolutions are supported")

    def weight_to_tiles(self, weight: Tensor) -> Tensor:
        """(C_out, C_in/G, *k) → (K, out_g, rows)."""
        g, t = self.groups, self.tiles_per_group
        w = weight.reshape(g, self.out_g, self.in_g, -1)
        if self.pad:
            w = F.pad(w, (0, 0, 0, self.pad))
        w = w.view(g, self.out_g, t, self.c_t, -1).transpose(1, 2)
        return w.reshape(self.num_tiles, self.out_g, self.rows)

    def weight_from_tiles(self, tiles: Tensor) -> Tensor:
        """(K, out_g, rows) → (C_out, C_in/G, *k)."""
        g, t = self.groups, self.tiles_per_group
        w = tiles.reshape(g, t, self.out_g, self.c_t, -1).transpose(1, 2)
        w = w.reshape(g, self.out_g, t * self.c_t, -1)[:, :, : self.in_g]
        return w.reshape(self.out_channels, self.in_g, *self.kernel_size)

    def to_tiles(self, x: Tensor) -> Tensor:
        """(B, C_in, *spatial) → (B, K, C_t, *spatial)."""
        b, spatial = x.shape[0], x.shape[2:]
        if self.pad:
            x = x.reshape(b, self.groups, self.in_g, *spatial)
            x = F.pad(x, (0,) * (2 * self.spatial) + (0, self.pad))
        return x.reshape(b, self.num_tiles, self.c_t, *spatial)

    def from_tiles(self, y: Tensor) -> Tensor:
        """(B, K, out_g, *sp) → (B, C_out, *sp): digital sum over the tiles of each group."""
        b, sp = y.shape[0], y.shape[3:]
        if self.tiles_per_group > 1:
            y = y.view(b, self.groups, self.tiles_per_group, self.out_g, *sp).sum(2)
        return y.reshape(b, self.out_channels, *sp)

    def per_tile_in(self, v: Tensor) -> Tensor:
        return v.view(1, self.num_tiles, *([1] * (1 + self.spatial)))

    def bias_tile_view(self, bias: Tensor) -> Tensor | None:
        """Bias broadcastable to tile outputs when each group has one tile (else None)."""
        if self.tiles_per_group != 1:
            return None
        return bias.view(1, self.num_tiles, self.out_g, *([1] * self.spatial))

    def bias_out_view(self, bias: Tensor) -> Tensor:
        return bias.view(1, -1, *([1] * self.spatial))

    def per_tile_out(self, v: Tensor) -> Tensor:
        """(K,) or (K, out) → broadcastable to (B, K, out, *out_spatial)."""
        return v.view(1, self.num_tiles, -1, *([1] * self.spatial))

    def mvm(self, x: Tensor, w: Tensor) -> Tensor:
        """Grouped convolution over all tiles at once → (B, K, out_g, L)."""
        b = x.shape[0]
        xc = x.reshape(b, self.num_tiles * self.c_t, *x.shape[3:])
        wc = w.reshape(-1, self.c_t, *self.kernel_size)
        y = self._conv(xc, wc, None, self.stride, self.padding, self.dilation, self.num_tiles)
        return y.view(b, self.num_tiles, -1, *y.shape[2:])

    def mvm_row_weighted(self, x: Tensor, w: Tensor, f: Tensor) -> Tensor:
        """Σ_j w_ij·x_j·f_j: the per-row factor is folded into the kernel weights."""
        return self.mvm(x, w * f.view(1, 1, self.rows))

    def mvm_pair(self, x: Tensor, w: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
        """(Σ_j w_ij·x_j, Σ_j w_ij·x_j·f_j) in one convolution (weights stacked per tile)."""
        y = self.mvm(x, torch.cat((w, w * f.view(1, 1, self.rows)), dim=1))
        return y[:, :, : self.out_g], y[:, :, self.out_g:]
