"""Outputs of ``aimc reproduce analognets``: summary, plots, Markdown report."""

from __future__ import annotations

import io
import os
import statistics
import warnings
from pathlib import Path
from typing import Any

from aimc.experiments.provenance import describe
from aimc.experiments.report import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["summarise", "write_outputs", "markdown_report", "summary_text", "ACCURACY_PLOT",
           "ENERGY_PLOT"]

ACCURACY_PLOT = "accuracy_vs_time.png"
ENERGY_PLOT = "energy_breakdown.png"
_INSTALL_PLOTS = 'pip install "aimc[plots]"'
_DAY = 86400.0


def _col(rows: list[list[float]], k: int) -> list[float]:
    return [r[k] for r in rows]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(metrics: dict[str, Any]) -> dict[str, Any]:
    """summary.tasks.<task>.bits.<b>: fp_accuracy, direct/hwa accuracy at 24 h (mean over
    programmings), the drop, macro/system TOPS/W; summary.mfcc_agreement."""
    times = metrics["settings"]["times"]
    k24 = times.index(_DAY) if _DAY in times else len(times) - 1
    out: dict[str, Any] = {"tasks": {}, "time_for_24h_s": times[k24]}
    for task, r in metrics["tasks"].items():
        fp = r["fp"]["accuracy"]
        bits_out = {}
        for b, s in r["bits"].items():
            hwa, direct = _col(s["hwa"]["accuracy"], k24), _col(s["direct"]["accuracy"], k24)
            c = s["hwa"]["cost"]
            bits_out[b] = {"fp_accuracy": fp, "hwa_accuracy_24h": statistics.fmean(hwa),
                           "hwa_std_24h": _mean_std(hwa)[1],
                           "direct_accuracy_24h": statistics.fmean(direct),
                           "hwa_drop_24h": fp - statistics.fmean(hwa),
                           "macro_tops_per_w": c["macro_tops_per_w"],
                           "system_tops_per_w": c["system_tops_per_w"],
                           "latency_s": c["latency_s"], "area_mm2": c["area_mm2"]}
        out["tasks"][task] = {"bits": bits_out, "fp_accuracy": fp,
                              "target_drop_8bit": metrics["paper_values"]["drop_24h_8bit"][task]}
        if "mfcc_agreement" in r:
            out["mfcc_agreement"] = r["mfcc_agreement"]
    return out


def _fmt_t(t: float) -> str:
    for unit, s in (("month", 2592000.0), ("day", 86400.0), ("h", 3600.0), ("s", 1.0)):
        if t >= s:
            v = t / s
            return f"{v:g} {unit}" + ("s" if unit in ("month", "day") and v != 1 else "")
    return f"{t:g} s"


def _recipe(st: dict[str, Any]) -> str:
    """The HWA recipe in words (settings of runs before these keys: programming noise ×1)."""
    if st.get("hwa_noise", "programming") == "device_state":
        noise = f"noise: the devices' compensated state at {_fmt_t(st['hwa_noise_time'])}"
    else:
        noise = f"noise: PCM programming noise × {st.get('hwa_noise_scale', 1.0):g}"
    alpha = st.get("distill", 0.0)
    kd = (f"distillation from the FP model α {alpha:g}, T {st['distill_temperature']:g}"
          if alpha else "no distillation")
    return f"{noise}; {kd}"


