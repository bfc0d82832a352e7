"""Operation counters of a tile array: what its MVMs actually did, for the cost model.

While a :class:`TileCounters` is attached to a :class:`~aimc.tile.array.TileArray`
(``tiles.counters = TileCounters()``, normally through :func:`aimc.cost.count_costs`),
every forward call adds, per tile k:

* ``vectors`` — input vectors (one MVM per vector; im2col patches for a convolution);
* ``input_abs[k]`` — Σ over vectors and rows of |x̂|, the DAC output in full-scale units
  (|x̂| ≤ 1; multiply by 1/Δ_DAC for LSBs = PWM time in t_LSB);
* ``active_rows[k]`` — rows driven (x̂ ≠ 0), i.e. word-line pulses;
* ``charge[k]`` — Σ over vectors and rows of |x̂_i|·Σ_j (ĝ⁺_ij + ĝ⁻_ij), conductances in units
  of g_max at the tile's current (drifted) state. The resistive array energy is
  V_read²·t_LSB·g_max·charge/Δ_DAC (energy.md §3.5).

Shape-derived counts (vectors, samples) are Python ints, value-derived ones are float64
tensors accumulated in place on the tile's device: recording never synchronises with the
host. Conversions, MACs and digital operations follow from ``vectors`` and the geometry.
The MVM hands its own DAC output to :meth:`TileCounters.record` (after input range, noise
management, clip and rounding, before input noise), so nothing is recomputed; the counts are
those of the first pass of iterative bound management. For a convolution the sums over
im2col patches are linear in |x̂|, so the batch is summed first and two small matmuls per
map (|x̂| and x̂ ≠ 0; separable per spatial dimension, see ``_patch_row_sums``) give every
row's total.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aimc.physics.geometry import LinearGeometry
from aimc.physics.mapping import weights_to_conductances

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["TileCounters", "conductance_row_sums"]


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
        self._scratch = torch.empty(0)
        self._sums = torch.empty(0)

    def record(self, tiles: TileArray, in_shape: torch.Size, xq: Tensor, unit: float,
               weight: Tensor) -> None:
        """Add one forward call whose DAC output is x̂ = xq·unit (geometry layout).

        Called by the MVM itself (:class:`aimc.physics.mvm.MVMObserver`), so the DAC is not
        recomputed; ``xq`` is read, never written. ``in_shape`` is the tile-input shape.
        """
        g = tiles.geometry
        gsum = tiles.row_conductance_sums(weight).to(xq.dtype)  # (K, rows)
        k = g.num_tiles
        bd = g.batch_dim
        # Σ over the batch of |x̂| and of x̂ ≠ 0 (sign of |x̂|): one buffer, plain passes
        # (≈ 6× faster on CPU than count_nonzero or the ord-1/ord-0 vector norms); an
        # unsigned DAC's output is ≥ 0 already, so its |x̂| pass is skipped
        xa = self._scratch_like(xq)
        if tiles.config.forward.dac.signed:
            torch.abs(xq, out=xa)
            ra = xa.sum(bd)
            rn = xa.sign_().sum(bd)
        else:
            ra = xq.sum(bd)
            rn = torch.sign(xq, out=xa).sum(bd)
        if isinstance(g, LinearGeometry):  # (K, N, rows) → (K, rows)
            charge, absum, rows_on = (ra * gsum).sum(1), ra.sum(1), rn.sum(1)
        else:
            # Σ over im2col patches of |x̂|·v is linear in |x̂|, so the batch is summed first
            # and the patch sums of the two batch-summed maps cover all samples
            rows = _patch_row_sums(g, torch.stack((ra, rn)))  # (2, K, rows)
            charge, absum, rows_on = (rows[0] * gsum).sum(-1), rows[0].sum(-1), rows[1].sum(-1)
        batch = in_shape[bd]
        vectors = _vectors(g, in_shape)
        if self.input_abs is None:
            # one (3, K) float64 accumulator; the three counts are views of its rows
            self._sums = torch.zeros(3, k, dtype=torch.float64, device=xq.device)
            self.input_abs, self.active_rows, self.charge = self._sums.unbind(0)
            self.in_elements = math.prod(in_shape) // max(batch, 1)
            self.out_elements = vectors // max(batch, 1) * g.out * k
        if unit != 1.0:
            absum, charge = absum * unit, charge * unit
        self._sums.add_(torch.stack((absum, rows_on, charge)))  # float32 → float64 in add_
        self.vectors += vectors
        self.samples += batch
        self.calls += 1

    def _scratch_like(self, x: Tensor) -> Tensor:
        """A reused buffer shaped like ``x`` (no fresh multi-MB allocation per call)."""
        if self._scratch.dtype != x.dtype or self._scratch.device != x.device \
                or self._scratch.numel() < x.numel():
            self._scratch = torch.empty(x.numel(), dtype=x.dtype, device=x.device)
        return self._scratch[:x.numel()].view(x.shape)


def _patch_row_sums(g: object, x: Tensor) -> Tensor:
    """Σ over the output positions of every im2col row: (M, K, C_t, *sp) → (M, K, rows).

    Row (c, o) of the im2col matrix holds x[c, p·s + o·d − pad] over the output positions p
    (zero outside the image), so its sum separates per spatial dimension: with the 0/1
    matrix A[o, i] = [i = p·s + o·d − pad for some p], Σ_p = A_h · x_c · A_wᵀ — two small
    matmuls instead of an unfold (k× the input) and its sum. Rows are ordered (channel,
    kernel offset) like the tile weights; "same" padding with an even kernel puts the extra
    row/column at the end, as torch's convolution does.
    """
    kernel, stride = tuple(g.kernel_size), tuple(g.stride)  # type: ignore[attr-defined]
    dilation, padding = tuple(g.dilation), g.padding  # type: ignore[attr-defined]
    spatial = tuple(x.shape[3:])
    out = _conv_out_shape(g, spatial)
    mats = []
    for i, size in enumerate(spatial):
        if padding == "valid":
            lo = 0
        elif padding == "same":
            lo = dilation[i] * (kernel[i] - 1) // 2
        else:
            lo = int(padding[i])  # type: ignore[index]
        mats.append(_offset_matrix(kernel[i], stride[i], dilation[i], lo, out[i], size,
                                   x.dtype, x.device))
    if len(spatial) == 1:
        rows = x @ mats[0].T  # (M, K, C, k)
    else:
        rows = mats[0] @ x @ mats[1].T  # (M, K, C, k_h, k_w)
    return rows.reshape(x.shape[0], x.shape[1], -1)


@functools.lru_cache(maxsize=256)
def _offset_matrix(k: int, stride: int, dilation: int, pad: int, out: int, size: int,
                   dtype: torch.dtype, device: torch.device) -> Tensor:
    """A (k, size): A[o, i] = 1 if input index i is read at kernel offset o by some output."""
    idx = (torch.arange(out) * stride).unsqueeze(0) + (torch.arange(k) * dilation - pad
                                                      ).unsqueeze(1)  # (k, out)
    a = torch.zeros(k, size + 1, dtype=dtype)
    idx = torch.where((idx >= 0) & (idx < size), idx, size)  # padding → a dropped column
    a.scatter_(1, idx, 1.0)
    return a[:, :size].contiguous().to(device)


def _vectors(g: object, in_shape: torch.Size) -> int:
    """Input vectors (MVMs per tile) of one call: batch × output positions."""
    if isinstance(g, LinearGeometry):
        return in_shape[1]
    n = in_shape[0]
    for s in _conv_out_shape(g, tuple(in_shape[3:])):
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


def conductance_row_sums(w: Tensor) -> Tensor:
    """Σ over columns of ĝ⁺ + ĝ⁻ per row for normalised weights w (K, out, rows) → (K, rows)."""
    return weights_to_conductances(w).sum(dim=(0, 2))
