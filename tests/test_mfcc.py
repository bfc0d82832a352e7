"""MFCC front end (aimc.data.mfcc): golden values, the shipped MLPerf features, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from aimc.config.audio import MFCC
from aimc.data.mfcc import (
    dct_matrix,
    fit_length,
    load_speech_commands_subset,
    mel_weight_matrix,
    mfcc,
    mfcc_agreement,
    quantize_int8,
)
from aimc.errors import ConfigError, ShapeError

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech_commands_v2_subset"


def test_shapes_and_frames():
    cfg = MFCC()
    assert cfg.frames == 49  # 1 + (16000 - 480) // 320
    x = torch.randn(3, 16000, generator=torch.Generator().manual_seed(0)) * 0.1
    assert mfcc(x).shape == (3, 49, 10)
    assert mfcc(x[0]).shape == (49, 10)


def test_mel_matrix_triangles_peak_at_their_centres():
    cfg = MFCC()
    w = mel_weight_matrix(cfg, dtype=torch.float64)
    assert w.shape == (257, 40)
    assert torch.all(w[0] == 0)  # the DC bin carries no weight
    assert torch.all(w >= 0) and w.max() <= 1
    # every filter's weight is zero outside [lower, upper] Hz
    freqs = torch.linspace(0, 8000, 257, dtype=torch.float64)
    assert torch.all(w[freqs > cfg.upper_hz + 8000 / 256] == 0)
    # triangle peaks move up in frequency
    peaks = w.argmax(0)
    assert torch.all(peaks[1:] >= peaks[:-1])


def test_dct_golden_values():
    """A constant log-mel c gives MFCC_0 = 2·N·c/√(2N) = √(2N)·c and 0 elsewhere."""
    d = dct_matrix(MFCC(), dtype=torch.float64)
    c = torch.full((40,), 3.0, dtype=torch.float64)
    out = c @ d
    assert out[0] == pytest.approx(math.sqrt(80) * 3.0, rel=1e-12)
    assert torch.allclose(out[1:], torch.zeros(9, dtype=torch.float64), atol=1e-12)


def test_tone_lands_in_its_mel_band():
    t = torch.arange(16000, dtype=torch.float64) / 16000
    cfg = MFCC()
    w = mel_weight_matrix(cfg, dtype=torch.float64)
    for f in (300.0, 1000.0, 3000.0):
        x = 0.5 * torch.sin(2 * math.pi * f * t)
        frames = x.unfold(0, 480, 320)[:49]
        n = torch.arange(480, dtype=torch.float64)
        spec = torch.fft.rfft(frames * (0.5 - 0.5 * torch.cos(2 * math.pi * n / 480)),
                              n=512).abs()
        band = int((spec @ w).mean(0).argmax())
        expect = int(w[round(f / 8000 * 256)].argmax())
        assert abs(band - expect) <= 1


def test_max_normalisation_makes_features_gain_invariant():
    x = torch.rand(16000, generator=torch.Generator().manual_seed(1)) - 0.4
    a, b = mfcc(x.double()), mfcc(0.25 * x.double())
    assert torch.allclose(a, b, atol=1e-9)
    loud = mfcc(x.double(), MFCC(normalize="none"))
    quiet = mfcc(0.25 * x.double(), MFCC(normalize="none"))
    assert not torch.allclose(loud, quiet, atol=1e-3)
    assert torch.isfinite(mfcc(torch.zeros(16000))).all()  # silence


def test_quantize_int8_clip_and_wrap():
    f = torch.tensor([0.0, -0.3, 26.9, -200.0])
    assert quantize_int8(f).tolist() == [83, 82, 127, -128]  # trunc(46.0 + 83) = 129 -> 127
    assert quantize_int8(f, wrap=True).tolist()[2] == -127  # the reference's C-cast overflow


@pytest.mark.skipif(not SUBSET.is_dir(), reason="needs ../shared/data/speech_commands_v2_subset")
def test_agrees_with_shipped_mlperf_int8_features():
    data = load_speech_commands_subset(SUBSET)
    assert data.audio.shape == (1000, 16000) and data.reference_int8.shape == (1000, 49, 10)
    agreement = mfcc_agreement(mfcc(data.audio), data.reference_int8)
    # measured 99.72 % exact, all in-range values within 1 LSB (float32 on AMD EPYC);
    # 1-LSB flips are truncation ties that move with float rounding, hence the margin
    assert agreement["exact"] > 0.99
    assert agreement["within_1"] == 1.0
    assert agreement["overflowed"] == 15
    # a wrong front end (no normalisation) is far off: the test can fail
    wrong = mfcc_agreement(mfcc(data.audio, MFCC(normalize="none")), data.reference_int8)
    assert wrong["exact"] < 0.95


def test_bad_input():
    with pytest.raises(ShapeError, match="fit_length"):
        mfcc(torch.zeros(8000))
    with pytest.raises(ShapeError, match="floating-point"):
        mfcc(torch.zeros(16000, dtype=torch.int16))
    with pytest.raises(ConfigError, match="upper_hz"):
        MFCC(upper_hz=9000.0)
    with pytest.raises(ConfigError, match="fft_length"):
        MFCC(fft_length=256)
    with pytest.raises(ConfigError, match="normalize"):
        MFCC(normalize="rms")
    assert fit_length(torch.ones(10), 16).shape == (16,)
    assert fit_length(torch.ones(20), 16).shape == (16,)
    with pytest.raises(ShapeError, match="same shape"):
        mfcc_agreement(torch.zeros(1, 49, 10), torch.zeros(2, 49, 10, dtype=torch.int8))


def test_config_round_trips():
    assert MFCC.from_json(MFCC(lower_hz=40.0).to_json()) == MFCC(lower_hz=40.0)


def test_subset_loader_rejects_wrong_sample_rate_and_missing_features(tmp_path):
    import wave

    from aimc.errors import DataError

    (tmp_path / "wav").mkdir()
    (tmp_path / "mfcc_int8").mkdir()
    with wave.open(str(tmp_path / "wav" / "a.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(bytes(2 * 8000))
    (tmp_path / "labels.csv").write_text("wav,mfcc,label_index,label_name\n"
                                         "wav/a.wav,mfcc_int8/a.bin,0,down\n")
    with pytest.raises(DataError, match="resample"):
        load_speech_commands_subset(tmp_path)
    with wave.open(str(tmp_path / "wav" / "a.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(bytes(2 * 16000))
    with pytest.raises(DataError, match="490 bytes"):
        load_speech_commands_subset(tmp_path)
