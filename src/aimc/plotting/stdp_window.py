"""The STDP window of a memristive synapse: ΔG against Δt = t_post − t_pre for several starting
conductances, with the cycle-to-cycle and device-to-device spread as bands — the figure
STDP devices are judged by (Cu/SiO2/W model of :mod:`aimc.physics.memristor`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aimc.config.snn import CuSiO2WMemristor, DiehlCookSTDP
from aimc.errors import ConfigError
from aimc.physics.memristor import mean_update, memristor_update, sample_memristors
from aimc.plotting.device_response import _INSTALL, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["stdp_window_data", "plot_stdp_window", "rule_window", "plot_rule_window"]


def stdp_window_data(cfg: CuSiO2WMemristor, *, conductances: tuple[float, ...] | None = None,
                     span: float = 30.0, points: int = 241, devices: int = 200,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """ΔG(Δt) at each starting G: the noise-free window and the 10th/90th percentiles over
    ``devices`` devices (d2d and c2c on). Keys: ``delta_t`` (points,), ``g`` (k,),
    ``mean`` (k, points), ``p10``, ``p90`` (k, points); µS and ms."""
    if not isinstance(cfg, CuSiO2WMemristor):
        raise ConfigError(f"the STDP window needs a CuSiO2WMemristor(), got {cfg!r}")
    if points < 3 or devices < 1 or not span > 0:
        raise ConfigError("need points >= 3, devices >= 1 and span > 0 ms")
    g_levels = conductances or tuple(cfg.g_min + f * (cfg.g_max - cfg.g_min)
                                     for f in (0.1, 0.5, 0.9))
    dts = torch.linspace(-span, span, points, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    params = sample_memristors((devices, points), cfg, generator=gen)
    means, p10, p90 = [], [], []
    for g0 in g_levels:
        g = torch.full((devices, points), float(g0), dtype=torch.float64)
        g = torch.minimum(torch.maximum(g, params.g_min), params.g_max)
        dg = memristor_update(g, dts.expand(devices, points), cfg, params=params,
                              generator=gen) - g
        means.append(mean_update(torch.full((points,), float(g0), dtype=torch.float64), dts,
                                 cfg))
        q = torch.quantile(dg, torch.tensor([0.1, 0.9], dtype=torch.float64), dim=0)
        p10.append(q[0])
        p90.append(q[1])
    return {"delta_t": dts, "g": torch.tensor(g_levels, dtype=torch.float64),
            "mean": torch.stack(means), "p10": torch.stack(p10), "p90": torch.stack(p90)}


def plot_stdp_window(cfg: CuSiO2WMemristor, *, path: str | os.PathLike[str] | None = None,
                     seed: int = 0, devices: int = 200) -> Figure:
    """Plot :func:`stdp_window_data` (and save it as PNG when ``path`` is given)."""
    out = None
    if path is not None:
        out = Path(path)
        if out.suffix.lower() != ".png":
            raise ConfigError(f"plot path {str(out)!r} must end in .png")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"plotting needs matplotlib; install it with: {_INSTALL}"
                                     ) from exc
    data = stdp_window_data(cfg, seed=seed, devices=devices)
    fig = Figure(figsize=(7, 4.4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = data["delta_t"].numpy()
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
    for k, g0 in enumerate(data["g"].tolist()):
        c = colors[k % len(colors)]
        ax.plot(x, data["mean"][k].numpy(), color=c, lw=1.8, label=f"G = {g0:.2f} µS")
        ax.fill_between(x, data["p10"][k].numpy(), data["p90"][k].numpy(), color=c,
                        alpha=0.2, lw=0)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Δt = t_post − t_pre (ms)")
    ax.set_ylabel("ΔG per spike pair (µS)")
    ax.set_title(f"{type(cfg).__name__}: STDP window (bands: 10–90 % over {devices} devices)",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    return fig


def rule_window(params: DiehlCookSTDP, delta_t: torch.Tensor) -> torch.Tensor:
    """Δw of one pre/post pair under the Diehl & Cook trace rule (physics.md §7.4) when the
    post neuron also spiked just before (x_post2 = 1; without that earlier spike a pair
    does not potentiate — the rule is triplet-like):
    Δt > 0: +ν_post·e^(−Δt/τ_pre); Δt < 0: −ν_pre·e^(Δt/τ_post1); Δt = 0: +ν_post."""
    dt = delta_t.double()
    pot = params.nu_post * torch.exp(-dt.clamp(min=0) / params.tau_pre)
    dep = -params.nu_pre * torch.exp(dt.clamp(max=0) / params.tau_post1)
    return torch.where(dt >= 0, pot, dep)


def plot_rule_window(*, path: str | os.PathLike[str] | None = None, device: bool = False,
                     params: DiehlCookSTDP | None = None,
                     memristor: CuSiO2WMemristor | None = None) -> Figure:
    """The trace rule's window (:func:`rule_window`), and beside it the Cu/SiO2/W device's
    ΔG(Δt) (:func:`stdp_window_data`) when ``device``; PNG at ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"plotting needs matplotlib; install it with: {_INSTALL}"
                                     ) from exc
    params = params or DiehlCookSTDP()
    fig = Figure(figsize=(11 if device else 6, 4), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if device else 1, squeeze=False)[0]
    x = torch.linspace(-60, 60, 481, dtype=torch.float64)
    axes[0].plot(x.numpy(), rule_window(params, x).numpy(), color="tab:blue")
    axes[0].set_yscale("symlog", linthresh=params.nu_pre)
    axes[0].set_title("trace rule (post2 = 1)", fontsize=10)
    axes[0].set_ylabel("Δw per pair")
    if device:
        cfg = memristor or CuSiO2WMemristor()
        data = stdp_window_data(cfg, devices=100)
        xs = data["delta_t"].numpy()
        for k, g0 in enumerate(data["g"].tolist()):
            axes[1].plot(xs, data["mean"][k].numpy(), label=f"G = {g0:.2f} µS")
            axes[1].fill_between(xs, data["p10"][k].numpy(), data["p90"][k].numpy(),
                                 alpha=0.2, lw=0)
        axes[1].set_title("Cu/SiO2/W device (bands 10–90 %)", fontsize=10)
        axes[1].set_ylabel("ΔG per pair (µS)")
        axes[1].legend(fontsize=8)
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel("Δt = t_post − t_pre (ms)")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return fig
