"""Keyword-spotting networks on 49 × 10 MFCC maps: ``ds_cnn_kws`` and ``analognet_kws``.

Inputs (N, 1, 49, 10): 49 frames (1 s at 16 kHz, 30 ms window, 20 ms hop) × 10 MFCCs, as
:func:`aimc.data.mfcc.mfcc` computes them (MLPerf Tiny KWS front end); 12 classes.

* :func:`ds_cnn_kws` — the MLPerf Tiny KWS reference DS-CNN (MLCommons ``tiny`` repository,
  ``benchmark/training/keyword_spotting``; Zhang et al., "Hello Edge", arXiv:1711.07128):
  a 10×4 stride-2 convolution to 64 channels, four depthwise-separable blocks (3×3
  depthwise + 1×1 pointwise, 64 channels, BatchNorm + ReLU each), global average pooling
  and a 12-way linear layer; 22,016 weights, 2.66 M MACs.
* :func:`analognet_kws` — the same stem and depth with **dense** 3×3 convolutions instead of
  depthwise-separable blocks, the shape AnalogNets argues for on compute-in-memory
  (arXiv:2111.06503): a depthwise 3×3 kernel uses 9 rows and one column of an array per
  channel (a block-diagonal matrix, about 3.5 % of a 256×256 array busy), while a dense
  3×3 convolution over C channels uses 9·C rows. The paper's layer table is not in our
  sources (snn.md §4), so the widths are ours: 28 channels, so that 9·28 = 252 rows fill
  one 256-row array per column without splitting; 29,680 weights, 3.67 M MACs.

Both are plain torch modules (BatchNorm stays digital after conversion).
"""

from __future__ import annotations

from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError
from aimc.models._checks import check_images

__all__ = ["KWSNet", "ds_cnn_kws", "analognet_kws", "KWS_FRAMES", "KWS_COEFFS", "KWS_CLASSES"]

KWS_FRAMES, KWS_COEFFS, KWS_CLASSES = 49, 10, 12


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


class KWSNet(nn.Module):
    """Stem conv (10×4, stride 2) → blocks → global average pool → dropout → linear.

    Shapes: x (N, 1, 49, 10) → logits (N, classes).
    """

    def __init__(self, blocks: nn.Sequential, stem_channels: int, features: int,
                 classes: int = KWS_CLASSES, dropout: float = 0.2, name: str = "KWSNet"):
        super().__init__()
        if not isinstance(classes, int) or classes < 2:
            raise ConfigError(f"{name}: classes must be an int >= 2, got {classes!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.name = name
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem_channels, (10, 4), stride=2, padding=(5, 1), bias=False),
            *_bn_relu(stem_channels))
        self.blocks = blocks
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.name, 1)
        if x.shape[2:] != (KWS_FRAMES, KWS_COEFFS):
            raise ShapeError(f"{self.name} expects MFCC maps of {KWS_FRAMES} frames x "
                             f"{KWS_COEFFS} coefficients, got {tuple(x.shape[2:])}; compute "
                             "them with aimc.data.mfcc.mfcc(audio) from 1 s of 16 kHz audio")
        x = self.blocks(self.stem(x))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


def ds_cnn_kws(classes: int = KWS_CLASSES, channels: int = 64, dropout: float = 0.2) -> KWSNet:
    """MLPerf Tiny DS-CNN (see the module docstring)."""
    layers: list[nn.Module] = []
    for _ in range(4):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                   *_bn_relu(channels),
                   nn.Conv2d(channels, channels, 1, bias=False), *_bn_relu(channels)]
    return KWSNet(nn.Sequential(*layers), channels, channels, classes, dropout, "ds_cnn_kws")


def analognet_kws(classes: int = KWS_CLASSES, channels: int = 28, depth: int = 4,
                  dropout: float = 0.2) -> KWSNet:
    """CiM-shaped KWS network with dense 3×3 convolutions (see the module docstring)."""
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"analognet_kws: depth must be an int >= 1, got {depth!r}")
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, bias=False), *_bn_relu(channels)]
    return KWSNet(nn.Sequential(*layers), channels, channels, classes, dropout,
                  "analognet_kws")
