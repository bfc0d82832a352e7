"""The ``aimc`` command line.

::

    aimc demo [--out DIR] [--seed N] [--repeats N] [--epochs N] [--hwa-epochs N]
              [--quick] [--no-progress]
    aimc presets [NAME]
    aimc --version

Invalid arguments exit with status 2 and a message that names the fix.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "build_parser"]


def _int_at_least(minimum: int, flag: str, example: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got {text!r}; e.g. {flag} {example}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be >= {minimum}, got {value}; e.g. {flag} {example}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _version() -> str:
    from aimc import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``aimc`` argument parser (sub-commands ``demo`` and ``presets``)."""
    parser = argparse.ArgumentParser(
        prog="aimc",
        description="Analog in-memory computing simulation for PyTorch.",
        epilog="Start with `aimc demo` (needs: pip install \"aimc[demo]\").")
    parser.add_argument("--version", action="version", version=f"aimc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="HWA-train a small CNN on 8x8 digits and show its accuracy over time on "
                     "a PCM crossbar",
        description="Train a small CNN on scikit-learn's 8x8 digits in floating point, map it "
                    "onto the standard PCM crossbar (aimc.presets.rasch2023) directly and after "
                    "hardware-aware (HWA) fine-tuning, and measure the test accuracy 1 s, 1 h, "
                    "1 day and 1 year after programming over several programming repeats. "
                    "Prints a table and writes metrics.json, config.json, a plot and report.md.")
    demo.add_argument("--out", default="runs/demo", metavar="DIR",
                      help="output folder (default: runs/demo)")
    demo.add_argument("--seed", type=_int_at_least(0, "--seed", 0), default=0,
                      help="master seed; the same seed gives the same numbers (default: 0)")
    demo.add_argument("--repeats", type=_int_at_least(1, "--repeats", 5), default=None,
                      help="independent programming repeats per analog model (default: 5)")
    demo.add_argument("--epochs", type=_int_at_least(0, "--epochs", 20), default=None,
                      help="floating-point training epochs (default: 20)")
    demo.add_argument("--hwa-epochs", type=_int_at_least(0, "--hwa-epochs", 20), default=None,
                      help="hardware-aware fine-tuning epochs (default: 20)")
    demo.add_argument("--quick", action="store_true",
                      help="smoke test: 400 training images, 3+1 epochs, 2 repeats (seconds); "
                           "explicit --epochs/--hwa-epochs/--repeats still win")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=_cmd_demo, subparser=demo)

    presets = sub.add_parser(
        "presets", help="list the analog presets, or print one as JSON",
        description="Without NAME: list the ready-made analog configs in aimc.presets. With "
                    "NAME: print that preset's config as JSON (AnalogConfig.to_dict()).")
    presets.add_argument("name", nargs="?", metavar="NAME",
                         help="a preset to print as JSON, e.g. rasch2023")
    presets.set_defaults(func=_cmd_presets, subparser=presets)
    return parser


def _limit_threads() -> None:
    """Use no more torch threads than CPUs this process may run on (containers, taskset)."""
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        return
    if 0 < cpus < torch.get_num_threads():
        torch.set_num_threads(cpus)


def _cmd_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.demo import DemoSettings, run_demo

    explicit = {k: v for k, v in (("repeats", args.repeats), ("epochs", args.epochs),
                                  ("hwa_epochs", args.hwa_epochs)) if v is not None}
    try:
        settings = (DemoSettings.quick_settings(seed=args.seed, **explicit) if args.quick
                    else DemoSettings(seed=args.seed, **explicit))
    except ConfigError as exc:
        parser.error(str(exc))
    _limit_threads()
    try:
        run_demo(settings, args.out, show_progress=not args.no_progress)
    except ModuleNotFoundError as exc:
        print(f"aimc demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_presets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.demo import preset_config, preset_names

    if args.name is None:
        from aimc import presets

        names = preset_names()
        width = max(len(n) for n in names)
        for name in names:
            doc = inspect.getdoc(getattr(presets, name)) or ""
            print(f"{name.ljust(width)}  {doc.splitlines()[0] if doc else ''}")
        print("\nPrint one as JSON with: aimc presets NAME")
        return 0
    try:
        cfg = preset_config(args.name)
    except ConfigError as exc:
        parser.error(f"{exc} (list them with `aimc presets`)")
    print(json.dumps(cfg.to_dict(), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aimc`` console script and ``python -m aimc``.

    Returns:
        The exit status (0 success, 1 runtime failure such as a missing optional
        dependency); bad arguments raise ``SystemExit(2)`` with a message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        print("\naimc: error: choose a command, e.g. `aimc demo`", file=sys.stderr)
        return 2
    return int(args.func(args, args.subparser))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
