"""Tests of aimc.data on tiny generated files (no network, no shared data needed)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from seeding import seeded

from aimc.data import (
    CIFAR10_CLASSES,
    batchify,
    bptt_batches,
    channel_mean_std,
    download,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_ptb,
    load_sst2,
    normalize,
    resolve_data_dir,
    tokenize,
)
from aimc.data import sources as data_sources
from aimc.data._archive import safe_extract
from aimc.data.fetch import verify_file
from aimc.errors import ConfigError, DataError, ShapeError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_aimc_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not see a developer's own AIMC_DATA."""
    monkeypatch.delenv("AIMC_DATA", raising=False)


# --- helpers ----------------------------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write(path: Path, data: bytes, gz: bool = True) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _mnist_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    return images, (np.arange(n) % 10).astype(np.uint8)


def _make_mnist(folder: Path, gz: bool = True, n_train: int = 12, n_test: int = 5) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = _mnist_arrays(n, seed=n)
        suffix = ".gz" if gz else ""
        _write(folder / f"{prefix}-images-idx3-ubyte{suffix}", _idx_bytes(images, 0x803), gz)
        _write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", _idx_bytes(labels, 0x801), gz)
        arrays[prefix] = (images, labels)
    return arrays


# --- data directory resolution ----------------------------------------------------------------

def test_resolve_explicit_env_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError) as exc:
        resolve_data_dir(None, "mnist")
    msg = str(exc.value)
    assert "data_dir" in msg and "AIMC_DATA" in msg and "train-images-idx3-ubyte" in msg
    assert "aimc.data.download('mnist'" in msg

    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope", "mnist")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        resolve_data_dir(tmp_path / "file", "mnist")

    monkeypatch.setenv("AIMC_DATA", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "mnist")):
        resolve_data_dir(None, "mnist")
    (tmp_path / "mnist").mkdir()
    assert resolve_data_dir(None, "mnist") == tmp_path / "mnist"
    (tmp_path / "cifar10_jpeg").mkdir()
    assert resolve_data_dir(None, "cifar10") == tmp_path / "cifar10_jpeg"
    assert resolve_data_dir(tmp_path, "mnist") == tmp_path  # explicit argument wins
    monkeypatch.setenv("AIMC_DATA", str(tmp_path / "missing-root"))
    with pytest.raises(DataError, match="not an existing directory"):
        resolve_data_dir(None, "mnist")


# --- MNIST ------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_shapes_values_labels(tmp_path: Path, gz: bool) -> None:
    arrays = _make_mnist(tmp_path, gz=gz)
    for split, prefix, n in (("train", "train", 12), ("test", "t10k", 5)):
        x, y = load_mnist(tmp_path, split).tensors
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        images, labels = arrays[prefix]
        torch.testing.assert_close(x[:, 0], torch.from_numpy(images).float() / 255)
        assert y.tolist() == labels.tolist()


def test_mnist_limit_env_and_fashion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_mnist(tmp_path / "mnist")
    _make_mnist(tmp_path / "fashion_mnist")
    monkeypatch.setenv("AIMC_DATA", str(tmp_path))
    full = load_mnist(split="train")
    part = load_mnist(split="train", limit=4)
    assert len(part) == 4
    torch.testing.assert_close(part.tensors[0], full.tensors[0][:4])
    assert len(load_fashion_mnist(split="test")) == 5
    with pytest.raises(ConfigError):
        load_mnist(split="valid")
    with pytest.raises(ConfigError):
        load_mnist(split="train", limit=0)


def test_mnist_dot_spelling(tmp_path: Path) -> None:
    images, labels = _mnist_arrays(3, seed=1)
    _write(tmp_path / "t10k-images.idx3-ubyte", _idx_bytes(images, 0x803), gz=False)
    _write(tmp_path / "t10k-labels.idx1-ubyte", _idx_bytes(labels, 0x801), gz=False)
    assert len(load_mnist(tmp_path, "test")) == 3


