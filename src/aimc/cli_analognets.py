"""``aimc reproduce analognets``: the command-line front of :mod:`aimc.experiments.analognets`."""

from __future__ import annotations

import argparse
from typing import Any

from aimc.cli_options import add_run_options, comma_list

__all__ = ["add_analognets", "add_analognets_recipes"]


def add_analognets(experiments: Any, int_at_least: Any) -> None:
    """Register the sub-command on ``aimc reproduce``'s sub-parsers."""
    p = experiments.add_parser(
        "analognets",
        help="always-on KWS / VWW on PCM compute-in-memory: accuracy over drift at 8/6/4 "
             "bits and energy, latency, area, TOPS/W (arXiv:2111.06503)",
        description="Zhou et al., arXiv:2111.06503: CiM-shaped keyword-spotting (MFCC) and "
                    "visual-wake-word networks; FP, directly mapped and HWA-trained accuracy "
                    "at 1 s, 1 h, 24 h and 1 month after programming for each bit width over "
                    "several programmings, and the cost of the HWA model on a layer-serial "
                    "PCM accelerator (aimc.cost). Writes OUT/metrics.json, "
                    "accuracy_vs_time.png, energy_breakdown.png and report.md; resumes "
                    "stage by stage.")
    p.add_argument("--task", metavar="T[,U]", default=None,
                   help="kws, vww or kws,vww (default: both; quick: kws)")
    p.add_argument("--bits", metavar="B[,C]", default=None,
                   help="converter bit widths (default 8,6,4; quick 8,4)")
    p.add_argument("--quick", action="store_true",
                   help="short training, 3 programmings, 2 times (under a minute for KWS); "
                        "default out dir runs/analognets_quick")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="a data root holding speech_commands_v2_subset/ and vww_subset/ "
                        "(default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run folder (default: runs/analognets[_quick])")
    p.add_argument("--programmings", type=int_at_least(1, "--programmings", 10), default=None,
                   help="independent programmings per analog model (default 10; quick 3)")
    p.add_argument("--adc-gain", choices=("per-layer", "global"), default=None,
                   help="fixed ADC range: calibrated once per layer (default) or one global "
                        "±10 range for every layer")
    p.add_argument("--hwa-epochs", type=int_at_least(0, "--hwa-epochs", 80), default=None,
                   help="HWA fine-tuning epochs (default 80; quick 4)")
    p.add_argument("--hwa-noise", choices=("programming", "device-state"), default=None,
                   help="weight noise of HWA training: the devices' state --hwa-noise-time s "
                        "after programming (programming noise, drift spread, read noise; the "
                        "default) or PCM programming noise only")
    p.add_argument("--hwa-noise-time", type=float, default=None, metavar="SECONDS",
                   help="time after programming for --hwa-noise device-state (default 86400)")
    p.add_argument("--hwa-noise-scale", type=float, default=None, metavar="S",
                   help="with --hwa-noise programming: the injected noise in units of the "
                        "PCM programming noise (default 1)")
    p.add_argument("--distill", type=float, default=None, metavar="ALPHA",
                   help="weight in [0, 1] of distillation from the FP model during HWA "
                        "training (default 0.5; 0: off)")
    p.add_argument("--distill-temperature", type=float, default=None, metavar="T",
                   help="temperature of the distillation loss (default 2)")
    add_run_options(p, int_at_least)
    p.set_defaults(func=_cmd, subparser=p)


def _cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.cli import _run_reproduction
    from aimc.errors import ConfigError
    from aimc.experiments.analognets import AnalogNetsSettings, run_analognets
    from aimc.experiments.analognets_report import summary_text

    prog = "aimc reproduce analognets"
    try:
        base = AnalogNetsSettings.quick() if args.quick else AnalogNetsSettings()
        changes = _shared_changes(args)
        if args.task is not None:
            changes["tasks"] = comma_list(args.task, str, "--task", "kws,vww")
        if args.adc_gain is not None:
            changes["adc_gain"] = args.adc_gain.replace("-", "_")
        if args.hwa_noise is not None:
            changes["hwa_noise"] = args.hwa_noise.replace("-", "_")
        for name in ("hwa_epochs", "hwa_noise_scale", "hwa_noise_time", "distill",
                     "distill_temperature"):
            if getattr(args, name) is not None:
                changes[name] = getattr(args, name)
        settings = base.replace(**changes)
    except ConfigError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/analognets_quick" if args.quick else "runs/analognets")
    return _run_reproduction(args, prog, "analognets", run_analognets, settings, out,
                             f"finished stages are in {out}/arms", summary_text)


def _shared_changes(args: argparse.Namespace) -> dict[str, Any]:
    """--bits, --programmings and --seed, as both sub-commands take them."""
    changes: dict[str, Any] = {}
    if args.bits is not None:
        changes["bits"] = comma_list(args.bits, int, "--bits", "8,4")
    if args.programmings is not None:
        changes["programmings"] = args.programmings
    if args.seed is not None:
        changes["seed"] = args.seed
    return changes


def add_analognets_recipes(experiments: Any, int_at_least: Any) -> None:
    """Register ``aimc reproduce analognets-recipes``."""
    from aimc.experiments.analognets_recipes import RECIPES

    p = experiments.add_parser(
        "analognets-recipes",
        help="what each change of the AnalogNets HWA recipe does (noise, distillation, "
             "epochs): one HWA model per recipe from one FP model, accuracy over drift",
        description="Trains one HWA model per recipe (" + ", ".join(RECIPES) + ") from "
                    "the same FP model, programs each several times and evaluates it at "
                    "1 s, 1 h, 24 h and 1 month; writes OUT/metrics.json and a report.md "
                    "table; resumes recipe by recipe and stage by stage.")
    p.add_argument("--task", choices=("kws", "vww", "fsdd"), default="kws",
                   help="the task (default kws)")
    p.add_argument("--bits", metavar="B[,C]", default=None,
                   help="converter bit widths (default 8,4)")
    p.add_argument("--recipes", metavar="R[,S]", default=None,
                   help="recipes to run, in order (default: all)")
    p.add_argument("--programmings", type=int_at_least(1, "--programmings", 10),
                   default=None, help="programmings per HWA model (default 10)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="a data root holding the task's data (default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default="runs/analognets_recipes",
                   help="run folder (default: runs/analognets_recipes)")
    add_run_options(p, int_at_least)
    p.set_defaults(func=_cmd_recipes, subparser=p)


def _cmd_recipes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.cli import _run_reproduction
    from aimc.errors import ConfigError
    from aimc.experiments.analognets_recipes import RecipeSettings, run_recipes, summary_text

    try:
        changes = {"task": args.task, **_shared_changes(args)}
        if args.recipes is not None:
            changes["recipes"] = comma_list(args.recipes, str, "--recipes", "prog20,state80_kd")
        settings = RecipeSettings(**changes)
    except ConfigError as exc:
        parser.error(str(exc))
    return _run_reproduction(args, "aimc reproduce analognets-recipes", "analognets-recipes",
                             run_recipes, settings, args.out,
                             f"finished recipes and stages are in {args.out}/recipes",
                             summary_text)
