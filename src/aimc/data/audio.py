"""WAV audio and the Free Spoken Digit Dataset (FSDD), read with the standard library.

:func:`read_wav` reads RIFF/WAVE PCM files (8/16/24/32-bit integer) with :mod:`wave` and
returns float32 samples in [−1, 1). It checks what a spiking front end relies on: the sample
rate, one channel, a non-empty signal, and clipping (a run of samples at full scale means
the recording saturated, and the cochlea's level-dependent spiking would be wrong).

:func:`load_fsdd` reads ``recordings/{digit}_{speaker}_{index}.wav`` (Jakobovski/free-spoken-
digit-dataset; CC BY-SA 4.0; 8 kHz mono 16-bit). The official split: index 0–4 of every
(digit, speaker) is the test set (300 clips), 5–49 the training set (2,700 clips).
"""

from __future__ import annotations

import os
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aimc.data.paths import resolve_data_dir
from aimc.errors import DataError

__all__ = ["read_wav", "load_fsdd", "AudioClip", "FSDD_RATE", "FSDD_SPEAKERS"]

FSDD_RATE = 8000
"""FSDD sample rate (Hz)."""

FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
"""The six speakers of FSDD v1.0.10."""

_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")

#: samples in a row at full scale that count as clipping
CLIP_RUN = 8


@dataclass(frozen=True)
class AudioClip:
    """One recording: ``samples`` (float32, shape (n,), in [−1, 1)), its label and origin."""

    samples: Tensor
    rate: int
    label: int
    speaker: str
    index: int
    path: Path

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples.numel() / self.rate


def _longest_full_scale_run(x: np.ndarray, full: int) -> int:
    at = np.abs(x.astype(np.int64)) >= full
    if not at.any():
        return 0
    # lengths of runs of True
    edges = np.flatnonzero(np.diff(np.concatenate(([0], at.astype(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max())


def read_wav(path: str | os.PathLike[str], *, rate: int | None = None,
             allow_clipped: bool = False) -> tuple[Tensor, int]:
    """Read a mono PCM WAV file; returns ``(samples, sample_rate)``, samples float32 in [−1, 1).

    Args:
        path: the ``.wav`` file.
        rate: the sample rate the caller needs (Hz); None accepts any.
        allow_clipped: accept recordings with :data:`CLIP_RUN` or more samples in a row at
            full scale.

    Raises:
        DataError: the file is missing, not a PCM WAV, has another sample rate or more than
            one channel, holds no samples, or is clipped; each message names the fix.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such audio file; pass the path of a .wav recording")
    try:
        with wave.open(str(p), "rb") as f:
            channels, width, fs, frames = (f.getnchannels(), f.getsampwidth(),
                                           f.getframerate(), f.getnframes())
            raw = f.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{p} is not a PCM WAV file ({exc}); convert it, e.g. "
                        f"`sox in.x -b 16 {p.stem}.wav`") from exc
    if channels != 1:
        raise DataError(f"{p} has {channels} channels; the cochlea takes mono audio: mix it "
                        f"down first (e.g. `sox {p.name} -c 1 mono.wav`)")
    if rate is not None and fs != rate:
        raise DataError(f"{p} is sampled at {fs} Hz, not {rate} Hz; resample it (e.g. "
                        f"`sox {p.name} -r {rate} out.wav`) or build the front end for {fs} Hz")
    if width not in (1, 2, 3, 4):
        raise DataError(f"{p}: {8 * width}-bit samples are not supported; use 8-32-bit PCM")
    n = len(raw) // width
    if n == 0:
        raise DataError(f"{p} holds no samples (an empty recording); remove it from the set")
    if width == 3:
        b = np.frombuffer(raw[: 3 * n], dtype=np.uint8).reshape(n, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
    elif width == 1:  # 8-bit WAV is unsigned
        ints = np.frombuffer(raw[:n], dtype=np.uint8).astype(np.int32) - 128
    else:
        ints = np.frombuffer(raw[: width * n], dtype=f"<i{width}").astype(np.int64)
    full = 1 << (8 * width - 1)
    if not allow_clipped:
        run = _longest_full_scale_run(ints, full - 1)
        if run >= CLIP_RUN:
            raise DataError(f"{p} is clipped ({run} samples in a row at full scale): the "
                            f"recording saturated; re-record it at a lower level, or pass "
                            f"allow_clipped=True to use it anyway")
    return torch.from_numpy((ints / full).astype(np.float32)), fs


def load_fsdd(data_dir: str | os.PathLike[str] | None, split: str = "train", *,
              speakers: tuple[str, ...] | None = None) -> list[AudioClip]:
    """The FSDD recordings of one split, sorted by (digit, speaker, index).

    Args:
        data_dir: the FSDD folder (holding ``recordings/``), or None for ``$AIMC_DATA/fsdd``.
        split: ``"train"`` (index 5–49), ``"test"`` (index 0–4) or ``"all"``.
        speakers: keep only these speakers (None: all).
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"FSDD split must be 'train', 'test' or 'all', got {split!r}")
    root = resolve_data_dir(data_dir, "fsdd")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    entries = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m is None:
            continue
        digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
        if speakers is not None and speaker not in speakers:
            continue
        if split == "test" and index >= 5 or split == "train" and index < 5:
            continue
        entries.append((digit, speaker, index, p))
    if not entries:
        raise DataError(f"fsdd: no recordings named <digit>_<speaker>_<index>.wav in {folder}"
                        f"{' for speakers ' + ', '.join(speakers) if speakers else ''}; put "
                        f"the repository's recordings/ folder there")
    entries.sort()
    return [AudioClip(read_wav(p, rate=FSDD_RATE)[0], FSDD_RATE, d, s, i, p)
            for d, s, i, p in entries]
