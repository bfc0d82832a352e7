"""``ResNet20`` / ``resnet20_cifar``: the CIFAR-10 ResNet-20 of He et al. 2016.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
arXiv:1512.03385, §4.2: a 3×3 conv (16 channels) on 32×32 inputs, then three stages of
n = 3 basic blocks (two 3×3 convs + BatchNorm each) with 16, 32 and 64 channels on 32×32,
16×16 and 8×8 feature maps (the first conv of stages 2 and 3 has stride 2), global average
pooling and a fully connected layer: 6n + 2 = 20 weighted layers, ≈0.27 M parameters.

Shortcuts are the paper's **option A** (as in its CIFAR experiments): identity where the
shape is unchanged; where a block halves the map and doubles the channels, the shortcut
takes every second pixel (stride 2) and pads the new channels with zeros. Option A has no
parameters, so after :func:`aimc.convert_to_analog` the model has exactly 19 analog convs
+ 1 analog Linear = 20 analog layers; BatchNorm stays digital. (Option B would add two 1×1
convs, i.e. 22 analog layers.)

Initialisation: Kaiming-normal convs (fan-out, ReLU), BatchNorm γ = 1, β = 0.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from aimc.errors import ConfigError
from aimc.models._checks import check_images

__all__ = ["BasicBlock", "ResNet20", "resnet20_cifar"]


class _PadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad channels to ``out_channels``.

    Shapes: x (N, C_in, H, W) → (N, C_out, ⌈H/stride⌉, ⌈W/stride⌉). The new channels are
    appended after the existing ones (the paper does not say where; any placement is the same
    function up to a channel permutation of the residual branch).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the (option-A) shortcut, then ReLU.

    Shapes: x (N, in_channels, H, W) → (N, out_channels, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = (
            nn.Identity() if stride == 1 and in_channels == out_channels
            else _PadShortcut(in_channels, out_channels, stride))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR ResNet-(6n+2) with option-A shortcuts; n = 3 gives ResNet-20.

    Args:
        num_classes: number of output logits.
        width: channels of the first stage (16 in the paper); stages use width, 2·width,
            4·width. Smaller values make quick test runs.
        blocks_per_stage: n (3 for ResNet-20, 5 for ResNet-32, ...).
        in_channels: image channels (3 for CIFAR).

    Shapes:
        x: (N, in_channels, H, W), 32×32 for CIFAR (any H, W ≥ 1 works: the head pools
        globally); returns logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, width: int = 16, blocks_per_stage: int = 3,
                 in_channels: int = 3) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("width", width),
                            ("blocks_per_stage", blocks_per_stage),
                            ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ResNet20 {name} must be a positive int, got {value!r}")
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages = []
        channels = width
        for i, out in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for b in range(blocks_per_stage):
                stride = 2 if (i > 0 and b == 0) else 1
                blocks.append(BasicBlock(channels, out, stride))
                channels = out
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for images x (N, in_channels, H, W)."""
        x = check_images(x, "ResNet20", self.in_channels)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


def resnet20_cifar(num_classes: int = 10, width: int = 16) -> ResNet20:
    """ResNet-20 for CIFAR-10 (He et al. 2016, arXiv:1512.03385), option-A shortcuts.

    With ``width=16`` and 10 classes: 269,722 parameters incl. BatchNorm (0.27 M, as in
    the paper's Table 6), 19 convs + 1 Linear = 20 analog layers after conversion.

    Shapes:
        x: (N, 3, 32, 32); returns logits (N, num_classes).
    """
    return ResNet20(num_classes=num_classes, width=width)
