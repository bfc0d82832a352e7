"""``aimc reproduce rasch2023-sensitivity``: one nonideality at a time, scaled over a range.

The sensitivity study of Rasch et al., Nat. Commun. 14:5282 (2023), arXiv:2302.08469, on the
models of an ``aimc reproduce rasch2023`` run. For every workload and both mappings
(direct: FP weights converted with the direct preset and calibrated exactly as the pipeline's
``direct_eval`` step does; HWA: the HWA preset with the run's ``hwa_model.pt``), each factor
of :data:`FACTORS` is swept over its values with :func:`aimc.replace_config` while all other
settings keep their preset values. Each point is the test metric ``time_s`` after
programming (default 1 day: long enough that drift matters, the paper's middle time point)
over ``repeats`` independent programmings with global drift compensation.

**Random streams.** Repeat ``r`` of a (workload, mapping) uses the same programming and
noise seeds at every factor value (common random numbers), so differences between values
are not sampling noise of the programming draw.

**Models.** Read from ``--from-run`` (``OUT/<workload>/fp_model.pt``, ``hwa_model.pt`` and
the step JSONs); a workload whose steps are missing is first run through the rasch2023
pipeline there (:class:`aimc.experiments.rasch2023._Workload`), reusing finished steps.

**Jobs and resuming.** One job per (workload, mapping, factor), run in a spawn-context
process pool (``workers``; 1 runs in-process). A job writes ``OUT/jobs/<w>__<m>__<f>.json``
atomically with a fingerprint of its settings and model hashes; a rerun skips finished jobs.

**Normalised metric.** analog/FP accuracy, or FP/analog perplexity, per repeat.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import aimc
from aimc import presets, units
from aimc.config import AnalogConfig
from aimc.errors import ConfigError
from aimc.experiments import rasch2023 as r23
from aimc.experiments.progress import progress
from aimc.experiments.provenance import claim_run_folder, code_block, portable_run_path
from aimc.experiments.rasch2023_spec import RunSpec, default_spec, time_label
from aimc.experiments.report import write_json

__all__ = ["FACTORS", "Factor", "SensitivitySpec", "default_sensitivity_spec",
           "run_sensitivity", "summarise_sensitivity"]

_SENS = 101  # purpose of the derived random streams (distinct from rasch2023's 1..6)
Log = Callable[[str], Any]


@dataclass(frozen=True)
class Factor:
    """A nonideality: how to read and set it on an :class:`AnalogConfig`."""

    name: str
    label: str
    get: Callable[[AnalogConfig], float]
    set: Callable[[AnalogConfig, float], AnalogConfig]
    harsh: str  # "max", "min" or "ends" (the worse of the two ends)
    integer: bool = False


def _fwd(c: AnalogConfig, **kw: Any) -> AnalogConfig:
    return c.replace(forward=c.forward.replace(**kw))


def _dev(c: AnalogConfig, **kw: Any) -> AnalogConfig:
    if not hasattr(c.device, next(iter(kw))):
        raise ConfigError(f"the device model {type(c.device).__name__} has no "
                          f"{next(iter(kw))}; the sweep needs PCMNoiseModel")
    return c.replace(device=c.device.replace(**kw))


def _bits(steps: int | None) -> float:
    return math.inf if steps is None else math.log2(steps + 2)


def _ir_scale(c: AnalogConfig) -> float:
    return 0.0 if c.forward.ir_drop is None else float(c.forward.ir_drop.scale)


def _set_ir(c: AnalogConfig, v: float) -> AnalogConfig:
    from aimc.config import IRDrop

    ir = c.forward.ir_drop if c.forward.ir_drop is not None else IRDrop()
    return _fwd(c, ir_drop=ir.replace(scale=float(v)))


#: The swept factors, in report order.
FACTORS: dict[str, Factor] = {f.name: f for f in (
    Factor("inp_noise", "input noise σ", lambda c: c.forward.inp_noise,
           lambda c, v: _fwd(c, inp_noise=float(v)), "max"),
    Factor("out_noise", "output noise σ", lambda c: c.forward.out_noise,
           lambda c, v: _fwd(c, out_noise=float(v)), "max"),
    Factor("read_noise", "PCM read noise σ_w", lambda c: c.forward.read_noise,
           lambda c, v: _fwd(c, read_noise=float(v)), "max"),
    Factor("prog_noise", "programming noise scale", lambda c: c.device.prog_noise_scale,
           lambda c, v: _dev(c, prog_noise_scale=float(v)), "max"),
    Factor("drift", "drift scale", lambda c: c.device.drift_scale,
           lambda c, v: _dev(c, drift_scale=float(v)), "max"),
    Factor("dac_bits", "DAC bits (steps 2^b − 2)", lambda c: _bits(c.forward.dac.steps),
           lambda c, v: _fwd(c, dac=c.forward.dac.replace(steps=2 ** int(v) - 2)), "min",
           integer=True),
    Factor("adc_bits", "ADC bits (steps 2^b − 2)", lambda c: _bits(c.forward.adc.steps),
           lambda c, v: _fwd(c, adc=c.forward.adc.replace(steps=2 ** int(v) - 2)), "min",
           integer=True),
    Factor("ir_drop", "IR drop scale", _ir_scale, _set_ir, "max"),
    Factor("adc_range", "ADC range (out_bound)", lambda c: c.forward.adc.bound,
           lambda c, v: _fwd(c, adc=c.forward.adc.replace(bound=float(v))), "ends"),
)}

_DEFAULT_VALUES: dict[str, tuple[float, ...]] = {
    "inp_noise": (0.0, 0.01, 0.02, 0.05, 0.1),
    "out_noise": (0.0, 0.02, 0.04, 0.08, 0.16),
    "read_noise": (0.0, 0.00875, 0.0175, 0.035, 0.07),
    "prog_noise": (0.0, 0.5, 1.0, 2.0, 4.0),
    "drift": (0.0, 0.5, 1.0, 2.0, 4.0),
    "dac_bits": (4, 5, 6, 7, 8),
    "adc_bits": (4, 5, 6, 7, 8),
    "ir_drop": (0.0, 1.0, 2.0, 4.0, 8.0),
    "adc_range": (2.5, 5.0, 10.0, 20.0, 40.0),
}
_SPEC_KEYS = ("mode", "repeats", "time_s", "seed", "workloads", "factors")


@dataclass(frozen=True)
class SensitivitySpec:
    """What to sweep. Validated at construction (:class:`ConfigError` on a bad value).

    Attributes:
        mode: ``"full"``, ``"quick"`` or ``"tiny"`` (picks the default run spec if the run
            folder has no ``config.json``).
        repeats: independent programmings per point.
        time_s: evaluation time after programming (s), default 1 day.
        seed: master seed of the sweep's random streams.
        workloads: workload names (None: every workload of the run spec).
        factors: factor name → values (see :data:`FACTORS`); bit factors take integers 2..16.
    """

    mode: str = "full"
    repeats: int = 10
    time_s: float = units.day
    seed: int = 0
    workloads: tuple[str, ...] | None = None
    factors: tuple[tuple[str, tuple[float, ...]], ...] = tuple(_DEFAULT_VALUES.items())

    def __post_init__(self) -> None:
        if self.mode not in ("full", "quick", "tiny"):
            raise ConfigError(f"mode must be full, quick or tiny, got {self.mode!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) \
                or self.repeats < 1:
            raise ConfigError(f"repeats must be an integer >= 1, got {self.repeats!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.time_s, (int, float)) or not math.isfinite(self.time_s) \
                or self.time_s < 0:
            raise ConfigError(f"time_s must be a finite number >= 0, got {self.time_s!r}")
        if self.workloads is not None:
            from aimc.models import WORKLOADS

            if not self.workloads:
                raise ConfigError("workloads must name at least one workload")
            for w in self.workloads:
                if w not in WORKLOADS:
                    raise ConfigError(f"unknown workload {w!r}; choose from "
                                      f"{', '.join(WORKLOADS)}")
        if not self.factors:
            raise ConfigError("factors must name at least one factor")
        for name, values in self.factors:
            if name not in FACTORS:
                raise ConfigError(f"unknown factor {name!r}; choose from {', '.join(FACTORS)}")
            if not values:
                raise ConfigError(f"factor {name!r} needs at least one value")
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) \
                        or not math.isfinite(v) or v < 0:
                    raise ConfigError(f"factor {name!r}: values must be finite numbers >= 0, "
                                      f"got {v!r}")
                if FACTORS[name].integer and (v != int(v) or not 2 <= v <= 16):
                    raise ConfigError(f"factor {name!r}: bits must be integers in 2..16, "
                                      f"got {v!r}")
                if name == "adc_range" and v <= 0:
                    raise ConfigError(f"factor 'adc_range': values must be > 0, got {v!r}")

    @property
    def factor_values(self) -> dict[str, tuple[float, ...]]:
        return dict(self.factors)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "repeats": self.repeats, "time_s": float(self.time_s),
                "seed": self.seed,
                "workloads": list(self.workloads) if self.workloads is not None else None,
                "factors": {k: list(v) for k, v in self.factors}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivitySpec:
        """From :meth:`to_dict`'s form; unknown keys or factors raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError("a sensitivity spec must be a JSON object")
        unknown = sorted(set(data) - set(_SPEC_KEYS))
        if unknown:
            raise ConfigError(f"unknown sensitivity spec key(s) {unknown}; valid keys: "
                              f"{', '.join(_SPEC_KEYS)}")
        kw = dict(data)
        if kw.get("workloads") is not None:
            kw["workloads"] = tuple(kw["workloads"])
        if "factors" in kw:
            if not isinstance(kw["factors"], Mapping):
                raise ConfigError("factors must map factor names to lists of values")
            kw["factors"] = tuple((k, tuple(v)) for k, v in kw["factors"].items())
        return cls(**kw)

    def replace(self, **changes: Any) -> SensitivitySpec:
        return dataclasses.replace(self, **changes)


