"""MNIST and Fashion-MNIST from their IDX files (LeCun et al. 1998; Xiao et al. 2017).

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header -- two zero bytes, a type
byte (``0x08`` = uint8), the number of dimensions ``d``, then ``d`` int32 sizes -- followed by
the values, row-major. MNIST images have magic ``0x00000803`` and sizes ``(n, 28, 28)``;
labels have magic ``0x00000801`` and size ``(n,)``. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from aimc.data._args import check_positive_int, check_split
from aimc.data.paths import find_file, resolve_data_dir
from aimc.errors import DataError

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "FASHION_MNIST_CLASSES"]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
"""Fashion-MNIST class names, index order 0-9 (Xiao et al. 2017)."""

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIX = {"train": "train", "test": "t10k"}


def _read_bytes(path: Path) -> bytes:
    """Whole file, gunzipped when its name ends in ``.gz``; corrupt gzip -> DataError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc} (corrupt or truncated gzip? delete it and "
                        f"copy or download it again)") from exc


def read_idx(path: str | os.PathLike[str], *, expect_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array.

    Args:
        path: the file; a ``.gz`` suffix means gzip.
        expect_magic: if given, the 4-byte big-endian magic number the file must start with
            (``0x803`` for image files, ``0x801`` for label files).

    Returns:
        Array of the file's dtype (uint8 for MNIST) and shape (the header's sizes).

    Raises:
        DataError: bad gzip, bad or unexpected magic number, or a data length that does not
            match the header (truncated or padded file). The message names the file.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX header (truncated?)")
    magic = int.from_bytes(raw[:4], "big")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        want = f" (expected 0x{expect_magic:08x})" if expect_magic is not None else ""
        raise DataError(f"{path}: bad IDX magic number 0x{magic:08x}{want}; not an IDX file, "
                        f"or corrupt")
    if expect_magic is not None and magic != expect_magic:
        raise DataError(f"{path}: IDX magic number 0x{magic:08x}, expected 0x{expect_magic:08x} "
                        f"({'images' if expect_magic == 0x803 else 'labels'}); wrong file?")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise DataError(f"{path}: IDX header says shape {shape} ({need} data bytes) but the file "
                        f"holds {have}: {what}; copy or download it again")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def _candidates(prefix: str, what: str, idx: str) -> tuple[str, ...]:
    """Accepted spellings, preferred first: ``t10k-images-idx3-ubyte.gz``, without ``.gz``,
    and ``t10k-images.idx3-ubyte`` (as some mirrors name them)."""
    base = f"{prefix}-{what}-{idx}-ubyte"
    return (f"{base}.gz", base, f"{prefix}-{what}.{idx}-ubyte")


def _load(dataset: str, data_dir: str | os.PathLike[str] | None, split: str,
          limit: int | None) -> TensorDataset:
    check_split(dataset, split, ("train", "test"))
    check_positive_int("limit", limit)
    folder = resolve_data_dir(data_dir, dataset)
    prefix = _PREFIX[split]
    img_path = find_file(folder, _candidates(prefix, "images", "idx3"), dataset)
    lbl_path = find_file(folder, _candidates(prefix, "labels", "idx1"), dataset)
    images = read_idx(img_path, expect_magic=0x803)
    labels = read_idx(lbl_path, expect_magic=0x801)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, "
                        f"{dataset} images are 28x28")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"{dataset}: expected uint8 IDX data, got images {images.dtype} in "
                        f"{img_path} and labels {labels.dtype} in {lbl_path}")
    if len(images) != len(labels):
        raise DataError(f"{dataset}: {img_path} holds {len(images)} images but {lbl_path} holds "
                        f"{len(labels)} labels; the files do not belong together")
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{lbl_path}: label {int(labels.max())} out of range 0-9")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.copy()).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return TensorDataset(x, y)


def load_mnist(data_dir: str | os.PathLike[str] | None = None, split: str = "train", *,
               limit: int | None = None) -> TensorDataset:
    """MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0).

    Reads ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` with or without ``.gz`` (also the
    ``train-images.idx3-ubyte`` spelling) from ``data_dir`` or ``$AIMC_DATA/mnist``.

    Args:
        data_dir: folder holding the IDX files; ``None`` uses ``$AIMC_DATA/mnist``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        limit: keep only the first ``limit`` samples (file order), for quick runs.

    Returns:
        ``TensorDataset(images, labels)``: images ``(N, 1, 28, 28)`` float32 in [0, 1]
        (ink = 1), labels ``(N,)`` int64 in 0-9.

    Raises:
        DataError: folder or file missing, corrupt gzip, bad magic number, wrong sizes, or
            image and label files of different lengths; the message names the file.
        ConfigError: unknown ``split`` or ``limit`` < 1.
    """
    return _load("mnist", data_dir, split, limit)


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None, split: str = "train", *,
                       limit: int | None = None) -> TensorDataset:
    """Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747; MIT licence), same IDX format as MNIST.

    Same arguments, returns and errors as :func:`load_mnist`; ``None`` uses
    ``$AIMC_DATA/fashion_mnist``. Class names: :data:`FASHION_MNIST_CLASSES`.
    """
    return _load("fashion_mnist", data_dir, split, limit)
