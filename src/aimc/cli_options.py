"""Options and parsing helpers shared by the ``aimc reproduce`` sub-commands that live in
their own files (:mod:`aimc.cli_snn`, :mod:`aimc.cli_analognets`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_run_options", "comma_list"]


def add_run_options(p: argparse.ArgumentParser, int_at_least: Any) -> None:
    """--seed, --threads, --no-progress and --allow-other-code, as every experiment has."""
    p.add_argument("--seed", type=int_at_least(0, "--seed", 0), default=None,
                   help="master seed (default: 0)")
    p.add_argument("--threads", type=int_at_least(1, "--threads", 1), default=1,
                   help="torch and BLAS threads (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--allow-other-code", action="store_true",
                   help="resume a run folder that other code started")


def comma_list(text: str, cast: Any, flag: str, example: str = "1,4") -> tuple[Any, ...]:
    """``"8, 4"`` → ``(8, 4)``; ConfigError naming the flag for a bad or empty list."""
    from aimc.errors import ConfigError

    try:
        values = tuple(cast(v.strip()) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{flag} takes a comma-separated list such as {example}, got "
                          f"{text!r}") from exc
    if not values:
        raise ConfigError(f"{flag} needs at least one value, e.g. {example}")
    return values