def markdown_report(metrics: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    plots = plots or {}
    st, s = metrics["settings"], metrics["summary"]
    times = st["times"]
    lines = ["# AnalogNets: always-on KWS / VWW on PCM compute-in-memory (arXiv:2111.06503)", "",
             f"Code: {describe(metrics['code'])}  ",
             f"Settings: tasks {', '.join(st['tasks'])}; bits {st['bits']}; FP {st['fp_epochs']}"
             f" epochs, HWA {st['hwa_epochs']} epochs ({_recipe(st)}); {st['programmings']} "
             f"programmings; seed {st['seed']}; compute {metrics['compute_time_s']:.0f} s.", "",
             "Data: MLPerf Tiny evaluation subsets (1,000 clips / images), split 80/20 per "
             "class with a fixed seed; accuracies compare FP with analog on these small sets, "
             "not with the paper's. Models: dense CiM-shaped networks (`analognet_kws`, "
             "`analognet_vww`).", ""]
    gain = st.get("adc_gain", "global")
    lines += ["Converters: " + ("each layer's ADC range fixed once from training data "
                            f"(quantile {st.get('adc_quantile')} of the ADC input, "
                            "`aimc.calibrate_adc_ranges`)" if gain == "per_layer" else
                            "one fixed ADC range ±10 for every layer")
              + ("; layers with non-negative inputs (after a ReLU) get an unsigned DAC of "
                 "the same bits (`aimc.nonnegative_input_layers`)"
                 if st.get("unsigned_dac") else "; signed DACs") + ".", ""]
    if "fsdd" in st["tasks"]:
        lines += ["FSDD: the official split (recordings 0-4 of every speaker and digit are the "
                  "test set: 2,700 / 300), MFCCs at 8 kHz, `analognet_kws` with 10 classes.", ""]
    if "mfcc_agreement" in s:
        a = s["mfcc_agreement"]
        lines += [f"MFCC front end vs the shipped MLPerf int8 features: {100 * a['exact']:.2f} % "
                  f"of {a['values']:,.0f} values equal, {100 * a['within_1']:.2f} % within "
                  f"one LSB, {a['overflowed']:.0f} values outside int8 (wrapped by the "
                  f"reference), correlation {a['corr']:.5f}.", ""]
    for task, r in metrics["tasks"].items():
        ts = s["tasks"][task]
        target = (f"Paper: drop after 24 h at 8 bit {ts['target_drop_8bit']} %."
                  if ts["target_drop_8bit"] is not None else "No paper value for this task.")
        lines += [f"## {task.upper()}", "",
                  f"FP test accuracy {r['fp']['accuracy']:.2f} %. {target}", "",
                  "| bits | model | " + " | ".join(_fmt_t(t) for t in times) + " |",
                  "|---|---|" + "---:|" * len(times)]
        for b, sb in r["bits"].items():
            for stage in ("direct", "hwa"):
                rows = sb[stage]["accuracy"]
                cells = []
                for k in range(len(times)):
                    m, sd = _mean_std(_col(rows, k))
                    cells.append(f"{m:.2f} ± {sd:.2f}")
                lines.append(f"| {b} | {stage} | " + " | ".join(cells) + " |")
        lines += ["", f"(mean ± std over {st['programmings']} programmings, % test accuracy)",
                  "", "| bits | HWA drop at 24 h | macro TOPS/W | system TOPS/W | paper TOPS/W "
                  "(arXiv / IEEE Micro) | latency (us) | area (mm2) |",
                  "|---|---:|---:|---:|---|---:|---:|"]
        pa = metrics["paper_values"]["tops_per_w_arxiv"].get(task, {})
        pm = metrics["paper_values"]["tops_per_w_ieee_micro"].get(task, {})
        for b, sb in ts["bits"].items():
            paper = f"{pa.get(b, pa.get(int(b), '–'))} / {pm.get(b, pm.get(int(b), '–'))}"
            lines.append(f"| {b} | {sb['hwa_drop_24h']:.2f} % | {sb['macro_tops_per_w']:.3g} | "
                         f"{sb['system_tops_per_w']:.3g} | {paper} | "
                         f"{1e6 * sb['latency_s']:.4g} | {sb['area_mm2']:.3g} |")
        for b, sb in r["bits"].items():
            bounds = sb["hwa"].get("adc_bounds")
            if bounds:
                lines.append(f"ADC ranges of the HWA model at {b} bit (±, full-scale units): "
                             + ", ".join(f"{k} {v:.3g}" for k, v in bounds.items()) + ".  ")
        first = next(iter(r["bits"]))
        lines += ["", f"Cost breakdown of the HWA model at {first} bit, 24 h after programming:",
                  "", r["bits"][first]["hwa"]["cost"]["markdown"]]
    for key, name in plots.items():
        lines += [f"![{key}]({name})", ""]
    if metrics.get("command"):
        lines += ["Re-run (resumes finished stages):", "", "```bash", metrics["command"], "```",
                  ""]
    if not plots:
        lines += [f"(No plots: matplotlib is not installed; `{_INSTALL_PLOTS}`.)", ""]
    return "\n".join(lines) + "\n"


def _plot(metrics: dict[str, Any], out: Path) -> dict[str, str]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(f"matplotlib is not installed, so no plot was written; install it with: "
                      f"{_INSTALL_PLOTS}", RuntimeWarning, stacklevel=2)
        return {}
    times = metrics["settings"]["times"]
    tasks = metrics["tasks"]
    fig = Figure(figsize=(5.2 * len(tasks), 4.4), dpi=120)
    FigureCanvasAgg(fig)
    for i, (task, r) in enumerate(tasks.items()):
        ax = fig.add_subplot(1, len(tasks), i + 1)
        ax.axhline(r["fp"]["accuracy"], color="black", ls=":", label="FP")
        for b, sb in r["bits"].items():
            for stage, ls in (("hwa", "-"), ("direct", "--")):
                rows = sb[stage]["accuracy"]
                mean = [statistics.fmean(_col(rows, k)) for k in range(len(times))]
                ax.plot(times, mean, ls=ls, marker="o", ms=3, label=f"{stage} {b} b")
        ax.set_xscale("log")
        ax.set_xlabel("time after programming (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(task.upper(), fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(out / ACCURACY_PLOT, buf.getvalue())
    fig = Figure(figsize=(5.2 * len(tasks), 4.4), dpi=120)
    FigureCanvasAgg(fig)
    for i, (task, r) in enumerate(tasks.items()):
        ax = fig.add_subplot(1, len(tasks), i + 1)
        bits = list(r["bits"])
        bottom = [0.0] * len(bits)
        comps = list(r["bits"][bits[0]]["hwa"]["cost"]["energy_j"]["breakdown"])
        for comp in comps:
            vals = [1e9 * r["bits"][b]["hwa"]["cost"]["energy_j"]["breakdown"][comp]
                    for b in bits]
            ax.bar([f"{b} b" for b in bits], vals, bottom=bottom, label=comp)
            bottom = [a + v for a, v in zip(bottom, vals, strict=True)]
        ax.set_ylabel("energy per inference (nJ)")
        ax.set_title(f"{task.upper()}: HWA model, 24 h", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(out / ENERGY_PLOT, buf.getvalue())
    return {"accuracy": ACCURACY_PLOT, "energy": ENERGY_PLOT}


def write_outputs(out_dir: str | os.PathLike[str], metrics: dict[str, Any]) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"metrics": write_json(out / "metrics.json", metrics)}
    plots = _plot(metrics, out)
    paths.update({k: out / v for k, v in plots.items()})
    paths["report"] = atomic_write_text(out / "report.md", markdown_report(metrics, plots=plots))
    return paths


def summary_text(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = []
    for task, ts in metrics["summary"]["tasks"].items():
        for b, sb in ts["bits"].items():
            lines.append(f"{task} {b} b: FP {sb['fp_accuracy']:.2f} %, HWA at 24 h "
                         f"{sb['hwa_accuracy_24h']:.2f} % (drop {sb['hwa_drop_24h']:.2f}, "
                         f"paper {ts['target_drop_8bit'] or '-'} at 8 b), system "
                         f"{sb['system_tops_per_w']:.3g} TOPS/W")
    return "\n".join(lines)
