"""Opening an experiment's run folder: claim it for this code, make ``arms/``, and a logger
that prints each line and appends it, time-stamped, to ``run.log`` (shared by the
``aimc reproduce`` experiments that train arms one after another)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aimc.experiments.provenance import claim_run_folder

__all__ = ["open_run_folder"]


def open_run_folder(out_dir: str | os.PathLike[str], *, allow_other_code: bool,
                    log: Callable[[str], None] | None
                    ) -> tuple[Path, list[dict[str, Any]], Callable[[str], None]]:
    """Returns ``(folder, code history, log_line)``; ``log`` None prints to stderr.

    Raises:
        StateError: the folder holds results of other code (without ``allow_other_code``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = claim_run_folder(out, allow_other_code=allow_other_code)
    (out / "arms").mkdir(exist_ok=True)
    emit = log if log is not None else (lambda m: print(m, file=sys.stderr, flush=True))

    def log_line(msg: str) -> None:
        emit(msg)
        with open(out / "run.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    return out, history, log_line
