"""Penn Treebank, the word-level language-modelling text of Mikolov et al. (RNNLM
"simple-examples"; Marcus et al. 1993), as ``ptb.{train,valid,test}.txt``.

The files are already lower-cased, with numbers as ``N`` and rare words as ``<unk>``
(10,000-word vocabulary). Each line is split on whitespace and ended with ``<eos>``, the
convention of Zaremba et al. (2014) and the PyTorch word-language-model example.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from aimc.data._args import check_positive_int
from aimc.data.paths import find_file, resolve_data_dir
from aimc.data.text import build_vocab, read_lines
from aimc.errors import ConfigError, DataError, ShapeError

__all__ = ["PTBCorpus", "load_ptb", "batchify", "bptt_batches", "EOS", "UNK"]

EOS = "<eos>"
"""End-of-sentence token appended to every line."""
UNK = "<unk>"
"""Unknown-word token (already in the Mikolov files)."""

_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True, eq=False)
class PTBCorpus:
    """A tokenised language-modelling corpus.

    Attributes:
        vocab: word -> id, built from the training text (most frequent first, ties
            alphabetical); holds :data:`EOS` and :data:`UNK`. 10,000 words for PTB.
        train: ``(T_train,)`` int64 token ids (929,589 for PTB).
        valid: ``(T_valid,)`` int64 token ids (73,760 for PTB).
        test: ``(T_test,)`` int64 token ids (82,430 for PTB).
    """

    vocab: dict[str, int]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def vocab_size(self) -> int:
        """Number of words, i.e. the size of the LM's output layer."""
        return len(self.vocab)

    @property
    def itos(self) -> list[str]:
        """id -> word."""
        words = [""] * len(self.vocab)
        for word, i in self.vocab.items():
            words[i] = word
        return words

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Words of a 1-d id tensor."""
        itos = self.itos
        return [itos[i] for i in ids.tolist()]


def _lines_to_tokens(path: Path) -> list[str]:
    tokens: list[str] = []
    for line in read_lines(path):
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def _encode(tokens: list[str], vocab: dict[str, int]) -> torch.Tensor:
    unk = vocab[UNK]
    return torch.tensor([vocab.get(t, unk) for t in tokens], dtype=torch.int64)


def load_ptb(data_dir: str | os.PathLike[str] | None = None) -> PTBCorpus:
    """Load ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt``.

    Args:
        data_dir: folder holding the three files (or ``simple-examples/data/`` below it);
            ``None`` uses ``$AIMC_DATA/ptb``.

    Returns:
        :class:`PTBCorpus` with the vocabulary built from the training text. Words of
        valid/test that are not in it (none in PTB) map to :data:`UNK`.

    Raises:
        DataError: folder or a file missing, not UTF-8, or an empty training text.
    """
    folder = resolve_data_dir(data_dir, "ptb")
    if not (folder / "ptb.train.txt").is_file() and (folder / "simple-examples/data").is_dir():
        folder = folder / "simple-examples/data"
    paths = {s: find_file(folder, (f"ptb.{s}.txt",), "ptb") for s in _SPLITS}
    tokens = {s: _lines_to_tokens(p) for s, p in paths.items()}
    if len(tokens["train"]) == tokens["train"].count(EOS):
        raise DataError(f"{paths['train']}: the training text has no words")
    vocab = build_vocab([tokens["train"]])
    for special in (EOS, UNK):
        vocab.setdefault(special, len(vocab))
    return PTBCorpus(vocab, *(_encode(tokens[s], vocab) for s in _SPLITS))


def batchify(tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a token stream into ``batch_size`` parallel streams.

    The tail that does not fill a whole column is dropped (as in Zaremba et al. 2014).

    Args:
        tokens: ``(T,)`` int64 token ids, e.g. ``corpus.train``.
        batch_size: number of parallel streams ``B``.

    Returns:
        ``(T // B, B)`` tensor (time-major, like ``nn.LSTM``'s default): column ``b`` is the
        ``b``-th contiguous slice of the text.

    Raises:
        ShapeError: ``tokens`` is not 1-d.
        ConfigError: ``batch_size`` < 1, or fewer than ``2 * batch_size`` tokens (no
            input/target pair would fit).
    """
    check_positive_int("batch_size", batch_size, allow_none=False)
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 1:
        raise ShapeError(f"batchify expects a 1-d token tensor, got "
                         f"{getattr(tokens, 'shape', type(tokens).__name__)}")
    steps = tokens.numel() // batch_size
    if steps < 2:
        raise ConfigError(f"batchify: {tokens.numel()} tokens are too few for batch_size="
                          f"{batch_size} (need at least {2 * batch_size})")
    return tokens[: steps * batch_size].view(batch_size, steps).t().contiguous()


def bptt_batches(data: torch.Tensor, seq_len: int
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Truncated-BPTT windows over batchified data, in order.

    Args:
        data: ``(S, B)`` output of :func:`batchify`.
        seq_len: window length ``L``; the last window may be shorter.

    Returns:
        An iterator of ``(inputs, targets)``, each ``(l, B)`` with ``l <= L``; ``targets``
        are ``inputs`` shifted one step ahead (``targets[t] = data[i + t + 1]``). Views of
        ``data``.

    Raises:
        ShapeError: ``data`` is not 2-d.
        ConfigError: ``seq_len`` < 1.
    """
    check_positive_int("seq_len", seq_len, allow_none=False)
    if not isinstance(data, torch.Tensor) or data.dim() != 2:
        raise ShapeError(f"bptt_batches expects a (steps, batch) tensor from batchify, got "
                         f"{getattr(data, 'shape', type(data).__name__)}")
    return _windows(data, seq_len)  # validated now, not at the first next()


def _windows(data: torch.Tensor, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i in range(0, data.shape[0] - 1, seq_len):
        n = min(seq_len, data.shape[0] - 1 - i)
        yield data[i:i + n], data[i + 1:i + 1 + n]
