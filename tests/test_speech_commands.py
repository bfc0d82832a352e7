"""aimc.data.load_speech_commands on a synthetic corpus laid out like speech_commands_v0.02."""

from __future__ import annotations

import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from aimc.data import download, load_speech_commands
from aimc.data import sources as data_sources
from aimc.data.speech_commands import CLASSES, KEYWORDS
from aimc.errors import DataError


def _wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.astype("<i2").tobytes())


def _corpus(root: Path) -> Path:
    """10 keywords × 4 clips (1 test, 1 validation, 2 train), 'bed' × 10, 3-s noise."""
    rng = np.random.default_rng(0)
    test, val = [], []
    for w in (*KEYWORDS, "bed"):
        for i in range(10 if w == "bed" else 4):
            n = 12000 if (w, i) == ("go", 3) else 16000  # one short clip: zero-padded
            _wav(root / w / f"s{i}_nohash_0.wav", rng.integers(-3000, 3000, n))
            if i == 0:
                test.append(f"{w}/s{i}_nohash_0.wav")
            elif i == 1:
                val.append(f"{w}/s{i}_nohash_0.wav")
    _wav(root / "_background_noise_" / "white.wav", np.full(48000, 8000))
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    return root


def test_splits_follow_the_lists_and_classes_the_mlperf_order(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sc")
    train = load_speech_commands(root, "train", extra_fraction=0.2)
    test = load_speech_commands(root, "test", extra_fraction=0.2)
    assert set(train.names).isdisjoint(test.names)
    # train: 20 keyword clips + round(0.2·20) = 4 unknown ('bed' s2..s9) + 4 silence
    assert train.audio.shape == (28, 16000)
    counts = torch.bincount(train.labels, minlength=12).tolist()
    assert counts == [2] * 10 + [4, 4]
    assert all(n.startswith("bed/s") and n not in ("bed/s0_nohash_0.wav", "bed/s1_nohash_0.wav")
               for n, y in zip(train.names, train.labels.tolist(), strict=True)
               if CLASSES[y] == "_unknown_")
    assert test.names[:10] == tuple(f"{w}/s0_nohash_0.wav" for w in KEYWORDS)
    assert test.labels[:10].tolist() == list(range(10))
    # the short clip is padded with zeros; silence is the constant noise at a volume < 1
    go = train.names.index("go/s3_nohash_0.wav")
    assert torch.equal(train.audio[go, 12000:], torch.zeros(4000))
    silence = train.audio[train.labels == CLASSES.index("_silence_")]
    level = 8000 / 32768
    assert torch.allclose(silence, silence[:, :1].expand_as(silence))  # constant windows
    assert bool((silence[:, 0] >= 0).all() and (silence[:, 0] < level).all())
    # seeded: same seed same draw, another seed another volume
    again = load_speech_commands(root, "train", extra_fraction=0.2)
    assert torch.equal(again.audio, train.audio) and again.names == train.names
    other = load_speech_commands(root, "train", extra_fraction=0.2, seed=1)
    assert not torch.equal(other.audio, train.audio)
    assert load_speech_commands(root, "validation", extra_fraction=0.0).audio.shape == (10, 16000)
    few = load_speech_commands(root, "train", extra_fraction=0.2, limit=5)  # 5 + 1 + 1
    assert few.names[:5] == train.names[:5] and len(few.names) == 7


def test_bad_input_errors_name_the_fix(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sc")
    with pytest.raises(DataError, match="split"):
        load_speech_commands(root, "dev")
    with pytest.raises(DataError, match="extra_fraction"):
        load_speech_commands(root, extra_fraction=-1)
    (root / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="testing_list.txt.*download"):
        load_speech_commands(root)
    with pytest.raises(DataError, match="does not exist"):
        load_speech_commands(tmp_path / "nowhere")


def test_download_checks_the_sha256_and_extracts(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    corpus = _corpus(tmp_path / "build")
    archive = tmp_path / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for p in sorted(corpus.rglob("*")):
            tf.add(p, arcname=f"./{p.relative_to(corpus)}", recursive=False)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    res = data_sources.Resource(archive.name, (archive.as_uri(),), None, sha, extract=True)
    monkeypatch.setitem(data_sources.SOURCES, "speech_commands_v2", (res,))
    folder = download("speech_commands_v2", tmp_path / "root")
    assert load_speech_commands(folder, "test").labels[:10].tolist() == list(range(10))
    bad = data_sources.Resource(archive.name, (archive.as_uri(),), None, "0" * 64, extract=True)
    monkeypatch.setitem(data_sources.SOURCES, "speech_commands_v2", (bad,))
    with pytest.raises(DataError, match="SHA-256"):
        download("speech_commands_v2", tmp_path / "other")
    with pytest.raises(ValueError, match="MD5 or SHA-256"):
        data_sources.Resource("x", ("https://x",), None)
