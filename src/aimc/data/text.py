"""Plain-text helpers shared by the text loaders: strict reading, tokenising, vocabularies."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from aimc.data._args import check_positive_int
from aimc.errors import DataError

__all__ = ["read_lines", "tokenize", "build_vocab"]

_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, without their ``\\n`` / ``\\r\\n`` ends.

    Only ``\\n`` separates lines (unlike :meth:`str.splitlines`, which also splits on rare
    Unicode separators inside sentences). A final newline does not add an empty line.

    Raises:
        DataError: the file cannot be read or is not valid UTF-8; names the file and byte.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}); wrong or "
                        f"corrupt file?") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def tokenize(text: str) -> list[str]:
    """Lower-case regex tokenizer: runs of word characters and apostrophes, or single
    punctuation marks.

    ``"It 's a GREAT film -- really!"`` -> ``["it", "'s", "a", "great", "film", "-", "-",
    "really", "!"]``. Suits text that is already PTB-tokenized, such as GLUE SST-2.
    """
    return _TOKEN.findall(text.lower())


def build_vocab(token_lists: Iterable[list[str]], *, specials: tuple[str, ...] = (),
                min_freq: int = 1) -> dict[str, int]:
    """Word -> id map: ``specials`` first (ids 0, 1, ...), then every token seen at least
    ``min_freq`` times, most frequent first, ties broken alphabetically (deterministic).

    Raises:
        ConfigError: ``min_freq`` < 1.
    """
    check_positive_int("min_freq", min_freq, allow_none=False)
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    vocab = {tok: i for i, tok in enumerate(specials)}
    for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_freq and tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab
