"""Audio front ends: the software cochlea (:mod:`aimc.snn.cochlea`) and MFCCs
(:mod:`aimc.data.mfcc`).

Cochlea:

The silicon cochlea chip of arXiv:1905.11929 is not public (``../shared/reference/snn.md``
§3): this front end is the documented substitute, and every default below is an ASSUMPTION
chosen for 8 kHz speech (FSDD), not a value from the paper.
"""

from __future__ import annotations

import math

from aimc.config.base import ConfigBase, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["Cochlea", "MFCC"]


@config
class Cochlea(ConfigBase):
    """Gammatone filter bank → half-wave rectification → integrate-and-fire spikes.

    Channel c has centre frequency f_c, log-spaced from ``f_low`` to ``f_high``, and the
    4th-order gammatone impulse response (Patterson et al. 1992; bandwidth b = 1.019·ERB,
    ERB(f) = 24.7·(4.37·f/kHz + 1) Hz, Glasberg & Moore 1990)

        g_c(t) = t^(n−1)·e^(−2π·b_c·t)·cos(2π·f_c·t),   0 ≤ t < ``filter_ms``,

    scaled to unit gain at f_c. The clip is scaled to unit RMS first (``normalize``: a
    stand-in for the chip's automatic gain control), filtered, half-wave rectified
    (y⁺ = max(y, 0)) and integrated: channel c spikes each time ∫y⁺ dt (in ms) grows by
    ``threshold`` (integrate-and-fire with reset by subtraction, i.e. level crossings of the
    integral). Raising the threshold k-fold keeps every k-th spike: the sub-sampling of the
    paper's spike streams.

    Attributes:
        channels: number of filters.
        f_low, f_high: lowest and highest centre frequency (Hz); f_high < rate/2.
        order: gammatone order n (4: the usual auditory-filter fit).
        filter_ms: impulse-response length (ms); ≥ 4 decay times of the lowest channel.
        threshold: integral of the rectified, unit-RMS signal per spike (ms).
        normalize: scale each clip to unit RMS before filtering.
    """

    channels: int = 32
    f_low: float = 100.0
    f_high: float = 3500.0
    order: int = 4
    filter_ms: float = 64.0
    threshold: float = 2.0
    normalize: bool = True

    def _validate(self) -> None:
        n = "Cochlea"
        check_type(n, "channels", self.channels, int)
        if self.channels < 1:
            raise ConfigError(f"{n}.channels must be >= 1, got {self.channels}")
        check_type(n, "order", self.order, int)
        if self.order < 1:
            raise ConfigError(f"{n}.order must be >= 1 (4 is the usual gammatone), got "
                              f"{self.order}")
        for f in ("f_low", "f_high", "filter_ms", "threshold"):
            check_positive(n, f, getattr(self, f))
            if not math.isfinite(getattr(self, f)):
                raise ConfigError(f"{n}.{f} must be finite, got {getattr(self, f)!r}")
        if not self.f_high > self.f_low:
            raise ConfigError(f"{n}: f_high ({self.f_high} Hz) must exceed f_low "
                              f"({self.f_low} Hz)")
        check_type(n, "normalize", self.normalize, bool)

    def check_rate(self, rate: int) -> None:
        """Reject a sample rate whose Nyquist frequency is below ``f_high``."""
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ConfigError(f"the sample rate must be a positive integer (Hz), got {rate!r}")
        if self.f_high >= rate / 2:
            raise ConfigError(f"Cochlea.f_high = {self.f_high} Hz is not below the Nyquist "
                              f"frequency {rate / 2} Hz of {rate} Hz audio; lower f_high or "
                              f"resample the audio")


@config
class MFCC(ConfigBase):
    """The MLPerf Tiny keyword-spotting MFCC front end (defaults: 49 frames × 10 coefficients).

    As the MLPerf Tiny KWS reference (MLCommons ``tiny``, ``benchmark/training/
    keyword_spotting``, TensorFlow ``tf.signal``): 1 s at 16 kHz, periodic Hann window of
    30 ms (480 samples), hop 20 ms (320), 512-point FFT magnitude, 40 HTK-mel triangles
    from 20 Hz to 4 kHz (mel = 1127·ln(1 + f/700), DC bin excluded), log(mel + 1e-6),
    orthogonal-scaled DCT-II (2·Σ x_n·cos(πk(2n+1)/2N)/√(2N)), first 10 coefficients.
    ``normalize="max"`` divides the clip by its maximum sample first, which is what the
    shipped int8 reference features were made with (checked against
    ``../shared/data/speech_commands_v2_subset/mfcc_int8``: see :mod:`aimc.data.mfcc`).

    Attributes:
        sample_rate: Hz. clip_samples: samples per clip (16000 = 1 s).
        frame_length, frame_step, fft_length: samples.
        num_mel_bins, lower_hz, upper_hz: the mel filter bank.
        num_coefficients: MFCCs kept per frame.
        normalize: "max" (divide by the clip's maximum) or "none".
        log_offset: added before the log.
    """

    sample_rate: int = 16000
    clip_samples: int = 16000
    frame_length: int = 480
    frame_step: int = 320
    fft_length: int = 512
    num_mel_bins: int = 40
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    num_coefficients: int = 10
    normalize: str = "max"
    log_offset: float = 1e-6

    def _validate(self) -> None:
        n = "MFCC"
        for f in ("sample_rate", "clip_samples", "frame_length", "frame_step", "fft_length",
                  "num_mel_bins", "num_coefficients"):
            check_type(n, f, getattr(self, f), int)
            if getattr(self, f) < 1:
                raise ConfigError(f"{n}.{f} must be >= 1")
        if self.fft_length < self.frame_length:
            raise ConfigError(f"MFCC.fft_length ({self.fft_length}) must be >= frame_length "
                              f"({self.frame_length}); use the next power of two")
        if self.clip_samples < self.frame_length:
            raise ConfigError("MFCC.clip_samples must hold at least one frame")
        check_positive(n, "lower_hz", self.lower_hz)
        if not self.lower_hz < self.upper_hz <= self.sample_rate / 2:
            raise ConfigError(f"MFCC needs lower_hz < upper_hz <= sample_rate/2 "
                              f"({self.sample_rate / 2:g} Hz), got {self.lower_hz}, "
                              f"{self.upper_hz}")
        if self.num_coefficients > self.num_mel_bins:
            raise ConfigError("MFCC.num_coefficients cannot exceed num_mel_bins")
        if self.normalize not in ("max", "none"):
            raise ConfigError(f"MFCC.normalize must be 'max' or 'none', got {self.normalize!r}")
        check_positive(n, "log_offset", self.log_offset)

    @property
    def frames(self) -> int:
        """Frames per clip: 1 + (clip_samples − frame_length) // frame_step (49)."""
        return 1 + (self.clip_samples - self.frame_length) // self.frame_step
