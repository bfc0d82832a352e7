"""Visual-wake-word networks on 96 × 96 RGB: ``mobilenet_v1_vww`` and ``analognet_vww``.

Inputs (N, 3, 96, 96) floats (e.g. pixels / 255); 2 classes (person / no person).

* :func:`mobilenet_v1_vww` — the MLPerf Tiny VWW reference, MobileNetV1 (Howard et al.,
  arXiv:1704.04861) at width 0.25: a 3×3 stride-2 convolution, 13 depthwise-separable
  blocks (channels 8 → 256 at width 0.25), global average pooling, a 2-way linear layer;
  208,112 weights, 7.49 M MACs.
* :func:`analognet_vww` — a CiM-shaped network with **dense** 3×3 convolutions only (no
  depthwise layers; see :mod:`aimc.models.kws` for why), five stride-2/1 stages with
  16-24-48-96-128 channels, global average pooling and a 2-way linear layer. The
  AnalogNets paper's VWW layer table is not in our sources (snn.md §4); these widths are
  ours, chosen so that every tile's rows (9 · input channels per tile) stay ≤ 256 after the
  channel-aligned split: 166,576 weights, 9.95 M MACs.
"""

from __future__ import annotations

from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError
from aimc.models._checks import check_images

__all__ = ["VWWNet", "mobilenet_v1_vww", "analognet_vww", "VWW_SIZE"]

VWW_SIZE = 96

#: MobileNetV1 blocks at width 1: (output channels, stride)
_MOBILENET = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _conv_bn(cin: int, cout: int, stride: int, groups: int = 1, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class VWWNet(nn.Module):
    """Feature layers → global average pool → linear. x (N, 3, 96, 96) → logits (N, classes)."""

    def __init__(self, features: nn.Sequential, channels: int, classes: int, name: str):
        super().__init__()
        if not isinstance(classes, int) or classes < 2:
            raise ConfigError(f"{name}: classes must be an int >= 2, got {classes!r}")
        self.name = name
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.name, 3)
        if x.shape[2:] != (VWW_SIZE, VWW_SIZE):
            raise ShapeError(f"{self.name} expects {VWW_SIZE}x{VWW_SIZE} images, got "
                             f"{tuple(x.shape[2:])}; resize them to {VWW_SIZE}x{VWW_SIZE} "
                             "first (the MLPerf Tiny VWW input)")
        return self.fc(self.pool(self.features(x)).flatten(1))


def mobilenet_v1_vww(classes: int = 2, width: float = 0.25) -> VWWNet:
    """MobileNetV1 at ``width`` (MLPerf Tiny VWW reference: 0.25)."""
    if not 0 < width <= 1:
        raise ConfigError(f"mobilenet_v1_vww: width must be in (0, 1], got {width}")
    c = max(1, round(32 * width))
    layers = _conv_bn(3, c, 2)
    for out, stride in _MOBILENET:
        o = max(1, round(out * width))
        layers += _conv_bn(c, c, stride, groups=c) + _conv_bn(c, o, 1, k=1)
        c = o
    return VWWNet(nn.Sequential(*layers), c, classes, "mobilenet_v1_vww")


def analognet_vww(classes: int = 2,
                  channels: tuple[int, ...] = (16, 24, 48, 96, 128),
                  strides: tuple[int, ...] = (2, 2, 2, 2, 1)) -> VWWNet:
    """CiM-shaped VWW network of dense 3×3 convolutions (see the module docstring)."""
    if len(channels) != len(strides) or not channels:
        raise ConfigError("analognet_vww: channels and strides need the same, non-zero length")
    layers: list[nn.Module] = []
    c = 3
    for out, stride in zip(channels, strides, strict=True):
        layers += _conv_bn(c, out, stride)
        c = out
    return VWWNet(nn.Sequential(*layers), c, classes, "analognet_vww")
