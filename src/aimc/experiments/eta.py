"""Estimated time left of a whole multi-step run (``aimc reproduce rasch2023``).

A run is a fixed list of steps (e.g. four per workload: FP training, direct evaluation, HWA
training, HWA evaluation), each with an optional *prior* duration — what it took in a recorded
run of the same setting (:data:`PRIORS_FILE`), scaled to this run's epochs and repeats. While
the run goes, :class:`RunETA` measures how fast this machine is against the priors and
estimates

    left = (units left of the current step) · (its measured seconds per unit)
           + Σ over later steps of prior · f,
    f = Σ measured seconds of the steps begun / Σ their priors × the fraction of each done

(f = 1 before anything was measured). Steps without a prior add nothing and are counted, so
the estimate then reads as a lower bound ("≥ 12 min left, 2 steps not estimated"). Steps
loaded from an earlier session (:meth:`RunETA.skip`) cost nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunETA", "format_duration", "PRIORS_FILE", "load_priors", "rasch2023_eta"]

#: step durations of the recorded runs, by mode (written by ``scripts/rasch2023_timings.py``)
PRIORS_FILE = Path(__file__).with_name("rasch2023_timings.json")


def format_duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``1 h 05 min`` (rounded up to whole minutes above a minute)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number >= 0 s, got {seconds!r}")
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def load_priors(mode: str, path: Path = PRIORS_FILE) -> dict[str, Any] | None:
    """The recorded step durations of ``mode`` (None when none was recorded or the file is
    missing or unreadable: an estimate is a convenience, never a reason to fail a run)."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = table.get(mode) if isinstance(table, dict) else None
    return entry if isinstance(entry, dict) else None


@dataclass
class _Step:
    key: str
    label: str
    prior_s: float | None
    units: int = 0
    done: int = 0
    done_before: int = 0  # units done by an earlier session (resumed part-way)
    spent_s: float = 0.0
    state: str = "pending"  # pending | running | finished | skipped


