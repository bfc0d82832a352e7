"""The Visual Wake Words evaluation subset (MLPerf Tiny ``vww01``): 96×96 RGB, person or not."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aimc.data.paths import resolve_data_dir
from aimc.errors import DataError

__all__ = ["VWWSubset", "load_vww_subset", "VWW_IMAGE_BYTES"]

#: bytes of one image file: 96 × 96 × 3 uint8, HWC, RGB
VWW_IMAGE_BYTES = 96 * 96 * 3


@dataclass(frozen=True)
class VWWSubset:
    """Attributes: images (N, 3, 96, 96) float32 in [0, 1]; labels (N,) int64 (1 = person);
    names: file names."""

    images: Tensor
    labels: Tensor
    names: tuple[str, ...]


def load_vww_subset(data_dir: str | os.PathLike[str] | None = None, *,
                    limit: int | None = None) -> VWWSubset:
    """Read ``vww_subset`` (labels.csv + images/<coco id>.bin), in file order."""
    root = Path(resolve_data_dir(data_dir, "vww_subset"))
    table = root / "labels.csv"
    if not table.is_file():
        raise DataError(f"{root} has no labels.csv; pass the vww_subset folder (labels.csv, "
                        "images/)")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise DataError(f"{table} must have the columns file, label, label_name")
    rows = rows[:limit] if limit is not None else rows
    images = np.empty((len(rows), 96, 96, 3), dtype=np.uint8)
    for i, r in enumerate(rows):
        p = root / r["file"]
        raw = p.read_bytes() if p.is_file() else b""
        if len(raw) != VWW_IMAGE_BYTES:
            raise DataError(f"{p}: expected {VWW_IMAGE_BYTES} bytes (96x96x3 uint8 RGB), got "
                            f"{len(raw)}; the VWW models take 96x96 images: resize first")
        images[i] = np.frombuffer(raw, dtype=np.uint8).reshape(96, 96, 3)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    labels = torch.tensor([int(r["label"]) for r in rows])
    return VWWSubset(x, labels, tuple(Path(r["file"]).name for r in rows))
