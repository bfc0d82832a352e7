"""Write ``src/aimc/experiments/rasch2023_timings.json``: the step durations of the recorded
``aimc reproduce rasch2023`` runs (``docs/results/rasch2023_<mode>/metrics.json``), which the
whole-run time estimate of later runs scales (:mod:`aimc.experiments.eta`).

Usage: ``python scripts/rasch2023_timings.py [--check]`` (``--check``: exit 1 if the file is
out of date).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"quick": ROOT / "docs/results/rasch2023_quick/metrics.json",
        "standard": ROOT / "docs/results/rasch2023_standard/metrics.json"}
OUT = ROOT / "src/aimc/experiments/rasch2023_timings.json"


def timings() -> dict[str, object]:
    table: dict[str, object] = {}
    for mode, path in RUNS.items():
        m = json.loads(path.read_text(encoding="utf-8"))
        if m["mode"] != mode:
            raise ValueError(f"{path} is a {m['mode']!r} run, expected {mode!r}")
        table[mode] = {
            "source": f"{path.parent.relative_to(ROOT)} (code {m['code']['git_commit'][:12]})",
            "cpu": m["machine"].get("cpu"), "torch_threads": m["machine"].get("torch_threads"),
            "repeats": m["spec"]["repeats"], "times": len(m["spec"]["times"]),
            "workloads": {name: {"epochs": w["settings"]["epochs"],
                                 "hwa_epochs": w["settings"]["hwa_epochs"],
                                 "steps_s": {s: d["wall_time_s"]
                                             for s, d in w["steps"].items()}}
                          for name, w in m["workloads"].items()}}
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = json.dumps(timings(), indent=1, sort_keys=True) + "\n"
    if args.check:
        return 0 if OUT.is_file() and OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
