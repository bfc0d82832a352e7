"""A software cochlea: audio → spike streams, one per frequency channel.

The substitute for the silicon cochlea of arXiv:1905.11929 (equations and assumptions:
:class:`aimc.config.audio.Cochlea`). All channels are filtered at once by FFT convolution
and the integrate-and-fire stage is a cumulative sum, so a clip costs a few tensor ops:

    S_c[k] = Σ_{j≤k} max(y_c[j], 0)·(1000/rate)      (ms; the integral of y⁺)
    spike of channel c at sample k  ⇔  ⌊S_c[k]/θ⌋ > ⌊S_c[k−1]/θ⌋

(one spike per crossing sample; when the integral jumps by more than θ within one sample,
which needs y⁺ > θ·rate/1000, the extra crossings are dropped).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aimc.config.audio import Cochlea
from aimc.errors import ConfigError, ShapeError

__all__ = ["centre_frequencies", "gammatone_bank", "cochlea_events", "cochlea_spikes"]


def centre_frequencies(cfg: Cochlea) -> Tensor:
    """Log-spaced centre frequencies f_c (Hz), float64, shape (channels,)."""
    if cfg.channels == 1:
        return torch.tensor([math.sqrt(cfg.f_low * cfg.f_high)], dtype=torch.float64)
    return torch.logspace(math.log10(cfg.f_low), math.log10(cfg.f_high), cfg.channels,
                          dtype=torch.float64)


def gammatone_bank(cfg: Cochlea, rate: int) -> Tensor:
    """Impulse responses g_c[k] (float64, shape (channels, taps)), unit gain at f_c."""
    cfg.check_rate(rate)
    taps = max(1, round(cfg.filter_ms * rate / 1000.0))
    t = torch.arange(taps, dtype=torch.float64) / rate  # s
    fc = centre_frequencies(cfg).view(-1, 1)
    erb = 24.7 * (4.37 * fc / 1000.0 + 1.0)
    b = 1.019 * erb
    g = t.pow(cfg.order - 1) * torch.exp(-2 * math.pi * b * t) * torch.cos(2 * math.pi * fc * t)
    # gain at f_c: |Σ_k g[k]·e^(−iωk)|
    phase = 2 * math.pi * fc * t
    gain = torch.sqrt((g * torch.cos(phase)).sum(1) ** 2 + (g * torch.sin(phase)).sum(1) ** 2)
    return g / gain.view(-1, 1)


def _check_samples(samples: Tensor) -> Tensor:
    if not isinstance(samples, Tensor) or not samples.dtype.is_floating_point:
        raise ShapeError(f"audio samples must be a floating-point tensor, got "
                         f"{getattr(samples, 'dtype', type(samples).__name__)}")
    if samples.dim() != 1:
        raise ShapeError(f"audio samples must be 1-D (one mono clip), got shape "
                         f"{tuple(samples.shape)}; mix multi-channel audio down first")
    if samples.numel() == 0:
        raise ShapeError("the clip holds no samples")
    if not bool(torch.isfinite(samples).all()):
        raise ShapeError("the clip holds NaN or infinite samples")
    return samples.to(torch.float64)


def _filtered(samples: Tensor, rate: int, cfg: Cochlea) -> Tensor:
    """y_c[k] = (g_c ∗ x)[k], causal, shape (channels, n) (float64)."""
    x = _check_samples(samples)
    if cfg.normalize:
        rms = float(x.pow(2).mean().sqrt())
        if rms == 0.0:
            raise ShapeError("the clip is silent (all samples zero): nothing to encode")
        x = x / rms
    g = gammatone_bank(cfg, rate)
    n = x.numel()
    size = 1 << math.ceil(math.log2(n + g.shape[1] - 1))
    y = torch.fft.irfft(torch.fft.rfft(g, size) * torch.fft.rfft(x, size), size)
    return y[:, :n]


def cochlea_events(samples: Tensor, rate: int, cfg: Cochlea | None = None
                   ) -> tuple[Tensor, Tensor]:
    """Spike events of one mono clip: ``(times_ms, channels)``, sorted by time.

    Args:
        samples: float audio, shape (n,), any scale when ``cfg.normalize``.
        rate: sample rate (Hz); ``cfg.f_high`` must be below rate/2.
        cfg: the front end's parameters (None: the defaults).

    Returns:
        ``times_ms`` (float64, the sample time of each threshold crossing, ms from the clip
        start) and ``channels`` (int64), both shape (events,).
    """
    cfg = Cochlea() if cfg is None else cfg
    y = _filtered(samples, rate, cfg)
    integral = torch.cumsum(y.clamp_min(0.0), dim=1) * (1000.0 / rate)
    level = torch.floor(integral / cfg.threshold)
    prev = torch.cat([torch.zeros_like(level[:, :1]), level[:, :-1]], dim=1)
    ch, k = torch.nonzero(level > prev, as_tuple=True)
    order = torch.argsort(k * cfg.channels + ch)
    return k[order].to(torch.float64) * (1000.0 / rate), ch[order]


def cochlea_spikes(samples: Tensor, rate: int, cfg: Cochlea | None = None, *,
                   dt: float = 1.0) -> Tensor:
    """Dense spike trains of one clip: bool (steps, channels), steps = ⌈duration/dt⌉;
    several crossings of a channel within one step count as one spike."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt must be a positive time step (ms), got {dt!r}")
    cfg = Cochlea() if cfg is None else cfg
    times, ch = cochlea_events(samples, rate, cfg)
    steps = max(1, math.ceil(samples.numel() * 1000.0 / rate / dt))
    out = torch.zeros(steps, cfg.channels, dtype=torch.bool)
    out[torch.floor(times / dt).long().clamp_(max=steps - 1), ch] = True
    return out
