"""Outputs of ``aimc reproduce nandakumar2020-snn``: summary, plots and the Markdown report.

Writes ``metrics.json``, ``accuracy.png`` (fraction of desired spikes within ±25 ms per
epoch, every arm), ``raster.png`` (desired vs observed output spikes of one training
pattern per arm), ``drift.png`` (PCM arms read 1 s … 1 month after training, without and
with array-level scaling), ``cochlea.png`` (the input spikes of that pattern) and
``report.md``, atomically.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from aimc.experiments.report import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["summarise", "summary_text", "markdown_report", "write_outputs"]


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f} %"


def summarise(metrics: dict[str, Any]) -> dict[str, Any]:
    """``summary.arms`` (synapse, devices_per_synapse, train/test_within_25ms) and
    ``summary.drift`` (t_s, scaling, train_within_25ms per PCM arm), for scripts."""
    arms, drift = [], []
    for name, r in metrics["arms"].items():
        arms.append({"arm": name, "synapse": r["synapse"],
                     "devices_per_sign": r["devices_per_sign"],
                     "devices_per_synapse": r["devices_per_synapse"],
                     "train_within_25ms": r["train_within"],
                     "test_within_25ms": r["test_within"],
                     "train_precision": r["train_precision"], "pulses": r["pulses"],
                     "meets_target": r["train_within"] >= metrics["target"]})
        for d in r["drift"]:
            drift.append({"arm": name, "devices_per_sign": r["devices_per_sign"],
                          "t_s": d["t_s"], "scaling": d["scaling"],
                          "train_within_25ms": d["train"]["within"],
                          "test_within_25ms": d["test"]["within"]})
    return {"arms": arms, "drift": drift}


def summary_text(metrics: dict[str, Any]) -> str:
    tol = metrics["settings"]["tolerance_ms"]
    lines = [f"Nandakumar et al. 2020 SNN ({metrics['mode']}): desired spikes within "
             f"±{tol:g} ms (train / held-out test)"]
    for a in metrics["summary"]["arms"]:
        lines.append(f"  {a['arm']:<10} {_pct(a['train_within_25ms']):>8} / "
                     f"{_pct(a['test_within_25ms']):>8}   {a['pulses']} pulses")
    return "\n".join(lines)


def _md(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _time(t: float) -> str:
    for unit, s in (("month", 2592000.0), ("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= s:
            return f"{t / s:g} {unit}"
    return f"{t:g} s"


def markdown_report(metrics: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    s = metrics["settings"]
    plots = plots or {}
    arms = metrics["summary"]["arms"]
    first = next(iter(metrics["arms"].values()), None)
    lines = [f"# Supervised spike timing on device synapses ({metrics['mode']} run)", "",
             f"Paper: {metrics['paper']}. The paper reports > {100 * metrics['target']:.0f} % "
             f"of desired output spikes within ±25 ms of a 1250 ms pattern on PCM hardware.",
             "",
             f"Task: FSDD spoken digits of {', '.join(s['speakers'])} "
             f"({first['patterns'] if first else '?'} training patterns: "
             f"{s['train_per_class']} recording(s) per digit and speaker) through a "
             f"{s['channels']}-channel software cochlea, each clip stretched to the "
             f"{s['pattern_ms']:g} ms pattern; 168 NormAD LIF output neurons, one per pixel of "
             f"a 14×12 MNIST digit of the same class (pixel ≥ {s['cut']} → one spike between "
             f"{s['t_first']:g} and {s['t_last']:g} ms, brighter earlier). {s['epochs']} "
             f"epochs, r = {s['rate']} mV, weights ±{s['w_max']:g} mV. Held-out test: the "
             f"official FSDD test recordings of the same speakers.", "",
             "## Accuracy per arm", "",
             _md(["arm", "devices per synapse", "train within ±25 ms", "test within ±25 ms",
                  "train precision", "programming pulses", "≥ paper's 85 %"],
                 [[a["arm"], str(a["devices_per_synapse"]), _pct(a["train_within_25ms"]),
                   _pct(a["test_within_25ms"]), _pct(a["train_precision"]),
                   str(a["pulses"]), "yes" if a["meets_target"] else "no"] for a in arms]),
             "",
             "*Within ±25 ms*: the fraction of desired spikes matched one-to-one by an observed "
             "spike of the same neuron within 25 ms. *Precision*: the fraction of observed "
             "spikes so matched (extra spikes lower it; the paper's metric does not see "
             "them).", ""]
    if arms:
        best_test = max(a["test_within_25ms"] for a in arms)
        lines += [f"The held-out recordings reach at most {_pct(best_test)}: the layer learns "
                  f"the spike timing of the training recordings (as the paper's experiment "
                  f"does, which reports training accuracy) and does not generalise it to "
                  f"other recordings of the same words, whose timing differs by more than "
                  f"the ±25 ms window.", ""]
    if ACC in plots:
        lines += [f"![accuracy per epoch]({plots[ACC]})", ""]
    drift = metrics["summary"]["drift"]
    if drift:
        times = sorted({d["t_s"] for d in drift})
        rows = []
        for a in arms:
            if a["synapse"] != "pcm":
                continue
            for scaled in (False, True):
                vals = {d["t_s"]: d["train_within_25ms"] for d in drift
                        if d["arm"] == a["arm"] and d["scaling"] == scaled}
                rows.append([a["arm"], "yes" if scaled else "no"] +
                            [_pct(vals.get(t)) for t in times])
        lines += ["## Retention under PCM drift (training patterns)", "",
                  "Each PCM arm read at a time after its last programming; conductances "
                  "drift as G·((t − t_p)/38.6 s)^(−0.04) from each device's own programming "
                  "time, with read noise. Array-level scaling multiplies the weights by "
                  "S_ref/S(t), S = the summed conductance of the array (measurable with an "
                  "all-ones input), S_ref taken right after training.", "",
                  _md(["arm", "scaling"] + [_time(t) for t in times], rows), ""]
        if DRIFT in plots:
            lines += [f"![drift]({plots[DRIFT]})", ""]
    for key, caption in ((RASTER, "desired (grey) and observed (black) output spikes of "
                                  "one training pattern"),
                         (COCHLEA, "the cochlea spikes of that pattern")):
        if key in plots:
            lines += [f"![{caption}]({plots[key]})", "", f"*{caption}.*", ""]
    lines += ["## Assumptions", "",
              "The paper's neuron constants, input sub-sampling, intensity-to-time mapping, "
              "update schedule, weight-to-conductance mapping and scaling scheme are not in "
              "our sources (physics.md §5.2); NormAD is reconstructed (§5.3). Our choices are "
              "documented in `aimc.config.normad`, `aimc.config.audio`, "
              "`aimc.snn.spike_patterns` and `aimc.snn.signed_synapses`. Updates are applied "
              "once per pattern presentation; PCM updates go through a χ accumulator "
              "(ε = 0.75 µS per pulse, divided among N devices per sign).", "",
              "## Provenance", "",
              f"Command: `{metrics.get('command')}`; aimc {metrics['code'].get('aimc')} "
              f"(commit {metrics['code'].get('git_commit')}"
              f"{', uncommitted changes' if metrics['code'].get('git_dirty') else ''}); "
              f"machine {metrics['machine'].get('cpu')}, {metrics['machine'].get('cores')} "
              f"cores; {metrics.get('wall_time_s')} s.", ""]
    return "\n".join(lines)


ACC, RASTER, DRIFT, COCHLEA = "accuracy.png", "raster.png", "drift.png", "cochlea.png"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _png(fig: Any, plt: Any) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plot_accuracy(metrics: dict[str, Any], plt: Any) -> bytes:
    fig, ax = plt.subplots(figsize=(5.8, 3.6))
    for name, r in metrics["arms"].items():
        ep = [h["epoch"] for h in r["history"]]
        ax.plot(ep, [100 * h["train"]["within"] for h in r["history"]], "-", label=name)
    ax.axhline(100 * metrics["target"], color="grey", ls=":", lw=1, label="paper (PCM chip)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("desired spikes within ±25 ms (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig, plt)


def _plot_drift(metrics: dict[str, Any], plt: Any) -> bytes | None:
    drift = metrics["summary"]["drift"]
    if not drift:
        return None
    fig, ax = plt.subplots(figsize=(5.8, 3.6))
    for name in dict.fromkeys(d["arm"] for d in drift):
        for scaled, style in ((False, "--"), (True, "-")):
            pts = sorted((d["t_s"], d["train_within_25ms"]) for d in drift
                         if d["arm"] == name and d["scaling"] == scaled)
            ax.semilogx([p[0] for p in pts], [100 * p[1] for p in pts], style + "o",
                        ms=3, label=f"{name}{' scaled' if scaled else ''}")
    ax.set_xlabel("time after training (s)")
    ax.set_ylabel("within ±25 ms (%, train)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _png(fig, plt)


def _plot_raster(metrics: dict[str, Any], plt: Any) -> bytes | None:
    arms = list(metrics["arms"].items())
    if not arms:
        return None
    fig, axes = plt.subplots(1, len(arms), figsize=(2.6 * len(arms), 3.2), sharey=True,
                             squeeze=False)
    for ax, (name, r) in zip(axes[0], arms, strict=True):
        ex = r["example"]
        for events, color, size in ((ex["desired"], "0.7", 30), (ex["observed"], "k", 6)):
            if events:
                ax.scatter([e[0] for e in events], [e[1] for e in events], s=size, c=color,
                           marker="|")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("time (ms)")
    axes[0][0].set_ylabel("output neuron (pixel)")
    return _png(fig, plt)


def _plot_cochlea(task: dict[str, Any], dt: float, plt: Any) -> bytes:
    import torch

    k, ch = torch.nonzero(task["x_train"][:, 0], as_tuple=True)
    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    ax.scatter(k.numpy() * dt, ch.numpy(), s=2, c="k", marker="|")
    ax.set_xlabel("time in the pattern (ms)")
    ax.set_ylabel("cochlea channel (low → high)")
    ax.set_title(task["train_names"][0], fontsize=8)
    return _png(fig, plt)


def write_outputs(out_dir: str | os.PathLike[str], metrics: dict[str, Any],
                  task: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write metrics.json, the plots (when matplotlib is installed) and report.md."""
    out = Path(out_dir)
    written = {"metrics": write_json(out / "metrics.json", metrics)}
    plots: dict[str, str] = {}
    plt = _pyplot()
    if plt is not None:
        pngs = {ACC: _plot_accuracy(metrics, plt), DRIFT: _plot_drift(metrics, plt),
                RASTER: _plot_raster(metrics, plt)}
        if task is not None:
            pngs[COCHLEA] = _plot_cochlea(task, metrics["settings"]["dt"], plt)
        for name, png in pngs.items():
            if png is not None:
                written[name] = atomic_write_bytes(out / name, png)
        plots = {name: name for name in (ACC, DRIFT, RASTER, COCHLEA) if (out / name).is_file()}
    written["report"] = atomic_write_text(out / "report.md",
                                          markdown_report(metrics, plots=plots))
    return written
