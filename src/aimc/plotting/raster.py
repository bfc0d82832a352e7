"""Spike raster and voltage-trace plots of a recorded population (PNG, matplotlib Agg)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aimc.errors import ConfigError, ShapeError
from aimc.plotting.device_response import _INSTALL, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_raster"]


def plot_raster(spikes: Tensor, dt: float, *, voltages: Tensor | None = None,
                path: str | os.PathLike[str] | None = None, title: str = "") -> Figure:
    """Raster of ``spikes`` (steps, neurons) bool, and below it the ``voltages`` (steps,
    neurons, mV) when given; time axis in ms (step k at k·dt)."""
    if not isinstance(spikes, Tensor) or spikes.dtype != torch.bool or spikes.dim() != 2:
        raise ShapeError("plot_raster needs spikes of shape (steps, neurons), dtype bool "
                         "(pick one sample of a batch: mon.spikes[:, 0])")
    if voltages is not None and voltages.shape != spikes.shape:
        raise ShapeError(f"voltages {tuple(voltages.shape)} must match spikes "
                         f"{tuple(spikes.shape)}")
    out = Path(path) if path is not None else None
    if out is not None and out.suffix.lower() != ".png":
        raise ConfigError(f"plot path {str(out)!r} must end in .png")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"plotting needs matplotlib; install it with: {_INSTALL}"
                                     ) from exc
    rows = 2 if voltages is not None else 1
    fig = Figure(figsize=(8, 2.6 * rows), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    steps, neurons = spikes.nonzero(as_tuple=True)
    axes[0].scatter(steps.double().numpy() * dt, neurons.numpy(), s=2, color="black")
    axes[0].set_ylabel("neuron")
    axes[0].set_ylim(-0.5, spikes.shape[1] - 0.5)
    axes[0].set_title(title or f"{int(spikes.sum())} spikes", fontsize=10)
    if voltages is not None:
        t = [k * dt for k in range(spikes.shape[0])]
        for j in range(min(voltages.shape[1], 8)):
            axes[1].plot(t, voltages[:, j].double().numpy(), lw=0.8)
        axes[1].set_ylabel("v (mV)")
    axes[-1].set_xlabel("time (ms)")
    fig.tight_layout()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    return fig
