"""The four workloads of ``aimc reproduce rasch2023`` as tasks: data, batches, loss, metric.

A :class:`Task` holds one workload's (subset of) data and knows how to iterate training
losses, evaluate a model (accuracy, or perplexity for the language model) and hand out
calibration batches. It holds no model and no physics.

==================  =============  ======================================================
workload            dataset        metric
==================  =============  ======================================================
mlp_mnist           MNIST          test accuracy (images normalised with the MNIST stats)
resnet20_cifar      CIFAR-10       test accuracy (per-channel normalised; optional crop
                                   + flip augmentation in training)
lstm_ptb            Penn Treebank  test perplexity exp(mean token NLL), truncated BPTT
transformer_sst2    SST-2          dev accuracy (GLUE's test labels are not public)
==================  =============  ======================================================

Data folders: :func:`dataset_dir` maps a data root (``--data``, holding ``mnist/``,
``cifar10_jpeg/`` or ``cifar10/``, ``ptb/``, ``sst2/``) or ``$AIMC_DATA`` to each dataset's
folder; the loaders of :mod:`aimc.data` raise :class:`~aimc.errors.DataError` for missing,
truncated or corrupt files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aimc.data import (
    MNIST_MEAN,
    MNIST_STD,
    batchify,
    bptt_batches,
    channel_mean_std,
    load_cifar10,
    load_mnist,
    load_ptb,
    load_sst2,
    normalize,
    resolve_data_dir,
)
from aimc.data.paths import expected_files
from aimc.errors import DataError
from aimc.experiments.provenance import portable_path
from aimc.experiments.rasch2023_spec import WorkloadSpec
from aimc.train import distillation_loss

__all__ = ["DATASETS", "Task", "ImageTask", "SentenceTask", "LanguageModelTask", "dataset_dir",
           "load_task", "check_data"]

#: workload -> dataset name used by :mod:`aimc.data`.
DATASETS = {"mlp_mnist": "mnist", "resnet20_cifar": "cifar10", "lstm_ptb": "ptb",
            "transformer_sst2": "sst2"}
# sub-folders of a data root tried per dataset, in order
_SUBDIRS = {"mnist": ("mnist",), "cifar10": ("cifar10", "cifar10_jpeg", "cifar-10"),
            "ptb": ("ptb",), "sst2": ("sst2", "SST-2")}


def dataset_dir(root: str | os.PathLike[str] | None, dataset: str) -> Path:
    """The folder holding ``dataset``'s files.

    Args:
        root: a data root with one sub-folder per dataset (``mnist/``, ``cifar10_jpeg/`` or
            ``cifar10/``, ``ptb/``, ``sst2/``), or None for ``$AIMC_DATA``.
        dataset: ``"mnist"``, ``"cifar10"``, ``"ptb"`` or ``"sst2"``.

    Raises:
        DataError: the root or the dataset's sub-folder does not exist; the message says
            which files to put where.
    """
    if root is None:
        return resolve_data_dir(None, dataset)
    path = Path(os.path.expandvars(os.fspath(root))).expanduser()
    subs = _SUBDIRS.get(dataset, (dataset,))
    if not path.is_dir():
        raise DataError(f"data root {path} does not exist or is not a directory; pass --data "
                        "DIR (or set AIMC_DATA) pointing at a folder with the sub-folders "
                        "mnist/, cifar10_jpeg/ (or cifar10/), ptb/ and sst2/")
    for sub in subs:
        if (path / sub).is_dir():
            return path / sub
    raise DataError(f"{dataset}: no folder {path / subs[0]} in the data root {path}; create it "
                    f"and put {expected_files(dataset)} there")


def check_data(root: str | os.PathLike[str] | None, workloads: list[str]) -> None:
    """Fail early (DataError) when a workload's data folder is missing."""
    for name in workloads:
        dataset_dir(root, DATASETS[name])


