"""Every documented number comes from a stored run file.

* ``docs/results/<run>/report.md`` is exactly what the report code renders from that folder's
  ``metrics.json`` (so no number in a report can be typed, or left stale, by hand);
* the README's results block is exactly what ``scripts/readme_results.py`` renders from
  ``benchmarks/results/*.json``;
* stored runs name the code that made them and hold no machine paths.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aimc.experiments import (
    analognets_recipes,
    analognets_report,
    diehlcook2015_report,
    nandakumar2020_report,
    nandakumar2020_snn_report,
    rasch2023_report,
    report,
    sensitivity_report,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def _metrics(run: str) -> dict[str, Any]:
    return json.loads((RESULTS / run / "metrics.json").read_text(encoding="utf-8"))


def _plots(run: str, names: dict[str, str]) -> dict[str, str]:
    """The plot map the writer passed: the plots that exist in the stored folder."""
    return {key: name for key, name in names.items() if (RESULTS / run / name).is_file()}


def _render(run: str) -> str:
    m = _metrics(run)
    if run == "demo":
        plot = report.PLOT_NAME if (RESULTS / run / report.PLOT_NAME).is_file() else None
        # the stored folder is a copy of `aimc demo --out runs/demo` (its re-run command)
        return report.markdown_report(m, plot_name=plot, out_dir="runs/demo")
    if run in ("nandakumar2020", "nandakumar2020_cnn_lstm"):
        mlp, other = nandakumar2020_report.MLP_PLOT, nandakumar2020_report.OTHER_PLOT
        return nandakumar2020_report.markdown_report(
            m, plots=_plots(run, {mlp: mlp, other: other}))
    if run in ("rasch2023_quick", "rasch2023_standard"):
        names = {w: f"{w}.png" for w in m["workloads"]}
        names["normalised"] = rasch2023_report.NORMALISED_PLOT
        return rasch2023_report.markdown_report(m, plots=_plots(run, names))
    if run == "rasch2023_sensitivity_quick":
        return sensitivity_report.markdown_report(m)
    if run.startswith("diehlcook2015"):
        names = [diehlcook2015_report.ACCURACY_PLOT, diehlcook2015_report.WINDOW_PLOT]
        names += [diehlcook2015_report.fields_plot(a) for a in m["arms"]]
        return diehlcook2015_report.markdown_report(m, plots=_plots(run, {n: n for n in names}))
    if run == "nandakumar2020-snn":
        r = nandakumar2020_snn_report
        names = (r.ACC, r.DRIFT, r.RASTER, r.COCHLEA)
        return r.markdown_report(m, plots=_plots(run, {n: n for n in names}))
    if run == "analognets":
        r = analognets_report
        names = {"accuracy": r.ACCURACY_PLOT, "energy": r.ENERGY_PLOT}
        return r.markdown_report(m, plots=_plots(run, names))
    if run == "analognets_recipes":
        return analognets_recipes.markdown_report(m)
    raise AssertionError(f"no renderer known for docs/results/{run}: add it here")


RUNS = sorted(p.parent.name for p in RESULTS.glob("*/metrics.json"))


def test_every_stored_run_is_checked() -> None:
    assert set(RUNS) == {"demo", "nandakumar2020", "rasch2023_quick", "analognets",
                         "rasch2023_sensitivity_quick", "diehlcook2015",
                         "diehlcook2015_quick", "diehlcook2015_100x3", "diehlcook2015_devices",
                         "diehlcook2015_seed1", "diehlcook2015_seed2", "nandakumar2020-snn",
                         "analognets_recipes", "rasch2023_standard",
                         "nandakumar2020_cnn_lstm", "diehlcook2015_ablation6k",
                         "diehlcook2015_lockout_seed0", "diehlcook2015_lockout_seed1",
                         "diehlcook2015_lockout_seed2"}


@pytest.mark.parametrize("run", RUNS)
def test_report_is_rendered_from_its_metrics(run: str) -> None:
    stored = (RESULTS / run / "report.md").read_text(encoding="utf-8")
    rendered = _render(run)
    diff = "\n".join(difflib.unified_diff(stored.splitlines(), rendered.splitlines(),
                                          "stored report.md", "rendered from metrics.json",
                                          lineterm="", n=0))
    assert stored == rendered, f"docs/results/{run}/report.md is not its metrics.json:\n{diff}"


@pytest.mark.parametrize("run", RUNS)
def test_stored_run_names_its_code_and_no_machine_paths(run: str) -> None:
    m = _metrics(run)
    code = m["code"]
    assert re.fullmatch(r"[0-9a-f]{40}", code["git_commit"]), code
    assert code["git_dirty"] is False, f"{run} was made from uncommitted code"
    for name in ("metrics.json", "report.md"):
        text = (RESULTS / run / name).read_text(encoding="utf-8")
        for prefix in ("/work/", "/home/", "/tmp/", "/Users/", "C:\\\\"):
            assert prefix not in text, f"{run}/{name} holds a machine path ({prefix}…)"


def _readme_results() -> Any:
    spec = importlib.util.spec_from_file_location("readme_results",
                                                  ROOT / "scripts" / "readme_results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_results_block_is_generated_from_the_result_files() -> None:
    rr = _readme_results()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(rr.BEGIN), readme.index(rr.END) + len(rr.END)
    assert readme[start:end] == rr.render(), (
        "README.md's results block differs from benchmarks/results/*.json: run "
        "`.venv/bin/python scripts/readme_results.py --write`")


def test_readme_results_block_fails_on_an_edited_number() -> None:
    """The comparison above is strict: one digit changed in the block is caught."""
    rr = _readme_results()
    block = rr.render()
    edited = re.sub(r"\d\.\d×", "9.9×", block, count=1)
    assert edited != block
    readme = f"intro\n{edited}\noutro"
    assert rr.replace_block(readme, block) == f"intro\n{block}\noutro"