def default_sensitivity_spec(mode: str = "full") -> SensitivitySpec:
    """Every factor at its default values; repeats 10 (full), 3 (quick), 2 (tiny)."""
    return SensitivitySpec(mode=mode, repeats={"full": 10, "quick": 3, "tiny": 2}.get(mode, 10))


# --------------------------------------------------------------------------- one job
def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def _job_path(out: Path, workload: str, mapping: str, factor: str) -> Path:
    return out / "jobs" / f"{workload}__{mapping}__{factor}.json"


def _points(spec: SensitivitySpec, factor: str, preset_value: float) -> list[float]:
    """The swept values, plus the preset value if missing (the baseline of the ranking)."""
    values = [float(v) for v in spec.factor_values[factor]]
    if not any(math.isclose(v, preset_value) for v in values) and math.isfinite(preset_value):
        values.append(float(preset_value))
    return sorted(set(values))


class _QuietStore(r23._Store):
    """Reads the run folder without appending to its ``run.log``."""

    def log(self, msg: str) -> None:
        pass


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one (workload, mapping, factor) sweep; writes and returns its result."""
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    run_spec = RunSpec.from_dict(job["run_spec"])
    spec = SensitivitySpec.from_dict(job["spec"])
    name, mapping, fname = job["workload"], job["mapping"], job["factor"]
    factor = FACTORS[fname]
    w = run_spec.workload(name)
    dev = torch.device("cpu")
    store = _QuietStore(Path(job["from_run"]), lambda m: None)
    wl = r23._Workload(run_spec, w, store, job["data_root"], dev, False)
    wl.results = {s: json.loads(store.result_path(name, s).read_text(encoding="utf-8"))
                  for s in ("fp_train", "hwa_train")}
    task = wl.task
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        if mapping == "direct":  # exactly as rasch2023's direct_eval step
            torch.manual_seed(r23.derived_seed(run_spec.seed, name, r23._CALIB, 1))
            model = aimc.convert_to_analog(wl._fp_model(), presets.get(run_spec.direct_preset))
            aimc.calibrate_input_ranges(model, task.calibration_batches(
                w.batch_size, w.calibration_batches))
        else:
            model = wl._hwa_model()
        model.eval()
        base = aimc.analog_layers(model)[0][1].analog_config
        preset_value = float(factor.get(base))
        values = _points(spec, fname, preset_value)
        tag = r23._MAPPINGS[mapping]
        rows: list[list[float]] = []
        for v in values:
            aimc.replace_config(model, lambda c, v=v: factor.set(c, v))
            row = []
            for r in range(spec.repeats):
                g = torch.Generator(device=dev).manual_seed(
                    r23.derived_seed(spec.seed, name, _SENS, tag, r))
                noise = torch.Generator(device=dev).manual_seed(
                    r23.derived_seed(spec.seed, name, _SENS, 10 + tag, r))
                aimc.set_noise_generator(model, noise)
                with torch.no_grad():
                    aimc.program(model, generator=g)
                    with aimc.at_time(model, spec.time_s, generator=g):
                        row.append(float(task.evaluate(model, batch_size=w.eval_batch_size)))
            aimc.set_noise_generator(model, None)
            rows.append(row)
    result = {"workload": name, "mapping": mapping, "factor": fname,
              "fingerprint": job["fingerprint"], "preset_value": preset_value,
              "values": values, "per_value": rows,
              "wall_time_s": round(time.perf_counter() - t0, 3)}
    write_json(_job_path(Path(job["out"]), name, mapping, fname), result)
    return result


# --------------------------------------------------------------------------- summary
def _norm(metric: str, fp: float, v: float) -> float:
    if not math.isfinite(v):  # a diverged perplexity (inf/nan) counts as total failure
        return 0.0
    if metric == "perplexity":
        return fp / v if v > 0 else 0.0
    return v / fp if fp > 0 else 0.0


def summarise_sensitivity(jobs: Sequence[dict[str, Any]], fp: Mapping[str, dict[str, Any]],
                          spec: SensitivitySpec) -> dict[str, Any]:
    """Per-point stats, the factor ranking and the per-topology robustness."""
    sweeps: dict[str, Any] = {}
    for j in jobs:
        info = fp[j["workload"]]
        norm = [[_norm(info["metric"], info["fp"], x) for x in row] for row in j["per_value"]]
        sweeps.setdefault(j["factor"], {}).setdefault(j["workload"], {})[j["mapping"]] = {
            "values": j["values"], "preset_value": j["preset_value"],
            "metric_mean": [float(np.mean(r)) for r in j["per_value"]],
            "per_repeat": j["per_value"],
            "normalised_mean": [float(np.mean(r)) for r in norm],
            "normalised_std": [float(np.std(r, ddof=1)) if len(r) > 1 else 0.0 for r in norm],
        }
    ranking = []
    for fname, by_w in sweeps.items():
        f = FACTORS[fname]
        drops: dict[str, list[float]] = {"direct": [], "hwa": []}
        harsh_values = set()
        for by_m in by_w.values():
            for mapping, s in by_m.items():
                vals, nm = s["values"], s["normalised_mean"]
                i0 = min(range(len(vals)), key=lambda i: abs(vals[i] - s["preset_value"]))
                if f.harsh == "max":
                    ih = len(vals) - 1
                elif f.harsh == "min":
                    ih = 0
                else:
                    ih = 0 if nm[0] <= nm[-1] else len(vals) - 1
                harsh_values.add(vals[ih])
                s["drop"] = nm[i0] - nm[ih]
                drops[mapping].append(s["drop"])
        row = {"factor": fname, "label": f.label,
               "harshest": sorted(harsh_values),
               "drop_mean": float(np.mean(drops["direct"] + drops["hwa"])),
               "drop_direct": float(np.mean(drops["direct"])) if drops["direct"] else None,
               "drop_hwa": float(np.mean(drops["hwa"])) if drops["hwa"] else None}
        ranking.append(row)
    ranking.sort(key=lambda r: -r["drop_mean"])
    robustness = {}
    for wname in fp:
        per_m = {}
        for mapping in ("direct", "hwa"):
            vals = [x for by_w in sweeps.values() if wname in by_w and mapping in by_w[wname]
                    for x in by_w[wname][mapping]["normalised_mean"]]
            per_m[mapping] = float(np.mean(vals)) if vals else None
        worst = [by_w[wname][m]["drop"] for by_w in sweeps.values() if wname in by_w
                 for m in by_w[wname]]
        robustness[wname] = {**per_m, "mean_drop": float(np.mean(worst)) if worst else None}
    return {"sweeps": sweeps, "ranking": ranking, "robustness": robustness}


# --------------------------------------------------------------------------- the run
def _prepare_models(run_spec: RunSpec, names: Sequence[str], from_run: Path,
                    data_root: Any, show_progress: bool, log: Log) -> dict[str, dict[str, Any]]:
    """FP metric and model hashes per workload; runs the rasch2023 steps where missing."""
    store = r23._Store(from_run, log)
    info = {}
    for name in names:
        need = [s for s in r23.STEPS if store.load(name, s, run_spec.fingerprint(name, s),
                                                   quiet=True) is None]
        if need:
            log(f"{name}: no finished models in {from_run} ({', '.join(need)} missing); "
                "running the rasch2023 pipeline for it")
            r23.check_data(data_root, [name])
            from_run.mkdir(parents=True, exist_ok=True)
            if not (from_run / "config.json").is_file():
                write_json(from_run / "config.json", run_spec.to_dict())
            with torch.random.fork_rng(devices=[]):
                r23._Workload(run_spec, run_spec.workload(name), store, data_root,
                              torch.device("cpu"), show_progress).run()
        fp_res = json.loads(store.result_path(name, "fp_train").read_text(encoding="utf-8"))
        hwa_res = json.loads(store.result_path(name, "hwa_train").read_text(encoding="utf-8"))
        info[name] = {"metric": fp_res["metric"], "fp": float(fp_res["fp"]),
                      "hwa_digital": float(hwa_res["hwa_digital"]),
                      "model_hashes": [fp_res["model_hash"], hwa_res["model_hash"]]}
    return info


def _load_run_spec(from_run: Path, mode: str) -> RunSpec:
    cfg = from_run / "config.json"
    if cfg.is_file():
        return RunSpec.from_dict(json.loads(cfg.read_text(encoding="utf-8")))
    return default_spec(mode)


def run_sensitivity(spec: SensitivitySpec, out_dir: str | os.PathLike[str], *,
                    from_run: str | os.PathLike[str],
                    data_root: str | os.PathLike[str] | None = None, workers: int = 1,
                    show_progress: bool = True, log: Log | None = None,
                    command: str | None = None,
                    allow_other_code: bool = False) -> dict[str, Any]:
    """Run (or resume) the sweep; write ``metrics.json``, one PNG per factor and ``report.md``.

    Args:
        spec: what to sweep.
        out_dir: output folder; finished jobs found there (``jobs/``) are reused.
        from_run: a rasch2023 run folder with the trained models (trained there if missing).
        data_root: data folder (None: ``$AIMC_DATA``).
        workers: processes of the pool (spawn); 1 runs the jobs in this process.
        show_progress: a progress bar over jobs on stderr.
        log: progress messages (default: stderr).
        command: the command line, for the report.
        allow_other_code: resume run folders (``out_dir`` and ``from_run``) started by
            other code (see :func:`~aimc.experiments.provenance.claim_run_folder`).

    Raises:
        StateError: ``out_dir`` or ``from_run`` holds results of other code (and
            ``allow_other_code`` is False).
    """
    from aimc.experiments import sensitivity_report as report

    out, src = Path(out_dir), Path(from_run)
    out.mkdir(parents=True, exist_ok=True)
    src.mkdir(parents=True, exist_ok=True)
    history = claim_run_folder(out, allow_other_code=allow_other_code)
    claim_run_folder(src, allow_other_code=allow_other_code)
    log = log if log is not None else (lambda m: print(m, file=sys.stderr, flush=True))
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    run_spec = _load_run_spec(src, spec.mode)
    names = list(spec.workloads) if spec.workloads is not None else list(
        run_spec.workload_names)
    missing = [n for n in names if n not in run_spec.workload_names]
    if missing:
        raise ConfigError(f"workload(s) {missing} are not in the run spec of {src}; choose "
                          f"from {', '.join(run_spec.workload_names)}")
    t_start = time.perf_counter()
    write_json(out / "config.json", spec.to_dict())
    fp = _prepare_models(run_spec, names, src, data_root, show_progress, log)
    jobs, done = [], []
    for name in names:
        for mapping in ("direct", "hwa"):
            for fname, values in spec.factors:
                fingerprint = _fingerprint(spec.repeats, spec.time_s, spec.seed,
                                           [float(v) for v in values],
                                           run_spec.workload(name).to_dict(),
                                           run_spec.direct_preset, run_spec.hwa_preset,
                                           run_spec.seed, fp[name]["model_hashes"])
                path = _job_path(out, name, mapping, fname)
                if path.is_file():
                    try:
                        old = json.loads(path.read_text(encoding="utf-8"))
                    except ValueError:
                        old = {}
                    if old.get("fingerprint") == fingerprint:
                        done.append(old)
                        continue
                jobs.append({"run_spec": run_spec.to_dict(), "spec": spec.to_dict(),
                             "workload": name, "mapping": mapping, "factor": fname,
                             "fingerprint": fingerprint, "from_run": str(src),
                             "data_root": None if data_root is None else str(data_root),
                             "out": str(out), "threads": 1 if workers > 1 else None})
    if done:
        log(f"resuming: {len(done)} finished job(s) in {out / 'jobs'}")
    log(f"sensitivity sweep: {len(jobs)} job(s) to run on {workers} worker(s)")
    bar = progress(total=len(jobs), desc="sensitivity jobs", enabled=show_progress)
    try:
        if workers == 1:
            for job in jobs:
                done.append(_run_job(job))
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [pool.submit(_run_job, job) for job in jobs]
                for fut in cf.as_completed(futures):
                    res = fut.result()
                    done.append(res)
                    bar.update()
                    bar.set_postfix_str(f"{res['workload']} {res['mapping']} {res['factor']}")
    finally:
        bar.close()
    order = {(n, m, f): i for i, (n, m, f) in enumerate(
        (n, m, f) for n in names for m in ("direct", "hwa") for f, _ in spec.factors)}
    done.sort(key=lambda j: order[(j["workload"], j["mapping"], j["factor"])])
    metrics: dict[str, Any] = {
        "name": "rasch2023-sensitivity",
        "paper": "Rasch et al., Nat. Commun. 14:5282 (2023), arXiv:2302.08469",
        "spec": spec.to_dict(), "from_run": portable_run_path(src), "command": command,
        "code": code_block(history),
        "machine": {**r23.machine_info(), "device": "cpu", "workers": workers},
        "date": time.strftime("%Y-%m-%d"), "time_label": time_label(spec.time_s),
        "presets": {"direct": run_spec.direct_preset, "hwa": run_spec.hwa_preset},
        "workloads": fp,
        **summarise_sensitivity(done, fp, spec),
        "compute_time_s": round(sum(j.get("wall_time_s", 0.0) for j in done), 3),
        "wall_time_s": round(time.perf_counter() - t_start, 3),
    }
    report.write_outputs(out, metrics)
    log(f"wrote {out}/: metrics.json, report.md, " + ", ".join(
        f"{f}.png" for f, _ in spec.factors))
    return metrics