class Task:
    """One workload's data and its training/evaluation protocol (subclasses below).

    Attributes:
        metric: ``"accuracy"`` or ``"perplexity"``.
        model_kwargs: keyword arguments the data imposes on the model (``vocab_size``).
        info: a description for the report (dataset, folder, sizes).
    """

    metric = "accuracy"

    def __init__(self) -> None:
        self.model_kwargs: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> Task:
        """Move the data tensors to ``device`` (once; batches are then cut there)."""
        self.device = torch.device(device)
        for name, value in list(vars(self).items()):
            if isinstance(value, Tensor):
                setattr(self, name, value.to(self.device))
        return self

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one epoch."""
        raise NotImplementedError

    def losses(self, model: nn.Module, *, batch_size: int, generator: torch.Generator,
               teacher: nn.Module | None = None, distill: float = 0.0,
               temperature: float = 2.0) -> Iterator[tuple[Tensor, int]]:
        """One epoch of training losses: yields ``(loss, samples)`` per batch.

        The caller runs backward and the optimizer step between items. With a ``teacher``
        and ``distill`` = α > 0 the loss is (1 − α)·task loss + α·distillation loss.
        """
        raise NotImplementedError

    def evaluate(self, model: nn.Module, *, batch_size: int) -> float:
        """The test metric of ``model`` (put in eval mode, no gradients)."""
        raise NotImplementedError

    def calibration_batches(self, batch_size: int, count: int) -> list[Tensor]:
        """The first ``count`` training inputs batches, in file order, unaugmented."""
        raise NotImplementedError


def _mix(loss: Tensor, logits: Tensor, teacher_logits: Tensor | None, distill: float,
         temperature: float) -> Tensor:
    if teacher_logits is None or distill == 0:
        return loss
    kd = distillation_loss(logits, teacher_logits, temperature=temperature)
    return (1.0 - distill) * loss + distill * kd


def _augment(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random horizontal flip and random crop after zero-padding by ``pad`` (per sample).

    Shapes: x (N, C, H, W) -> (N, C, H, W). Random numbers come from ``generator`` (CPU).
    """
    n, c, h, w = x.shape
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = ox[:, None] + torch.arange(w, device=x.device)  # (N, W)
    xp = xp.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
    return xp.gather(3, cols[:, None, None, :].expand(n, c, h, w))


class ImageTask(Task):
    """Image classification (MNIST, CIFAR-10): cross-entropy, top-1 accuracy."""

    def __init__(self, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, *,
                 augment: bool = False) -> None:
        super().__init__()
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.augment = augment

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.x_train.shape[0] / batch_size)

    def losses(self, model: nn.Module, *, batch_size: int, generator: torch.Generator,
               teacher: nn.Module | None = None, distill: float = 0.0,
               temperature: float = 2.0) -> Iterator[tuple[Tensor, int]]:
        n = self.x_train.shape[0]
        order = torch.randperm(n, generator=generator).to(self.device)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb, yb = self.x_train[idx], self.y_train[idx]
            if self.augment:
                xb = _augment(xb, generator)
            yield _classification_loss(model, xb, yb, teacher, distill, temperature), int(
                yb.shape[0])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, *, batch_size: int) -> float:
        model.eval()
        correct = 0
        for i in range(0, self.x_test.shape[0], batch_size):
            logits = model(self.x_test[i:i + batch_size])
            correct += int((logits.argmax(dim=1) == self.y_test[i:i + batch_size]).sum())
        return correct / self.x_test.shape[0]

    def calibration_batches(self, batch_size: int, count: int) -> list[Tensor]:
        return [self.x_train[i:i + batch_size]
                for i in range(0, self.x_train.shape[0], batch_size)][:count]


def _classification_loss(model: nn.Module, xb: Tensor, yb: Tensor, teacher: nn.Module | None,
                         distill: float, temperature: float) -> Tensor:
    """Cross-entropy, mixed with distillation from ``teacher`` when ``distill`` > 0."""
    logits = model(xb)
    t_logits = None
    if teacher is not None and distill > 0:
        with torch.no_grad():
            t_logits = teacher(xb)
    return _mix(F.cross_entropy(logits, yb), logits, t_logits, distill, temperature)


