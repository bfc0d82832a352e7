"""The audio front end: WAV reading and its bad input, the FSDD split, and the software
cochlea (a tone excites the channel whose band holds it, spike counts grow with level, the
integrate-and-fire rate formula, bad input)."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from aimc.config.audio import Cochlea
from aimc.data import load_fsdd, read_wav
from aimc.errors import ConfigError, DataError, ShapeError
from aimc.snn.cochlea import centre_frequencies, cochlea_events, cochlea_spikes, gammatone_bank

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
needs_fsdd = pytest.mark.skipif(not (FSDD / "recordings").is_dir(),
                                reason="shared FSDD (../shared/data/fsdd) not present")
RATE = 8000


def _write(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1,
           width: int = 2) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(samples.astype(f"<i{width}").tobytes())
    return path


def _tone(freq: float, amplitude: float = 0.5, ms: float = 500.0) -> torch.Tensor:
    t = torch.arange(int(RATE * ms / 1000), dtype=torch.float64) / RATE
    return amplitude * torch.sin(2 * math.pi * freq * t)


# ------------------------------------------------------------------ WAV
def test_read_wav_returns_the_samples_scaled_to_unit_range(tmp_path: Path) -> None:
    ints = np.array([0, 16384, -16384, 32767, -32768, 1], dtype=np.int64)
    x, rate = read_wav(_write(tmp_path / "a.wav", ints), rate=RATE)
    assert rate == RATE and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.tensor(ints / 32768.0, dtype=torch.float32),
                               rtol=0, atol=0)


def test_read_wav_rejects_bad_files_with_the_fix(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(800) * 0.3) * 1000).astype(np.int64)
    with pytest.raises(DataError, match="resample"):
        read_wav(_write(tmp_path / "r.wav", tone, rate=16000), rate=RATE)
    with pytest.raises(DataError, match="mix it"):
        read_wav(_write(tmp_path / "s.wav", np.repeat(tone, 2), channels=2), rate=RATE)
    with pytest.raises(DataError, match="no samples"):
        read_wav(_write(tmp_path / "e.wav", np.zeros(0, dtype=np.int64)))
    clipped = tone.copy()
    clipped[100:120] = 32767
    with pytest.raises(DataError, match="clipped"):
        read_wav(_write(tmp_path / "c.wav", clipped))
    x, _ = read_wav(tmp_path / "c.wav", allow_clipped=True)
    assert x.numel() == 800
    (tmp_path / "junk.wav").write_bytes(b"not a wave file at all")
    with pytest.raises(DataError, match="not a PCM WAV"):
        read_wav(tmp_path / "junk.wav")
    with pytest.raises(DataError, match="no such audio file"):
        read_wav(tmp_path / "missing.wav")


@needs_fsdd
def test_fsdd_official_split_sizes_and_order() -> None:
    test = load_fsdd(FSDD, "test")
    assert len(test) == 300 and all(c.index < 5 for c in test)
    train = load_fsdd(FSDD, "train", speakers=("jackson",))
    assert len(train) == 450 and {c.speaker for c in train} == {"jackson"}
    assert [c.label for c in train[:45]] == [0] * 45 and train[0].rate == RATE
    with pytest.raises(DataError, match="split"):
        load_fsdd(FSDD, "validation")


# ------------------------------------------------------------------ cochlea
def test_filters_have_unit_gain_at_their_centre_frequency() -> None:
    cfg = Cochlea(channels=8)
    g = gammatone_bank(cfg, RATE)
    fc = centre_frequencies(cfg)
    k = torch.arange(g.shape[1], dtype=torch.float64)
    for c in range(8):
        w = 2 * math.pi * float(fc[c]) / RATE
        gain = abs(complex(float((g[c] * torch.cos(w * k)).sum()),
                           float((g[c] * torch.sin(w * k)).sum())))
        assert gain == pytest.approx(1.0, abs=1e-12)
    # log spacing: constant ratio between neighbours
    ratio = fc[1:] / fc[:-1]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0])))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0])
def test_a_pure_tone_excites_the_channel_whose_band_holds_it(freq: float) -> None:
    cfg = Cochlea(channels=32)
    _, ch = cochlea_events(_tone(freq), RATE, cfg)
    counts = torch.bincount(ch, minlength=32)
    nearest = int(torch.argmin((centre_frequencies(cfg).log() - math.log(freq)).abs()))
    assert abs(int(torch.argmax(counts)) - nearest) <= 1
    # and channels far from the tone (an octave+ away) stay almost silent
    fc = centre_frequencies(cfg)
    far = (fc.log() - math.log(freq)).abs() > math.log(2.5)
    assert counts[far].sum() < 0.05 * counts.sum()


def test_integrate_and_fire_rate_matches_the_rectified_sine_mean() -> None:
    """Unit-RMS sine at f_c: y⁺ averages √2/π per ms-integrated sample, so the channel fires
    every θ·π/√2 ms; over 500 ms the count is 500/(θ·π/√2) up to ±1 spike plus the filter's
    onset transient (the 64 ms impulse response ramps up: allow 10 % of the count)."""
    cfg = Cochlea(channels=1, f_low=990.0, f_high=1010.0, normalize=True)
    fc = float(centre_frequencies(cfg)[0])
    _, ch = cochlea_events(_tone(fc, ms=500.0), RATE, cfg)
    expected = 500.0 / (cfg.threshold * math.pi / math.sqrt(2))
    assert abs(ch.numel() - expected) <= 0.1 * expected + 1


def test_spike_counts_rise_with_amplitude_without_normalisation() -> None:
    cfg = Cochlea(channels=16, normalize=False)
    counts = [cochlea_events(_tone(800.0, a), RATE, cfg)[0].numel() for a in (0.1, 0.3, 0.9)]
    assert counts[0] < counts[1] < counts[2]
    # with normalisation the level no longer matters (the AGC stand-in)
    norm = Cochlea(channels=16)
    quiet, loud = (cochlea_events(_tone(800.0, a), RATE, norm)[0].numel() for a in (0.1, 0.9))
    assert quiet == loud


def test_dense_spikes_hold_every_event() -> None:
    x = _tone(600.0) + _tone(2000.0, 0.3)
    cfg = Cochlea(channels=12, threshold=3.0)
    times, ch = cochlea_events(x, RATE, cfg)
    dense = cochlea_spikes(x, RATE, cfg, dt=0.125)  # one sample per step: nothing merged
    assert dense.shape == (4000, 12) and int(dense.sum()) == times.numel()


def test_cochlea_bad_input() -> None:
    with pytest.raises(ConfigError, match="Nyquist"):
        gammatone_bank(Cochlea(f_high=5000.0), RATE)
    with pytest.raises(ConfigError, match="f_high"):
        Cochlea(f_low=3000.0, f_high=200.0)
    with pytest.raises(ShapeError, match="1-D"):
        cochlea_events(torch.zeros(2, 100), RATE)
    with pytest.raises(ShapeError, match="floating"):
        cochlea_events(torch.zeros(100, dtype=torch.int16), RATE)
    with pytest.raises(ShapeError, match="silent"):
        cochlea_events(torch.zeros(100), RATE)
    with pytest.raises(ShapeError, match="no samples"):
        cochlea_events(torch.zeros(0), RATE)
    with pytest.raises(ConfigError, match="dt"):
        cochlea_spikes(_tone(500.0), RATE, dt=0.0)