def test_mnist_missing_file_named(tmp_path: Path) -> None:
    _make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as exc:
        load_mnist(tmp_path, "test")
    msg = str(exc.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and str(tmp_path) in msg and "download" in msg


def test_mnist_truncated_and_padded(tmp_path: Path) -> None:
    _make_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    _write(path, raw[:-100])
    with pytest.raises(DataError, match="truncated") as exc:
        load_mnist(tmp_path, "train")
    assert path.name in str(exc.value)
    _write(path, raw + b"\0")
    with pytest.raises(DataError, match="trailing"):
        load_mnist(tmp_path, "train")
    _write(path, raw[:10])
    with pytest.raises(DataError, match="header"):
        load_mnist(tmp_path, "train")


def test_mnist_bad_magic(tmp_path: Path) -> None:
    _make_mnist(tmp_path)
    images, _ = _mnist_arrays(12, seed=12)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _write(path, _idx_bytes(images, 0x12345678))
    with pytest.raises(DataError, match="magic") as exc:
        load_mnist(tmp_path, "train")
    assert path.name in str(exc.value)
    # A label file where the image file should be: valid IDX, wrong magic.
    labels = np.zeros(12, np.uint8)
    _write(path, _idx_bytes(labels, 0x801))
    with pytest.raises(DataError, match="0x00000803"):
        load_mnist(tmp_path, "train")


def test_mnist_corrupt_gzip(tmp_path: Path) -> None:
    _make_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="gzip") as exc:
        load_mnist(tmp_path, "train")
    assert path.name in str(exc.value)
    path.write_bytes(good[: len(good) // 2])  # gzip stream cut short
    with pytest.raises(DataError, match=path.name):
        load_mnist(tmp_path, "train")


def test_mnist_mismatched_counts_and_sizes(tmp_path: Path) -> None:
    _make_mnist(tmp_path)
    _write(tmp_path / "train-labels-idx1-ubyte.gz", _idx_bytes(np.zeros(3, np.uint8), 0x801))
    with pytest.raises(DataError, match="do not belong together"):
        load_mnist(tmp_path, "train")
    _make_mnist(tmp_path)
    _write(tmp_path / "train-images-idx3-ubyte.gz",
           _idx_bytes(np.zeros((12, 32, 32), np.uint8), 0x803))
    with pytest.raises(DataError, match="28x28"):
        load_mnist(tmp_path, "train")


# --- CIFAR-10: JPEG zip / folder --------------------------------------------------------------

def _colour(c: int, i: int) -> tuple[int, int, int]:
    return (20 * c + 5, 200 - 10 * i, 128)


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    image_mod = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    image_mod.new("RGB", size, colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _make_cifar_zip(path: Path, split: str = "test", per_class: int = 3,
                    extra: dict[str, bytes] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        # Written in shuffled class order: the loader must sort.
        for c in reversed(range(10)):
            for i in reversed(range(per_class)):
                zf.writestr(f"{split}/{CIFAR10_CLASSES[c]}/{i:04d}.jpg", _jpeg(_colour(c, i)))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_cifar_zip_shapes_order_and_subsets(tmp_path: Path) -> None:
    _make_cifar_zip(tmp_path / "cifar10_jpeg_test.zip")
    ds = load_cifar10(tmp_path, "test")
    x, y = ds.tensors
    assert x.shape == (30, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.tolist() == list(range(10)) * 3  # round-robin over classes
    for k, (c, i) in enumerate([(k % 10, k // 10) for k in range(30)]):
        want = torch.tensor(_colour(c, i), dtype=torch.float32) / 255
        torch.testing.assert_close(x[k].mean(dim=(1, 2)), want, atol=0.02, rtol=0)
    again = load_cifar10(tmp_path, "test")
    assert torch.equal(again.tensors[0], x)  # deterministic
    sub = load_cifar10(tmp_path, "test", per_class=2)
    assert sub.tensors[1].bincount().tolist() == [2] * 10
    torch.testing.assert_close(sub.tensors[0], x[:20])
    lim = load_cifar10(tmp_path, "test", limit=13)
    assert lim.tensors[1].tolist() == list(range(10)) + [0, 1, 2]
    assert len(load_cifar10(tmp_path, "test", per_class=1, limit=4)) == 4
    with pytest.raises(ConfigError):
        load_cifar10(tmp_path, "test", per_class=0)


def test_cifar_folder_equals_zip(tmp_path: Path) -> None:
    zpath = _make_cifar_zip(tmp_path / "z" / "cifar10_jpeg_train_3_per_class.zip", "train")
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(tmp_path / "f")
    from_zip = load_cifar10(tmp_path / "z", "train")
    from_dir = load_cifar10(tmp_path / "f", "train")
    assert torch.equal(from_zip.tensors[0], from_dir.tensors[0])
    assert torch.equal(from_zip.tensors[1], from_dir.tensors[1])


def test_cifar_jpeg_that_is_not_an_image(tmp_path: Path) -> None:
    bad = "test/cat/9999.jpg"
    _make_cifar_zip(tmp_path / "cifar10_jpeg_test.zip", extra={bad: b"<html>not a jpeg</html>"})
    with pytest.raises(DataError, match="9999.jpg") as exc:
        load_cifar10(tmp_path, "test")
    assert "cifar10_jpeg_test.zip" in str(exc.value)


def test_cifar_wrong_size_missing_class_and_no_layout(tmp_path: Path) -> None:
    _make_cifar_zip(tmp_path / "a" / "cifar10_jpeg_test.zip",
                    extra={"test/dog/9999.jpg": _jpeg((1, 2, 3), size=(64, 64))})
    with pytest.raises(DataError, match="64x64"):
        load_cifar10(tmp_path / "a", "test")
    folder = tmp_path / "b" / "test"
    for c in CIFAR10_CLASSES[:-1]:
        (folder / c).mkdir(parents=True)
        (folder / c / "0000.jpg").write_bytes(_jpeg((9, 9, 9)))
    with pytest.raises(DataError, match="truck"):
        load_cifar10(tmp_path / "b", "test")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path / "c", "test")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "cifar10_jpeg_test.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DataError, match="zip"):
        load_cifar10(tmp_path / "d", "test")


# --- CIFAR-10: python release -----------------------------------------------------------------

def _batch(n: int, offset: int) -> dict:
    data = ((np.arange(n * 3072).reshape(n, 3072) + offset) % 256).astype(np.uint8)
    return {b"batch_label": b"x", b"labels": [(offset + i) % 10 for i in range(n)],
            b"data": data, b"filenames": [b"f%d.png" % i for i in range(n)]}


def _make_cifar_pickles(folder: Path, protocol: int = 2) -> dict[str, dict]:
    d = folder / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {f"data_batch_{i}": _batch(4, 4 * (i - 1)) for i in range(1, 6)}
    batches["test_batch"] = _batch(6, 3)
    for name, obj in batches.items():
        (d / name).write_bytes(pickle.dumps(obj, protocol=protocol))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES]}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return batches


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_pickle_release(tmp_path: Path, protocol: int) -> None:
    batches = _make_cifar_pickles(tmp_path, protocol)
    x, y = load_cifar10(tmp_path, "train").tensors
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    want = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    torch.testing.assert_close(x, torch.from_numpy(want.reshape(20, 3, 32, 32)).float() / 255)
    assert y.tolist() == [i % 10 for i in range(20)]
    xt, yt = load_cifar10(tmp_path, "test").tensors
    assert xt.shape == (6, 3, 32, 32) and yt.tolist() == [3, 4, 5, 6, 7, 8]
    sub_x, sub_y = load_cifar10(tmp_path, "train", per_class=1).tensors
    assert sub_y.tolist() == list(range(10))
    torch.testing.assert_close(sub_x, x[:10])
    assert load_cifar10(tmp_path, "train", limit=3).tensors[1].tolist() == [0, 1, 2]


def test_cifar_pickle_missing_batch(tmp_path: Path) -> None:
    _make_cifar_pickles(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path, "train")


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_cifar_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    _make_cifar_pickles(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load global") as exc:
        load_cifar10(tmp_path, "test")
    assert "test_batch" in str(exc.value)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(_EvalEvil(), protocol=4))
    with pytest.raises(DataError, match="builtins.eval"):
        load_cifar10(tmp_path, "test")
    path.write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(tmp_path, "test")
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}))
    with pytest.raises(DataError, match="uint8"):
        load_cifar10(tmp_path, "test")


# --- per-channel statistics -------------------------------------------------------------------

def test_channel_mean_std_and_normalize() -> None:
    g = seeded(0)
    x = torch.rand(37, 3, 5, 4, generator=g)
    mean, std = channel_mean_std(x, chunk=8)
    torch.testing.assert_close(mean, x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(std, x.transpose(0, 1).reshape(3, -1).std(dim=1, correction=0))
    z = normalize(x, mean, std)
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(channel_mean_std(z)[1], torch.ones(3), atol=1e-5, rtol=0)
    with pytest.raises(ShapeError):
        channel_mean_std(x[0])
    with pytest.raises(ShapeError):
        normalize(x, (0.5,), (0.2,))
    with pytest.raises(ConfigError):
        normalize(x, (0.5,) * 3, (0.2, 0.0, 0.2))


# --- PTB --------------------------------------------------------------------------------------

def _make_ptb(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ptb.train.txt").write_text(" the cat sat\n the <unk> sat on the mat \n")
    (folder / "ptb.valid.txt").write_text(" the dog sat\n")
    (folder / "ptb.test.txt").write_text(" a cat\n")


def test_ptb_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_ptb(tmp_path / "ptb")
    monkeypatch.setenv("AIMC_DATA", str(tmp_path))
    corpus = load_ptb()
    assert set(corpus.vocab) == {"the", "cat", "sat", "<unk>", "on", "mat", "<eos>"}
    assert corpus.vocab["the"] == 0  # most frequent first
    assert corpus.train.dtype == torch.int64 and corpus.train.dim() == 1
    assert corpus.decode(corpus.train) == ["the", "cat", "sat", "<eos>", "the", "<unk>", "sat",
                                           "on", "the", "mat", "<eos>"]
    assert corpus.decode(corpus.valid) == ["the", "<unk>", "sat", "<eos>"]  # OOV -> <unk>
    assert corpus.decode(corpus.test) == ["<unk>", "cat", "<eos>"]
    assert corpus.vocab_size == 7


def test_ptb_missing_and_empty(tmp_path: Path) -> None:
    _make_ptb(tmp_path)
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(DataError, match="ptb.valid.txt"):
        load_ptb(tmp_path)
    _make_ptb(tmp_path)
    (tmp_path / "ptb.train.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no words"):
        load_ptb(tmp_path)
    (tmp_path / "ptb.train.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(DataError, match="UTF-8"):
        load_ptb(tmp_path)


def test_batchify_and_bptt() -> None:
    tokens = torch.arange(23)
    data = batchify(tokens, 4)
    assert data.shape == (5, 4)
    assert data[:, 1].tolist() == [5, 6, 7, 8, 9]  # column b = b-th contiguous slice
    windows = list(bptt_batches(data, 3))
    assert [w[0].shape[0] for w in windows] == [3, 1]
    inputs = torch.cat([w[0] for w in windows])
    targets = torch.cat([w[1] for w in windows])
    assert torch.equal(inputs, data[:-1]) and torch.equal(targets, data[1:])
    with pytest.raises(ConfigError):
        batchify(tokens, 12)
    with pytest.raises(ConfigError):
        batchify(tokens, 0)
    with pytest.raises(ShapeError):
        batchify(data, 2)
    with pytest.raises(ShapeError):
        bptt_batches(tokens, 3)  # raised at the call, not at the first next()
    with pytest.raises(ConfigError):
        bptt_batches(data, 0)


# --- SST-2 ------------------------------------------------------------------------------------

_TRAIN = ("sentence\tlabel\n"
          "a great , great film \t1\n"
          "it 's a bad film \t0\n"
          "great acting \t1\n"
          "dull \t0\n")
_DEV = "sentence\tlabel\na great surprise\t1\nbad , bad , bad\t0\n"


def _make_sst2(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(_TRAIN)
    (folder / "dev.tsv").write_text(_DEV)
    (folder / "test.tsv").write_text("index\tsentence\n0\tsome text\n")


def test_sst2_train_dev(tmp_path: Path) -> None:
    _make_sst2(tmp_path)
    tokens, lengths, labels, vocab = load_sst2(tmp_path, "train", max_len=6)
    assert vocab["<pad>"] == 0 and vocab["<unk>"] == 1
    assert vocab["great"] == 2 and vocab["a"] == 3  # most frequent first, ties alphabetical
    assert tokens.shape == (4, 6) and tokens.dtype == torch.int64
    assert lengths.tolist() == [5, 5, 2, 1] and labels.tolist() == [1, 0, 1, 0]
    assert tokens[3, 1:].eq(0).all() and tokens[3, 0] == vocab["dull"]
    assert tokens[1].tolist()[:2] == [vocab["it"], vocab["'s"]]
    dev = load_sst2(tmp_path, "dev", vocab=vocab, max_len=4)
    assert dev.tokens[0].tolist() == [vocab["a"], vocab["great"], 1, 0]  # surprise -> <unk>
    assert dev.lengths.tolist() == [3, 4]  # truncated to max_len
    assert load_sst2(tmp_path, "dev").vocab == vocab  # default vocab built from train
    rare = load_sst2(tmp_path, "train", min_freq=2).vocab
    assert set(rare) == {"<pad>", "<unk>", "great", "a", "film"}
    assert len(load_sst2(tmp_path, "train", limit=2).dataset()) == 2
    assert tokenize("It 's GREAT -- really!") == ["it", "'s", "great", "-", "-", "really", "!"]


def test_sst2_nested_glue_folder(tmp_path: Path) -> None:
    _make_sst2(tmp_path / "SST-2")
    assert len(load_sst2(tmp_path, "dev").labels) == 2


def test_sst2_test_split_refused(tmp_path: Path) -> None:
    _make_sst2(tmp_path)
    with pytest.raises(DataError, match="not public"):
        load_sst2(tmp_path, "test")
    with pytest.raises(ConfigError):
        load_sst2(tmp_path, "validation")
    with pytest.raises(ConfigError):
        load_sst2(tmp_path, "dev", vocab={"a": 0})


def test_sst2_bad_files(tmp_path: Path) -> None:
    _make_sst2(tmp_path)
    (tmp_path / "dev.tsv").write_text("text\tlabel\nfine\t1\n")
    with pytest.raises(DataError, match="header") as exc:
        load_sst2(tmp_path, "dev")
    assert "dev.tsv" in str(exc.value)
    (tmp_path / "dev.tsv").write_text("index\tsentence\n0\tfine\n")
    with pytest.raises(DataError, match="unlabelled test.tsv"):
        load_sst2(tmp_path, "dev")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nfine\t1\nno label here\n")
    with pytest.raises(DataError, match=r"dev.tsv:3"):
        load_sst2(tmp_path, "dev")
    (tmp_path / "dev.tsv").unlink()
    with pytest.raises(DataError, match="dev.tsv"):
        load_sst2(tmp_path, "dev")


# --- download helper (offline: file:// URLs only) ---------------------------------------------

def _fake_source(monkeypatch: pytest.MonkeyPatch, src: Path, md5: str,
                 extract: bool = False) -> None:
    res = data_sources.Resource(src.name, (src.as_uri(),), md5, extract=extract)
    monkeypatch.setitem(data_sources.SOURCES, "tiny", (res,))


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_download_verifies_and_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src" / "ptb.train.txt"
    src.parent.mkdir()
    src.write_text(" hello world\n")
    _fake_source(monkeypatch, src, _md5(src))
    out = download("tiny", tmp_path / "root")
    assert out == tmp_path / "root" / "tiny"
    assert (out / "ptb.train.txt").read_text() == " hello world\n"
    assert download("tiny", tmp_path / "root") == out  # verified copy kept

    _fake_source(monkeypatch, src, "0" * 32)
    with pytest.raises(DataError, match="checksum mismatch"):
        download("tiny", tmp_path / "other")
    assert list((tmp_path / "other" / "tiny").iterdir()) == []  # partial file deleted
    with pytest.raises(DataError, match="refused"):
        download("cifar10_jpeg", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        download("imagenet", tmp_path)
    with pytest.raises(DataError, match="root"):
        download("mnist")


def test_download_extracts_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "SST-2.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("SST-2/train.tsv", _TRAIN)
        zf.writestr("SST-2/dev.tsv", _DEV)
    _fake_source(monkeypatch, src, _md5(src), extract=True)
    folder = download("tiny", tmp_path / "root")
    assert load_sst2(folder, "dev").labels.tolist() == [1, 0]


def test_safe_extract_rejects_traversal_and_links(tmp_path: Path) -> None:
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../escaped.txt", "bad")
    with pytest.raises(DataError, match="traversal"):
        safe_extract(evil_zip, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()  # nothing written before the check

    evil_tar = tmp_path / "evil.tar.gz"
    with tarfile.open(evil_tar, "w:gz") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(DataError, match="links"):
        safe_extract(evil_tar, tmp_path / "out")
    abs_tar = tmp_path / "abs.tar"
    with tarfile.open(abs_tar, "w") as tf:
        info = tarfile.TarInfo("/tmp/abs.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DataError, match="absolute"):
        safe_extract(abs_tar, tmp_path / "out")
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tf:
        info = tarfile.TarInfo("d/a.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    assert safe_extract(good, tmp_path / "out") == [tmp_path / "out" / "d" / "a.txt"]
    (tmp_path / "junk").write_bytes(b"neither")
    with pytest.raises(DataError, match="neither"):
        safe_extract(tmp_path / "junk", tmp_path / "out")


def test_registered_checksums_are_well_formed() -> None:
    for name, resources in data_sources.SOURCES.items():
        for res in resources:
            assert res.md5 is not None or res.sha256 is not None, (name, res.filename)
            assert res.md5 is None or (len(res.md5) == 32 and int(res.md5, 16) >= 0)
            assert res.sha256 is None or (len(res.sha256) == 64 and int(res.sha256, 16) >= 0)
            assert all(u.startswith(("https://", "http://")) for u in res.urls)


# --- real shared data (skipped when absent) ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets (../shared/data) not present")
def test_real_shared_datasets() -> None:
    x, y = load_mnist(SHARED / "mnist", "test").tensors
    assert x.shape == (10000, 1, 28, 28) and y[:5].tolist() == [7, 2, 1, 0, 4]
    assert y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    pytest.importorskip("PIL")
    cx, cy = load_cifar10(SHARED / "cifar10_jpeg", "test", limit=300).tensors
    assert cx.shape == (300, 3, 32, 32) and cy.bincount().tolist() == [30] * 10
    assert 0.3 < float(cx.mean()) < 0.6
    corpus = load_ptb(SHARED / "ptb")
    assert corpus.vocab_size == 10000
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (929589, 73760, 82430)
    # Our recorded MD5 + SHA-256 agree with the shared original copies.
    for name in ("ptb", "mnist"):
        for res in data_sources.SOURCES[name]:
            if res.sha256 is not None:
                assert verify_file(SHARED / name / res.filename, res) is None, res.filename
