"""SST-2 binary sentiment (Socher et al., EMNLP 2013) as packaged by GLUE (Wang et al. 2018).

Files: ``train.tsv`` (67,349 rows) and ``dev.tsv`` (872 rows), UTF-8, tab-separated, header
``sentence<TAB>label``, no quoting, label 0 = negative, 1 = positive. GLUE's ``test.tsv``
(``index<TAB>sentence``) has no labels -- they are scored on GLUE's server -- so it is refused.
Read from the data folder or its ``SST-2/`` sub-folder (the layout of GLUE's ``SST-2.zip``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import TensorDataset

from aimc.data._args import check_positive_int
from aimc.data.paths import find_file, resolve_data_dir
from aimc.data.text import build_vocab, read_lines, tokenize
from aimc.errors import ConfigError, DataError

__all__ = ["SST2Split", "load_sst2", "PAD", "UNK_TOKEN"]

PAD = "<pad>"
"""Padding token, id 0."""
UNK_TOKEN = "<unk>"
"""Unknown-word token, id 1."""

_HEADER = "sentence\tlabel"


class SST2Split(NamedTuple):
    """One split of SST-2, unpackable as ``tokens, lengths, labels, vocab``.

    Attributes:
        tokens: ``(N, max_len)`` int64 word ids, padded with 0 (``<pad>``), truncated to
            ``max_len``.
        lengths: ``(N,)`` int64 number of real tokens per row, in ``1..max_len``.
        labels: ``(N,)`` int64, 0 = negative, 1 = positive.
        vocab: word -> id, ``<pad>`` = 0, ``<unk>`` = 1.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    vocab: dict[str, int]

    def dataset(self) -> TensorDataset:
        """``TensorDataset(tokens, lengths, labels)`` for a ``DataLoader``."""
        return TensorDataset(self.tokens, self.lengths, self.labels)


def _read_tsv(path: Path, limit: int | None = None) -> tuple[list[list[str]], list[int]]:
    lines = read_lines(path)
    if not lines or lines[0] != _HEADER:
        found = repr(lines[0][:80]) if lines else "an empty file"
        hint = " (that is GLUE's unlabelled test.tsv)" if lines and lines[0].startswith(
            "index\t") else ""
        raise DataError(f"{path}: expected the GLUE SST-2 header 'sentence\\tlabel', found "
                        f"{found}{hint}")
    rows = lines[1:] if limit is None else lines[1:limit + 1]
    sentences, labels = [], []
    for lineno, line in enumerate(rows, start=2):
        fields = line.split("\t")
        if len(fields) != 2 or fields[1] not in ("0", "1"):
            raise DataError(f"{path}:{lineno}: expected 'sentence<TAB>0|1', got {line[:80]!r}")
        tokens = tokenize(fields[0])
        if not tokens:
            raise DataError(f"{path}:{lineno}: empty sentence")
        sentences.append(tokens)
        labels.append(int(fields[1]))
    return sentences, labels


def _check_vocab(vocab: dict[str, int]) -> None:
    if not isinstance(vocab, dict) or vocab.get(PAD) != 0 or vocab.get(UNK_TOKEN) != 1:
        raise ConfigError("vocab must be a dict with '<pad>': 0 and '<unk>': 1, e.g. the vocab "
                          "returned by load_sst2(split='train')")


def load_sst2(data_dir: str | os.PathLike[str] | None = None, split: str = "train", *,
              vocab: dict[str, int] | None = None, max_len: int = 64, min_freq: int = 1,
              limit: int | None = None) -> SST2Split:
    """Load one labelled split of GLUE SST-2 as padded token ids.

    Args:
        data_dir: folder holding ``train.tsv``/``dev.tsv`` (or ``SST-2/`` below it); ``None``
            uses ``$AIMC_DATA/sst2``.
        split: ``"train"`` or ``"dev"``; ``"test"`` is refused (no public labels).
        vocab: word -> id map to use (e.g. the train split's, to encode dev consistently).
            ``None`` builds it from the *whole* ``train.tsv`` (also for ``split="dev"``).
        max_len: row length; longer sentences are truncated.
        min_freq: words seen fewer times in train map to ``<unk>`` (when building the vocab).
        limit: keep only the first ``limit`` rows of the split.

    Returns:
        :class:`SST2Split` ``(tokens (N, max_len), lengths (N,), labels (N,), vocab)``.
        Tokens come from :func:`aimc.data.text.tokenize` (lower-case regex).

    Raises:
        DataError: ``split="test"``; folder or file missing; wrong header; a row without a
            0/1 label or with an empty sentence (message gives file:line); not UTF-8.
        ConfigError: unknown split, bad ``vocab``, or ``max_len``/``min_freq``/``limit`` < 1.
    """
    if split == "test":
        raise DataError("SST-2 test labels are not public: GLUE's test.tsv has only "
                        "'index<TAB>sentence' and is scored on the GLUE server. Use split='dev' "
                        "(872 labelled sentences) for evaluation.")
    if split not in ("train", "dev"):
        raise ConfigError(f"sst2 has labelled splits 'train' and 'dev'; got split={split!r}")
    check_positive_int("max_len", max_len, allow_none=False)
    check_positive_int("limit", limit)
    check_positive_int("min_freq", min_freq, allow_none=False)
    if vocab is not None:
        _check_vocab(vocab)
    folder = resolve_data_dir(data_dir, "sst2")
    if not (folder / f"{split}.tsv").is_file() and (folder / "SST-2").is_dir():
        folder = folder / "SST-2"
    path = find_file(folder, (f"{split}.tsv",), "sst2")
    sentences, labels = _read_tsv(path, limit)
    if vocab is None:
        train = sentences if split == "train" and limit is None else _read_tsv(
            find_file(folder, ("train.tsv",), "sst2"))[0]
        vocab = build_vocab(train, specials=(PAD, UNK_TOKEN), min_freq=min_freq)
    unk = vocab[UNK_TOKEN]
    rows, lengths = [], []
    for words in sentences:
        ids = [vocab.get(w, unk) for w in words[:max_len]]
        lengths.append(len(ids))
        rows.append(ids + [0] * (max_len - len(ids)))
    return SST2Split(torch.tensor(rows, dtype=torch.int64).reshape(len(rows), max_len),
                     torch.tensor(lengths, dtype=torch.int64),
                     torch.tensor(labels, dtype=torch.int64), vocab)
