"""``aimc reproduce rasch2023``: FP, direct mapping and HWA training on four workloads over time.

Reproduces the protocol of Rasch et al., "Hardware-aware training for large-scale and
diverse deep learning inference workloads using in-memory computing-based accelerators",
Nat. Commun. 14:5282 (2023), arXiv:2302.08469, on an MLP (MNIST), ResNet-20 (CIFAR-10), an
LSTM language model (PTB) and a transformer classifier (SST-2). Per workload:

1. ``fp_train``: train the FP model (per-epoch checkpoints); its test metric.
2. ``direct_eval``: convert the FP weights with the direct preset (``rasch2023``),
   calibrate the input ranges on training batches (:func:`aimc.calibrate_input_ranges`,
   quantile method), then for each of ``repeats`` independent programming draws
   (:func:`aimc.program` with its own generator) measure the metric at each time after
   programming (:func:`aimc.at_time`: drift, fresh read noise, global drift compensation).
3. ``hwa_train``: convert the FP model with the HWA preset (``rasch2023_hwa``), initialise
   its input ranges from data, fine-tune in train mode (noisy forward pass, straight-through
   backward) with :func:`aimc.train.attach_hwa_constraints` and optional distillation from
   the FP model (per-epoch checkpoints).
4. ``hwa_eval``: like ``direct_eval`` for the HWA-trained model.

**Metrics.** Accuracy for the classifiers; perplexity exp(mean token NLL) for the language
model. The *normalised* metric is analog/FP accuracy, or FP/analog perplexity, per repeat.

**Iso-accuracy** (the paper's term; its exact definition is not in our sources, see
``physics.md`` §1.1): the mean over programming repeats of the normalised metric 1 hour
after programming is at least 0.99 — analog accuracy ≥ 99 % of the FP accuracy, or for
the language model analog perplexity ≤ FP perplexity / 0.99 ≈ 1.0101 × FP perplexity.
Threshold and time are spec settings (``iso_threshold``, ``iso_time``).

**Resuming.** Every step writes its result atomically (temporary file + ``os.replace``)
under ``OUT/<workload>/``; training writes a checkpoint after every epoch and evaluation a
partial result after every repeat. A rerun loads finished steps (logged as ``resuming:``),
continues an interrupted training at its next epoch and an interrupted evaluation at its
next repeat. Each result stores a fingerprint of the settings it depends on and the hash
of the model it used: a step is recomputed when the spec changed for it or its input model
changed (a deleted training result that is recomputed bit-identically leaves later steps
valid). All random streams derive from
``(seed, workload, purpose, index)``, so resuming gives the same numbers as an
uninterrupted run. A non-finite loss stops the run with :class:`~aimc.errors.TrainingError`
and keeps the last good checkpoint.

Example::

    from aimc.experiments.rasch2023 import run_rasch2023
    from aimc.experiments.rasch2023_spec import default_spec
    metrics = run_rasch2023(default_spec("quick"), "runs/rasch2023", data_root="~/data")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import aimc
from aimc import presets
from aimc.errors import CheckpointError, TrainingError
from aimc.experiments.eta import RunETA, rasch2023_eta
from aimc.experiments.progress import progress
from aimc.experiments.provenance import claim_run_folder, code_block
from aimc.experiments.rasch2023_spec import RunSpec, WorkloadSpec, time_label
from aimc.experiments.rasch2023_tasks import Task, check_data, load_task
from aimc.experiments.report import write_json
from aimc.models import build_model

__all__ = ["STEPS", "run_rasch2023", "summarise", "derived_seed", "machine_info", "state_hash"]

#: The pipeline steps of one workload, in order.
STEPS = ("fp_train", "direct_eval", "hwa_train", "hwa_eval")
_UPSTREAM = {"fp_train": (), "direct_eval": ("fp_train",), "hwa_train": ("fp_train",),
             "hwa_eval": ("hwa_train",)}
# purposes of the derived random streams
_INIT, _FP_EPOCH, _HWA_EPOCH, _PROGRAM, _NOISE, _CALIB = range(1, 7)
_MAPPINGS = {"direct": 1, "hwa": 2}

Log = Callable[[str], Any]


def derived_seed(seed: int, workload: str, *purpose: int) -> int:
    """A 63-bit seed from the master seed, the workload name and purpose integers."""
    words = [seed, zlib.crc32(workload.encode()), *purpose]
    return int(np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)[0] >> 1)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python, torch and platform, for metrics.json and the report."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        cores = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        cores = os.cpu_count() or 1
    info = {"cpu": cpu, "cores": cores, "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "torch": torch.__version__,
            "aimc": aimc.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# --------------------------------------------------------------------------- steps on disk
class _Store:
    """Step results and checkpoints under ``OUT/<workload>/``, written atomically."""

    def __init__(self, out: Path, log: Log) -> None:
        self.out = out
        self.log_fn = log

    def log(self, msg: str) -> None:
        self.log_fn(msg)
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n"
        with open(self.out / "run.log", "a", encoding="utf-8") as f:
            f.write(line)

    def dir(self, workload: str) -> Path:
        d = self.out / workload
        d.mkdir(parents=True, exist_ok=True)
        return d

    def result_path(self, workload: str, step: str) -> Path:
        return self.dir(workload) / f"{step}.json"

    def model_path(self, workload: str, step: str) -> Path:
        return self.dir(workload) / f"{step.split('_')[0]}_model.pt"

    def checkpoint_path(self, workload: str, step: str) -> Path:
        return self.dir(workload) / f"{step}.checkpoint.pt"

    def partial_path(self, workload: str, step: str) -> Path:
        return self.dir(workload) / f"{step}.partial.json"

    def load(self, workload: str, step: str, fingerprint: str, *,
             quiet: bool = False) -> dict[str, Any] | None:
        """The finished result of ``step``, or None if absent or from other settings."""
        path = self.result_path(workload, step)
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is unreadable ({exc}); delete it to recompute the "
                                  f"{step} step of {workload}") from exc
        if result.get("fingerprint") != fingerprint:
            if not quiet:
                self.log(f"settings changed: recomputing {workload} {step}")
            return None
        if step.endswith("_train") and not self.model_path(workload, step).is_file():
            if not quiet:
                self.log(f"{self.model_path(workload, step)} is missing: recomputing "
                         f"{workload} {step}")
            return None
        return result

    def save(self, workload: str, step: str, result: dict[str, Any]) -> None:
        write_json(self.result_path(workload, step), result)


def _save_torch(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, ...
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc}); delete it "
                              "to recompute that step") from exc


def state_hash(state: dict[str, Any]) -> str:
    """SHA-256 (16 hex digits) of a state dict's keys, dtypes, shapes and values.

    A step's result records the hash of the model it used, so a recomputed upstream model
    that is bit-identical (same seeds) leaves the later steps valid.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- hooks (tests)
