"""``aimc reproduce nandakumar2020-snn``: the command-line front of
:mod:`aimc.experiments.nandakumar2020_snn` (kept apart from :mod:`aimc.cli` to keep files
small; the shared helpers stay there)."""

from __future__ import annotations

import argparse
from typing import Any

from aimc.cli_options import add_run_options, comma_list

__all__ = ["add_nandakumar2020_snn"]


def add_nandakumar2020_snn(experiments: Any, int_at_least: Any) -> None:
    """Register the sub-command on ``aimc reproduce``'s sub-parsers."""
    from aimc.experiments.nandakumar2020_snn import SYNAPSES

    p = experiments.add_parser(
        "nandakumar2020-snn",
        help="supervised spike timing on PCM / Cu-SiO2-W synapses, spoken digits in, image "
             "pixels out as spike times (arXiv:1905.11929)",
        description="Nandakumar et al., Sci. Rep. 10:8080 (2020; arXiv:1905.11929): a "
                    "132x168 spiking layer trained by NormAD to answer a spoken digit (FSDD, "
                    "software cochlea) with output spikes whose times encode an MNIST image "
                    "of the same class. Arms: ideal, PCM with N devices per sign, Cu/SiO2/W; "
                    "then PCM drift from 1 s to 1 month with and without array-level "
                    "scaling. Writes OUT/metrics.json, accuracy.png, raster.png, drift.png, "
                    "cochlea.png and report.md; resumes after each epoch. (Named -snn beside "
                    "nandakumar2020, the mixed-precision paper of the same author and year.)")
    p.add_argument("--quick", action="store_true",
                   help="20 epochs, PCM with 1 and 4 devices per sign, three drift times "
                        "(about a minute); default out dir runs/nandakumar2020-snn_quick")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="a data root holding fsdd/ and mnist/ (default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run folder (default: runs/nandakumar2020-snn[_quick])")
    p.add_argument("--synapse", metavar="S[,T]", default=None,
                   help=f"synapse models, comma-separated, from {', '.join(SYNAPSES)} "
                        "(default: all)")
    p.add_argument("--devices", metavar="N[,M]", default=None,
                   help="PCM devices per sign, comma-separated (default: 1,2,4,8; quick 1,4)")
    p.add_argument("--epochs", type=int_at_least(1, "--epochs", 100), default=None,
                   help="passes over the training patterns (default: 100; quick 20)")
    p.add_argument("--train-per-class", type=int_at_least(1, "--train-per-class", 1),
                   default=None, help="training recordings per digit and speaker (default 1)")
    p.add_argument("--speakers", metavar="A[,B]", default=None,
                   help="FSDD speakers (default: jackson)")
    add_run_options(p, int_at_least)
    p.set_defaults(func=_cmd, subparser=p)


def _cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.cli import _run_reproduction
    from aimc.errors import ConfigError
    from aimc.experiments.nandakumar2020_snn import SNNSettings, run_nandakumar2020_snn
    from aimc.experiments.nandakumar2020_snn_report import summary_text

    prog = "aimc reproduce nandakumar2020-snn"
    changes: dict[str, Any] = {}
    try:
        if args.synapse is not None:
            changes["synapses"] = comma_list(args.synapse, str, "--synapse")
        if args.devices is not None:
            changes["devices"] = comma_list(args.devices, int, "--devices")
        if args.speakers is not None:
            changes["speakers"] = comma_list(args.speakers, str, "--speakers")
        for key in ("epochs", "seed", "train_per_class"):
            if getattr(args, key) is not None:
                changes[key] = getattr(args, key)
        settings = SNNSettings.quick(**changes) if args.quick else SNNSettings(**changes)
    except ConfigError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/nandakumar2020-snn_quick" if args.quick
                       else "runs/nandakumar2020-snn")
    return _run_reproduction(args, prog, "nandakumar2020-snn", run_nandakumar2020_snn,
                             settings, out, f"checkpoints are in {out}/arms", summary_text)
