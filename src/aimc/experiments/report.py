"""Run-folder writers: ``metrics.json``, ``config.json``, the accuracy-vs-time plot, ``report.md``.

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so an interrupted run never leaves a half-written file behind.

The functions read the metrics dict produced by :func:`aimc.experiments.demo.run_demo`:
``times_s``, ``time_labels``, ``accuracy`` with ``fp``, ``hwa_digital`` and, per analog
model (``direct``, ``hwa``), ``mean``/``std``/``per_repeat`` over the times.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "write_json", "text_table", "markdown_table",
    "plot_accuracy_vs_time", "markdown_report", "write_run", "PLOT_NAME",
]

PLOT_NAME = "accuracy_vs_time.png"
_INSTALL_PLOTS = 'pip install "aimc[plots]"'

#: (metrics key, row label) of the analog models, in table order.
_ANALOG_ROWS = (("direct", "FP weights, direct mapping"), ("hwa", "HWA-trained"))


# --------------------------------------------------------------------------- files
def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (parents created).

    The file gets the usual permissions (0o666 minus the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (a trailing newline)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- tables
def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _rows(metrics: dict[str, Any]) -> list[tuple[str, list[str]]]:
    acc = metrics["accuracy"]
    n = len(metrics["times_s"])
    rows = [("FP (digital)", [_pct(acc["fp"])] * n),
            ("HWA-trained (digital)", [_pct(acc["hwa_digital"])] * n)]
    for key, label in _ANALOG_ROWS:
        r = acc[key]
        rows.append((f"{label} (analog)",
                     [f"{_pct(m)} ± {_pct(s)}" for m, s in zip(r["mean"], r["std"], strict=True)]))
    return rows


def _caption(metrics: dict[str, Any]) -> str:
    repeats = len(metrics["accuracy"]["direct"]["per_repeat"])
    return (f"Test accuracy (%) on {metrics['dataset']['n_test']} held-out 8x8 digits vs time "
            f"after programming; analog rows: mean ± std over {repeats} programming repeats "
            f"({metrics['preset']} crossbar).")


def text_table(metrics: dict[str, Any]) -> str:
    """The results as a plain-text table (what ``aimc demo`` prints)."""
    header = ["model", *metrics["time_labels"]]
    rows = [[label, *cells] for label, cells in _rows(metrics)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    lines = [_caption(metrics), "", fmt(header), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def markdown_table(metrics: dict[str, Any]) -> str:
    """The results as a GitHub-flavoured Markdown table."""
    header = ["model", *metrics["time_labels"]]
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * len(metrics["time_labels"])]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells in _rows(metrics)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot
def plot_accuracy_vs_time(metrics: dict[str, Any], path: str | os.PathLike[str]) -> Path | None:
    """Accuracy vs time after programming (log x, error bars = std over repeats) as PNG.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change).

    Returns:
        The path written, or None (with a warning) when matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(f"matplotlib is not installed, so no plot was written; install it with: "
                      f"{_INSTALL_PLOTS}", RuntimeWarning, stacklevel=2)
        return None
    times = [max(float(t), 1e-3) for t in metrics["times_s"]]  # log axis: t = 0 → 1 ms
    acc = metrics["accuracy"]
    fig = Figure(figsize=(6.4, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.axhline(100 * acc["fp"], color="black", ls="--", lw=1.2,
               label=f"FP model ({_pct(acc['fp'])}%)")
    ax.axhline(100 * acc["hwa_digital"], color="tab:orange", ls=":", lw=1.2,
               label=f"HWA-trained, digital ({_pct(acc['hwa_digital'])}%)")
    styles = {"direct": ("tab:blue", "o"), "hwa": ("tab:orange", "s")}
    for key, label in _ANALOG_ROWS:
        color, marker = styles[key]
        r = acc[key]
        ax.errorbar(times, [100 * m for m in r["mean"]], yerr=[100 * s for s in r["std"]],
                    color=color, marker=marker, capsize=4, lw=1.5, label=f"{label}, analog")
    ax.set_xscale("log")
    ax.set_xticks(times)
    ax.set_xticklabels(metrics["time_labels"])
    ax.minorticks_off()
    ax.set_xlabel("time after programming")
    ax.set_ylabel("test accuracy (%)")
    repeats = len(acc["direct"]["per_repeat"])
    ax.set_title(f"8x8 digits CNN on the {metrics['preset']} PCM crossbar "
                 f"(mean ± std, {repeats} repeats)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- report
def _rerun_command(metrics: dict[str, Any], out_dir: str) -> str:
    s = metrics["settings"]
    parts = ["aimc demo", f"--out {out_dir}", f"--seed {s['seed']}"]
    if s.get("quick"):
        parts.append("--quick")
    parts += [f"--repeats {s['repeats']}", f"--epochs {s['epochs']}",
              f"--hwa-epochs {s['hwa_epochs']}"]
    return " ".join(parts)


def markdown_report(metrics: dict[str, Any], *, plot_name: str | None = PLOT_NAME,
                    out_dir: str = "runs/demo") -> str:
    """A short Markdown report: what was run, the table, the plot, the config, how to re-run."""
    s = metrics["settings"]
    acc = metrics["accuracy"]
    m = metrics["machine"]
    last = metrics["time_labels"][-1]
    gap = {k: acc[k]["mean"][-1] for k, _ in _ANALOG_ROWS}
    lines = [
        "# aimc demo: 8x8 digits CNN on a PCM crossbar, accuracy over time",
        "",
        "## What was run",
        "",
        f"- Data: {metrics['dataset']['name']}, inputs scaled to [0, 1], stratified split "
        f"(seed {metrics['seeds']['data_split']}): {metrics['dataset']['n_train']} train / "
        f"{metrics['dataset']['n_test']} test images.",
        f"- Model: `{metrics['model']['architecture']}` "
        f"({metrics['model']['parameters']} parameters).",
        f"- FP training: Adam, lr {s['lr']}, {s['epochs']} epochs, batch {s['batch_size']}.",
        f"- Direct mapping: the FP weights converted with `aimc.convert_to_analog(model, "
        f"aimc.presets.{metrics['preset']}())`, input ranges calibrated on training batches "
        "(`aimc.calibrate_input_ranges`).",
        f"- HWA training: the converted FP model fine-tuned in train mode (crossbar periphery "
        f"noise and quantisation in the forward pass, straight-through gradients), Adam, lr "
        f"{s['hwa_lr']}, {s['hwa_epochs']} epochs.",
        f"- Evaluation: {s['repeats']} repeats per analog model; repeat r programs with "
        f"`torch.Generator().manual_seed({s['seed']}*1000 + r)` (independent programming noise), "
        f"then reads at {', '.join(metrics['time_labels'])} after programming "
        "(`aimc.at_time`: drift, fresh read noise, drift compensation).",
        "",
        "## Results",
        "",
        _caption(metrics),
        "",
        markdown_table(metrics),
        "",
        f"At {last}: direct mapping {_pct(gap['direct'])}%, HWA-trained "
        f"{_pct(gap['hwa'])}% (FP {_pct(acc['fp'])}%).",
        "",
    ]
    if plot_name is not None:
        lines += [f"![accuracy vs time after programming]({plot_name})", ""]
    else:
        lines += [f"(No plot: matplotlib is not installed; `{_INSTALL_PLOTS}`.)", ""]
    lines += [
        "## Re-run",
        "",
        "```sh",
        _rerun_command(metrics, out_dir),
        "```",
        "",
        "The same seed reproduces every number in `metrics.json` on the same machine and "
        "torch version.",
        "",
        "## Environment",
        "",
        f"aimc {metrics['aimc_version']}, torch {metrics['torch_version']}, Python "
        f"{m['python']}, {m['platform']}, {m['cpu_count']} CPUs ({m['torch_threads']} torch "
        f"threads); wall time {metrics['wall_time_s']:.1f} s.",
        "",
        "## Analog config",
        "",
        f"<details><summary>aimc.presets.{metrics['preset']}() as JSON</summary>",
        "",
        "```json",
        json.dumps(metrics["config"], indent=2),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def write_run(out_dir: str | os.PathLike[str], metrics: dict[str, Any]) -> dict[str, Path]:
    """Write ``metrics.json``, ``config.json``, the plot (if matplotlib) and ``report.md``.

    Returns:
        The written paths by kind: ``metrics``, ``config``, ``plot`` (when written),
        ``report``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {
        "metrics": write_json(out / "metrics.json", metrics),
        "config": write_json(out / "config.json", {"preset": metrics["preset"],
                                                   "settings": metrics["settings"],
                                                   "analog_config": metrics["config"]}),
    }
    plot = plot_accuracy_vs_time(metrics, out / PLOT_NAME)
    if plot is not None:
        paths["plot"] = plot
    paths["report"] = atomic_write_text(
        out / "report.md",
        markdown_report(metrics, plot_name=PLOT_NAME if plot is not None else None,
                        out_dir=str(out_dir)))
    return paths
