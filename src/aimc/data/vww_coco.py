"""Visual Wake Words built from COCO 2014, as Chowdhery et al. define it (arXiv:1906.05721).

An image is labelled 1 ("person") when at least one instance of the foreground category has a
bounding box larger than ``min_area_fraction`` (0.5 %) of the image area, else 0 — the rule of
TensorFlow's ``build_visualwakewords_data`` (``foreground_class_of_interest='person'``,
``small_object_area_threshold=0.005``). Images are decoded with Pillow (``aimc[data]``),
converted to RGB and resized to ``size`` × ``size`` (bilinear, aspect ratio not kept, as the
MLPerf Tiny VWW pipeline does).

COCO publishes no checksums for its archives, so :func:`aimc.data.download` does not fetch it
(``download("vww")`` explains): download ``train2014.zip``/``val2014.zip`` and
``annotations_trainval2014.zip`` from cocodataset.org yourself and pass the image folder and
``instances_*.json`` here. The challenge's evaluation split (minival: the 8,059 val2014 ids of
``mscoco_minival_ids.txt``) is selected with ``image_ids``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch

from aimc.data._images import require_pillow
from aimc.data.vww import VWWSubset
from aimc.errors import DataError

__all__ = ["vww_labels", "load_vww_coco"]


def vww_labels(instances_json: str | os.PathLike[str], *, category: str = "person",
               min_area_fraction: float = 0.005) -> dict[int, tuple[str, int]]:
    """COCO image id → (file name, label) by the Visual Wake Words rule (module docstring)."""
    if not 0 <= min_area_fraction < 1:
        raise DataError(f"min_area_fraction must be in [0, 1), got {min_area_fraction!r}")
    path = Path(instances_json)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read a COCO instances JSON ({exc}); pass "
                        "annotations/instances_train2014.json or instances_val2014.json") from exc
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise DataError(f"{path} is not a COCO instances file (needs images, annotations, "
                        "categories)")
    ids = [c["id"] for c in data["categories"] if c.get("name") == category]
    if not ids:
        names = sorted(c.get("name", "?") for c in data["categories"])
        raise DataError(f"{path}: no category {category!r}; it has {names[:10]}…")
    cat = ids[0]
    images = {int(im["id"]): (str(im["file_name"]), float(im["width"]) * float(im["height"]))
              for im in data["images"]}
    positive: set[int] = set()
    for a in data["annotations"]:
        if a.get("category_id") != cat:
            continue
        image = images.get(int(a["image_id"]))
        if image is None:
            continue
        w, h = float(a["bbox"][2]), float(a["bbox"][3])
        if image[1] > 0 and w * h / image[1] > min_area_fraction:
            positive.add(int(a["image_id"]))
    return {i: (name, int(i in positive)) for i, (name, _) in sorted(images.items())}


def load_vww_coco(images_dir: str | os.PathLike[str], instances_json: str | os.PathLike[str],
                  *, size: int = 96, image_ids: Collection[int] | None = None,
                  limit: int | None = None, category: str = "person",
                  min_area_fraction: float = 0.005) -> VWWSubset:
    """Visual Wake Words images and labels from a COCO image folder and its annotations.

    Args:
        images_dir: folder of the COCO JPEGs (e.g. ``train2014/``).
        instances_json: the matching ``instances_*.json``.
        size: output side in pixels (96 for the MLPerf Tiny models).
        image_ids: keep only these COCO ids (e.g. minival), in id order.
        limit: at most this many images (after ``image_ids``), in id order.
        category, min_area_fraction: the labelling rule.

    Returns:
        :class:`~aimc.data.vww.VWWSubset`: images (N, 3, size, size) float32 in [0, 1],
        labels (N,), file names.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive int, got {size!r}")
    root = Path(images_dir)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder of COCO images; pass e.g. coco/train2014")
    labels = vww_labels(instances_json, category=category, min_area_fraction=min_area_fraction)
    chosen = [i for i in labels if image_ids is None or i in image_ids]
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        raise DataError("no COCO images selected; check image_ids against the annotations file")
    image_mod = require_pillow()
    bilinear = getattr(image_mod, "Resampling", image_mod).BILINEAR  # Pillow < 9.1: no enum
    out = np.empty((len(chosen), size, size, 3), dtype=np.uint8)
    for k, i in enumerate(chosen):
        p = root / labels[i][0]
        try:
            with image_mod.open(p) as img:
                out[k] = np.asarray(img.convert("RGB").resize((size, size), bilinear))
        except OSError as exc:
            raise DataError(f"{p}: cannot decode ({exc}); is the image folder complete?") from exc
    x = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    return VWWSubset(x, torch.tensor([labels[i][1] for i in chosen]),
                     tuple(labels[i][0] for i in chosen))
