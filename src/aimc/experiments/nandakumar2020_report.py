"""Outputs of ``aimc reproduce nandakumar2020``: summary, energy scenarios, plots, report.

Reads the metrics dict built by :func:`aimc.experiments.nandakumar2020.run_nandakumar2020`
(``settings``, ``arms`` → per-epoch ``accuracy``, ``energy`` of the on-chip arms) and writes
``metrics.json``, ``mlp_accuracy.png``, ``cnn_lstm_accuracy.png`` and ``report.md``
atomically.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

from aimc.experiments.report import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["summarise", "energy_scenarios", "SCENARIOS", "write_outputs", "markdown_report",
           "summary_text", "plot_accuracy"]

_INSTALL_PLOTS = 'pip install "aimc[plots]"'
MLP_PLOT = "mlp_accuracy.png"
OTHER_PLOT = "cnn_lstm_accuracy.png"

#: the CNN/LSTM acceptance gap (issue 15 §2): the paper (abstract of arXiv:2001.11773)
#: reports accuracies "comparable to floating point" for them without numbers
CNN_LSTM_MAX_GAP_TO_FP = 0.01


def _table(**kw: Any) -> dict[str, float]:
    """EnergyModel fields from the shared cost table (aimc.config.cost) under ``kw``."""
    from aimc.onchip.energy import EnergyModel

    m = EnergyModel.from_table(**kw)
    return {f: getattr(m, f) for f in ("fp_mult", "fp_add", "weight_word", "chi_word")}


#: (key, description, EnergyModel changes, per-sample updates) of the energy sensitivity
#: table. "Per-sample updates" re-prices the same run as if every sample were its own
#: optimizer step (batch 1): the per-step memory traffic then occurs once per sample.
SCENARIOS: tuple[tuple[str, str, dict[str, float], bool], ...] = (
    ("default", "defaults: digital weights and χ in a 1 MB SRAM (50 pJ per 32-bit word)", {},
     False),
    ("dram_weights", "digital weights in DRAM (0.65 nJ per 32-bit word = half of Horowitz's "
                     "1.3 nJ per 64-bit access), χ in the 1 MB SRAM",
     {"weight_word": 0.65e-9}, False),
    ("dram_weights_local_chi", "digital weights in DRAM, χ in a small local SRAM (5 pJ per "
                               "word = half of Horowitz's 10 pJ per 64-bit, 8 kB)",
     {"weight_word": 0.65e-9, "chi_word": 5e-12}, False),
    ("dram_weights_local_chi_batch1", "as the previous row, with per-sample updates (batch 1)",
     {"weight_word": 0.65e-9, "chi_word": 5e-12}, True),
    ("compute_only", "no memory traffic on either side (arithmetic, MVMs and pulses only)",
     {"weight_word": 0.0, "chi_word": 0.0}, False),
    ("table_same_node", "the shared cost table at one node: digital FP32 and 1 MB SRAM "
                        "scaled to 14 nm like the analog core (aimc.config.cost; the defaults "
                        "above mix a 14 nm core with 45 nm digital)",
     _table(), False),
    ("table_dram_banked_chi16", "shared table, 45 nm digital: weights in DRAM, χ as 16-bit "
                                "words in banked 8 kB SRAMs (energy.md §5.3, last row)",
     _table(digital_scaled=False, weights_in="dram", chi_sram_bytes=8192, chi_bits=16),
     False),
    ("table_dram_banked_chi16_14nm", "as the previous row with the digital side at 14 nm "
                                     "(DRAM is not scaled)",
     _table(weights_in="dram", chi_sram_bytes=8192, chi_bits=16), False),
)


def _fmt_ratio(value: float) -> str:
    from aimc.onchip.energy import _fmt_ratio as fmt

    return fmt(value)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


# --------------------------------------------------------------------------- summary
def energy_scenarios(energy: dict[str, Any],
                     samples: int | None = None) -> dict[str, dict[str, float]]:
    """The ratio (and totals) of a stored energy estimate under each of :data:`SCENARIOS`.

    ``samples`` (training samples seen) is needed for the per-sample-update rows; without it
    they are left out.
    """
    from aimc.onchip.energy import EnergyModel, EnergyReport

    base = EnergyReport.from_dict(energy)
    per_sample = None
    if samples:
        arrays = [dataclasses.replace(a, counters={**a.counters, "update_steps": float(samples)})
                  for a in base.arrays]
        per_sample = dataclasses.replace(base, arrays=arrays)
    out: dict[str, dict[str, float]] = {}
    for key, _, changes, batch1 in SCENARIOS:
        src = per_sample if batch1 else base
        if src is None:
            continue
        model = EnergyModel.from_dict(energy["energy_model"]).replace(**changes)
        r = src.with_energy(model)
        out[key] = {"ratio": r.ratio, "analog_total_J": r.analog_total,
                    "digital_total_J": r.digital_total}
    return out


def summarise(metrics: dict[str, Any]) -> dict[str, Any]:
    """Final accuracies, the mixed-precision gaps to FP, and the energy ratios per scenario."""
    arms = metrics["arms"]
    final = {a: r["final_accuracy"] for a, r in arms.items()}
    best = {a: max(r["accuracy"][1:]) if len(r["accuracy"]) > 1 else r["accuracy"][0]
            for a, r in arms.items()}
    out: dict[str, Any] = {"final_accuracy": final, "best_accuracy": best, "gaps_to_fp": {}}
    for net in ("mlp", "cnn", "lstm"):
        fp = arms.get(f"{net}_fp")
        if fp is None:
            continue
        for a, r in arms.items():
            if r["network"] == net and r["method"] != "fp":
                out["gaps_to_fp"][a] = fp["final_accuracy"] - r["final_accuracy"]
    if "mlp_mp" in out["gaps_to_fp"]:
        gap = out["gaps_to_fp"]["mlp_mp"]
        out["mlp_mp_within_0_6pct"] = bool(gap <= metrics["targets"]["max_gap_to_fp"])
    out["energy"] = {a: energy_scenarios(r["energy"], r["n_train"] * r["epochs"])
                     for a, r in arms.items() if r.get("energy")}
    return out


def summary_text(metrics: dict[str, Any]) -> str:
    """A short plain-text table (printed by the CLI)."""
    lines = [f"{'arm':<20} {'final acc %':>11} {'best acc %':>10} {'energy gain':>11}"]
    s = metrics["summary"]
    for arm, r in metrics["arms"].items():
        e = s["energy"].get(arm, {}).get("default")
        gain = _fmt_ratio(e["ratio"]).replace("×", "x") if e else "-"
        lines.append(f"{arm:<20} {_pct(r['final_accuracy']):>11} "
                     f"{_pct(s['best_accuracy'][arm]):>10} {gain:>11}")
    if "mlp_mp" in s["gaps_to_fp"]:
        gap = 100 * s["gaps_to_fp"]["mlp_mp"]
        where = f"{gap:.2f} points below" if gap >= 0 else f"{-gap:.2f} points above"
        lines.append(f"\nMLP mixed precision ends {where} FP (paper: within 0.6 below)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots
_STYLE = {"fp": ("black", "o"), "mp": ("tab:blue", "s"), "mp_pcm2018": ("tab:purple", "D"),
          "sgd_pcm": ("tab:red", "^"), "sgd_softbounds": ("tab:green", "v")}


def plot_accuracy(metrics: dict[str, Any], networks: tuple[str, ...],
                  path: str | os.PathLike[str], title: str, *,
                  zoom: bool = False) -> Path | None:
    """Test accuracy vs epoch (epoch 0 = before training) for the arms of ``networks``.

    One panel per network; with ``zoom`` (one network) a second panel magnifies the arms
    that end within 3 points of the best.
    """
    arms = {a: r for a, r in metrics["arms"].items() if r["network"] in networks}
    if not arms:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        warnings.warn(f"matplotlib is not installed, so no plot was written; install it with: "
                      f"{_INSTALL_PLOTS}", RuntimeWarning, stacklevel=2)
        return None
    panels: list[tuple[str, bool]] = [(n, False) for n in networks]
    if zoom and len(networks) == 1:
        panels.append((networks[0], True))
    fig = Figure(figsize=(5.2 * len(panels), 5.2), dpi=120)
    FigureCanvasAgg(fig)
    for i, (net, zoomed) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        mine = [r for r in arms.values() if r["network"] == net]
        best = max(100 * r["accuracy"][-1] for r in mine)
        shown = [r for r in mine if not zoomed or 100 * r["accuracy"][-1] >= best - 3.0]
        for r in shown:
            color, marker = _STYLE.get(r["method"], ("gray", "x"))
            acc = [100 * a for a in r["accuracy"]]
            ax.plot(range(len(acc)), acc, color=color, marker=marker, lw=1.5, ms=4,
                    label=f"{r['label']} ({acc[-1]:.2f}%)")
        if net == "mlp":
            ax.axhline(97.73, color="gray", ls=":", lw=1.0, label="paper, PCM hardware (97.73%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (0 = initial weights)")
        ax.set_ylabel("test accuracy (%)")
        finals = [100 * r["accuracy"][-1] for r in shown]
        if zoomed:
            later = [100 * a for r in shown for a in r["accuracy"][1:]]
            ax.set_ylim(max(min(later), best - 3.0) - 0.2, best + 0.6)
            ax.set_xlim(0.5, max(len(r["accuracy"]) for r in shown) - 0.5)
            ax.set_title(f"{net.upper()} (zoom)", fontsize=10)
        else:
            ax.set_ylim(max(0.0, min(finals) - 15.0), 100.0)
            ax.set_title(net.upper(), fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1,
                  frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- report
def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _accuracy_table(metrics: dict[str, Any], network: str) -> str | None:
    arms = {a: r for a, r in metrics["arms"].items() if r["network"] == network}
    if not arms:
        return None
    n = max(len(r["accuracy"]) for r in arms.values())
    shown = list(range(n))
    if n > 11:  # long runs: epochs 0, 1, 2, every 5th and the last (all in metrics.json)
        shown = sorted({0, 1, 2, *range(5, n, 5), n - 1})
    header = ["arm", "lr", *[f"ep {e}" for e in shown], "best", "time (s)"]
    rows = []
    for arm, r in arms.items():
        acc = r["accuracy"]
        cells = [_pct(acc[e]) if e < len(acc) else "" for e in shown]
        best = max(acc[1:]) if len(acc) > 1 else acc[0]
        rows.append([f"`{arm}` ({r['label']})", f"{r['lr']:g}", *cells, _pct(best),
                     f"{r.get('wall_time_s', 0):.0f}"])
    return _md(header, rows)


def _ratio(summary: dict[str, Any], arm: str, key: str) -> str:
    r = summary["energy"].get(arm, {}).get(key)
    return _fmt_ratio(r["ratio"]) if r else "–"


def _energy_section(metrics: dict[str, Any]) -> list[str]:
    from aimc.onchip.energy import EnergyReport

    s = metrics["summary"]
    arms = [a for a in metrics["arms"] if a in s["energy"]]
    if not arms:
        return ["No on-chip arm was run, so there is no energy estimate.", ""]
    lines = ["Energy of the training that was run (all epochs), in memory vs the same training "
             "(same samples, same layer shapes, same number of updates) on a 32-bit digital "
             "processor; gain = digital / in-memory energy. **Paper: 173× (arXiv:2001.11773) / "
             "172× (Front. Neurosci. 14:406) for MLP training** — its per-operation energies "
             "are not published in our sources (physics.md §3.4), so the gain below depends "
             "on the assumptions of `aimc.onchip.energy.EnergyModel`, listed under the tables "
             "and varied in the sensitivity table.", ""]
    header = ["scenario", *[f"`{a}`" for a in arms]]
    rows = [[desc, *[_fmt_ratio(s["energy"][a][key]["ratio"]) if key in s["energy"][a]
                     else "–" for a in arms]]
            for key, desc, _, _ in SCENARIOS]
    lines += [_md(header, rows), ""]
    main = "mlp_mp" if "mlp_mp" in arms else arms[0]
    report = EnergyReport.from_dict(metrics["arms"][main]["energy"])
    if report.analog.get("chi_memory", 0.0) > 0:
        share = 100 * report.analog["chi_memory"] / report.analog_total
        w_share = 100 * report.digital["weight_memory"] / report.digital_total
        lines += [f"Reading the table: in `{main}` the χ memory traffic (one 32-bit word per "
                  f"weight read and written every update) is {share:.0f} % of the in-memory "
                  f"energy, and the weight/gradient traffic {w_share:.0f} % of the digital "
                  "energy, so the mixed-precision gain is set by how much dearer a digital "
                  "weight access is than a χ access, and by how often the weights are updated "
                  f"(the batch size): {_ratio(s, main, 'default')} with both in the same "
                  f"SRAM, {_ratio(s, main, 'dram_weights_local_chi')} with the weights in DRAM "
                  "and χ in a small SRAM next to the crossbar, and "
                  f"{_ratio(s, main, 'dram_weights_local_chi_batch1')} when, in addition, "
                  "every sample is an update (paper: 173×). In-situ SGD keeps no χ, so its "
                  "gain is the digital side's memory traffic and MACs against crossbar MVMs "
                  "and pulses.", ""]
    lines += [report.to_markdown(title=f"Breakdown of `{main}` (default assumptions)"), ""]
    return lines


def _notes(metrics: dict[str, Any]) -> list[str]:
    st = metrics["settings"]
    s = metrics["summary"]
    lines = []
    if "mlp_mp" in s["gaps_to_fp"]:
        gap = 100 * s["gaps_to_fp"]["mlp_mp"]
        ok = s.get("mlp_mp_within_0_6pct")
        where = (f"{gap:.2f} points below" if gap >= 0 else f"{-gap:.2f} points above")
        lines.append(f"- **Target** (paper: mixed precision within 0.6 % of the FP baseline; "
                     f"97.73 % on PCM hardware): here mixed precision ends {where} FP "
                     f"({_pct(s['final_accuracy']['mlp_mp'])} % vs "
                     f"{_pct(s['final_accuracy']['mlp_fp'])} %) — "
                     f"{'met' if ok else 'NOT met'} with these settings"
                     + (" (quick mode: subsets and 2 epochs, not a reproduction)."
                        if metrics["mode"] == "quick" else "."))
    for net in ("cnn", "lstm"):
        arm = f"{net}_mp"
        if arm not in s["gaps_to_fp"]:
            continue
        gap = 100 * s["gaps_to_fp"][arm]
        where = (f"{gap:.2f} points below" if gap >= 0 else f"{-gap:.2f} points above")
        ok = gap <= 100 * CNN_LSTM_MAX_GAP_TO_FP
        periphery = ("the noisy periphery" if st.get("cnn_lstm_noisy_periphery")
                     else "ideal MVMs")
        lines.append(f"- **Target** ({net.upper()}: mixed precision within "
                     f"{100 * CNN_LSTM_MAX_GAP_TO_FP:.0f} % of FP, the paper's \"comparable to "
                     f"floating point\"): here, on {periphery}, it ends {where} FP "
                     f"({_pct(s['final_accuracy'][arm])} % vs "
                     f"{_pct(s['final_accuracy'][f'{net}_fp'])} %) — "
                     f"{'met' if ok else 'NOT met'}"
                     + (" (quick mode: not a reproduction)." if metrics["mode"] == "quick"
                        else "."))
    lines += [
        "- Not published in our sources (physics.md §3.4), chosen here: MLP "
        f"784-{st['hidden']}-10 with {st['activation']} hidden units, softmax + cross-entropy, "
        f"plain SGD (no momentum), batch {st['batch_size']}, a constant learning rate per arm "
        "(tables), pixels in [0, 1] unnormalised, biases digital. The learning rates were "
        "picked by short sweeps (subsets or all of the training set, 1–20 epochs, accuracy on "
        "the first 2,000 test images), so the test set was looked at for tuning.",
        "- On-chip arms: the weights are the devices (aihwkit-style normalised PCM preset "
        "device, one-sided, w ∈ [0, 2] per device, dw_min 0.01, in a differential pair with "
        "refresh at 0.75/0.25; soft-bounds: aihwkit `SoftBoundsDevice`). MLP: forward and "
        "backward MVMs through aihwkit's default training periphery (7-bit DAC, 9-bit ADC on "
        "±12, output noise 0.06)" + ("" if st["noisy_periphery"] else
                                     " — switched off here (ideal MVMs)")
        + "; CNN and LSTM: " + ("the same periphery; an all-zero input or error vector "
                                "issues no MVM and gives an exact zero (aihwkit's short-cut "
                                "under abs-max noise management), without which the CNN's "
                                "many zero error vectors (positions a max-pool or ReLU "
                                "discarded) each received output noise and mixed precision "
                                "stalled near 80 %" if st.get("cnn_lstm_noisy_periphery")
                                else "ideal MVMs (devices only)")
        + (f"; the CNN's layers each map their largest initial weight to "
           f"ω = {st['cnn_weight_scaling_omega']:g} of the device range "
           f"(`weight_scaling_omega`)" if st.get("cnn_weight_scaling_omega") else "")
        + ". The test accuracy is read through the arm's forward MVM (with its noise).",
        "- Mixed precision uses ε = the device's dw_min (0.01, aihwkit's `granularity = 0`); "
        "the preset PCM device's mean step is far larger near reset (≈ 0.28 at w = 0, physics"
        ".md §3.2), so each transferred pulse moves a weight by more than ε there and mixed "
        "precision needs a ≈10× smaller learning rate than FP. `mlp_mp_pcm2018` uses the "
        "Nandakumar-2018 PCM pulse model instead (µS, G ∈ [0.1, 12] µS, ε = 0.75 µS, "
        "physics.md §3.3; `PCMPulseDevice`).",
        "- CNN and LSTM: the paper evaluates them with behavioural PCM models only; their "
        "architectures and numbers are not in our sources, so these arms show what this "
        "simulator gives, not a comparison with published values.",
    ]
    return lines


def markdown_report(metrics: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    """The Markdown report: setup, accuracy per epoch, plots, energy, notes, re-run."""
    plots = plots or {}
    st = metrics["settings"]
    m = metrics["machine"]
    lines = [
        "# Mixed-precision training with computational memory (Nandakumar et al. 2020)",
        "",
        f"Reproduction of {metrics['paper']} on aimc ({metrics['mode']} mode), "
        f"{metrics['date']}.",
        "",
        "## Results",
        "",
    ]
    for net, title in (("mlp", "MLP on MNIST"), ("cnn", "CNN on MNIST"),
                       ("lstm", "LSTM on MNIST rows")):
        table = _accuracy_table(metrics, net)
        if table is None:
            continue
        arm0 = next(r for r in metrics["arms"].values() if r["network"] == net)
        lines += [f"### {title}", "",
                  f"{arm0['description']}; {arm0['n_train']} training / {arm0['n_test']} test "
                  f"images, {arm0['epochs']} epochs, batch {arm0['batch_size']}, plain SGD. "
                  "Test accuracy (%) after each epoch (epoch 0 = initial weights; every epoch "
                  "in `metrics.json`):",
                  "", table, ""]
    for key, alt in ((MLP_PLOT, "MLP test accuracy vs epoch"),
                     (OTHER_PLOT, "CNN and LSTM test accuracy vs epoch")):
        if key in plots:
            lines += [f"![{alt}]({plots[key]})", ""]
    if not plots and metrics["arms"]:
        lines += [f"(No plots: matplotlib is not installed; `{_INSTALL_PLOTS}`.)", ""]
    lines += ["## Energy estimate", ""]
    lines += _energy_section(metrics)
    lines += ["## Notes and assumptions", ""]
    lines += _notes(metrics)
    train_s = metrics.get("compute_time_s",
                          sum(r.get("wall_time_s", 0) for r in metrics["arms"].values()))
    lines += ["", "## Re-run", "", "```sh", metrics.get("command") or
              "aimc reproduce nandakumar2020" + (" --quick" if metrics["mode"] == "quick"
                                                 else ""), "```", "",
              f"Seed {st['seed']}; finished arms in `arms/` are reused by a re-run with the same "
              "settings.", "",
              "## Machine", "",
              f"{m.get('cpu')}, {m.get('cores')} cores ({m.get('torch_threads')} torch "
              f"thread{'' if m.get('torch_threads') == 1 else 's'})"
              f"{', ' + m['gpu'] if m.get('gpu') else ''}; Python {m.get('python')}, torch "
              f"{m.get('torch')}, aimc {m.get('aimc')}, {m.get('platform')}. Training time "
              f"of all arms {train_s:.0f} s; this invocation {metrics.get('wall_time_s', 0):.0f} s "
              "(finished arms are loaded, not retrained).",
              "", "## Settings", "", "```json", json.dumps(st, indent=2), "```", ""]
    return "\n".join(lines)


def write_outputs(out_dir: str | os.PathLike[str], metrics: dict[str, Any]) -> dict[str, Path]:
    """Write ``metrics.json``, the plots (if matplotlib) and ``report.md``; returns the paths."""
    out = Path(out_dir)
    paths: dict[str, Path] = {"metrics": write_json(out / "metrics.json", metrics)}
    plots: dict[str, str] = {}
    p = plot_accuracy(metrics, ("mlp",), out / MLP_PLOT,
                      "MLP on MNIST: FP vs on-chip training", zoom=True)
    if p is not None:
        paths["mlp_plot"], plots[MLP_PLOT] = p, MLP_PLOT
    nets = tuple(n for n in ("cnn", "lstm")
                 if any(r["network"] == n for r in metrics["arms"].values()))
    if nets:
        p = plot_accuracy(metrics, nets, out / OTHER_PLOT,
                          "FP vs mixed precision on PCM")
        if p is not None:
            paths["other_plot"], plots[OTHER_PLOT] = p, OTHER_PLOT
    paths["report"] = atomic_write_text(out / "report.md", markdown_report(metrics, plots=plots))
    return paths
