"""The main job: a small CNN on 8×8 digits, on PCM crossbars, 1 s to 1 year after programming.

Steps (all seeded, see :class:`DemoSettings`):

1. Load scikit-learn's bundled 8×8 digits (no download), scale to [0, 1], stratified
   train/test split with a fixed seed.
2. Train a small plain-PyTorch CNN in floating point (Adam).
3. *Direct mapping*: convert the FP model with the preset (``rasch2023``) and calibrate the
   input ranges on training batches.
4. *HWA*: convert a copy of the FP model and fine-tune it with the crossbar's periphery
   noise and quantisation in the forward pass (gradients straight through to the digital
   weights; the input ranges initialise from the first training batches).
5. For each analog model and each repeat r: program with
   ``torch.Generator().manual_seed(seed * 1000 + r)`` (independent programming noise per
   repeat), then measure test accuracy at 1 s, 1 h, 1 day and 1 year.

:func:`run_demo` returns the metrics dict and writes ``metrics.json``, ``config.json``, a
plot and ``report.md`` (see :mod:`aimc.experiments.report`). ``aimc demo`` is its CLI.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

import aimc
from aimc import presets, units
from aimc.config import AnalogConfig
from aimc.errors import ConfigError
from aimc.experiments.progress import progress
from aimc.experiments.provenance import code_version

__all__ = [
    "DemoSettings", "DigitsData", "TIMES", "TIME_LABELS", "DATA_SPLIT_SEED",
    "load_digits_data", "make_cnn", "describe_model", "iterate_batches", "train_model", "accuracy",
    "evaluate_over_time", "run_demo", "preset_config",
]

#: Evaluation times after programming, in seconds: 1 s, 1 h, 1 day, 1 year (365 days).
TIMES: tuple[float, ...] = (1.0, units.hour, units.day, units.year)
TIME_LABELS: tuple[str, ...] = ("1 s", "1 h", "1 day", "1 year")
#: The train/test split does not depend on ``--seed``: every seed sees the same test set.
DATA_SPLIT_SEED = 0

_INSTALL_DEMO = 'pip install "aimc[demo]"'


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """Everything that defines a demo run (recorded in ``metrics.json``).

    Attributes:
        seed: master seed: weight init, shuffling, forward noise and programming noise.
        repeats: independent programming draws per analog model (>= 1; default 5).
        epochs: floating-point training epochs (>= 0).
        hwa_epochs: hardware-aware fine-tuning epochs from the FP weights (>= 0).
        batch_size: training batch size.
        lr: Adam learning rate of FP training.
        hwa_lr: Adam learning rate of HWA fine-tuning.
        test_size: fraction of the 1797 digits held out for testing.
        times: evaluation times after programming, in seconds.
        preset: name of the function in :mod:`aimc.presets` giving the analog config.
        train_subset: train on only this many (stratified-first) samples; None = all.
        quick: marks a smoke-test run (tiny epochs and repeats).
    """

    seed: int = 0
    repeats: int = 5
    epochs: int = 20
    hwa_epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    hwa_lr: float = 1e-3
    test_size: float = 0.25
    times: tuple[float, ...] = TIMES
    preset: str = "rasch2023"
    train_subset: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        def _int(name: str, value: Any, minimum: int, fix: str) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"DemoSettings.{name} must be an integer >= {minimum}, got "
                                  f"{value!r}; {fix}")

        _int("seed", self.seed, 0, "use a non-negative seed, e.g. --seed 0")
        _int("repeats", self.repeats, 1, "use --repeats 5 (or more)")
        _int("epochs", self.epochs, 0, "use --epochs 0 or more")
        _int("hwa_epochs", self.hwa_epochs, 0, "use --hwa-epochs 0 or more")
        _int("batch_size", self.batch_size, 1, "use e.g. batch_size=32")
        for name in ("lr", "hwa_lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"DemoSettings.{name} must be a positive number, got {v!r}")
        if not isinstance(self.test_size, float) or not 0.0 < self.test_size < 1.0:
            raise ConfigError(f"DemoSettings.test_size must be a float in (0, 1), got "
                              f"{self.test_size!r}; e.g. 0.25")
        if not self.times or any(not isinstance(t, (int, float)) or not math.isfinite(t)
                                 or t < 0 for t in self.times):
            raise ConfigError(f"DemoSettings.times must be finite seconds >= 0, got "
                              f"{self.times!r}")
        if self.train_subset is not None:
            _int("train_subset", self.train_subset, 10, "use None for the full training set")
        preset_config(self.preset)  # raises on an unknown name

    @classmethod
    def quick_settings(cls, **overrides: Any) -> DemoSettings:
        """Smoke-test settings (seconds, not minutes); ``overrides`` win."""
        base: dict[str, Any] = {"epochs": 3, "hwa_epochs": 1, "repeats": 2,
                                "train_subset": 400, "quick": True}
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = dataclasses.asdict(self)
        d["times"] = list(self.times)
        return d


def preset_names() -> list[str]:
    """Names of the ready-made configs in :mod:`aimc.presets`."""
    return list(presets.PRESETS)


def preset_config(name: str) -> AnalogConfig:
    """The config of preset ``name`` (e.g. ``"rasch2023"``).

    Raises:
        ConfigError: for an unknown name (the message lists the known ones).
    """
    return presets.get(name)


# --------------------------------------------------------------------------- data
class DigitsData(NamedTuple):
    """The 8×8 digits split: images (N, 1, 8, 8) float32 in [0, 1], labels (N,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits_data(*, test_size: float = 0.25, split_seed: int = DATA_SPLIT_SEED,
                     train_subset: int | None = None) -> DigitsData:
    """scikit-learn's bundled 8×8 digits (1797 images, 10 classes), no download.

    Args:
        test_size: held-out fraction (stratified by class).
        split_seed: ``random_state`` of the split.
        train_subset: keep only this many training samples (a stratified subset).

    Raises:
        ModuleNotFoundError: when scikit-learn is not installed (says how to install it).
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"the demo needs scikit-learn for its bundled 8x8 digits dataset; install it with: "
            f"{_INSTALL_DEMO}", name="sklearn") from exc
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)  # pixel values 0..16
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y,
                                              random_state=split_seed)
    if train_subset is not None and train_subset < len(y_tr):
        x_tr, _, y_tr, _ = train_test_split(x_tr, y_tr, train_size=train_subset, stratify=y_tr,
                                            random_state=split_seed)
    return DigitsData(torch.from_numpy(np.ascontiguousarray(x_tr)), torch.from_numpy(y_tr),
                      torch.from_numpy(np.ascontiguousarray(x_te)), torch.from_numpy(y_te))


# --------------------------------------------------------------------------- model
def make_cnn(num_classes: int = 10) -> nn.Sequential:
    """A small plain-PyTorch CNN for (N, 1, 8, 8) inputs (about 40k weights).

    conv3×3(1→16)-ReLU-conv3×3(16→32)-ReLU-maxpool2-flatten-fc(512→64)-ReLU-fc(64→10).
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def describe_model(model: nn.Module) -> str:
    """A one-line summary of a sequential model, e.g. ``Conv2d(1→16, 3x3)-ReLU-…``."""
    parts = []
    for m in (model if isinstance(model, nn.Sequential) else [model]):
        if isinstance(m, nn.Conv2d):
            k = "x".join(map(str, m.kernel_size))
            parts.append(f"Conv2d({m.in_channels}→{m.out_channels}, {k})")
        elif isinstance(m, nn.Linear):
            parts.append(f"Linear({m.in_features}→{m.out_features})")
        elif isinstance(m, nn.MaxPool2d):
            parts.append(f"MaxPool2d({m.kernel_size})")
        else:
            parts.append(type(m).__name__)
    return "-".join(parts)


def iterate_batches(x: Tensor, y: Tensor, batch_size: int, *,
                    generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """(inputs, labels) batches; shuffled with ``generator`` when given, else in order."""
    n = x.shape[0]
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        yield x[idx], y[idx]


def _derived_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (independent streams per purpose)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint64)[0] >> 1)


