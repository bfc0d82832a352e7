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
rounding), so the counts are those of the first pass of iterative bound management. For a
convolution the sums over im2col patches are linear in |x̂|, so the batch is summed first and
one ``unfold`` of the two batch-summed maps (|x̂| and x̂ ≠ 0) gives every row's total.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aimc.config.periphery import AbsMaxNoiseManagement, ConstantNoiseManagement
from aimc.physics.geometry import LinearGeometry
from aimc.physics.mapping import weights_to_conductances
from aimc.physics.periphery import noise_management_scale

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["TileCounters", "dac_input_magnitude", "conductance_row_sums"]


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
        xa, unit = dac_input_magnitude(tiles, x_tiles)  # |x̂| / unit, in place, one buffer
        gsum = tiles.row_conductance_sums(weight).to(xa.dtype)  # (K, rows)
        k = g.num_tiles
        if isinstance(g, LinearGeometry):  # (K, N, rows): reduce the batch first
            ra = xa.sum(1)
            rn = torch.count_nonzero(xa, dim=1).to(xa.dtype)
            charge, absum, rows_on = (ra * gsum).sum(1), ra.sum(1), rn.sum(1)
        else:
            # Σ over im2col patches of |x̂|·v is linear in |x̂|, so the batch is summed first
            # and one single-image convolution per count covers all samples
            both = torch.stack((xa.sum(0), torch.count_nonzero(xa, dim=0).to(xa.dtype)))
            rows = _patch_row_sums(g, both)  # (2, K, rows): Σ over output positions
            charge, absum, rows_on = (rows[0] * gsum).sum(-1), rows[0].sum(-1), rows[1].sum(-1)
        batch = x_tiles.shape[g.batch_dim]
        vectors = _vectors(tiles, x_tiles)
        if self.input_abs is None:
            z = torch.zeros(k, dtype=torch.float64, device=xa.device)
            self.input_abs, self.active_rows, self.charge = z, z.clone(), z.clone()
            self.in_elements = x_tiles.numel() // max(batch, 1)
            self.out_elements = vectors // max(batch, 1) * g.out * k
        assert self.active_rows is not None and self.charge is not None
        self.input_abs.add_(absum.to(torch.float64), alpha=unit)
        self.active_rows += rows_on.to(torch.float64)
        self.charge.add_(charge.to(torch.float64), alpha=unit)
        self.vectors += vectors
        self.samples += batch
        self.calls += 1


def _patch_row_sums(g: object, x: Tensor) -> Tensor:
    """Σ over the output positions of every im2col row: (M, K, C_t, *sp) → (M, K, rows).

    One ``unfold`` (im2col) of the M batch-summed images; rows are ordered (channel,
    kernel offset) like the tile weights. Zero padding is applied explicitly, so "same"
    padding with an even kernel pads as torch's convolution does (the extra row/column at
    the end).
    """
    kernel, stride = tuple(g.kernel_size), tuple(g.stride)  # type: ignore[attr-defined]
    dilation, padding = tuple(g.dilation), g.padding  # type: ignore[attr-defined]
    m, k = x.shape[0], x.shape[1]
    spatial = x.shape[3:]
    x = x.reshape(m, k * x.shape[2], *spatial)
    pads: list[int] = []
    for i in reversed(range(len(spatial))):
        if padding == "valid":
            lo = hi = 0
        elif padding == "same":
            total = dilation[i] * (kernel[i] - 1)
            lo, hi = total // 2, total - total // 2
        else:
            lo = hi = int(padding[i])  # type: ignore[index]
        pads += [lo, hi]
    if any(pads):
        x = torch.nn.functional.pad(x, pads)
    if len(spatial) == 1:  # unfold is 2-d: treat a 1-d signal as a 1-row image
        x, kernel, stride, dilation = x.unsqueeze(2), (1, *kernel), (1, *stride), (1, *dilation)
    cols = torch.nn.functional.unfold(x, kernel, dilation=dilation, stride=stride)
    return cols.sum(-1).reshape(m, k, -1)


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


def dac_input_magnitude(tiles: TileArray, x_tiles: Tensor) -> tuple[Tensor, float]:
    """(|x̂|/u, u): the DAC output's magnitude in units u (the DAC step, or 1 if ideal).

    The DAC's clip-and-round of the range-scaled, managed input, computed into one new
    buffer with in-place passes (the counting overhead budget is ≤ 10 % of an inference).
    """
    io = tiles.config.forward
    g = tiles.geometry
    d = io.dac
    u = d.step_size if d.steps is not None else 1.0
    x = x_tiles.detach()
    if tiles.input_range is not None:
        out = torch.mul(x, g.per_tile_in((tiles.input_range.detach() * u).reciprocal()))
    else:
        out = torch.mul(x, 1.0 / u)
    nm = io.noise_management
    if isinstance(nm, AbsMaxNoiseManagement):  # x̂ = (x/r)/max|x/r|: in units u, ÷ (max·u)
        scale = noise_management_scale(out, nm, g.in_vector_dims)
        out.div_(scale * u)
    elif isinstance(nm, ConstantNoiseManagement) and nm.value != 1.0:
        out.div_(nm.value)
    if d.bound != float("inf"):
        out.clamp_(-d.bound / u, d.bound / u)
    if d.steps is not None:
        out.round_()
    return out.abs_(), u


def conductance_row_sums(w: Tensor) -> Tensor:
    """Σ over columns of ĝ⁺ + ĝ⁻ per row for normalised weights w (K, out, rows) → (K, rows)."""
    return weights_to_conductances(w).sum(dim=(0, 2))
