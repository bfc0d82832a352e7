"""The supervised spike-timing task of arXiv:1905.11929 on public data: spoken digits in,
an image's pixels out as precisely timed spikes.

* **Input** (:func:`encode_clip`): the clip's cochlea spikes (:mod:`aimc.snn.cochlea`),
  time-normalised so its first and last spikes span the whole pattern (``steps`` grid
  steps), then put on the grid (several spikes of a channel in one step count as one). The
  paper's audio came from a silicon cochlea and was sub-sampled to fit its 1250 ms pattern;
  FSDD clips last 0.14–2.3 s, so a fixed mapping would leave most output times without any
  input. Stretching each clip to the pattern is our (documented) substitute.
* **Output** (:func:`target_images`, :func:`desired_trains`): each class's image is the
  first MNIST training image of that digit, 2×2 mean-pooled to 14×14 and cut to its 12
  central columns (14×12 = 168 output neurons, the paper's output count; 132 × 168 synapses
  with 4 PCM devices per sign are 177,408 devices, the paper's "> 170,000"), scaled to a
  maximum of 1. A pixel of intensity p ≥ ``cut`` asks its neuron for one spike at
  t = t_first + (1 − p)·(t_last − t_first) (brighter = earlier, latency coding); darker
  pixels ask for silence. The paper's mapping is not in our sources: this is an assumption.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.config.audio import Cochlea
from aimc.errors import ConfigError, ShapeError
from aimc.snn.cochlea import cochlea_events

__all__ = ["encode_clip", "target_images", "desired_trains", "IMAGE_SHAPE"]

IMAGE_SHAPE = (14, 12)
"""The target images' shape (rows, columns): 168 output neurons."""


def encode_clip(samples: Tensor, rate: int, cochlea: Cochlea, steps: int) -> Tensor:
    """Input spikes of one clip: bool (steps, channels), stretched to the pattern."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps must be an integer >= 2 (the pattern length), got {steps!r}")
    times, ch = cochlea_events(samples, rate, cochlea)
    out = torch.zeros(steps, cochlea.channels, dtype=torch.bool)
    if times.numel() == 0:
        return out
    span = float(times[-1] - times[0])
    pos = (times - times[0]) * ((steps - 1) / span) if span > 0 else torch.zeros_like(times)
    out[torch.round(pos).long().clamp_(0, steps - 1), ch] = True
    return out


def target_images(mnist_images: Tensor, mnist_labels: Tensor) -> Tensor:
    """(10, 168) intensities in [0, 1]: per digit, its first image in the given MNIST set,
    pooled and cropped to :data:`IMAGE_SHAPE` (module docstring)."""
    if not isinstance(mnist_images, Tensor) or mnist_images.dim() < 3 or \
            tuple(mnist_images.shape[-2:]) != (28, 28):
        raise ShapeError(f"MNIST images must be shaped (N, [1,] 28, 28), got "
                         f"{getattr(mnist_images, 'shape', None)}")
    images = mnist_images.reshape(-1, 28, 28).to(torch.float64)
    out = []
    for digit in range(10):
        hits = torch.nonzero(mnist_labels == digit).flatten()
        if hits.numel() == 0:
            raise ShapeError(f"the MNIST set holds no image of digit {digit}")
        img = images[int(hits[0])]
        pooled = img.reshape(14, 2, 14, 2).mean(dim=(1, 3))[:, 1:13]
        out.append((pooled / pooled.max()).reshape(-1))
    return torch.stack(out)


def desired_trains(images: Tensor, steps: int, dt: float, t_first: float, t_last: float,
                   cut: float = 0.25) -> Tensor:
    """Desired output spikes (classes, steps, pixels) bool from intensities (classes, pixels).

    Raises:
        ConfigError: target times outside the pattern [0, steps·dt), t_last ≤ t_first, or a
            cut outside (0, 1].
    """
    pattern = steps * dt
    if not (0 <= t_first < t_last < pattern) or not math.isfinite(t_last):
        raise ConfigError(f"target spike times must lie inside the {pattern:g} ms pattern "
                          f"with t_first < t_last; got [{t_first}, {t_last}] ms")
    if not 0 < cut <= 1:
        raise ConfigError(f"the intensity cut must lie in (0, 1], got {cut}")
    if images.dim() != 2 or float(images.min()) < 0 or float(images.max()) > 1:
        raise ShapeError("images must be (classes, pixels) intensities in [0, 1]")
    out = torch.zeros(images.shape[0], steps, images.shape[1], dtype=torch.bool)
    for c in range(images.shape[0]):
        on = torch.nonzero(images[c] >= cut).flatten()
        t = t_first + (1 - images[c, on]) * (t_last - t_first)
        out[c, torch.round(t / dt).long(), on] = True
    return out