class SentenceTask(Task):
    """Sentence classification (SST-2): padded token ids, batches cut to their longest row."""

    def __init__(self, train: tuple[Tensor, Tensor, Tensor], test: tuple[Tensor, Tensor, Tensor],
                 vocab_size: int) -> None:
        super().__init__()
        self.tok_train, self.len_train, self.y_train = train
        self.tok_test, self.len_test, self.y_test = test
        self.model_kwargs = {"vocab_size": vocab_size}

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.tok_train.shape[0] / batch_size)

    @staticmethod
    def _cut(tokens: Tensor, lengths: Tensor) -> Tensor:
        return tokens[:, :int(lengths.max())]

    def losses(self, model: nn.Module, *, batch_size: int, generator: torch.Generator,
               teacher: nn.Module | None = None, distill: float = 0.0,
               temperature: float = 2.0) -> Iterator[tuple[Tensor, int]]:
        n = self.tok_train.shape[0]
        order = torch.randperm(n, generator=generator).to(self.device)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb = self._cut(self.tok_train[idx], self.len_train[idx])
            yb = self.y_train[idx]
            yield _classification_loss(model, xb, yb, teacher, distill, temperature), int(
                yb.shape[0])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, *, batch_size: int) -> float:
        model.eval()
        correct = 0
        for i in range(0, self.tok_test.shape[0], batch_size):
            xb = self._cut(self.tok_test[i:i + batch_size], self.len_test[i:i + batch_size])
            correct += int((model(xb).argmax(dim=1) == self.y_test[i:i + batch_size]).sum())
        return correct / self.tok_test.shape[0]

    def calibration_batches(self, batch_size: int, count: int) -> list[Tensor]:
        return [self._cut(self.tok_train[i:i + batch_size], self.len_train[i:i + batch_size])
                for i in range(0, self.tok_train.shape[0], batch_size)][:count]


