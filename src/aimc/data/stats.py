"""Per-channel mean/std of image tensors, and normalisation with them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aimc.data._args import check_positive_int
from aimc.errors import ConfigError, ShapeError

__all__ = ["channel_mean_std", "normalize", "MNIST_MEAN", "MNIST_STD", "CIFAR10_MEAN",
           "CIFAR10_STD"]

MNIST_MEAN = (0.1307,)
"""Pixel mean of the 60,000 MNIST training images in [0, 1] (computed: 0.130660)."""
MNIST_STD = (0.3081,)
"""Pixel standard deviation (population) of the MNIST training images (computed: 0.308108)."""
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel (R, G, B) mean of the 50,000 exact CIFAR-10 training images in [0, 1], the
widely used values. The lossy JPEG copies differ slightly: compute with
:func:`channel_mean_std` when using them."""
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel population standard deviation of the exact CIFAR-10 training images (not the
often-copied 0.2023/0.1994/0.2010, which is not the pixel std)."""


def channel_mean_std(images: torch.Tensor, *, chunk: int = 4096
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std over samples and pixels.

    Args:
        images: ``(N, C, H, W)`` floating tensor (e.g. ``load_cifar10(...).tensors[0]``).
        chunk: samples accumulated at a time (float64 sums), to bound memory.

    Returns:
        ``(mean, std)``, each ``(C,)`` float32 on ``images.device``.

    Raises:
        ShapeError: ``images`` is not a non-empty 4-d floating tensor.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        desc = (f"{images.dtype} tensor of shape {tuple(images.shape)}"
                if isinstance(images, torch.Tensor) else type(images).__name__)
        raise ShapeError(f"channel_mean_std expects a floating (N, C, H, W) tensor, got {desc}")
    if images.shape[0] == 0:
        raise ShapeError("channel_mean_std got an empty tensor (N = 0)")
    check_positive_int("chunk", chunk, allow_none=False)
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64, device=images.device)
    total_sq = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].to(torch.float64)
        total += part.sum(dim=(0, 2, 3))
        total_sq += part.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    var = (total_sq / count - mean.square()).clamp_min(0.0)
    return mean.to(torch.float32), var.sqrt().to(torch.float32)


def normalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
              std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """``(images - mean) / std`` per channel.

    Args:
        images: ``(N, C, H, W)`` or ``(C, H, W)`` floating tensor.
        mean: ``C`` values (e.g. :data:`CIFAR10_MEAN`).
        std: ``C`` positive values.

    Returns:
        A new tensor of the same shape and dtype.

    Raises:
        ShapeError: ``mean``/``std`` do not have one value per channel.
        ConfigError: ``std`` has a non-positive value.
    """
    m = torch.as_tensor(mean, dtype=images.dtype, device=images.device).flatten()
    s = torch.as_tensor(std, dtype=images.dtype, device=images.device).flatten()
    channels = images.shape[-3] if images.dim() >= 3 else -1
    if m.numel() != channels or s.numel() != channels:
        raise ShapeError(f"normalize: images have {channels} channels (dim -3) but mean has "
                         f"{m.numel()} and std {s.numel()} values")
    if bool((s <= 0).any()):
        raise ConfigError(f"normalize: std must be > 0, got {s.tolist()}")
    return (images - m[:, None, None]) / s[:, None, None]
