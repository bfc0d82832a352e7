"""Progress bars for long loops: ``tqdm`` when installed, else a tiny stdlib fallback.

Usage::

    bar = progress(total=n_steps, desc="HWA training", enabled=show)
    for step in range(n_steps):
        ...
        bar.update()
        bar.set_postfix_str(f"loss {loss:.3f}")
    bar.close()

Every bar writes to ``stderr`` so that tables printed to ``stdout`` stay clean. With
``enabled=False`` a silent bar with the same interface is returned.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any, Literal, Protocol, TextIO

__all__ = ["ProgressBar", "progress", "tqdm_available"]

Backend = Literal["auto", "tqdm", "simple"]


class ProgressBar(Protocol):
    """The part of the ``tqdm`` interface aimc uses."""

    def update(self, n: int = 1) -> Any:
        """Advance by ``n`` steps."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any:
        """Show ``s`` after the counter."""

    def close(self) -> Any:
        """Finish the bar (prints the final state)."""


def tqdm_available() -> bool:
    """Whether ``tqdm`` can be imported."""
    return importlib.util.find_spec("tqdm") is not None


class _SilentBar:
    """A bar that shows nothing (``--no-progress``)."""

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        return None

    def close(self) -> None:
        return None


class _SimpleBar:
    """Stdlib fallback: ``desc: 12/40 [ 30%] 1.2 s  postfix`` redrawn on one stderr line.

    Redraws at most every ``min_interval`` seconds (and always at the end).
    """

    def __init__(self, total: int | None, desc: str, stream: TextIO | None = None,
                 min_interval: float = 0.2, width: int = 20):
        self.total = total
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.width = width
        self.n = 0
        self.postfix = ""
        self.start = time.perf_counter()
        self._last_draw = -float("inf")
        self._closed = False
        self._draw(force=True)

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            count = f"|{bar}| {self.n}/{self.total} [{100 * frac:3.0f}%]"
        else:
            count = f"{self.n}"
        post = f"  {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {count} {elapsed:.1f} s{post}"

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.stream.write("\r" + self._line())
        self.stream.flush()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw(force=self.total is not None and self.n >= self.total)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s
        if refresh:
            self._draw()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._draw(force=True)
        self.stream.write("\n")
        self.stream.flush()


def progress(*, total: int | None, desc: str, enabled: bool = True,
             backend: Backend = "auto", stream: TextIO | None = None) -> ProgressBar:
    """A progress bar over ``total`` steps.

    Args:
        total: number of steps (None: unknown).
        desc: label shown before the counter.
        enabled: False returns a silent bar with the same interface.
        backend: ``"auto"`` (tqdm if installed, else the stdlib fallback), ``"tqdm"`` or
            ``"simple"``.
        stream: where to draw (default ``sys.stderr``).

    Returns:
        An object with ``update(n)``, ``set_postfix_str(s)`` and ``close()``.
    """
    if backend not in ("auto", "tqdm", "simple"):
        raise ValueError(f"backend must be 'auto', 'tqdm' or 'simple', got {backend!r}")
    if not enabled:
        return _SilentBar()
    if backend == "tqdm" or (backend == "auto" and tqdm_available()):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=stream if stream is not None else sys.stderr,
                    dynamic_ncols=True, leave=True)
    return _SimpleBar(total, desc, stream=stream)
