"""KWS and VWW workloads: shapes, weight and MAC counts, analog conversion, bad input.

The MAC counts are the networks' definitions (docstrings of aimc.models.kws / .vww),
recomputed here from the layer hyper-parameters by hand, not from the code under test.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aimc
from aimc.errors import ConfigError, ShapeError
from aimc.models import (
    TINYML_WORKLOADS,
    analognet_kws,
    analognet_vww,
    build_model,
    ds_cnn_kws,
    mobilenet_v1_vww,
)


def _macs_and_weights(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    total = [0]

    def hook(mod: nn.Module, _: object, out: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out[0].numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features

    for m in model.modules():
        m.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        model(x)
    weights = sum(m.weight.numel() for m in model.modules()
                  if isinstance(m, (nn.Conv2d, nn.Linear)))
    return total[0], weights


def test_kws_models_shapes_and_macs():
    x = torch.randn(2, 1, 49, 10)
    assert ds_cnn_kws()(x).shape == (2, 12)
    # stem 10x4 s2 -> 25x5 = 125 positions, 64 ch; 4 x (dw 3x3 + pw 64x64); fc 64x12
    stem = 125 * 40 * 64
    block = 125 * 9 * 64 + 125 * 64 * 64
    assert _macs_and_weights(ds_cnn_kws(), x) == (stem + 4 * block + 64 * 12,
                                                  40 * 64 + 4 * (9 * 64 + 64 * 64) + 64 * 12)
    assert analognet_kws()(x).shape == (2, 12)
    stem, block = 125 * 40 * 28, 125 * 252 * 28
    assert _macs_and_weights(analognet_kws(), x) == (stem + 4 * block + 28 * 12,
                                                     40 * 28 + 4 * 252 * 28 + 28 * 12)


def test_vww_models_shapes_and_macs():
    x = torch.rand(1, 3, 96, 96)
    assert mobilenet_v1_vww()(x).shape == (1, 2)
    assert analognet_vww()(x).shape == (1, 2)
    # dense 3x3 stages: 48², 24², 12², 6², 6² positions
    chans, pos = (3, 16, 24, 48, 96, 128), (48**2, 24**2, 12**2, 6**2, 6**2)
    macs = sum(p * 9 * cin * cout for p, cin, cout in zip(pos, chans[:-1], chans[1:], strict=True))
    macs_mb, _ = _macs_and_weights(mobilenet_v1_vww(), x)
    assert _macs_and_weights(analognet_vww(), x)[0] == macs + 128 * 2
    assert macs_mb == 7_489_664  # MobileNetV1-0.25 at 96x96 (MLPerf Tiny: about 7.5 M MACs)


def test_tiles_of_analognets_fit_256_row_arrays():
    """The CiM-shaped nets' tiles have at most 256 rows when split at 256."""
    cfg = aimc.presets.rasch2023()
    cfg = cfg.replace(mapping=cfg.mapping.replace(tiles=aimc.config.TileSplit(max_rows=256)))
    for model in (analognet_kws(), analognet_vww()):
        analog = aimc.convert_to_analog(model, cfg)
        rows = [m.rows for m in analog.modules() if hasattr(m, "geometry")
                for m in [m.geometry]]
        assert rows and max(rows) <= 256


def test_registry_and_bad_input():
    for name in TINYML_WORKLOADS:
        assert isinstance(build_model(name), nn.Module)
    with pytest.raises(ShapeError, match="aimc.data.mfcc"):
        ds_cnn_kws()(torch.randn(2, 1, 40, 10))
    with pytest.raises(ShapeError, match="96x96"):
        analognet_vww()(torch.rand(1, 3, 64, 64))
    with pytest.raises(ShapeError, match="floating-point"):
        analognet_vww()(torch.zeros(1, 3, 96, 96, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="classes"):
        analognet_kws(classes=1)
    with pytest.raises(ConfigError, match="width"):
        mobilenet_v1_vww(width=0)
    with pytest.raises(ConfigError, match="same"):
        analognet_vww(channels=(8, 16), strides=(2,))


VWW = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "vww_subset"


@pytest.mark.skipif(not VWW.is_dir(), reason="needs ../shared/data/vww_subset")
def test_vww_subset_loads():
    from aimc.data.vww import load_vww_subset

    data = load_vww_subset(VWW, limit=20)
    assert data.images.shape == (20, 3, 96, 96) and data.images.max() <= 1
    assert set(data.labels.tolist()) <= {0, 1}
    assert analognet_vww()(data.images[:2]).shape == (2, 2)


def test_vww_loader_rejects_wrong_image_size(tmp_path):
    from aimc.data.vww import load_vww_subset
    from aimc.errors import DataError

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.bin").write_bytes(bytes(64 * 64 * 3))
    (tmp_path / "labels.csv").write_text("file,label,label_name\nimages/1.bin,1,person\n")
    with pytest.raises(DataError, match="96x96"):
        load_vww_subset(tmp_path)
