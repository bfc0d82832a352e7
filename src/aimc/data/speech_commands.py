"""The full Google Speech Commands v2 corpus in the 12-class MLPerf Tiny labelling.

Warden, "Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition",
arXiv:1804.03209 (CC BY 4.0). Fetch it with ``aimc.data.download("speech_commands_v2",
root)`` (2.4 GB, SHA-256 checked) or point ``data_dir`` at an extracted copy: one folder per
word of 1-s, 16 kHz WAVs, ``validation_list.txt``, ``testing_list.txt`` and
``_background_noise_/``.

Splits follow the corpus' own lists (speakers never cross splits): a clip listed in
``testing_list.txt`` is test, in ``validation_list.txt`` validation, otherwise train.
Classes (MLPerf Tiny KWS / TensorFlow ``speech_commands`` order): 0 down, 1 go, 2 left,
3 no, 4 off, 5 on, 6 right, 7 stop, 8 up, 9 yes, 10 _silence_, 11 _unknown_. As in the
TensorFlow recipe (``input_data.py``: ``silence_percentage`` and ``unknown_percentage``
of 10 % each), a split holds every keyword clip plus, drawn with a seeded generator,
unknown clips (other words) and silence clips (1-s windows of the background-noise
recordings, scaled by a volume uniform in [0, 1)) each numbering ``extra_fraction`` × the
keyword clips. Clips shorter than 1 s are zero-padded at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from aimc.data.audio import read_wav
from aimc.data.mfcc import fit_length
from aimc.data.paths import resolve_data_dir
from aimc.errors import DataError

__all__ = ["SpeechCommands", "load_speech_commands", "KEYWORDS", "CLASSES"]

KEYWORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
CLASSES = (*KEYWORDS, "_silence_", "_unknown_")
SPLITS = ("train", "validation", "test")
RATE = 16000
_NOISE = "_background_noise_"


@dataclass(frozen=True)
class SpeechCommands:
    """One split: ``audio`` (N, 16000) float32 in [−1, 1), ``labels`` (N,) class indices
    (:data:`CLASSES`), ``names`` (N,) paths relative to the corpus root
    (``"_silence_/<split>/k"`` for the k-th silence window)."""

    audio: Tensor
    labels: Tensor
    names: tuple[str, ...]


def load_speech_commands(data_dir: str | os.PathLike[str] | None = None,
                         split: str = "train", *, extra_fraction: float = 0.1,
                         seed: int = 0, limit: int | None = None) -> SpeechCommands:
    """Read one split of Speech Commands v2 (see the module docstring).

    Args:
        data_dir: the extracted corpus; None uses ``$AIMC_DATA/speech_commands_v2``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        extra_fraction: unknown and silence clips per keyword clip (≥ 0; 0.1 as in the
            TensorFlow recipe).
        seed: seeds the choice of unknown clips and silence windows.
        limit: read at most this many keyword clips (in sorted order, for quick looks);
            the extras scale with it.

    Raises:
        DataError: unknown split, a missing list file or word folder, no clips, or an
            unreadable WAV (the message names the file and the fix).
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    if not extra_fraction >= 0:
        raise DataError(f"extra_fraction must be >= 0, got {extra_fraction!r}")
    root = Path(resolve_data_dir(data_dir, "speech_commands_v2"))
    lists = {}
    for which, name in (("test", "testing_list.txt"), ("validation", "validation_list.txt")):
        path = root / name
        if not path.is_file():
            raise DataError(f"{root} has no {name}; pass the extracted speech_commands_v0.02 "
                            "folder, or fetch it with aimc.data.download('speech_commands_v2', "
                            "root)")
        lists[which] = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    missing = [w for w in KEYWORDS if not (root / w).is_dir()]
    if missing:
        raise DataError(f"{root} lacks the word folders {missing}; it is not the full v2 corpus")

    def in_split(rel: str) -> bool:
        if split == "test":
            return rel in lists["test"]
        if split == "validation":
            return rel in lists["validation"]
        return rel not in lists["test"] and rel not in lists["validation"]

    words = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith((".", "_")))
    keyword_clips, unknown_clips = [], []
    for w in words:
        for wav in sorted((root / w).glob("*.wav")):
            rel = f"{w}/{wav.name}"
            if in_split(rel):
                (keyword_clips if w in KEYWORDS else unknown_clips).append(rel)
    if limit is not None:
        keyword_clips = keyword_clips[:limit]
    if not keyword_clips:
        raise DataError(f"{root}: no keyword clips in the {split} split")
    g = torch.Generator().manual_seed(seed)
    n_extra = round(extra_fraction * len(keyword_clips))
    picks = torch.randperm(len(unknown_clips), generator=g)[:n_extra].tolist()
    chosen = [unknown_clips[i] for i in sorted(picks)]
    audio, labels, names = [], [], []
    for rel in keyword_clips + chosen:
        x, _ = read_wav(root / rel, rate=RATE, allow_clipped=True)
        audio.append(fit_length(x, RATE))
        word = rel.split("/", 1)[0]
        labels.append(CLASSES.index(word) if word in KEYWORDS else CLASSES.index("_unknown_"))
        names.append(rel)
    audio += _silence(root, n_extra, g)
    labels += [CLASSES.index("_silence_")] * n_extra
    names += [f"_silence_/{split}/{k}" for k in range(n_extra)]
    return SpeechCommands(torch.stack(audio), torch.tensor(labels), tuple(names))


def _silence(root: Path, n: int, g: torch.Generator) -> list[Tensor]:
    """``n`` 1-s windows of the background-noise recordings at a volume uniform in [0, 1)."""
    if n == 0:
        return []
    noise_dir = root / _NOISE
    files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    if not files:
        raise DataError(f"{noise_dir} holds no WAVs, so no silence clips can be made; use the "
                        "complete corpus or extra_fraction=0")
    noise = [read_wav(f, rate=RATE, allow_clipped=True)[0] for f in files]
    noise = [x for x in noise if x.numel() >= RATE]
    if not noise:
        raise DataError(f"{noise_dir}: every recording is shorter than 1 s")
    out = []
    for _ in range(n):
        x = noise[int(torch.randint(len(noise), (1,), generator=g))]
        start = int(torch.randint(x.numel() - RATE + 1, (1,), generator=g))
        volume = float(torch.rand((), generator=g))
        out.append(x[start:start + RATE] * volume)
    return out
