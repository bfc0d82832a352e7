"""The input weights of every neuron as an image grid (learned receptive fields; PNG)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from aimc.errors import ShapeError
from aimc.plotting.device_response import _INSTALL, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["receptive_field_grid", "plot_receptive_fields"]


def receptive_field_grid(weights: Tensor, image_shape: tuple[int, int]) -> Tensor:
    """Tile the columns of ``weights`` (n_input, n) as images of ``image_shape`` on a
    ⌈√n⌉ × ⌈√n⌉ grid (neuron j at row j // cols, column j % cols; empty cells 0)."""
    if not isinstance(weights, Tensor) or weights.dim() != 2:
        raise ShapeError("weights must be a (n_input, n_neurons) tensor")
    h, w = image_shape
    if weights.shape[0] != h * w:
        raise ShapeError(f"weights have {weights.shape[0]} inputs, image_shape {image_shape} "
                         f"has {h * w} pixels")
    n = weights.shape[1]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = weights.new_zeros(rows * h, cols * w)
    for j in range(n):
        r, c = divmod(j, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = weights[:, j].reshape(h, w)
    return grid


def plot_receptive_fields(weights: Tensor, *, image_shape: tuple[int, int] = (28, 28),
                          path: str | os.PathLike[str] | None = None, title: str = "",
                          vmax: float | None = None) -> Figure:
    """The grid of :func:`receptive_field_grid` as a heat map (white = 0), saved to
    ``path`` when given."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - plots extra missing
        raise MissingDependencyError(f"plotting needs matplotlib: {_INSTALL}") from exc
    grid = receptive_field_grid(weights.detach().float().cpu(), image_shape)
    side = min(12.0, 2.0 + grid.shape[1] / 40)
    fig, ax = plt.subplots(figsize=(side, side * grid.shape[0] / grid.shape[1] + 0.4))
    im = ax.imshow(grid.numpy(), cmap="hot_r", vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"input weights of {weights.shape[1]} neurons")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="weight")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
