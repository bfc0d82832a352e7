"""``aimc reproduce analognets-recipes``: what each change of the AnalogNets HWA recipe does.

The accuracy of an HWA-trained AnalogNet 24 h after programming depends on how it was
trained: which weight noise is injected (PCM programming noise, scaled, or the devices'
drift-compensated state at 24 h: :class:`aimc.config.DeviceStateWeightNoise`), whether the
FP model is distilled into it, and for how long. This sweep trains one HWA model per recipe
of :data:`RECIPES` from the same FP model (the FP stage runs once, its result is shared),
programs each ``programmings`` times and evaluates it at the times of
:class:`~aimc.experiments.analognets.AnalogNetsSettings`, so the recipes compare on equal
terms; ``report.md`` is the table of what each change did.

Each recipe is a full specification of the HWA settings (noise, noise scale, epochs,
distillation), so a later change of the defaults does not change what a recipe means. The
run folder holds one ``aimc reproduce analognets`` folder per recipe (``recipes/<name>/``),
resumable stage by stage; the sweep's ``metrics.json`` and ``report.md`` sit at the top.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aimc.config.base import ConfigBase, config
from aimc.errors import ConfigError
from aimc.experiments.analognets import TASKS, AnalogNetsSettings, run_analognets
from aimc.experiments.provenance import (
    claim_run_folder,
    code_block,
    describe,
    portable_path,
)
from aimc.experiments.report import atomic_write_text, write_json
from aimc.experiments.run_folder import open_run_folder

__all__ = ["RECIPES", "RecipeSettings", "run_recipes", "markdown_report", "summary_text"]

def _hwa(noise: str, epochs: int, distill: float, scale: float = 1.0,
         **extra: Any) -> dict[str, Any]:
    """One recipe's HWA settings: all four named (noise, scale, epochs, distillation)."""
    return {"hwa_noise": noise, "hwa_noise_scale": scale, "hwa_epochs": epochs,
            "distill": distill, **extra}


#: name → (what it is, the HWA settings it runs with); every recipe names the four HWA
#: settings so that changed defaults do not change it
RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "prog20": ("programming noise, 20 epochs (the recipe of the run at c643474)",
               _hwa("programming", 20, 0.0)),
    "prog20_kd": ("+ distillation from the FP model (α 0.5, T 2)",
                  _hwa("programming", 20, 0.5)),
    "prog2x20_kd": ("programming noise × 2, distillation, 20 epochs",
                    _hwa("programming", 20, 0.5, scale=2.0)),
    "prog40_kd": ("programming noise, distillation, 40 epochs", _hwa("programming", 40, 0.5)),
    "prog80_kd": ("programming noise, distillation, 80 epochs", _hwa("programming", 80, 0.5)),
    "state20": ("device state at 24 h (drift spread, read noise), 20 epochs",
                _hwa("device_state", 20, 0.0)),
    "state40_kd": ("device state at 24 h, distillation, 40 epochs",
                   _hwa("device_state", 40, 0.5)),
    "state80_kd": ("device state at 24 h, distillation, 80 epochs (the default)",
                   _hwa("device_state", 80, 0.5)),
    "state80_kd_recal": ("as the default, ADC ranges calibrated again after training",
                         _hwa("device_state", 80, 0.5, adc_recalibrate=True)),
}


#: the HWA settings a recipe does not name, pinned (not the defaults, which may change)
_FIXED: dict[str, Any] = {"adc_recalibrate": False, "hwa_noise_time": 86400.0,
                          "distill_temperature": 2.0}


@config
class RecipeSettings(ConfigBase):
    """What the sweep runs.

    Attributes:
        task: one of ``TASKS``. bits: converter bit widths.
        recipes: names from :data:`RECIPES` (all by default), run in this order.
        programmings: independent programmings per HWA model.
        fp_epochs: FP training passes (shared by every recipe). seed: master seed.
    """

    task: str = "kws"
    bits: tuple[int, ...] = (8, 4)
    recipes: tuple[str, ...] = tuple(RECIPES)
    programmings: int = 10
    fp_epochs: int = 40
    seed: int = 0

    def _validate(self) -> None:
        n = "RecipeSettings"
        if self.task not in TASKS:
            raise ConfigError(f"{n}.task must be one of {TASKS}, got {self.task!r}")
        if not self.recipes or len(set(self.recipes)) != len(self.recipes):
            raise ConfigError(f"{n}.recipes must name distinct recipes from "
                              f"{', '.join(RECIPES)}")
        self.analognets(next(iter(RECIPES.values()))[1])  # bits, programmings, seed checks

    def analognets(self, changes: Mapping[str, Any]) -> AnalogNetsSettings:
        """The :class:`AnalogNetsSettings` of one recipe."""
        return AnalogNetsSettings(tasks=(self.task,), bits=self.bits,
                                  programmings=self.programmings, fp_epochs=self.fp_epochs,
                                  seed=self.seed, **{**_FIXED, **changes})


def _recipes(settings: RecipeSettings, recipes: Mapping[str, tuple[str, dict[str, Any]]]
             ) -> list[tuple[str, str, dict[str, Any]]]:
    unknown = [r for r in settings.recipes if r not in recipes]
    if unknown:
        raise ConfigError(f"unknown recipe(s) {', '.join(unknown)}; known: "
                          f"{', '.join(recipes)}")
    return [(name, *recipes[name]) for name in settings.recipes]