class RunETA:
    """Whole-run progress and time left (module docstring).

    Args:
        steps: ``(key, label, prior seconds or None)`` in run order.
        clock: seconds (default :func:`time.perf_counter`; tests pass a fake clock).
    """

    def __init__(self, steps: Iterable[tuple[str, str, float | None]], *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._steps = [_Step(k, label, None if p is None else float(p)) for k, label, p in steps]
        self._index = {s.key: i for i, s in enumerate(self._steps)}
        if len(self._index) != len(self._steps):
            raise ValueError("RunETA steps need distinct keys")
        for s in self._steps:
            if s.prior_s is not None and not (math.isfinite(s.prior_s) and s.prior_s >= 0):
                raise ValueError(f"step {s.key!r}: a prior must be a finite number >= 0 s, "
                                 f"got {s.prior_s!r}")
        self._clock = clock
        self._current: _Step | None = None
        self._t0 = 0.0
        self._last_shown = -math.inf

    def _step(self, key: str) -> _Step:
        if key not in self._index:
            raise KeyError(f"{key!r} is not a step of this run; known: "
                           f"{', '.join(self._index)}")
        return self._steps[self._index[key]]

    # -- what the run reports ------------------------------------------------------
    def skip(self, key: str) -> None:
        """``key`` was done by an earlier session: nothing left, nothing measured."""
        self._step(key).state = "skipped"

    def begin(self, key: str, units: int, done: int = 0) -> None:
        """``key`` starts: ``units`` units of work in all (batches, evaluations), ``done``
        of them by an earlier session (a step resumed part-way)."""
        if units < 0 or not 0 <= done <= units:
            raise ValueError(f"need 0 <= done <= units, got units {units}, done {done}")
        if self._current is not None:
            self.end()
        s = self._step(key)
        s.units, s.done, s.done_before, s.spent_s, s.state = units, done, done, 0.0, "running"
        self._current, self._t0 = s, self._clock()

    def advance(self, n: int = 1) -> None:
        """``n`` more units of the current step are done."""
        s = self._current
        if s is None:
            return
        s.done = min(s.done + n, s.units)
        now = self._clock()
        s.spent_s += now - self._t0
        self._t0 = now

    def end(self) -> None:
        """The current step finished."""
        s = self._current
        if s is None:
            return
        s.spent_s += self._clock() - self._t0
        s.done, s.state, self._current = s.units, "finished", None

    def due(self, interval: float = 2.0) -> bool:
        """True at most once per ``interval`` seconds (when to redraw a bar's estimate)."""
        now = self._clock()
        if now - self._last_shown < interval:
            return False
        self._last_shown = now
        return True

    def record(self, key: str, seconds: float) -> None:
        """``key`` finished elsewhere (a parallel worker) in ``seconds``."""
        s = self._step(key)
        if s is self._current:
            self._current = None
        s.units, s.done, s.done_before = 1, 1, 0
        s.spent_s, s.state = float(seconds), "finished"

    def is_open(self, key: str) -> bool:
        """Whether ``key`` is neither finished nor skipped."""
        return self._step(key).state not in ("finished", "skipped")

    # -- estimates -----------------------------------------------------------------
    def speed(self) -> float:
        """f: measured seconds ÷ prior seconds over the work done so far (1 with none)."""
        measured = expected = 0.0
        for s in self._steps:
            if s.prior_s is None or s.state not in ("running", "finished") or s.units == 0:
                continue
            if s.state == "running" and s.done == s.done_before:
                continue
            measured += s.spent_s  # this session's part, up to the last completed unit
            done = (s.done if s.state == "running" else s.units) - s.done_before
            expected += s.prior_s * done / s.units
        return measured / expected if expected > 0 and measured > 0 else 1.0

    def remaining(self) -> tuple[float, int]:
        """(seconds left as estimated, steps left without an estimate)."""
        f = self.speed()
        left, unknown = 0.0, 0
        for s in self._steps:
            if s.state in ("finished", "skipped"):
                continue
            if s.state == "running":
                live = self._clock() - self._t0  # into the unit now running
                if s.done > s.done_before:
                    rate = s.spent_s / (s.done - s.done_before)
                    left += max(rate * (s.units - s.done) - live, 0.0)
                elif s.prior_s is not None:
                    left += max(s.prior_s * f * (1 - s.done / s.units if s.units else 0.0)
                                - live, 0.0)
                else:
                    unknown += 1
            elif s.prior_s is not None:
                left += s.prior_s * f
            else:
                unknown += 1
        return left, unknown

    def remaining_parallel(self, groups: Iterable[Iterable[str]], workers: int
                           ) -> tuple[float, int]:
        """(seconds left, steps without an estimate) when ``groups`` of steps (one task per
        group, its steps in order) run on ``workers`` parallel workers that take tasks in
        order: every open step costs its prior · f (the time already spent inside running
        steps is not visible here, so this errs long), and tasks go to the first free
        worker (list scheduling); the estimate is when the last one finishes."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        f = self.speed()
        free = [0.0] * workers
        unknown = 0
        for group in groups:
            open_steps = [self._step(k) for k in group if self.is_open(k)]
            if not open_steps:
                continue
            unknown += sum(s.prior_s is None for s in open_steps)
            i = min(range(workers), key=free.__getitem__)
            free[i] += sum(s.prior_s * f for s in open_steps if s.prior_s is not None)
        return max(free), unknown

    def describe(self, groups: Iterable[Iterable[str]] | None = None,
                 workers: int = 1) -> str:
        """``run: step 5/16, ≈ 1 h 12 min left`` (``≥ …`` when some steps have no
        estimate); with ``groups``, the parallel estimate of :meth:`remaining_parallel` and
        the number of steps done (``run: 4/16 steps done, …``)."""
        todo = [s for s in self._steps if s.state != "skipped"]
        if groups is None:
            position = next((i + 1 for i, s in enumerate(todo) if s.state != "finished"),
                            len(todo))
            where = f"run: step {position}/{len(todo)}"
            left, unknown = self.remaining()
        else:
            done = sum(s.state == "finished" for s in todo)
            where = f"run: {done}/{len(todo)} steps done"
            left, unknown = self.remaining_parallel(groups, workers)
        if unknown == 0:
            return f"{where}, ≈ {format_duration(left)} left"
        return (f"{where}, ≥ {format_duration(left)} left "
                f"({unknown} step{'s' if unknown > 1 else ''} not estimated)")


def rasch2023_eta(spec: Any, *, priors: dict[str, Any] | None = None,
                  steps: Iterable[str] = ("fp_train", "direct_eval", "hwa_train", "hwa_eval"),
                  clock: Callable[[], float] = time.perf_counter) -> RunETA:
    """A :class:`RunETA` over every (workload, step) of a rasch2023 ``spec``, with priors
    from the recorded run of its mode (:func:`load_priors`) scaled by this spec's epochs
    (training) or repeats × times (evaluation) over the recorded ones. Keys are
    ``"<workload>:<step>"``."""
    priors = load_priors(spec.mode) if priors is None else priors
    recorded = (priors or {}).get("workloads", {})
    steps = tuple(steps)
    plan: list[tuple[str, str, float | None]] = []
    for w in spec.workloads:
        rec = recorded.get(w.name)
        for step in steps:
            prior = None
            try:  # a malformed entry gives no prior, never an error
                if rec is not None and step in rec.get("steps_s", {}):
                    if step == "fp_train":
                        scale = w.epochs / max(rec["epochs"], 1)
                    elif step == "hwa_train":
                        scale = w.hwa_epochs / max(rec["hwa_epochs"], 1)
                    else:
                        scale = (spec.repeats * len(spec.times)) / max(
                            priors["repeats"] * priors["times"], 1)  # type: ignore[index]
                    prior = float(rec["steps_s"][step]) * scale
                    if not (math.isfinite(prior) and prior >= 0):
                        prior = None
            except (KeyError, TypeError, ValueError, AttributeError):
                prior = None
            plan.append((f"{w.name}:{step}", f"{w.name}: {step.replace('_', ' ')}", prior))
    return RunETA(plan, clock=clock)
