#!/usr/bin/env python3
"""Check that the statistical tests' verdicts do not depend on the seed, and that each one
fails for the bug it is meant to catch.

For every test in :data:`CHECKS` this runs the test under ``AIMC_TEST_SEED_OFFSET`` =
0 … N−1 (every seed in the suite shifted, see ``tests/seeding.py``) and requires it to pass
for all of them; then it runs the test once with its mutation (``scripts/seed_mutations.py``)
applied and requires it to fail. Not part of the default test run (it takes a few minutes):

    .venv/bin/python scripts/check_seed_robustness.py            # 50 seeds
    .venv/bin/python scripts/check_seed_robustness.py --seeds 100

Exit status 0 when every test passed every seed and failed its mutation; the table it
prints is the record quoted in docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# test node id -> mutation (scripts/seed_mutations.py) that it must catch
CHECKS: dict[str, str] = {
    "tests/test_onchip.py::test_insitu_update_expectation_matches_sgd": "pulse_bias",
    "tests/test_pulsed_devices.py::test_soft_bounds_alternating_pulses_converge_to_symmetry_point":
        "soft_bounds_slope",
    "tests/test_pulsed_devices.py::test_asymmetry_up_down_ratio": "up_step_bias",
    "tests/test_pulsed_devices.py::test_sparse_index_only_touches_listed_devices":
        "pulse_outside_index",
    "tests/test_models.py::test_few_steps_reduce_loss": "adam_ascends",
}
# seed-dependent, no single-rule mutation (float/ADC-level agreement of two code paths)
SEED_ONLY = [
    "tests/test_inference_paths.py::test_no_grad_path_equals_autograd_path",
    "tests/test_inference_paths.py::test_bfloat16_perturbations_match_native_within_an_adc_step",
]


def _run(tests: list[str], env_extra: dict[str, str], xml: Path) -> dict[str, bool]:
    """Run pytest on ``tests``; map each base node id to whether all its cases passed."""
    env = {**os.environ, **env_extra,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
           "seed_mutations", f"--junitxml={xml}", *tests]
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
    ok = {t: True for t in tests}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "").split("[")[0]
        file = case.get("classname", "").replace(".", "/") + ".py"
        node = f"{file}::{name}"
        failed = any(c.tag in ("failure", "error") for c in case)
        for t in tests:
            if t == node or t.endswith(node):
                ok[t] = ok[t] and not failed
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="seed offsets 0..N-1 (50)")
    args = parser.parse_args()
    tests = [*CHECKS, *SEED_ONLY]
    xml = ROOT / ".seed_check.xml"
    passes = dict.fromkeys(tests, 0)
    try:
        for offset in range(args.seeds):
            for t, good in _run(tests, {"AIMC_TEST_SEED_OFFSET": str(offset)}, xml).items():
                passes[t] += good
            print(f"seed offset {offset}: done", file=sys.stderr, flush=True)
        caught = {t: not _run([t], {"AIMC_TEST_MUTATION": m}, xml)[t]
                  for t, m in CHECKS.items()}
    finally:
        xml.unlink(missing_ok=True)
    print(f"| test | passes / {args.seeds} seeds | mutation | caught |")
    print("|---|---|---|---|")
    bad = 0
    for t in tests:
        mutation = CHECKS.get(t, "—")
        hit = caught.get(t)
        print(f"| `{t.split('::')[1]}` | {passes[t]} | {mutation} | "
              f"{'—' if hit is None else ('yes' if hit else 'NO')} |")
        bad += passes[t] != args.seeds or hit is False
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
