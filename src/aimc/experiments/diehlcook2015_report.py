"""Outputs of ``aimc reproduce diehlcook2015``: summary, plots and the Markdown report.

Reads the metrics dict of :func:`aimc.experiments.diehlcook2015.run_diehlcook2015` and writes
``metrics.json``, ``accuracy.png`` (test accuracy per epoch), ``receptive_fields_<arm>.png``
(each neuron's learned input weights), ``stdp_window.png`` (the rule's window and, for
memristive arms, the device's) and ``report.md``, atomically.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from aimc.experiments.report import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["summarise", "write_outputs", "markdown_report", "summary_text",
           "ACCURACY_PLOT", "WINDOW_PLOT"]

ACCURACY_PLOT = "accuracy.png"
WINDOW_PLOT = "stdp_window.png"


def fields_plot(arm: str) -> str:
    return f"receptive_fields_{arm}.png"


def _assign(s: dict[str, Any]) -> str:
    if s.get("assign_images") is None:
        return "all the"
    return f"the first {s['assign_images']}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def summarise(metrics: dict[str, Any]) -> dict[str, Any]:
    """``summary.arms``: one entry per arm (neurons, synapse, train_images, test_accuracy)
    so that runs can be compared by a script; and whether each ideal arm met its target."""
    arms = []
    for name, r in metrics["arms"].items():
        entry = {"arm": name, "neurons": r["neurons"], "synapse": r["synapse"],
                 "epochs": r["epochs"], "train_images": r["train_images"],
                 "test_accuracy": r["test_accuracy"]}
        target = metrics["targets"].get(str(r["neurons"]))
        full = metrics["mode"] == "full" and metrics["settings"].get("train_images") is None
        if r["synapse"] == "ideal" and target is not None and full:
            entry["target"] = target
            entry["meets_target"] = r["test_accuracy"] >= target
        arms.append(entry)
    return {"arms": arms}


def summary_text(metrics: dict[str, Any]) -> str:
    lines = [f"Diehl & Cook 2015 ({metrics['mode']}): test accuracy"]
    for a in metrics["summary"]["arms"]:
        extra = ""
        if "target" in a:
            extra = f"  (target {_pct(a['target'])}: {'met' if a['meets_target'] else 'MISSED'})"
        lines.append(f"  {a['arm']:<18} {_pct(a['test_accuracy'])} after {a['train_images']} "
                     f"training images{extra}")
    return "\n".join(lines)


def _md(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def markdown_report(metrics: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    """The report text (a pure function of ``metrics`` and the plot file names)."""
    plots = plots or {}
    s = metrics["settings"]
    m = metrics["machine"]
    code = metrics["code"]
    lines = [f"# Diehl & Cook 2015: unsupervised MNIST by STDP ({metrics['mode']})", "",
             f"Paper: {metrics['paper']}.", "",
             f"Command: `{metrics.get('command')}`", "",
             f"Code: aimc {code.get('aimc')} at {code.get('git_commit')}"
             f"{' (uncommitted changes)' if code.get('git_dirty') else ''}; "
             f"{m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')}. "
             f"Date {metrics.get('date')}.", "",
             f"Protocol: dt {s['dt']} ms, {s['t_present']} ms per image + {s['t_rest']} ms "
             f"rest; training images per epoch: "
             f"{'all 60,000' if s['train_images'] is None else s['train_images']}; labels "
             f"from {_assign(s)} training images; test images: "
             f"{'all 10,000' if s['test_images'] is None else s['test_images']}; "
             f"{_lockout(s)}.", "",
             "## Test accuracy", ""]
    rows = []
    for a in metrics["summary"]["arms"]:
        r = metrics["arms"][a["arm"]]
        paper = metrics["paper_accuracy"].get(str(a["neurons"]))
        target = a.get("target")
        rows.append([a["synapse"], str(a["neurons"]), str(a["epochs"]),
                     str(a["train_images"]), _pct(a["test_accuracy"]),
                     "—" if target is None else
                     f"{_pct(target)} ({'met' if a['meets_target'] else 'missed'})",
                     "—" if paper is None else _pct(paper),
                     f"{r['train_images_per_s']:.1f}"])
    lines += [_md(["synapse", "neurons", "epochs", "training images", "test accuracy",
                   "target", "paper", "train img/s"], rows), ""]
    if metrics["mode"] != "full" or s["train_images"] is not None:
        lines += ["Targets apply to full runs (all 60,000 training images); this run is "
                  "smaller, so none is checked.", ""]
    lines += _ablation_section(metrics)
    lines += ["## Per epoch", ""]
    rows = []
    for name, r in metrics["arms"].items():
        for e in r["evals"]:
            rows.append([name, str(e["epoch"]), str(e["train_images_seen"]),
                         _pct(e["test_accuracy"]), _pct(e["assign_accuracy"]),
                         f"{e['mean_test_spikes']:.1f}",
                         " ".join(str(c) for c in e["neurons_per_class"])])
    lines += [_md(["arm", "epoch", "images seen", "test accuracy", "accuracy on the labelling "
                   "images", "spikes per test image", "neurons per class 0–9"], rows), ""]
    if ACCURACY_PLOT in plots:
        lines += [f"![test accuracy per epoch]({plots[ACCURACY_PLOT]})", ""]
    for name in metrics["arms"]:
        if fields_plot(name) in plots:
            lines += [f"![receptive fields of {name}]({plots[fields_plot(name)]})", ""]
    if WINDOW_PLOT in plots:
        lines += [f"![STDP window]({plots[WINDOW_PLOT]})", ""]
    lines += ["## Notes", "",
              "- Input delays (0–10 ms in the reference code) are not modelled; the rest "
              "period is simulated until no neuron can fire, the rest in closed form "
              "(`aimc.snn._presentation`).",
              "- The STDP rule is the reference code's trace rule (physics.md §7.4); the "
              "synapse model decides what a requested change does "
              "(`aimc.snn.synapses`).", ""]
    return "\n".join(lines)


def _lockout(s: dict[str, Any]) -> str:
    """The excitatory firing lockout of a run (runs before the setting existed had none)."""
    lock = s.get("lockout")
    if lock is None:
        return "no excitatory firing lockout (5 ms refractory period alone)"
    return f"excitatory firing lockout {lock:g} ms after a spike (reference code)"


def _ablation_section(metrics: dict[str, Any]) -> list[str]:
    """Which device property costs the accuracy: each device model against the ideal arm
    and against its variants with one property off (same size), with the standard error of
    each accuracy from the test-set size, √(p(1 − p)/n) (one training run per arm: the
    run-to-run spread of training is not in it)."""
    arms = {(r["synapse"], r["neurons"]): r for r in metrics["arms"].values()}
    n_test = metrics["settings"].get("test_images") or 10000
    rows = []
    for (synapse, neurons), r in arms.items():
        if "/" in synapse or synapse == "ideal":
            continue
        ideal = arms.get(("ideal", neurons))
        for (other, n2), v in arms.items():
            if n2 != neurons or not other.startswith(synapse + "/"):
                continue
            gain = v["test_accuracy"] - r["test_accuracy"]
            se = ((v["test_accuracy"] * (1 - v["test_accuracy"])
                   + r["test_accuracy"] * (1 - r["test_accuracy"])) / n_test) ** 0.5
            rows.append([synapse, str(neurons), other.split("/", 1)[1],
                         _pct(r["test_accuracy"]), _pct(v["test_accuracy"]),
                         f"{100 * gain:+.2f} ± {100 * se:.2f}",
                         "—" if ideal is None else _pct(ideal["test_accuracy"])])
    if not rows:
        return []
    return ["## Which device property costs accuracy (one at a time)", "",
            "Each row switches one property of a device model off (`no-state`: no state "
            "dependence; `no-noise`: no cycle-to-cycle or device-to-device variation). "
            "Change = accuracy without the property − accuracy with it, ± the standard error "
            "of that difference from the test-set size alone (one training run per arm).", "",
            _md(["device", "neurons", "switched off", "device", "without it", "change",
                 "ideal"], rows), ""]


def _plot_accuracy(metrics: dict[str, Any]) -> bytes | None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, r in metrics["arms"].items():
        xs = [e["train_images_seen"] for e in r["evals"]]
        ax.plot(xs, [100 * e["test_accuracy"] for e in r["evals"]], "o-", label=name)
    ax.set_xlabel("training images seen")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_outputs(out_dir: str | os.PathLike[str], metrics: dict[str, Any]) -> dict[str, Path]:
    """Write metrics.json, the plots (when matplotlib is installed) and report.md."""
    from aimc.experiments.diehlcook2015 import weights_of

    out = Path(out_dir)
    written = {"metrics": write_json(out / "metrics.json", metrics)}
    plots: dict[str, str] = {}
    png = _plot_accuracy(metrics)
    if png is not None:
        written["accuracy"] = atomic_write_bytes(out / ACCURACY_PLOT, png)
        plots[ACCURACY_PLOT] = ACCURACY_PLOT
        from aimc.plotting.receptive_fields import plot_receptive_fields
        for name in metrics["arms"]:
            path = out / fields_plot(name)
            if not path.is_file() and (out / "arms" / name / "network.pt").is_file():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    plot_receptive_fields(weights_of(out, name), path=path,
                                          title=f"{name}: input weights")
            if path.is_file():
                plots[fields_plot(name)] = fields_plot(name)
                written[fields_plot(name)] = path
        window = _plot_window(metrics, out / WINDOW_PLOT)
        if window is not None:
            plots[WINDOW_PLOT] = WINDOW_PLOT
            written["window"] = window
    written["report"] = atomic_write_text(out / "report.md", markdown_report(metrics,
                                                                              plots=plots))
    return written


def _plot_window(metrics: dict[str, Any], path: Path) -> Path | None:
    """The trace rule's pair window (post2 = 1: a post spike just before) and, when a
    memristive arm ran, the Cu/SiO2/W device's ΔG(Δt)."""
    from aimc.plotting.stdp_window import plot_rule_window

    synapses = {r["synapse"] for r in metrics["arms"].values()}
    plot_rule_window(path=path, device="cu-sio2-w" in synapses)
    return path