def train_model(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float,
                batch_size: int, seed: int, desc: str = "training",
                show_progress: bool = True) -> list[float]:
    """Train ``model`` in place with Adam and cross-entropy; returns the mean loss per epoch.

    Works for plain and analog (HWA) models alike: analog layers keep ``.weight`` as
    ordinary parameters. ``seed`` fixes the shuffling and the forward noise (global RNG).
    """
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    n_batches = math.ceil(x.shape[0] / batch_size)
    bar = progress(total=epochs * n_batches, desc=desc, enabled=show_progress)
    losses: list[float] = []
    model.train()
    try:
        for epoch in range(epochs):
            total, count = 0.0, 0
            for xb, yb in iterate_batches(x, y, batch_size, generator=shuffle):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
                count += xb.shape[0]
                bar.update()
            losses.append(total / max(count, 1))
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}")
    finally:
        bar.close()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (put into eval mode) on (x, y)."""
    model.eval()
    correct = 0
    for xb, yb in iterate_batches(x, y, batch_size):
        correct += int((model(xb).argmax(dim=1) == yb).sum())
    return correct / x.shape[0]


def _summary(per_repeat: list[list[float]]) -> dict[str, Any]:
    a = np.asarray(per_repeat, dtype=np.float64)  # (repeats, times)
    std = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return {"per_repeat": per_repeat, "mean": a.mean(axis=0).tolist(), "std": std.tolist()}


def evaluate_over_time(model: nn.Module, x: Tensor, y: Tensor, *, times: Sequence[float],
                       repeats: int, seed: int, tag: int = 0, desc: str = "evaluating",
                       show_progress: bool = True) -> dict[str, Any]:
    """Accuracy of an analog model at each time after programming, over programming repeats.

    Repeat r programs with ``torch.Generator().manual_seed(seed * 1000 + r)`` and uses the
    same generator for drift and read noise at each time; the MVM's periphery noise comes
    from the global RNG, seeded per (seed, tag, r).

    Returns:
        ``{"per_repeat": [[acc per time] per repeat], "mean": [...], "std": [...],
        "programming_seeds": [...]}``; std is the sample std (ddof 1; 0 for one repeat).
    """
    bar = progress(total=repeats * len(times), desc=desc, enabled=show_progress)
    per_repeat: list[list[float]] = []
    prog_seeds = [seed * 1000 + r for r in range(repeats)]
    model.eval()
    try:
        with torch.no_grad():
            for r, ps in enumerate(prog_seeds):
                torch.manual_seed(_derived_seed(seed, tag, r))
                g = torch.Generator().manual_seed(ps)
                aimc.program(model, generator=g)
                row = []
                for t in times:
                    with aimc.at_time(model, t, generator=g):
                        row.append(accuracy(model, x, y))
                    bar.update()
                per_repeat.append(row)
                bar.set_postfix_str(f"repeat {r + 1}/{repeats} acc@{_fmt_time(times[-1])} "
                                    f"{row[-1]:.3f}")
    finally:
        bar.close()
    out = _summary(per_repeat)
    out["programming_seeds"] = prog_seeds
    return out


def _fmt_time(t: float) -> str:
    for label, t0 in zip(TIME_LABELS, TIMES, strict=True):
        if t == t0:
            return label
    return f"{t:g} s"


def _machine() -> dict[str, Any]:
    try:
        cpus = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        cpus = os.cpu_count()
    return {"platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "python": sys.version.split()[0], "cpu_count": cpus,
            "torch_threads": torch.get_num_threads()}


# --------------------------------------------------------------------------- the job
def run_demo(settings: DemoSettings | None = None, out_dir: str | os.PathLike[str] | None =
             "runs/demo", *, show_progress: bool = True,
             echo: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Run the demo; return its metrics and (when ``out_dir`` is set) write the run folder.

    Args:
        settings: the run's settings (default :class:`DemoSettings`).
        out_dir: folder for ``metrics.json``, ``config.json``, ``accuracy_vs_time.png`` and
            ``report.md`` (created; files replaced atomically). None writes nothing.
        show_progress: draw progress bars on stderr.
        echo: where the final table goes (default ``print``; None: silent).

    The global torch RNG state is restored on return.
    """
    from aimc.experiments import report

    settings = settings if settings is not None else DemoSettings()
    t_start = time.perf_counter()
    config = preset_config(settings.preset)
    data = load_digits_data(test_size=settings.test_size, train_subset=settings.train_subset)
    s = settings.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_derived_seed(s, 0))
        fp = make_cnn()
        train_model(fp, data.x_train, data.y_train, epochs=settings.epochs, lr=settings.lr,
                    batch_size=settings.batch_size, seed=_derived_seed(s, 1),
                    desc="FP training", show_progress=show_progress)
        fp_acc = accuracy(fp, data.x_test, data.y_test)

        # direct mapping: FP weights onto the crossbar, input ranges calibrated on train data
        torch.manual_seed(_derived_seed(s, 2))
        direct = aimc.convert_to_analog(fp, config)
        aimc.calibrate_input_ranges(direct, iterate_batches(data.x_train, data.y_train,
                                                            settings.batch_size))

        # hardware-aware fine-tuning from the FP weights
        hwa = aimc.convert_to_analog(fp, config).train()  # a copy
        train_model(hwa, data.x_train, data.y_train, epochs=settings.hwa_epochs,
                    lr=settings.hwa_lr, batch_size=settings.batch_size,
                    seed=_derived_seed(s, 3), desc="HWA training", show_progress=show_progress)
        if settings.hwa_epochs == 0:  # never saw data: calibrate like the direct mapping
            aimc.calibrate_input_ranges(hwa, iterate_batches(data.x_train, data.y_train,
                                                             settings.batch_size))
        hwa_digital_acc = accuracy(aimc.convert_to_digital(hwa), data.x_test, data.y_test)

        results = {}
        for tag, (name, model) in enumerate((("direct", direct), ("hwa", hwa)), start=1):
            results[name] = evaluate_over_time(
                model, data.x_test, data.y_test, times=settings.times,
                repeats=settings.repeats, seed=s, tag=tag,
                desc=f"evaluating {'direct mapping' if name == 'direct' else 'HWA model'}",
                show_progress=show_progress)

    metrics: dict[str, Any] = {
        "name": "demo",
        "description": "small CNN on scikit-learn 8x8 digits: FP vs directly mapped vs "
                       f"HWA-trained on the {settings.preset} PCM crossbar, accuracy over time",
        "aimc_version": aimc.__version__,
        "code": code_version(),
        "torch_version": torch.__version__,
        "machine": _machine(),
        "settings": settings.to_dict(),
        "seeds": {"seed": s, "data_split": DATA_SPLIT_SEED,
                  "programming": results["direct"]["programming_seeds"]},
        "dataset": {"name": "sklearn.datasets.load_digits (8x8, 10 classes)",
                    "n_train": int(data.x_train.shape[0]), "n_test": int(data.x_test.shape[0])},
        "model": {"architecture": describe_model(fp),
                  "parameters": sum(p.numel() for p in fp.parameters())},
        "preset": settings.preset,
        "config": config.to_dict(),
        "times_s": [float(t) for t in settings.times],
        "time_labels": [_fmt_time(t) for t in settings.times],
        "accuracy": {"fp": fp_acc, "hwa_digital": hwa_digital_acc,
                     "direct": results["direct"], "hwa": results["hwa"]},
    }
    # the compute time, without writing the outputs: report.md and metrics.json state the
    # same number (tests/test_documented_numbers.py re-renders the report from the metrics)
    metrics["wall_time_s"] = round(time.perf_counter() - t_start, 3)
    if out_dir is not None:
        paths = report.write_run(Path(out_dir), metrics)
    if echo is not None:
        echo(report.text_table(metrics))
        if out_dir is not None:
            echo(f"\nwrote {Path(out_dir)}/: " + ", ".join(p.name for p in paths.values()))
    return metrics
