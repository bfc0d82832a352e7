"""Plots and ``report.md`` of ``aimc reproduce rasch2023-sensitivity``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aimc.experiments.rasch2023_report import _TITLES, _figure, _md_table, _save
from aimc.experiments.report import atomic_write_text, write_json

_WEIGHT = ("read_noise", "prog_noise", "drift")
_IO = ("inp_noise", "out_noise")


def plot_factor(metrics: dict[str, Any], factor: str, path: Path) -> Path | None:
    """Normalised metric vs the factor value; one line per workload × mapping."""
    fig = _figure()
    if fig is None:
        return None
    ax = fig.add_subplot(1, 1, 1)
    by_w = metrics["sweeps"].get(factor, {})
    label = next((r["label"] for r in metrics["ranking"] if r["factor"] == factor), factor)
    preset = None
    for i, (wname, by_m) in enumerate(by_w.items()):
        for mapping, style in (("direct", "--"), ("hwa", "-")):
            if mapping not in by_m:
                continue
            s = by_m[mapping]
            preset = s["preset_value"]
            ax.errorbar(s["values"], s["normalised_mean"], yerr=s["normalised_std"],
                        fmt=style + "o", color=f"C{i}", capsize=3, markersize=4,
                        label=f"{_TITLES.get(wname, wname)}, {mapping}")
    if preset is not None:
        ax.axvline(preset, color="grey", lw=0.8, ls=":", label="preset value")
    ax.set_xlabel(label)
    ax.set_ylabel("normalised metric (analog/FP; FP/analog ppl)")
    ax.set_title(f"{label} at {metrics['time_label']} after programming")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _f(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _v(v: float) -> str:
    return f"{v:g}"


def claims_paragraph(metrics: dict[str, Any]) -> str:
    """An honest comparison with the paper's two claims, from the data."""
    drops = {r["factor"]: r["drop_mean"] for r in metrics["ranking"]}
    parts = []
    io = [drops[f] for f in _IO if f in drops]
    wt = [drops[f] for f in _WEIGHT if f in drops]
    if io and wt:
        io_m, wt_m = sum(io) / len(io), sum(wt) / len(wt)
        verdict = "agrees with" if io_m > wt_m else "does not agree with"
        parts.append(
            f"*Input/output noise vs weight noise.* The paper reports that input and output "
            f"noise matter more than weight noise. Over our swept ranges, the mean drop of the "
            f"normalised metric from the preset to the harshest value is {io_m:.3f} for "
            f"input/output noise ({', '.join(f'{f} {drops[f]:.3f}' for f in _IO if f in drops)}) "
            f"and {wt_m:.3f} for the weight nonidealities "
            f"({', '.join(f'{f} {drops[f]:.3f}' for f in _WEIGHT if f in drops)}), so our data "
            f"{verdict} that claim. The comparison depends on the ranges: each factor was "
            "scaled to a similar multiple of its preset value, except input noise, whose "
            "preset value is 0 (absolute σ up to 0.1 of the input range).")
    else:
        parts.append("*Input/output vs weight noise:* not all of these factors were swept, so "
                     "the claim is not tested here.")
    rob = {w: r["mean_drop"] for w, r in metrics["robustness"].items()
           if r["mean_drop"] is not None}
    if len(rob) > 1:
        best = min(rob, key=rob.get)
        rnn = "lstm_ptb"
        verdict = ("agrees with" if best == rnn else "does not agree with") if rnn in rob \
            else "cannot test"
        order = ", ".join(f"{w} {rob[w]:.3f}" for w in sorted(rob, key=rob.get))
        parts.append(
            f"*Robustness by topology.* The paper reports that RNNs are the most robust. "
            f"Ranked by the mean drop over all factors (smaller is more robust): {order}. The "
            f"most robust here is {best}, so our data {verdict} that claim. Caveats: the "
            "language model's normalised metric is a perplexity ratio, which moves more "
            "than an accuracy ratio for the same damage, and the drops depend on how well "
            "each model was trained (the FP column above).")
    else:
        parts.append("*Robustness by topology:* only one workload was swept, so the claim "
                     "is not tested here.")
    return "\n\n".join(parts)


def markdown_report(metrics: dict[str, Any]) -> str:
    spec = metrics["spec"]
    m = metrics["machine"]
    lines = [
        "# Sensitivity of analog inference to single nonidealities (arXiv:2302.08469)",
        "",
        f"Command: `{metrics.get('command') or 'run_sensitivity(...)'}`  ",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('workers')} worker(s), "
        f"torch {m.get('torch')}, aimc {m.get('aimc')}  ",
        f"Date: {metrics['date']}; models from `{metrics['from_run']}` "
        f"(presets {metrics['presets']['direct']} / {metrics['presets']['hwa']}); "
        f"compute {metrics['compute_time_s']:.0f} s, wall {metrics['wall_time_s']:.0f} s.",
        "",
        "One factor at a time is set to each swept value (`aimc.replace_config`); all others "
        "keep their preset values. Each point: the test metric "
        f"{metrics['time_label']} after programming (global drift compensation), mean over "
        f"{spec['repeats']} independent programmings (the same seeds at every value), "
        "normalised to FP (analog/FP accuracy, FP/analog perplexity). *direct*: FP weights "
        "with the direct preset, input ranges calibrated; *hwa*: the HWA-trained model.",
        "",
        "## Which nonidealities hurt most",
        "",
        "Drop of the normalised metric from the preset value to the harshest swept value "
        "(largest noise/scale, fewest bits; for the ADC range the worse of the two ends), "
        "mean over workloads.",
        "",
    ]
    rows = [[r["label"], ", ".join(_v(v) for v in r["harshest"]), _f(r["drop_mean"]),
             _f(r["drop_direct"]), _f(r["drop_hwa"])] for r in metrics["ranking"]]
    lines += [_md_table(["factor", "harshest value", "drop (mean)", "drop direct",
                         "drop HWA"], rows), ""]
    lines += ["## Robustness per topology", "",
              "Mean normalised metric over all sweep points, and the mean drop over factors.",
              ""]
    rows = []
    for w, r in metrics["robustness"].items():
        info = metrics["workloads"][w]
        rows.append([_TITLES.get(w, w), info["metric"], f"{info['fp']:.4g}", _f(r["direct"]),
                     _f(r["hwa"]), _f(r["mean_drop"])])
    lines += [_md_table(["workload", "metric", "FP", "mean norm. direct", "mean norm. HWA",
                         "mean drop"], rows), ""]
    lines += ["## Comparison with the paper", "", claims_paragraph(metrics), ""]
    lines += ["## Per-factor sweeps", ""]
    for fname, by_w in metrics["sweeps"].items():
        label = next(r["label"] for r in metrics["ranking"] if r["factor"] == fname)
        lines += [f"### {label}", "", f"![{fname}]({fname}.png)", ""]
        values = next(iter(next(iter(by_w.values())).values()))["values"]
        header = ["workload", "mapping", *[_v(v) for v in values]]
        rows = []
        for w, by_m in by_w.items():
            for mapping, s in by_m.items():
                rows.append([w, mapping, *[f"{a:.3f} ± {b:.3f}" for a, b in
                                           zip(s["normalised_mean"], s["normalised_std"],
                                               strict=True)]])
        lines += [_md_table(header, rows, left=2), ""]
    return "\n".join(lines)


def write_outputs(out: Path, metrics: dict[str, Any]) -> None:
    write_json(out / "metrics.json", metrics)
    for fname in metrics["sweeps"]:
        plot_factor(metrics, fname, out / f"{fname}.png")
    atomic_write_text(out / "report.md", markdown_report(metrics))
