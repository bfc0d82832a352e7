"""``aimc reproduce analognets``: the command-line front of :mod:`aimc.experiments.analognets`."""

from __future__ import annotations

import argparse
from typing import Any

from aimc.cli_options import add_run_options, comma_list

__all__ = ["add_analognets"]


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
        changes: dict[str, Any] = {}
        if args.task is not None:
            changes["tasks"] = comma_list(args.task, str, "--task", "kws,vww")
        if args.bits is not None:
            changes["bits"] = comma_list(args.bits, int, "--bits", "8,4")
        if args.programmings is not None:
            changes["programmings"] = args.programmings
        if args.seed is not None:
            changes["seed"] = args.seed
        if args.adc_gain is not None:
            changes["adc_gain"] = args.adc_gain.replace("-", "_")
        settings = base.replace(**changes)
    except ConfigError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/analognets_quick" if args.quick else "runs/analognets")
    return _run_reproduction(args, prog, "analognets", run_analognets, settings, out,
                             f"finished stages are in {out}/arms", summary_text)
