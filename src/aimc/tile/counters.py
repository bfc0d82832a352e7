"""Operation counters of a tile array: what its MVMs actually did, for the cost model.

While a :class:`TileCounters` is attached to a :class:`~aimc.tile.array.TileArray`
(``tiles.counters = TileCounters()``, normally through :func:`aimc.cost.count_costs`),
every forward call adds, per tile k:

* ``vectors`` — input vectors (one MVM per vector; im2col patches for a convolution);
* ``input_abs[k]`` — Σ over vectors and rows of |x̂|, the DAC output in full-scale units
  (|x̂| ≤ 1; multiply by steps/(2·bound) for LSBs = PWM time in t_LSB);
* ``active_rows[k]`` — rows driven (x̂ ≠ 0), i.e. word-line pulses;
* ``charge[k]`` — Σ over vectors and rows of |x̂_i|·Σ_j (ĝ⁺_ij + ĝ⁻_ij), conductances in units
  of g_max at the tile's current (drifted) state. The resistive array energy is
  V_read²·t_LSB·g_max·(steps/2·bound)·charge (energy.md §3.5).

Shape-derived counts (vectors, samples) are Python ints, value-derived ones are float64
tensors accumulated in place on the tile's device: recording never synchronises with the
host. Conversions, MACs and digital operations follow from ``vectors`` and the geometry.
The DAC input is recomputed from the layer input (input range, noise management, clip,
rounding), so the counts are those of the first pass of iterative bound management.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aimc.physics.geometry import LinearGeometry
from aimc.physics.mapping import weights_to_conductances
from aimc.physics.periphery import noise_management_scale

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["TileCounters", "dac_input", "conductance_row_sums"]


class TileCounters:
    """Accumulated counts of one tile array (see the module docstring)."""

    def __init__(self) -> None:
        self.calls = 0
        self.vectors = 0
        self.samples = 0
        #: per-sample input and output elements of the layer (first call)
        self.in_elements = 0
        self.out_elements = 0
        self.input_abs: Tensor | None = None
        self.active_rows: Tensor | None = None
        self.charge: Tensor | None = None

    def record(self, tiles: TileArray, x_tiles: Tensor, weight: Tensor) -> None:
        """Add one forward call with tile inputs ``x_tiles`` (geometry layout)."""
        g = tiles.geometry
        xn = dac_input(tiles, x_tiles)
        gsum = tiles.row_conductance_sums(weight).to(xn.dtype)  # (K, rows)
        ones = torch.ones_like(gsum)
        xa = xn.abs()
        active = (xn != 0).to(xn.dtype)
        k = g.num_tiles
        if isinstance(g, LinearGeometry):  # (K, N, rows): reduce the batch first
            ra, rn = xa.sum(1), active.sum(1)
            charge, absum, rows_on = (ra * gsum).sum(1), ra.sum(1), rn.sum(1)
        else:  # the im2col patches of a convolution, through the geometry's own conv
            y = g.mvm(xa, torch.stack((gsum, ones), dim=1))  # (B, K, 2, *spatial)
            y = y.movedim(0, 2).reshape(k, 2, -1).sum(-1)  # (K, 2, B·positions)
            charge, absum = y[:, 0], y[:, 1]
            rows_on = g.mvm(active, ones.unsqueeze(1)).transpose(0, 1).reshape(k, -1).sum(-1)
        batch = x_tiles.shape[g.batch_dim]
        vectors = _vectors(tiles, x_tiles)
        if self.input_abs is None:
            z = torch.zeros(k, dtype=torch.float64, device=xn.device)
            self.input_abs, self.active_rows, self.charge = z, z.clone(), z.clone()
            self.in_elements = x_tiles.numel() // max(batch, 1)
            self.out_elements = vectors // max(batch, 1) * g.out * k
        assert self.active_rows is not None and self.charge is not None
        self.input_abs += absum.to(torch.float64)
        self.active_rows += rows_on.to(torch.float64)
        self.charge += charge.to(torch.float64)
        self.vectors += vectors
        self.samples += batch
        self.calls += 1


def _vectors(tiles: TileArray, x_tiles: Tensor) -> int:
    """Input vectors (MVMs per tile) of one call: batch × output positions."""
    g = tiles.geometry
    if isinstance(g, LinearGeometry):
        return x_tiles.shape[1]
    spatial = x_tiles.shape[3:]
    out = _conv_out_shape(g, tuple(spatial))
    n = x_tiles.shape[0]
    for s in out:
        n *= s
    return n


def _conv_out_shape(g: object, spatial: tuple[int, ...]) -> tuple[int, ...]:
    import math

    kernel, stride = g.kernel_size, g.stride  # type: ignore[attr-defined]
    dilation, padding = g.dilation, g.padding  # type: ignore[attr-defined]
    out = []
    for i, size in enumerate(spatial):
        if padding == "same":
            out.append(size)
            continue
        if padding == "valid":
            pad = 0
        else:
            pad = padding[i]  # type: ignore[index]
        eff = dilation[i] * (kernel[i] - 1) + 1
        out.append(math.floor((size + 2 * pad - eff) / stride[i]) + 1)
    return tuple(out)


def dac_input(tiles: TileArray, x_tiles: Tensor) -> Tensor:
    """The DAC output x̂ in full-scale units (|x̂| ≤ bound), geometry layout, no noise."""
    io = tiles.config.forward
    g = tiles.geometry
    x = x_tiles.detach()
    if tiles.input_range is not None:
        x = x * g.per_tile_in(tiles.input_range.detach().reciprocal())
    scale = noise_management_scale(x, io.noise_management, g.in_vector_dims)
    if not isinstance(scale, float) or scale != 1.0:
        x = x / scale
    d = io.dac
    if d.bound != float("inf"):
        x = x.clamp(-d.bound, d.bound)
    if d.steps is not None:
        u = d.step_size
        x = torch.round(x / u) * u
    return x


def conductance_row_sums(w: Tensor) -> Tensor:
    """Σ over columns of ĝ⁺ + ĝ⁻ per row for normalised weights w (K, out, rows) → (K, rows)."""
    return weights_to_conductances(w).sum(dim=(0, 2))