def run_recipes(settings: RecipeSettings, out_dir: str | os.PathLike[str], *,
                data: str | os.PathLike[str] | None = None, show_progress: bool = True,
                allow_other_code: bool = False, command: str | None = None,
                log: Callable[[str], None] | None = None,
                recipes: Mapping[str, tuple[str, dict[str, Any]]] = RECIPES
                ) -> dict[str, Any]:
    """Run (or resume) every recipe; writes ``metrics.json`` and ``report.md``."""
    chosen = _recipes(settings, recipes)
    out, history, log_line = open_run_folder(out_dir, allow_other_code=allow_other_code,
                                             log=log)
    t_start = time.perf_counter()
    task = settings.task
    rows: list[dict[str, Any]] = []
    first: Path | None = None
    fp: dict[str, Any] | None = None
    n_test = 0
    for name, text, changes in chosen:
        folder = out / "recipes" / name
        if first is not None:  # the FP stage is shared: its fingerprint is the same
            folder.mkdir(parents=True, exist_ok=True)
            claim_run_folder(folder, allow_other_code=allow_other_code)  # before the copy
            (folder / "arms").mkdir(exist_ok=True)
            for f in (f"{task}_fp.json", f"{task}_fp.pt"):
                if not (folder / "arms" / f).exists():
                    shutil.copyfile(first / "arms" / f, folder / "arms" / f)
        log_line(f"recipe {name}: {text}")
        m = run_analognets(settings.analognets(changes), folder, data=data,
                           show_progress=show_progress, allow_other_code=allow_other_code,
                           command=command, log=log_line)
        first = first or folder
        result = m["tasks"][task]
        fp, n_test = result["fp"], result["test_samples"]
        rows.append({"recipe": name, "description": text, "settings": changes,
                     "bits": {b: {"accuracy": r["hwa"]["accuracy"],
                                  "seconds": r["hwa"].get("seconds")}
                              for b, r in result["bits"].items()}})
    assert fp is not None
    base = settings.analognets(chosen[0][2])
    metrics: dict[str, Any] = {
        "experiment": "analognets_recipes", "paper": "arXiv:2111.06503",
        "settings": settings.to_dict(), "times": list(base.times),
        "data": portable_path(data), "code": code_block(history), "command": command,
        "task": task, "fp_accuracy": fp["accuracy"], "test_samples": n_test, "recipes": rows,
        "compute_time_s": round(time.perf_counter() - t_start, 1)}
    metrics["summary"] = summarise(metrics)
    write_json(out / "metrics.json", metrics)
    atomic_write_text(out / "report.md", markdown_report(metrics))
    return metrics


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per recipe and bit width: mean accuracy at each time and the drop from FP at 24 h."""
    times, fp = metrics["times"], metrics["fp_accuracy"]
    k24 = times.index(86400.0) if 86400.0 in times else None
    out: dict[str, Any] = {}
    for row in metrics["recipes"]:
        per_bits = {}
        for b, r in row["bits"].items():
            means = [_mean([acc[k] for acc in r["accuracy"]]) for k in range(len(times))]
            per_bits[b] = {"mean_accuracy": means,
                           "drop_24h": None if k24 is None else fp - means[k24]}
        out[row["recipe"]] = per_bits
    return {"fp_accuracy": fp, "recipes": out}


def _fmt_t(t: float) -> str:
    for s, unit in ((2592000.0, "month"), (86400.0, "day"), (3600.0, "h")):
        if t >= s:
            return f"{t / s:g} {unit}"
    return f"{t:g} s"


def markdown_report(metrics: dict[str, Any]) -> str:
    """The sweep's table (everything from ``metrics``)."""
    st, s, times = metrics["settings"], metrics["summary"], metrics["times"]
    paper = {"kws": 0.8, "vww": 1.2}.get(metrics["task"])
    lines = ["# AnalogNets: what each change of the HWA recipe does (arXiv:2111.06503)", "",
             f"Code: {describe(metrics['code'])}  ",
             f"Task {metrics['task']}; bits {st['bits']}; FP {st['fp_epochs']} epochs, "
             f"shared by every recipe (test accuracy {metrics['fp_accuracy']:.2f} %); "
             f"{st['programmings']} programmings per model; seed {st['seed']}; compute "
             f"{metrics['compute_time_s']:.0f} s.", ""]
    if metrics.get("command"):
        lines += [f"Command: `{metrics['command']}`", ""]
    n_test = metrics["test_samples"]
    lines += ["Everything else as `aimc reproduce analognets` (fixed per-layer ADC ranges, "
              "unsigned DACs after ReLUs, global drift compensation with 8-row probes). "
              f"Accuracies: mean over the programmings on the {n_test} test samples of the "
              f"task's split (one sample is {100 / n_test:.2f} points).", ""]
    head = "| recipe | what changes | bits | " + " | ".join(_fmt_t(t) for t in times) + \
        " | drop at 24 h | HWA s |"
    lines += [head, "|" + "---|" * 3 + "---:|" * (len(times) + 2)]
    for row in metrics["recipes"]:
        for b, r in row["bits"].items():
            summ = s["recipes"][row["recipe"]][b]
            cells = " | ".join(f"{v:.2f}" for v in summ["mean_accuracy"])
            drop = "–" if summ["drop_24h"] is None else f"{summ['drop_24h']:.2f}"
            secs = "–" if r.get("seconds") is None else f"{r['seconds']:.0f}"
            lines.append(f"| `{row['recipe']}` | {row['description']} | {b} | {cells} | "
                         f"{drop} | {secs} |")
    lines += ["", "(% test accuracy; drop = FP − HWA at 24 h in points"
              + (f"; the paper's drop at 8 bit: {paper} %)" if paper else ")"), ""]
    return "\n".join(lines)


def summary_text(metrics: dict[str, Any]) -> str:
    lines = []
    for name, per_bits in metrics["summary"]["recipes"].items():
        for b, r in per_bits.items():
            drop = "n/a" if r["drop_24h"] is None else f"{r['drop_24h']:.2f}"
            lines.append(f"{name} {b} b: drop at 24 h {drop} points")
    return "\n".join(lines)
