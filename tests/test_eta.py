"""Whole-run time estimates (aimc.experiments.eta): priors scaled by the measured speed, the
current step from its own rate, lower bounds where a step has no prior, skipped steps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aimc.experiments.eta import RunETA, format_duration, load_priors, rasch2023_eta


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_priors_scale_by_the_measured_speed_and_the_current_step_by_its_rate() -> None:
    """A (prior 10 s) runs 2× slower than recorded: half its 10 units in 10 s, so f = 2,
    A has 5 units × 2 s left, B (prior 20 s) 40 s, C no prior: a lower bound of 50 s."""
    clock = FakeClock()
    eta = RunETA([("a", "A", 10.0), ("b", "B", 20.0), ("c", "C", None)], clock=clock)
    assert eta.remaining() == (30.0, 1)  # f = 1 before anything is measured
    eta.begin("a", 10)
    for _ in range(5):
        clock.t += 2.0
        eta.advance()
    assert eta.speed() == pytest.approx(2.0)
    assert eta.remaining() == (pytest.approx(50.0), 1)
    assert eta.describe() == "run: step 1/3, ≥ 50 s left (1 step not estimated)"
    clock.t += 1.0  # one second into the 6th unit: one second less left
    assert eta.remaining()[0] == pytest.approx(49.0)
    clock.t += 9.0
    eta.end()  # A took 20 s for a 10 s prior: f stays 2
    assert eta.remaining() == (pytest.approx(40.0), 1)
    eta.begin("b", 4)
    clock.t += 5.0
    eta.advance()  # B at 5 s per unit: 15 s left of it, f = (20 + 5) / (10 + 5)
    assert eta.remaining() == (pytest.approx(15.0), 1)
    assert eta.speed() == pytest.approx(25.0 / 15.0)


def test_skipped_steps_cost_nothing_and_leave_the_count() -> None:
    clock = FakeClock()
    eta = RunETA([("a", "A", 100.0), ("b", "B", 60.0), ("c", "C", 30.0)], clock=clock)
    eta.skip("a")
    assert eta.remaining() == (90.0, 0)
    assert eta.describe() == "run: step 1/2, ≈ 2 min left"
    eta.begin("b", 3)
    clock.t += 30.0
    eta.advance()
    eta.end()
    assert eta.describe().startswith("run: step 2/2, ≈ ")
    eta.begin("c", 1)
    eta.end()
    assert eta.describe() == "run: step 2/2, ≈ 0 s left"


def test_a_step_without_progress_uses_its_prior_minus_the_time_spent() -> None:
    clock = FakeClock()
    eta = RunETA([("a", "A", 100.0)], clock=clock)
    eta.begin("a", 1)
    clock.t += 30.0
    assert eta.remaining() == (pytest.approx(70.0), 0)
    clock.t += 100.0
    assert eta.remaining() == (0.0, 0)


def test_parallel_estimate_schedules_tasks_on_the_first_free_worker() -> None:
    """Tasks of 30, 10, 10 and 25 s (priors, f = 1) on 2 workers taking them in order:
    worker 1 runs 30, worker 2 runs 10 + 10 then 25 (free at 20 < 30): the last finishes at
    45 s; on 1 worker 75 s; a finished step costs nothing, a step without a prior is
    counted."""
    eta = RunETA([("a1", "", 20.0), ("a2", "", 10.0), ("b", "", 10.0), ("c", "", 10.0),
                  ("d", "", 25.0), ("e", "", None)])
    groups = [["a1", "a2"], ["b"], ["c"], ["d", "e"]]
    assert eta.remaining_parallel(groups, 2) == (45.0, 1)
    assert eta.remaining_parallel(groups, 1) == (75.0, 1)
    eta.record("a1", 20.0)  # as recorded: f stays 1, task a has 10 s left
    assert eta.speed() == 1.0
    assert eta.remaining_parallel(groups, 2) == (35.0, 1)
    assert eta.describe(groups, 2) == "run: 1/6 steps done, ≥ 35 s left (1 step not estimated)"
    with pytest.raises(ValueError, match="workers must be >= 1"):
        eta.remaining_parallel(groups, 0)


def test_a_step_resumed_part_way_counts_only_this_sessions_work() -> None:
    """A 10-unit step (prior 100 s) resumed with 6 units done: before any new unit its 40 %
    left costs 40 s; after 2 units in 30 s (15 s per unit, f = 30 / (100 · 2/10) = 1.5) the
    last 2 units cost 30 s and a later 20 s step 30 s."""
    clock = FakeClock()
    eta = RunETA([("a", "A", 100.0), ("b", "B", 20.0)], clock=clock)
    eta.begin("a", 10, done=6)
    assert eta.remaining() == (pytest.approx(60.0), 0)
    for _ in range(2):
        clock.t += 15.0
        eta.advance()
    assert eta.speed() == pytest.approx(1.5)
    assert eta.remaining() == (pytest.approx(60.0), 0)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 41.2, 60, 61, 3599, 3600, 3661, 7320)] == [
        "0 s", "42 s", "1 min", "2 min", "1 h 00 min", "1 h 00 min", "1 h 02 min",
        "2 h 02 min"]
    with pytest.raises(ValueError, match="finite number >= 0"):
        format_duration(-1.0)


def test_bad_plans_and_keys() -> None:
    with pytest.raises(ValueError, match="distinct keys"):
        RunETA([("a", "A", 1.0), ("a", "B", 2.0)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        RunETA([("a", "A", float("nan"))])
    eta = RunETA([("a", "A", 1.0)])
    with pytest.raises(KeyError, match="known: a"):
        eta.begin("b", 1)
    with pytest.raises(ValueError, match="need 0 <= done <= units"):
        eta.begin("a", -1)
    with pytest.raises(ValueError, match="need 0 <= done <= units"):
        eta.begin("a", 2, done=3)


def test_rasch2023_priors_scale_with_epochs_and_evaluations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The shipped priors of the recorded quick run, for a spec with twice its FP epochs,
    the same HWA epochs and half its repeats: FP training prior × 2, HWA × 1, evaluations
    × 1/2; a workload that was never recorded has no priors; an unreadable file gives none."""
    recorded = load_priors("quick")
    assert recorded is not None
    mlp = recorded["workloads"]["mlp_mnist"]
    w = SimpleNamespace(name="mlp_mnist", epochs=2 * mlp["epochs"], hwa_epochs=mlp["hwa_epochs"])
    other = SimpleNamespace(name="new_model", epochs=1, hwa_epochs=1)
    spec = SimpleNamespace(mode="quick", workloads=[w, other],
                           repeats=recorded["repeats"] // 2, times=[0.0] * recorded["times"])
    eta = rasch2023_eta(spec)
    priors = {s.key: s.prior_s for s in eta._steps}
    steps = mlp["steps_s"]
    assert priors["mlp_mnist:fp_train"] == pytest.approx(2 * steps["fp_train"])
    assert priors["mlp_mnist:hwa_train"] == pytest.approx(steps["hwa_train"])
    assert priors["mlp_mnist:direct_eval"] == pytest.approx(steps["direct_eval"] / 2)
    assert priors["new_model:fp_train"] is None
    broken = {"repeats": 10, "times": 4,
              "workloads": {"mlp_mnist": {"epochs": 1, "steps_s": {"fp_train": "fast"}}}}
    assert rasch2023_eta(spec, priors=broken)._steps[0].prior_s is None  # never an error
    bad = tmp_path / "timings.json"
    bad.write_text("{not json", encoding="utf-8")
    assert load_priors("quick", bad) is None
    assert load_priors("no-such-mode") is None


def test_shipped_priors_match_the_recorded_runs() -> None:
    """``rasch2023_timings.json`` is what ``scripts/rasch2023_timings.py`` makes of the
    recorded runs in docs/results (skipped where those are not in the checkout)."""
    import importlib.util
    from pathlib import Path

    from aimc.experiments.eta import PRIORS_FILE

    script = Path(__file__).resolve().parents[1] / "scripts" / "rasch2023_timings.py"
    spec = importlib.util.spec_from_file_location("rasch2023_timings", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not all(p.is_file() for p in module.RUNS.values()):
        pytest.skip("the recorded rasch2023 runs are not in this checkout")
    import json

    assert json.loads(PRIORS_FILE.read_text(encoding="utf-8")) == module.timings()
