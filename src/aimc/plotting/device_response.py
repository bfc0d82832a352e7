"""Pulse-response plots of pulsed devices: the curves devices are judged by.

:func:`plot_device_response` draws (left) the value of a few simulated devices (d2d and
c2c variation on) under repeated up/down pulse trains, with the nominal noise-free
response (:func:`aimc.physics.pulsed.mean_response`) in bold, and (right) the nominal mean
step of one pulse against the value, up and down. Figures are built on matplotlib's
object API with the Agg canvas (no pyplot, no global backend change).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aimc.config.pulsed import PCMPulseDevice, PulsedDevice
from aimc.errors import AimcError, ConfigError
from aimc.physics.pulsed import make_device_array, mean_response

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["MissingDependencyError", "plot_device_response"]

_INSTALL = 'pip install "aimc[plots]"'


class MissingDependencyError(AimcError, ImportError):
    """An optional dependency (here matplotlib) is not installed; the message says how."""


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _schedule(cfg: PulsedDevice, n_up: int, n_down: int, cycles: int) -> list[tuple[str, int]]:
    """(kind, count) segments: 'up'/'down' pulse trains or a 'reset' (one-sided devices)."""
    out: list[tuple[str, int]] = []
    for _ in range(cycles):
        out.append(("up", n_up))
        if cfg.one_sided:
            out.append(("reset", 1))
        elif n_down:
            out.append(("down", n_down))
    return out


def plot_device_response(cfg: PulsedDevice, *, n_up: int = 500, n_down: int = 500,
                         cycles: int = 2, n_devices: int = 20, seed: int = 0,
                         path: str | os.PathLike[str] | None = None) -> Figure:
    """Pulse response of ``n_devices`` devices and the nominal step-vs-value curves.

    Args:
        cfg: the pulsed device config.
        n_up, n_down: up and down pulses per cycle (one-sided devices: ``n_up`` SET pulses,
            then a RESET; ``n_down`` is ignored).
        cycles: number of up/down (or SET/RESET) cycles.
        n_devices: simulated devices (thin lines; d2d and c2c variation on).
        seed: seed of the device sampling and the pulse noise.
        path: if given, the figure is also saved there as PNG (parent folders created).

    Returns:
        The matplotlib ``Figure`` (Agg canvas attached).

    Raises:
        MissingDependencyError: matplotlib is not installed.
        ConfigError: bad arguments (e.g. a path not ending in ``.png``).
    """
    if not isinstance(cfg, PulsedDevice):
        raise ConfigError(f"plot_device_response needs a pulsed device config such as "
                          f"SoftBoundsDevice(), got {cfg!r}")
    _check_int("n_up", n_up, 1)
    _check_int("n_down", n_down, 0)
    _check_int("cycles", cycles, 1)
    _check_int("n_devices", n_devices, 1)
    _check_int("seed", seed, 0)
    out_path = None
    if path is not None:
        out_path = Path(path)
        if out_path.suffix.lower() != ".png":
            raise ConfigError(f"plot path {str(out_path)!r} must end in .png (only PNG is "
                              f"written); use e.g. {str(out_path.with_suffix('.png'))!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"plotting needs matplotlib; install it with: {_INSTALL}"
                                     ) from exc

    sim = _simulate(cfg, n_up, n_down, cycles, n_devices, seed)
    traces, nominal = sim
    pcm = isinstance(cfg, PCMPulseDevice)
    scale = float(cfg.g_max) if pcm else 1.0
    unit = "G (µS)" if pcm else "weight"

    fig = Figure(figsize=(11, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
    x = torch.arange(traces.shape[0])
    for i in range(traces.shape[1]):
        ax1.plot(x, traces[:, i] * scale, lw=0.6, alpha=0.45, color="tab:blue")
    ax1.plot(x, nominal * scale, lw=2.2, color="black", label="nominal (mean_response)")
    lo, hi = cfg.nominal_bounds
    for b in (lo, hi):
        ax1.axhline(b * scale, color="grey", lw=0.8, ls=":")
    ax1.set_xlabel("pulse number")
    ax1.set_ylabel(unit)
    what = "SET pulses + RESET" if cfg.one_sided else "up/down pulse trains"
    ax1.set_title(f"{type(cfg).__name__}: {n_devices} devices, {what}", fontsize=10)
    ax1.legend(fontsize=8, loc="best")
    ax1.grid(True, alpha=0.3)

    w = torch.linspace(lo, hi, 201, dtype=torch.float64)
    up = mean_response(cfg, w, 1, +1) - w
    ax2.plot(w * scale, up * scale, color="tab:red", lw=1.8, label="up / SET")
    if not cfg.one_sided:
        down = mean_response(cfg, w, 1, -1) - w
        ax2.plot(w * scale, -down * scale, color="tab:green", lw=1.8, label="down (−Δ)")
    ax2.axhline(cfg.granularity * scale, color="grey", lw=0.8, ls="--",
                label="granularity")
    ax2.set_xlabel(unit)
    ax2.set_ylabel(f"mean step Δ{'G' if pcm else 'w'} per pulse" + (" (µS)" if pcm else ""))
    ax2.set_title("nominal mean step" + (" (on the SET train from RESET)" if pcm else ""),
                  fontsize=10)
    ax2.legend(fontsize=8, loc="best")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, format="png")
    return fig


def _simulate(cfg: PulsedDevice, n_up: int, n_down: int, cycles: int, n_devices: int,
              seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Traces (steps + 1, n_devices) and the nominal trace (steps + 1,), float64."""
    gen = torch.Generator().manual_seed(seed)
    arr = make_device_array(cfg, (n_devices,), generator=gen, dtype=torch.float64)
    lo, hi = cfg.nominal_bounds
    if isinstance(cfg, PCMPulseDevice):
        start = cfg.g_reset / cfg.g_max
    else:
        start = min(max(float(cfg.reset), lo), hi)  # type: ignore[attr-defined]
    traces = [arr.value.clone()]
    nominal = [torch.tensor(start, dtype=torch.float64)]
    ones = torch.ones(n_devices, dtype=torch.int64)
    for kind, count in _schedule(cfg, n_up, n_down, cycles):
        if kind == "reset":
            arr.reset(None, gen)
            traces.append(arr.value.clone())
            nominal.append(torch.tensor(start, dtype=torch.float64))
            continue
        sign = 1 if kind == "up" else -1
        for _ in range(count):
            arr.pulse(ones, sign, gen)
            traces.append(arr.value.clone())
        ks = torch.arange(1, count + 1)
        nominal.extend(mean_response(cfg, nominal[-1], ks, sign).unbind(0))
    return torch.stack(traces), torch.stack(nominal)