class LanguageModelTask(Task):
    """Word-level language modelling (PTB): truncated BPTT, perplexity = exp(mean NLL).

    Training cuts the token stream into ``batch_size`` parallel streams (:func:`batchify`)
    and walks them in ``seq_len`` windows, carrying the (detached) LSTM state; evaluation
    does the same on the test stream with ``eval_batch_size`` streams.
    """

    metric = "perplexity"

    def __init__(self, train: Tensor, test: Tensor, vocab_size: int, seq_len: int) -> None:
        super().__init__()
        self.train, self.test, self.seq_len = train, test, seq_len
        self.model_kwargs = {"vocab_size": vocab_size}

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil((self.train.numel() // batch_size - 1) / self.seq_len)

    def losses(self, model: nn.Module, *, batch_size: int, generator: torch.Generator,
               teacher: nn.Module | None = None, distill: float = 0.0,
               temperature: float = 2.0) -> Iterator[tuple[Tensor, int]]:
        data = batchify(self.train, batch_size)
        state = t_state = None
        for x, y in bptt_batches(data, self.seq_len):
            x, y = x.t(), y.t()  # (B, L): the model is batch_first
            logits, state = model(x, state)
            state = (state[0].detach(), state[1].detach())
            t_logits = None
            if teacher is not None and distill > 0:
                with torch.no_grad():
                    t_logits, t_state = teacher(x, t_state)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            yield _mix(nll, logits, t_logits, distill, temperature), int(y.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, *, batch_size: int) -> float:
        model.eval()
        data = batchify(self.test, batch_size)
        state = None
        total, count = 0.0, 0
        for x, y in bptt_batches(data, self.seq_len):
            logits, state = model(x.t(), state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           y.t().reshape(-1), reduction="sum"))
            count += y.numel()
        return math.exp(total / count)

    def calibration_batches(self, batch_size: int, count: int) -> list[Tensor]:
        data = batchify(self.train, batch_size)
        return [x.t() for x, _ in bptt_batches(data, self.seq_len)][:count]


# --------------------------------------------------------------------------- loading
def _load_mnist(folder: Path, spec: WorkloadSpec) -> Task:
    train = load_mnist(folder, "train", limit=spec.train_limit)
    test = load_mnist(folder, "test", limit=spec.test_limit)
    (xtr, ytr), (xte, yte) = train.tensors, test.tensors
    task = ImageTask(normalize(xtr, MNIST_MEAN, MNIST_STD), ytr,
                     normalize(xte, MNIST_MEAN, MNIST_STD), yte)
    task.info = {"dataset": "MNIST", "n_train": int(xtr.shape[0]), "n_test": int(xte.shape[0]),
                 "unit": "images", "test_split": "test (t10k)",
                 "preprocessing": "pixels in [0, 1] normalised with the MNIST mean/std"}
    return task


def _load_cifar(folder: Path, spec: WorkloadSpec) -> Task:
    train = load_cifar10(folder, "train", limit=spec.train_limit)
    test = load_cifar10(folder, "test", limit=spec.test_limit)
    (xtr, ytr), (xte, yte) = train.tensors, test.tensors
    mean, std = channel_mean_std(xtr)
    task = ImageTask(normalize(xtr, mean, std), ytr, normalize(xte, mean, std), yte,
                     augment=spec.augment)
    jpeg = not (folder / "cifar-10-batches-py").is_dir() and not (folder / "test_batch").is_file()
    task.info = {"dataset": "CIFAR-10" + (" (JPEG re-encoding, lossy)" if jpeg else ""),
                 "n_train": int(xtr.shape[0]), "n_test": int(xte.shape[0]), "unit": "images",
                 "test_split": "test (class-balanced prefix)",
                 "preprocessing": "per-channel mean/std of the training subset"
                                  + ("; random crop (pad 4) + flip" if spec.augment else "")}
    return task


def _load_ptb(folder: Path, spec: WorkloadSpec) -> Task:
    corpus = load_ptb(folder)
    train = corpus.train[:spec.train_limit] if spec.train_limit else corpus.train
    test = corpus.test[:spec.test_limit] if spec.test_limit else corpus.test
    task = LanguageModelTask(train, test, corpus.vocab_size, spec.seq_len)
    task.info = {"dataset": "Penn Treebank (Mikolov)", "n_train": int(train.numel()),
                 "n_test": int(test.numel()), "unit": "tokens", "test_split": "test",
                 "vocab_size": corpus.vocab_size,
                 "preprocessing": f"<eos> per line; BPTT windows of {spec.seq_len}"}
    return task


def _load_sst2(folder: Path, spec: WorkloadSpec) -> Task:
    train = load_sst2(folder, "train", max_len=spec.max_len, min_freq=spec.min_freq,
                      limit=spec.train_limit)
    dev = load_sst2(folder, "dev", vocab=train.vocab, max_len=spec.max_len,
                    limit=spec.test_limit)
    # keep only the words of the training subset (the others could not be learned): <pad> 0,
    # <unk> 1, then the used ids in order
    keep = sorted(set(torch.unique(train.tokens).tolist()) | {0, 1})
    remap = torch.ones(len(train.vocab), dtype=torch.int64)
    remap[torch.tensor(keep)] = torch.arange(len(keep))
    task = SentenceTask((remap[train.tokens], train.lengths, train.labels),
                        (remap[dev.tokens], dev.lengths, dev.labels), len(keep))
    task.info = {"dataset": "SST-2 (GLUE)", "n_train": int(train.labels.numel()),
                 "n_test": int(dev.labels.numel()), "unit": "sentences",
                 "test_split": "dev (GLUE test labels are not public)",
                 "vocab_size": len(keep),
                 "preprocessing": f"lower-case word tokens, max {spec.max_len} per sentence, "
                                  "vocabulary = words of the training subset"}
    return task


_LOADERS = {"mlp_mnist": _load_mnist, "resnet20_cifar": _load_cifar, "lstm_ptb": _load_ptb,
            "transformer_sst2": _load_sst2}


def load_task(spec: WorkloadSpec, root: str | os.PathLike[str] | None) -> Task:
    """Load the data of workload ``spec.name`` from ``root`` (or ``$AIMC_DATA``).

    Raises:
        DataError: a missing folder or file, or a truncated/corrupt file.
    """
    folder = dataset_dir(root, DATASETS[spec.name])
    task = _LOADERS[spec.name](folder, spec)
    task.info["folder"] = portable_path(folder, root)
    return task