def _epoch_finished(workload: str, step: str, epoch: int) -> None:
    """Called after the checkpoint of every finished epoch (a seam for tests)."""


# --------------------------------------------------------------------------- training
def _optimizer(name: str, params: Any, lr: float, momentum: float,
               weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _train(model: nn.Module, task: Task, *, spec: RunSpec, w: WorkloadSpec, step: str,
           store: _Store, fingerprint: str, teacher: nn.Module | None,
           show_progress: bool, eta: RunETA | None = None) -> dict[str, Any]:
    """Train ``model`` for the epochs of ``step`` with per-epoch checkpoints; resumable."""
    hwa = step == "hwa_train"
    epochs = w.hwa_epochs if hwa else w.epochs
    lr = w.hwa_lr if hwa else w.lr
    opt = _optimizer(w.hwa_optimizer if hwa else w.optimizer, model.parameters(), lr,
                     w.momentum, w.weight_decay)
    if hwa:
        aimc.train.attach_hwa_constraints(opt, model)
    ckpt = store.checkpoint_path(w.name, step)
    start, losses = 0, []
    if ckpt.is_file():
        state = _load_torch(ckpt)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start, losses = int(state["epoch"]), list(state["losses"])
            store.log(f"resuming: {w.name} {step} at epoch {start + 1}/{epochs} "
                      f"(checkpoint {ckpt})")
        else:
            store.log(f"settings changed: discarding {ckpt}")
    if start == 0:  # the starting point is the first good checkpoint
        _save_torch({"fingerprint": fingerprint, "epoch": 0, "losses": [],
                     "model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
    steps = task.steps_per_epoch(w.batch_size)
    total = max(epochs * steps, 1)
    purpose = _HWA_EPOCH if hwa else _FP_EPOCH
    phase = "HWA training" if hwa else "FP training"
    bar = progress(total=(epochs - start) * steps, desc=f"{w.name}: {phase}",
                   enabled=show_progress)
    status = f"epoch {start + 1}/{epochs}"
    if eta is not None:
        eta.begin(f"{w.name}:{step}", epochs * steps, done=start * steps)
    try:
        for epoch in range(start, epochs):
            seed = derived_seed(spec.seed, w.name, purpose, epoch)
            torch.manual_seed(seed)  # dropout and the analog forward noise of this epoch
            shuffle = torch.Generator().manual_seed(seed)
            model.train()
            total_loss, count = 0.0, 0
            for i, (loss, n) in enumerate(task.losses(
                    model, batch_size=w.batch_size, generator=shuffle,
                    teacher=teacher if hwa else None, distill=w.distill if hwa else 0.0,
                    temperature=w.distill_temperature)):
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise _nan_error(w.name, step, epoch, f"loss became {value} at batch {i + 1}",
                                     ckpt, lr)
                if w.schedule == "cosine":
                    for group in opt.param_groups:
                        group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (epoch * steps + i)
                                                               / total))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if w.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), w.grad_clip)
                opt.step()
                total_loss += value * n
                count += n
                bar.update()
                if eta is not None:
                    eta.advance()
                    if eta.due():
                        bar.set_postfix_str(f"{status} | {eta.describe()}")
            if not _all_finite(model):
                raise _nan_error(w.name, step, epoch, "weights became non-finite", ckpt, lr)
            losses.append(total_loss / max(count, 1))
            status = f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}"
            bar.set_postfix_str(status if eta is None else f"{status} | {eta.describe()}")
            _save_torch({"fingerprint": fingerprint, "epoch": epoch + 1, "losses": losses,
                         "model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
            _epoch_finished(w.name, step, epoch + 1)
    finally:
        bar.close()
    return {"epochs": epochs, "losses": losses, "resumed_at_epoch": start + 1 if start else None}


def _nan_error(workload: str, step: str, epoch: int, what: str, ckpt: Path,
               lr: float) -> TrainingError:
    kept = _load_torch(ckpt)["epoch"] if ckpt.is_file() else None
    return TrainingError(
        f"{workload} {step}: the {what} in epoch {epoch + 1}; training stopped. The last "
        f"good checkpoint (after epoch {kept}) is kept at {ckpt} (load it with "
        "torch.load(path, weights_only=True)['model']). Lower the learning rate (now "
        f"{lr:g}) or set grad_clip in the spec (--spec FILE) and re-run: finished steps are "
        "reused and this step restarts with the new settings")


# --------------------------------------------------------------------------- evaluation
def _evaluate_over_time(model: nn.Module, task: Task, *, spec: RunSpec, w: WorkloadSpec,
                        step: str, mapping: str, store: _Store, fingerprint: str,
                        device: torch.device, show_progress: bool,
                        eta: RunETA | None = None) -> dict[str, Any]:
    """The metric at every time for ``repeats`` independent programming draws; resumable.

    Repeat r programs with a generator seeded ``derived_seed(seed, workload, PROGRAM,
    mapping, r)`` (also used for drift and read noise at each time) and draws the per-MVM
    noise from its own generator, so each repeat is reproducible on its own.
    """
    partial_path = store.partial_path(w.name, step)
    rows: list[list[float]] = []
    if partial_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            part = json.loads(partial_path.read_text(encoding="utf-8"))
            if part.get("fingerprint") == fingerprint:
                rows = [list(map(float, r)) for r in part["per_repeat"]][:spec.repeats]
                if rows:
                    store.log(f"resuming: {w.name} {step} at repeat {len(rows) + 1}/"
                              f"{spec.repeats}")
    tag = _MAPPINGS[mapping]
    seeds = [derived_seed(spec.seed, w.name, _PROGRAM, tag, r) for r in range(spec.repeats)]
    bar = progress(total=(spec.repeats - len(rows)) * len(spec.times),
                   desc=f"{w.name}: {step.replace('_', ' ')}", enabled=show_progress)
    if eta is not None:
        eta.begin(f"{w.name}:{step}", spec.repeats * len(spec.times),
                  done=len(rows) * len(spec.times))
        bar.set_postfix_str(eta.describe())
    model.eval()
    try:
        for r in range(len(rows), spec.repeats):
            g = torch.Generator(device=device).manual_seed(seeds[r])
            noise = torch.Generator(device=device).manual_seed(
                derived_seed(spec.seed, w.name, _NOISE, tag, r))
            aimc.set_noise_generator(model, noise)
            with torch.no_grad():
                aimc.program(model, generator=g)
                row = []
                for t in spec.times:
                    with aimc.at_time(model, t, generator=g):
                        row.append(task.evaluate(model, batch_size=w.eval_batch_size))
                    bar.update()
                    if eta is not None:
                        eta.advance()
            rows.append(row)
            write_json(partial_path, {"fingerprint": fingerprint, "per_repeat": rows})
            status = (f"repeat {r + 1}/{spec.repeats} "
                      f"{task.metric}@{time_label(spec.times[-1])} {row[-1]:.4g}")
            bar.set_postfix_str(status if eta is None else f"{status} | {eta.describe()}")
    finally:
        bar.close()
        aimc.set_noise_generator(model, None)
    return {"per_repeat": rows, "programming_seeds": seeds}


# --------------------------------------------------------------------------- one workload
class _Workload:
    """Runs the four steps of one workload, loading data and models only when needed."""

    def __init__(self, spec: RunSpec, w: WorkloadSpec, store: _Store,
                 data_root: str | os.PathLike[str] | None, device: torch.device,
                 show_progress: bool, eta: RunETA | None = None) -> None:
        self.spec, self.w, self.store = spec, w, store
        self.data_root, self.device, self.show_progress = data_root, device, show_progress
        self.eta = eta
        self._task: Task | None = None
        self.results: dict[str, dict[str, Any]] = {}

    @property
    def task(self) -> Task:
        if self._task is None:
            self.store.log(f"{self.w.name}: loading data")
            self._task = load_task(self.w, self.data_root).to(self.device)
        return self._task

    def _build_fp(self) -> nn.Module:
        kwargs = dict(self.results["fp_train"]["model_kwargs"]) if "fp_train" in self.results \
            else {**self.w.model, **self.task.model_kwargs}
        return build_model(self.w.name, **kwargs)

    def _fp_model(self) -> nn.Module:
        model = self._build_fp()
        model.load_state_dict(_load_torch(self.store.model_path(self.w.name, "fp_train")))
        return model.to(self.device).eval()

    def _hwa_model(self) -> nn.Module:
        model = aimc.convert_to_analog(self._build_fp(), self.w.hwa_config(self.spec.hwa_preset))
        aimc.load_checkpoint(model, self.store.model_path(self.w.name, "hwa_train"),
                             map_location="cpu")
        return model.to(self.device)

    def run(self) -> dict[str, dict[str, Any]]:
        for step in STEPS:
            fp = self.spec.fingerprint(self.w.name, step)
            result = self.store.load(self.w.name, step, fp)
            inputs = {u: self.results[u]["model_hash"] for u in _UPSTREAM[step]}
            if result is not None and result.get("inputs") != inputs:
                self.store.log(f"its input model changed: recomputing {self.w.name} {step}")
                result = None
            if result is not None:
                self.store.log(f"resuming: {self.w.name} {step} done (loaded "
                               f"{self.store.result_path(self.w.name, step)})")
                self.results[step] = result
                if self.eta is not None:
                    self.eta.skip(f"{self.w.name}:{step}")
                continue
            t0 = time.perf_counter()
            self.store.log(f"{self.w.name}: {step} ..." + (
                "" if self.eta is None else f" ({self.eta.describe()})"))
            result = getattr(self, f"_{step}")(fp)
            if self.eta is not None:
                self.eta.end()
            result.update(fingerprint=fp, inputs=inputs,
                          wall_time_s=round(time.perf_counter() - t0, 3),
                          finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            self.store.save(self.w.name, step, result)
            for leftover in (self.store.checkpoint_path(self.w.name, step),
                             self.store.partial_path(self.w.name, step)):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            self.store.log(f"{self.w.name}: {step} finished in {result['wall_time_s']:.1f} s")
            self.results[step] = result
        return self.results

    # -- the steps ------------------------------------------------------------------
    def _fp_train(self, fp: str) -> dict[str, Any]:
        w, task = self.w, self.task
        kwargs = {**w.model, **task.model_kwargs}
        torch.manual_seed(derived_seed(self.spec.seed, w.name, _INIT))
        model = build_model(w.name, **kwargs).to(self.device)
        info = _train(model, task, spec=self.spec, w=w, step="fp_train", store=self.store,
                      fingerprint=fp, teacher=None, show_progress=self.show_progress,
                      eta=self.eta)
        _save_torch(model.state_dict(), self.store.model_path(w.name, "fp_train"))
        value = task.evaluate(model, batch_size=w.eval_batch_size)
        self.store.log(f"{w.name}: FP {task.metric} {value:.4g}")
        return {"metric": task.metric, "fp": value, "model_kwargs": kwargs,
                "model_hash": state_hash(model.state_dict()),
                "parameters": sum(p.numel() for p in model.parameters()),
                "data": task.info, **info}

    def _direct_eval(self, fp: str) -> dict[str, Any]:
        w, task = self.w, self.task
        torch.manual_seed(derived_seed(self.spec.seed, w.name, _CALIB, 1))
        model = aimc.convert_to_analog(self._fp_model(), presets.get(self.spec.direct_preset))
        aimc.calibrate_input_ranges(model, task.calibration_batches(w.batch_size,
                                                                    w.calibration_batches))
        out = _evaluate_over_time(model, task, spec=self.spec, w=w, step="direct_eval",
                                  mapping="direct", store=self.store, fingerprint=fp,
                                  device=self.device, show_progress=self.show_progress,
                                  eta=self.eta)
        out["analog_layers"] = len(aimc.analog_layers(model))
        return out

    def _hwa_train(self, fp: str) -> dict[str, Any]:
        w, task = self.w, self.task
        teacher = self._fp_model()
        torch.manual_seed(derived_seed(self.spec.seed, w.name, _CALIB, 2))
        model = aimc.convert_to_analog(teacher, w.hwa_config(self.spec.hwa_preset))
        # Initialise the input ranges from data before training (the analog LSTM cannot
        # update them in place during its unrolled forward pass, see the report notes).
        aimc.calibrate_input_ranges(model, task.calibration_batches(w.batch_size,
                                                                    w.calibration_batches),
                                    method=w.hwa_calibration)
        info = _train(model, task, spec=self.spec, w=w, step="hwa_train", store=self.store,
                      fingerprint=fp, teacher=teacher if w.distill > 0 else None,
                      show_progress=self.show_progress, eta=self.eta)
        aimc.save_checkpoint(model, self.store.model_path(w.name, "hwa_train"))
        digital = aimc.convert_to_digital(model)
        value = task.evaluate(digital, batch_size=w.eval_batch_size)
        self.store.log(f"{w.name}: HWA-trained model, digital {task.metric} {value:.4g}")
        return {"hwa_digital": value, "model_hash": state_hash(model.state_dict()), **info}

    def _hwa_eval(self, fp: str) -> dict[str, Any]:
        return _evaluate_over_time(self._hwa_model(), self.task, spec=self.spec, w=self.w,
                                   step="hwa_eval", mapping="hwa", store=self.store,
                                   fingerprint=fp, device=self.device,
                                   show_progress=self.show_progress, eta=self.eta)


# --------------------------------------------------------------------------- summary
def _stats(rows: list[list[float]]) -> dict[str, list[float]]:
    a = np.asarray(rows, dtype=np.float64)
    std = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return {"mean": a.mean(axis=0).tolist(), "std": std.tolist()}


def summarise(spec: RunSpec, name: str, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The metrics.json entry of one workload from its step results.

    Normalised values are per repeat (analog/FP accuracy, FP/analog perplexity), then
    mean ± sample std (ddof 1) over repeats. Iso-accuracy: mean normalised value at
    ``iso_time`` ≥ ``iso_threshold``.
    """
    fp_res = results["fp_train"]
    metric, fp = fp_res["metric"], float(fp_res["fp"])
    lower_better = metric == "perplexity"
    iso_index = list(spec.times).index(float(spec.iso_time))
    entry: dict[str, Any] = {
        "metric": metric, "higher_is_better": not lower_better,
        "data": fp_res["data"], "model_kwargs": fp_res["model_kwargs"],
        "parameters": fp_res["parameters"],
        "analog_layers": results["direct_eval"].get("analog_layers"),
        "settings": spec.workload(name).to_dict(),
        "fp": fp, "hwa_digital": float(results["hwa_train"]["hwa_digital"]),
        "training": {"fp_losses": fp_res["losses"],
                     "hwa_losses": results["hwa_train"]["losses"]},
    }
    iso: dict[str, Any] = {"time_s": float(spec.iso_time), "threshold": spec.iso_threshold,
                           "definition": ("mean over repeats of FP perplexity / analog "
                                          "perplexity" if lower_better else
                                          "mean over repeats of analog accuracy / FP accuracy")
                           + f" at {time_label(spec.iso_time)} >= {spec.iso_threshold}"}
    for mapping, step in (("direct", "direct_eval"), ("hwa", "hwa_eval")):
        rows = results[step]["per_repeat"]
        norm = [[(fp / v if v > 0 else 0.0) if lower_better else (v / fp if fp > 0 else 0.0)
                 for v in row] for row in rows]
        ns = _stats(norm)
        entry[mapping] = {"per_repeat": rows, **_stats(rows),
                          "programming_seeds": results[step]["programming_seeds"],
                          "normalised": {"per_repeat": norm, **ns}}
        iso[mapping] = {"normalised_mean": ns["mean"][iso_index],
                        "reached": bool(ns["mean"][iso_index] >= spec.iso_threshold)}
    entry["iso_accuracy"] = iso
    entry["steps"] = {s: {"wall_time_s": results[s].get("wall_time_s"),
                          "finished": results[s].get("finished")} for s in STEPS}
    return entry


# --------------------------------------------------------------------------- the run
class _ParallelProgress:
    """Whole-run progress while workers run the workloads (``--executor process``/``ray``):
    a thread polls the run folder every ``interval`` s for finished steps (their result files,
    written atomically, hold their wall time) and redraws one bar of steps done with the
    parallel estimate of :meth:`RunETA.remaining_parallel`. A stored step that a worker
    recomputes because its input model changed counts as done (the bar errs short then)."""

    def __init__(self, spec: RunSpec, store: _Store, workers: int, *,
                 interval: float = 5.0) -> None:
        self.spec, self.store, self.workers, self.interval = spec, store, workers, interval
        self.eta = rasch2023_eta(spec, steps=STEPS)
        self.groups = [[f"{w.name}:{s}" for s in STEPS] for w in spec.workloads]
        for w in spec.workloads:  # done by an earlier session
            for step in STEPS:
                if self._finished(w.name, step) is not None:
                    self.eta.skip(f"{w.name}:{step}")
        todo = sum(self.eta.is_open(k) for g in self.groups for k in g)
        self.bar = progress(total=todo, desc="rasch2023 (parallel workers)")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _finished(self, workload: str, step: str) -> dict[str, Any] | None:
        with contextlib.suppress(CheckpointError):
            return self.store.load(workload, step, self.spec.fingerprint(workload, step),
                                   quiet=True)
        return None

    def poll(self) -> None:
        """Record steps finished since the last poll and redraw."""
        for w in self.spec.workloads:
            for step in STEPS:
                key = f"{w.name}:{step}"
                if not self.eta.is_open(key):
                    continue
                result = self._finished(w.name, step)
                if result is not None:
                    self.eta.record(key, float(result.get("wall_time_s") or 0.0))
                    self.bar.update()
        self.bar.set_postfix_str(self.eta.describe(self.groups, self.workers))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> _ParallelProgress:
        self.poll()
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        try:
            if exc_type is None:  # a failing run keeps its own error
                self.poll()
        finally:
            self.bar.close()


def _workload_task(task: tuple[dict[str, Any], str, str, str | None, str]
                   ) -> dict[str, dict[str, Any]]:
    """One workload's four steps in a worker of :func:`aimc.experiments.executor.run_tasks`
    (its log lines go to stderr, prefixed with the workload, and to ``OUT/run.log``)."""
    spec_dict, name, out, data_root, device = task
    spec = RunSpec.from_dict(spec_dict)
    store = _Store(Path(out), lambda m: print(f"[{name}] {m}", file=sys.stderr, flush=True))
    with torch.random.fork_rng(devices=[]):
        return _Workload(spec, spec.workload(name), store, data_root, torch.device(device),
                         False).run()


def run_rasch2023(spec: RunSpec, out_dir: str | os.PathLike[str], *,
                  data_root: str | os.PathLike[str] | None = None,
                  device: str | torch.device | None = None, show_progress: bool = True,
                  log: Log | None = None, command: str | None = None,
                  allow_other_code: bool = False, executor: str = "serial",
                  workers: int | None = None, address: str | None = None,
                  threads: int | None = None) -> dict[str, Any]:
    """Run (or resume) the benchmark; write ``config.json``, ``metrics.json``, plots, report.

    Args:
        spec: what to run (:func:`~aimc.experiments.rasch2023_spec.default_spec`).
        out_dir: the run folder (created); finished steps found there are reused.
        data_root: folder with ``mnist/``, ``cifar10_jpeg/`` (or ``cifar10/``), ``ptb/``,
            ``sst2/``; None uses ``$AIMC_DATA``.
        device: torch device (default: CUDA if available, else CPU).
        show_progress: progress bars on stderr.
        log: where progress messages go (default: stderr); they are also appended to
            ``OUT/run.log``.
        command: the command line, for the report's "re-run" section.
        allow_other_code: resume a run folder started by other code (see
            :func:`~aimc.experiments.provenance.claim_run_folder`).
        executor, workers, address, threads: run the workloads as independent tasks
            (:func:`aimc.experiments.executor.run_tasks`: ``"serial"`` in this process,
            ``"process"`` in a local pool, ``"ray"`` on a Ray cluster); every random
            stream derives from (seed, workload, purpose, index), so the numbers are the
            same under every executor. Parallel workers show no progress bars and use
            ``threads`` torch threads each (default: CPUs / workers).

    Returns:
        The metrics dict (also in ``OUT/metrics.json``).

    Raises:
        StateError: ``out_dir`` holds results of other code (and ``allow_other_code`` is
            False).
        DataError: a dataset folder or file is missing or corrupt (checked before any work).
        TrainingError: a loss became NaN/inf (the last good checkpoint is kept).
        CheckpointError: a file in the run folder is corrupt (the message says which).
    """
    from aimc.experiments import rasch2023_report as report
    from aimc.experiments.executor import check_executor, default_workers, run_tasks

    check_executor(executor, workers, address)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = claim_run_folder(out, allow_other_code=allow_other_code)
    log = log if log is not None else (lambda m: print(m, file=sys.stderr, flush=True))
    store = _Store(out, log)
    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    t_start = time.perf_counter()
    write_json(out / "config.json", spec.to_dict())
    pending = [w.name for w in spec.workloads
               if any(store.load(w.name, s, spec.fingerprint(w.name, s), quiet=True) is None
                      for s in STEPS)]
    check_data(data_root, pending)
    store.log(f"run {out}: mode {spec.mode}, workloads {', '.join(spec.workload_names)}, "
              f"device {dev}")
    metrics: dict[str, Any] = {
        "name": "rasch2023", "paper": "Rasch et al., Nat. Commun. 14:5282 (2023), "
                                      "arXiv:2302.08469",
        "mode": spec.mode, "spec": spec.to_dict(), "command": command,
        "machine": {**machine_info(), "device": str(dev)}, "code": code_block(history),
        "date": time.strftime("%Y-%m-%d"),
        "times_s": list(spec.times), "time_labels": [time_label(t) for t in spec.times],
        "presets": {"direct": spec.direct_preset, "hwa": spec.hwa_preset},
        "workloads": {},
    }
    if executor == "serial":
        eta = rasch2023_eta(spec, steps=STEPS)
        with torch.random.fork_rng(devices=[]):
            for w in spec.workloads:
                results = _Workload(spec, w, store, data_root, dev, show_progress,
                                    eta).run()
                metrics["workloads"][w.name] = summarise(spec, w.name, results)
                metrics["wall_time_s"] = round(time.perf_counter() - t_start, 3)
                report.write_outputs(out, metrics)  # partial results are visible early
    else:
        root = None if data_root is None else os.fspath(data_root)
        tasks = [(spec.to_dict(), w.name, os.fspath(out), root, str(dev))
                 for w in spec.workloads]
        store.log(f"running {len(tasks)} workloads on executor {executor!r}"
                  + (f" ({workers} workers)" if workers else ""))
        watch = (_ParallelProgress(spec, store, workers or default_workers(len(tasks)))
                 if show_progress else contextlib.nullcontext())
        with watch:
            outputs = run_tasks(_workload_task, tasks, executor=executor, workers=workers,
                                address=address, threads=threads)
        for w, results in zip(spec.workloads, outputs, strict=True):
            metrics["workloads"][w.name] = summarise(spec, w.name, results)
    metrics["executor"] = {"kind": executor, "workers": workers, "address": address}
    metrics["wall_time_s"] = round(time.perf_counter() - t_start, 3)
    metrics["compute_time_s"] = round(sum(
        s["wall_time_s"] or 0.0 for wl in metrics["workloads"].values()
        for s in wl["steps"].values()), 3)
    report.write_outputs(out, metrics)
    store.log(f"wrote {out}/: config.json, metrics.json, report.md, "
              + ", ".join(f"{n}.png" for n in spec.workload_names) + ", normalised.png")
    return metrics

