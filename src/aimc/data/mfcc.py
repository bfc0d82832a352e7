"""MFCC features for keyword spotting (MLPerf Tiny front end), and the Speech Commands subset.

:func:`mfcc` computes the features of :class:`aimc.config.audio.MFCC` in torch (no
torchaudio): framing by ``unfold``, one batched ``rfft``, a mel matrix product and a DCT
matrix product. Shapes: audio (..., clip_samples) → features (..., frames, coefficients).

Agreement with the reference (:func:`mfcc_agreement`): on the 1,000 clips of
``../shared/data/speech_commands_v2_subset``, our float32 features quantised as the
reference does (the MLPerf Tiny KWS int8 model's input scale 0.5847029 and zero point 83,
truncated toward zero) equal the shipped int8 MLPerf features in 99.7 % of the 490,000
values and are within one LSB in all in-range values (``tests/test_mfcc.py`` checks it).
Without the divide-by-max normalisation only ≈ 91 % agree: the reference normalises every
clip by its maximum sample.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from aimc.config.audio import MFCC
from aimc.data.audio import read_wav
from aimc.data.paths import resolve_data_dir
from aimc.errors import DataError, ShapeError

__all__ = ["mfcc", "mel_weight_matrix", "dct_matrix", "quantize_int8", "mfcc_agreement",
           "fit_length",
           "SpeechCommandsSubset", "load_speech_commands_subset", "KWS_LABELS",
           "INT8_SCALE", "INT8_ZERO_POINT"]

#: input quantisation of the MLPerf Tiny KWS int8 reference model (scale, zero point)
INT8_SCALE, INT8_ZERO_POINT = 0.5847029089927673, 83
#: the 12 MLPerf Tiny KWS classes in index order
KWS_LABELS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes",
              "_silence_", "_unknown_")


def mel_weight_matrix(cfg: MFCC, *, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> Tensor:
    """(fft_length/2 + 1, num_mel_bins) triangular HTK-mel weights, as ``tf.signal``.

    Triangles are linear in mel between num_mel_bins + 2 equally spaced mel edges from
    ``lower_hz`` to ``upper_hz``; the DC bin gets no weight.
    """
    bins = cfg.fft_length // 2 + 1

    def hz_to_mel(f: Tensor) -> Tensor:
        return 1127.0 * torch.log1p(f / 700.0)

    freqs = torch.linspace(0.0, cfg.sample_rate / 2, bins, dtype=torch.float64)
    mel = hz_to_mel(freqs)[1:, None]
    edges = torch.linspace(float(hz_to_mel(torch.tensor(cfg.lower_hz, dtype=torch.float64))),
                           float(hz_to_mel(torch.tensor(cfg.upper_hz, dtype=torch.float64))),
                           cfg.num_mel_bins + 2, dtype=torch.float64)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    w = torch.minimum((mel - left) / (centre - left), (right - mel) / (right - centre))
    w = torch.cat((torch.zeros(1, cfg.num_mel_bins, dtype=torch.float64), w.clamp(min=0)))
    return w.to(dtype=dtype, device=device)


def dct_matrix(cfg: MFCC, *, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> Tensor:
    """(num_mel_bins, num_coefficients) DCT-II scaled by 1/√(2N) (``tf.signal.mfccs_...``)."""
    n_mel = cfg.num_mel_bins
    n = torch.arange(n_mel, dtype=torch.float64)[:, None]
    k = torch.arange(cfg.num_coefficients, dtype=torch.float64)[None, :]
    d = 2.0 * torch.cos(math.pi * k * (2 * n + 1) / (2 * n_mel)) / math.sqrt(2 * n_mel)
    return d.to(dtype=dtype, device=device)


def fit_length(audio: Tensor, samples: int = 16000) -> Tensor:
    """Zero-pad or crop the last dimension of ``audio`` to ``samples`` (clip at the start)."""
    n = audio.shape[-1]
    if n >= samples:
        return audio[..., :samples]
    return torch.nn.functional.pad(audio, (0, samples - n))


def mfcc(audio: Tensor, cfg: MFCC | None = None) -> Tensor:
    """MFCCs of 1-s clips: (..., clip_samples) float → (..., frames, num_coefficients).

    Computed in the input's dtype (float32 or float64). A clip of all zeros gives the
    features of silence (the max normalisation is skipped for it).
    """
    cfg = MFCC() if cfg is None else cfg
    if not isinstance(audio, Tensor) or not audio.is_floating_point():
        raise ShapeError("mfcc expects a floating-point tensor of audio samples in [-1, 1] "
                         "(e.g. from aimc.data.audio.read_wav)")
    if audio.dim() == 0 or audio.shape[-1] != cfg.clip_samples:
        got = tuple(audio.shape)
        raise ShapeError(f"mfcc expects clips of {cfg.clip_samples} samples on the last "
                         f"dimension ({cfg.clip_samples / cfg.sample_rate:g} s at "
                         f"{cfg.sample_rate} Hz), got shape {got}; pad or crop with "
                         f"aimc.data.mfcc.fit_length(audio, {cfg.clip_samples})")
    x = audio
    if cfg.normalize == "max":
        peak = x.amax(dim=-1, keepdim=True)
        x = x / torch.where(peak > 0, peak, torch.ones_like(peak))
    frames = x.unfold(-1, cfg.frame_length, cfg.frame_step)[..., : cfg.frames, :]
    n = torch.arange(cfg.frame_length, dtype=x.dtype, device=x.device)
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / cfg.frame_length)  # periodic Hann
    spectrum = torch.fft.rfft(frames * window, n=cfg.fft_length).abs()
    mel = spectrum @ mel_weight_matrix(cfg, dtype=x.dtype, device=x.device)
    return torch.log(mel + cfg.log_offset) @ dct_matrix(cfg, dtype=x.dtype, device=x.device)


def quantize_int8(features: Tensor, scale: float = INT8_SCALE,
                  zero_point: int = INT8_ZERO_POINT, *, wrap: bool = False) -> Tensor:
    """int8 features: trunc(f/scale + zp), clipped to [−128, 127].

    ``wrap=True`` wraps out-of-range values around instead (129 → −127), as the shipped
    reference files do (a C cast overflow in the reference front end; 15 of 490,000
    values in the subset): use it only to compare against them.
    """
    v = torch.trunc(features / scale + zero_point)
    if wrap:
        return (torch.remainder(v.to(torch.int64) + 128, 256) - 128).to(torch.int8)
    return v.clamp(-128, 127).to(torch.int8)


def mfcc_agreement(features: Tensor, reference: Tensor) -> dict[str, float]:
    """How float ``features`` (N, 49, 10) compare with reference int8 features.

    Returns: ``exact`` (fraction of int8 values equal, reference overflow emulated),
    ``within_1`` (fraction within one LSB), ``overflowed`` (values outside int8, which the
    reference wraps), ``max_lsb`` (largest difference over the in-range values), ``corr``
    (correlation of the float features with the dequantised in-range reference).
    """
    if features.shape != reference.shape:
        raise ShapeError(f"features {tuple(features.shape)} and reference "
                         f"{tuple(reference.shape)} must have the same shape")
    raw = torch.trunc(features / INT8_SCALE + INT8_ZERO_POINT)
    inside = (raw >= -128) & (raw <= 127)
    ref = reference.to(torch.int64)
    ours = quantize_int8(features, wrap=True).to(torch.int64)
    diff = (ours - ref).abs()[inside]
    deq = (reference.double() - INT8_ZERO_POINT) * INT8_SCALE
    f, r = features.double()[inside], deq[inside]
    corr = float(torch.corrcoef(torch.stack((f, r)))[0, 1])
    return {"exact": float((ours == ref).double().mean()),
            "within_1": float((diff <= 1).double().mean()),
            "overflowed": float((~inside).sum()), "max_lsb": float(diff.max()),
            "corr": corr, "values": float(ref.numel())}


@dataclass(frozen=True)
class SpeechCommandsSubset:
    """The MLPerf Tiny KWS evaluation subset.

    Attributes:
        audio: (N, 16000) float32 clips in [−1, 1).
        labels: (N,) int64 class indices into :data:`KWS_LABELS`.
        reference_int8: (N, 49, 10) int8 MLPerf features of the same clips.
        names: file names of the clips.
    """

    audio: Tensor
    labels: Tensor
    reference_int8: Tensor
    names: tuple[str, ...]


def load_speech_commands_subset(data_dir: str | os.PathLike[str] | None = None, *,
                                limit: int | None = None) -> SpeechCommandsSubset:
    """Read ``speech_commands_v2_subset`` (labels.csv, wav/, mfcc_int8/), in file order."""
    root = Path(resolve_data_dir(data_dir, "speech_commands_v2_subset"))
    table = root / "labels.csv"
    if not table.is_file():
        raise DataError(f"{root} has no labels.csv; pass the speech_commands_v2_subset folder "
                        "(labels.csv, wav/, mfcc_int8/)")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"wav", "mfcc", "label_index"} <= set(rows[0]):
        raise DataError(f"{table} must have the columns wav, mfcc, label_index, label_name")
    rows = rows[:limit] if limit is not None else rows
    audio, labels, refs, names = [], [], [], []
    for r in rows:
        x, _ = read_wav(root / r["wav"], rate=16000, allow_clipped=True)
        audio.append(fit_length(x, 16000))
        ref = root / r["mfcc"]
        raw = ref.read_bytes() if ref.is_file() else b""
        if len(raw) != 490:
            raise DataError(f"{ref}: expected 490 bytes (49 x 10 int8 MFCCs), got {len(raw)}")
        refs.append(torch.frombuffer(bytearray(raw), dtype=torch.int8).view(49, 10))
        labels.append(int(r["label_index"]))
        names.append(Path(r["wav"]).name)
    return SpeechCommandsSubset(torch.stack(audio), torch.tensor(labels), torch.stack(refs),
                                tuple(names))
