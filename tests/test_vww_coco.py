"""aimc.data.vww_labels / load_vww_coco on a synthetic COCO annotations file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aimc.data import download, load_vww_coco, vww_labels
from aimc.errors import DataError

Image = pytest.importorskip("PIL.Image")


def _coco(root: Path) -> tuple[Path, Path]:
    """Four 200×100 images (area 20,000; 0.5 % = 100 px²): person boxes of 101 and 99 px²,
    a big dog, and a big person — labels 1, 0, 0, 1."""
    images = root / "train2014"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    infos = []
    for i in range(1, 5):
        name = f"COCO_train2014_{i:012d}.jpg"
        Image.fromarray(rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)).save(images / name)
        infos.append({"id": i, "file_name": name, "width": 200, "height": 100})
    ann = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10.1, 10]},
           {"image_id": 2, "category_id": 1, "bbox": [0, 0, 9.9, 10]},
           {"image_id": 3, "category_id": 18, "bbox": [0, 0, 100, 100]},
           {"image_id": 4, "category_id": 1, "bbox": [5, 5, 50, 50]},
           {"image_id": 4, "category_id": 18, "bbox": [0, 0, 1, 1]}]
    path = root / "instances_train2014.json"
    path.write_text(json.dumps({"images": infos, "annotations": ann, "categories": [
        {"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}))
    return images, path


def test_labels_follow_the_half_percent_box_rule(tmp_path: Path) -> None:
    images, ann = _coco(tmp_path)
    labels = vww_labels(ann)
    assert [labels[i][1] for i in (1, 2, 3, 4)] == [1, 0, 0, 1]
    assert [v[1] for v in vww_labels(ann, category="dog").values()] == [0, 0, 1, 0]
    data = load_vww_coco(images, ann)
    assert data.images.shape == (4, 3, 96, 96) and data.labels.tolist() == [1, 0, 0, 1]
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    sub = load_vww_coco(images, ann, image_ids={2, 4}, size=32)
    assert sub.images.shape == (2, 3, 32, 32) and sub.names[0].endswith("000000000002.jpg")


def test_bad_input_errors_name_the_fix(tmp_path: Path) -> None:
    images, ann = _coco(tmp_path)
    with pytest.raises(DataError, match="no category 'cat'"):
        vww_labels(ann, category="cat")
    with pytest.raises(DataError, match="min_area_fraction"):
        vww_labels(ann, min_area_fraction=1.5)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match="not a COCO instances"):
        vww_labels(tmp_path / "bad.json")
    with pytest.raises(DataError, match="instances_train2014.json"):
        vww_labels(tmp_path / "missing.json")
    with pytest.raises(DataError, match="image_ids"):
        load_vww_coco(images, ann, image_ids={99})
    with pytest.raises(DataError, match="size"):
        load_vww_coco(images, ann, size=0)
    (images / "COCO_train2014_000000000003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode"):
        load_vww_coco(images, ann)
    with pytest.raises(DataError, match="refused.*load_vww_coco"):
        download("vww", tmp_path)
