"""The ``aimc`` command line.

::

    aimc demo [--out DIR] [--seed N] [--repeats N] [--epochs N] [--hwa-epochs N]
              [--quick] [--no-progress]
    aimc presets [NAME]
    aimc device-plot NAME [--out FILE.png] [--set FIELD=VALUE] [--up N] [--down N] ...
    aimc reproduce rasch2023 [--quick] [--data DIR] [--out DIR] [--workloads a,b]
              [--repeats N] [--seed N] [--spec FILE] [--device DEV] [--threads N]
              [--no-progress]
    aimc reproduce nandakumar2020 [--quick] [--data DIR] [--out DIR] [--seed N]
              [--epochs N] [--arms a,b] [--threads N] [--no-progress]
    aimc reproduce diehlcook2015 [--neurons N[,M]] [--synapse ideal|cu-sio2-w|pcm|...]
              [--ablation] [--quick] [--data DIR] [--out DIR] [--epochs N]
              [--train-images N] [--seed N] [--lockout MS|none] [--threads N]
              [--no-progress]
    aimc reproduce nandakumar2020-snn [--quick] [--data DIR] [--out DIR] [--synapse S,T]
              [--devices N,M] [--epochs N] [--train-per-class N] [--speakers A,B]
              [--seed N] [--threads N] [--no-progress]
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
    """The ``aimc`` argument parser (sub-commands ``demo``, ``presets`` and ``reproduce``)."""
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

    from aimc.cli_devices import add_device_plot

    add_device_plot(sub, _int_at_least)

    reproduce = sub.add_parser(
        "reproduce", help="reproduce a paper's experiments (e.g. rasch2023)",
        description="Reproduce the experiments of a paper on aimc. Each experiment writes a "
                    "run folder with config.json, metrics.json, plots and report.md, and "
                    "resumes from its last finished step when run again.")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    _add_rasch2023(experiments)
    _add_sensitivity(experiments)
    _add_nandakumar2020(experiments)
    _add_diehlcook2015(experiments)
    from aimc.cli_snn import add_nandakumar2020_snn

    add_nandakumar2020_snn(experiments, _int_at_least)
    from aimc.cli_analognets import add_analognets, add_analognets_recipes

    add_analognets(experiments, _int_at_least)
    add_analognets_recipes(experiments, _int_at_least)
    reproduce.set_defaults(func=_cmd_reproduce_help, subparser=reproduce)
    return parser


def _add_rasch2023(experiments: Any) -> None:
    from aimc.models import WORKLOADS

    p = experiments.add_parser(
        "rasch2023", help="HWA training vs direct mapping on 4 workloads, 1 s to 1 year "
                          "(arXiv:2302.08469)",
        description="Rasch et al., Nat. Commun. 14:5282 (2023), arXiv:2302.08469. For each "
                    f"workload ({', '.join(WORKLOADS)}): the FP baseline, direct mapping "
                    "(FP weights programmed onto the rasch2023 PCM crossbar) and HWA "
                    "training; the test metric 1 s, 1 h, 1 day and 1 year after programming "
                    "with drift compensation over 10 programming repeats (mean ± std), "
                    "normalised to FP, and iso-accuracy (>= 0.99 of FP at 1 h). Writes "
                    "OUT/config.json, metrics.json, <workload>.png, normalised.png and "
                    "report.md. Re-running the same command resumes an interrupted run.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the quick settings: data subsets, smaller models, few epochs "
                           "(< 15 min on 2 CPU cores for all four workloads)")
    size.add_argument("--standard", action="store_true",
                      help="the standard settings: full models and training sets, fewer "
                           "epochs than the default full settings (sized for <= 3 h on 2 "
                           "CPU cores)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="data root holding mnist/, cifar10_jpeg/ (or cifar10/), ptb/ and "
                        "sst2/ (default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default="runs/rasch2023",
                   help="run folder (default: runs/rasch2023); finished steps there are reused")
    p.add_argument("--workloads", metavar="A,B", default=None,
                   help=f"comma-separated subset of: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--repeats", type=_int_at_least(1, "--repeats", 10), default=None,
                   help="programming repeats per analog model (default: 10)")
    p.add_argument("--seed", type=_int_at_least(0, "--seed", 0), default=None,
                   help="master seed (default: 0)")
    p.add_argument("--spec", metavar="FILE", default=None,
                   help="JSON spec overriding the defaults (e.g. a run's config.json; see "
                        "aimc.experiments.rasch2023_spec)")
    p.add_argument("--device", default=None, metavar="DEV",
                   help="torch device, e.g. cpu or cuda (default: cuda if available)")
    p.add_argument("--executor", choices=("process", "serial", "ray"), default="process",
                   help="how the workloads run: a local process pool (default; one worker "
                        "per CPU, at most one per workload), serially in this process, or "
                        "as Ray tasks (pip install ray); the numbers are the same")
    p.add_argument("--workers", type=_int_at_least(1, "--workers", 2), default=None,
                   help="parallel workloads (default: min(workloads, CPUs))")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="an existing Ray cluster for --executor ray (e.g. auto or "
                        "ray://host:10001; default: start a local Ray instance)")
    p.add_argument("--threads", type=_int_at_least(1, "--threads", 1), default=None,
                   help="torch intra-op threads (default: the CPUs this process may use, "
                        "divided among the workers; on a busy shared machine --threads 1 "
                        "avoids spin-waiting threads)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--allow-other-code", action="store_true",
                   help="resume a run folder that other code (another commit, or uncommitted "
                        "changes) started; metrics.json then lists every code version")
    p.set_defaults(func=_cmd_rasch2023, subparser=p)


def _add_sensitivity(experiments: Any) -> None:
    from aimc.experiments.sensitivity import FACTORS

    p = experiments.add_parser(
        "rasch2023-sensitivity",
        help="one nonideality at a time over a range, on the rasch2023 models",
        description="Sensitivity study after arXiv:2302.08469: each nonideality "
                    f"({', '.join(FACTORS)}) is swept over a range with the others at preset "
                    "values, for the direct-mapped and HWA-trained models of a rasch2023 run "
                    "(trained there if missing), 1 day after programming. Writes "
                    "OUT/metrics.json, <factor>.png and report.md; re-running resumes.")
    p.add_argument("--quick", action="store_true",
                   help="quick mode: 3 programming repeats, models from runs/rasch2023_quick")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="data root (default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: runs/rasch2023_sensitivity[_quick])")
    p.add_argument("--from-run", metavar="DIR", default=None,
                   help="rasch2023 run folder with the trained models (default: "
                        "runs/rasch2023, or runs/rasch2023_quick with --quick)")
    p.add_argument("--workloads", metavar="A,B", default=None,
                   help="comma-separated subset of the run's workloads (default: all)")
    p.add_argument("--factors", metavar="A,B", default=None,
                   help=f"comma-separated subset of: {', '.join(FACTORS)} (default: all)")
    p.add_argument("--repeats", type=_int_at_least(1, "--repeats", 3), default=None,
                   help="programming repeats per point (default: 10, quick: 3)")
    p.add_argument("--workers", type=_int_at_least(1, "--workers", 2), default=None,
                   help="processes of the local pool (default: min(2, CPUs); 1: in-process)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--allow-other-code", action="store_true",
                   help="resume a run folder that other code (another commit, or uncommitted "
                        "changes) started; metrics.json then lists every code version")
    p.set_defaults(func=_cmd_sensitivity, subparser=p)


def _add_nandakumar2020(experiments: Any) -> None:
    from aimc.experiments.nandakumar2020 import ARMS

    p = experiments.add_parser(
        "nandakumar2020",
        help="mixed-precision vs in-situ vs FP training on MNIST, with an energy estimate "
             "(arXiv:2001.11773)",
        description="Nandakumar et al., Front. Neurosci. 14:406 (2020), arXiv:2001.11773: an "
                    "MLP on MNIST trained with FP SGD, mixed precision on PCM (differential "
                    "pair with refresh), in-situ SGD on PCM and in-situ SGD on soft-bounds "
                    "devices; a CNN and a row-by-row LSTM trained with FP vs mixed precision. "
                    "Writes OUT/metrics.json, mlp_accuracy.png, cnn_lstm_accuracy.png and "
                    "report.md with the test accuracy per epoch and the training-energy "
                    "estimate vs 32-bit digital (paper: 173x). Re-running the same command "
                    "reuses the finished arms.")
    p.add_argument("--quick", action="store_true",
                   help="data subsets (10,000 / 6,000 training images), 3 MLP epochs and 2 "
                        "CNN/LSTM epochs (about a minute on an idle CPU core); default out "
                        "dir runs/nandakumar2020_quick")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="the MNIST folder (train-images-idx3-ubyte.gz, ...) or a data root "
                        "with mnist/ (default: $AIMC_DATA/mnist)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run folder (default: runs/nandakumar2020, or "
                        "runs/nandakumar2020_quick with --quick); finished arms are reused")
    p.add_argument("--seed", type=_int_at_least(0, "--seed", 0), default=None,
                   help="master seed (default: 0)")
    p.add_argument("--epochs", type=_int_at_least(1, "--epochs", 8), default=None,
                   help="training epochs of every network (default: MLP 20, CNN 10, LSTM 5; "
                        "quick: 3, 2, 2)")
    p.add_argument("--arms", metavar="A,B", default=None,
                   help=f"comma-separated subset of: {', '.join(ARMS)} (default: all)")
    p.add_argument("--threads", type=_int_at_least(1, "--threads", 1), default=1,
                   help="torch intra-op threads (default: 1; the mini-batches are tiny, and "
                        "extra threads spin-wait on a busy machine)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--allow-other-code", action="store_true",
                   help="resume a run folder that other code (another commit, or uncommitted "
                        "changes) started; metrics.json then lists every code version")
    p.set_defaults(func=_cmd_nandakumar2020, subparser=p)


def _cmd_nandakumar2020(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.nandakumar2020 import Nandakumar2020Settings, run_nandakumar2020
    from aimc.experiments.nandakumar2020_report import summary_text

    prog = "aimc reproduce nandakumar2020"
    changes: dict[str, Any] = {}
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.epochs is not None:
        changes.update(epochs=args.epochs, cnn_epochs=args.epochs, lstm_epochs=args.epochs)
    try:
        if args.arms is not None:
            arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
            if not arms:
                raise ConfigError("--arms needs at least one arm, e.g. --arms mlp_fp,mlp_mp")
            changes["arms"] = arms
        settings = (Nandakumar2020Settings.quick(**changes) if args.quick
                    else Nandakumar2020Settings(**changes))
    except ConfigError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/nandakumar2020_quick" if args.quick else "runs/nandakumar2020")
    return _run_reproduction(args, prog, "nandakumar2020", run_nandakumar2020, settings, out,
                             f"finished arms are saved in {out}/arms", summary_text)


def _add_diehlcook2015(experiments: Any) -> None:
    from aimc.experiments.diehlcook2015 import SYNAPSES

    p = experiments.add_parser(
        "diehlcook2015",
        help="unsupervised MNIST by STDP, ideal and device synapses (Diehl & Cook 2015; "
             "arXiv:2001.09299)",
        description="Diehl & Cook, Front. Comput. Neurosci. 9:99 (2015): 784 Poisson inputs "
                    "-> excitatory neurons with adaptive thresholds -> lateral inhibition, "
                    "trained without labels by the reference code's STDP rule; neurons "
                    "labelled from their training responses, then the test set classified. "
                    "One arm per synapse model and size. Writes OUT/metrics.json, "
                    "accuracy.png, receptive_fields_<arm>.png, stdp_window.png and "
                    "report.md; checkpoints every few hundred images and resumes.")
    p.add_argument("--neurons", metavar="N[,M]", default="100",
                   help="excitatory neurons, comma-separated sizes (default: 100)")
    p.add_argument("--synapse", metavar="S[,T]", default="ideal",
                   help=f"synapse model(s), comma-separated, from {', '.join(SYNAPSES)} "
                        "(default: ideal)")
    p.add_argument("--ablation", action="store_true",
                   help="add, for each device model given, its variants with one property "
                        "off (state dependence: /no-state; variability: /no-noise)")
    p.add_argument("--quick", action="store_true",
                   help="1,000 training, labelling and test images (minutes); default out "
                        "dir runs/diehlcook2015_quick")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="the MNIST folder or a data root with mnist/ (default: $AIMC_DATA)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run folder (default: runs/diehlcook2015[_quick])")
    p.add_argument("--epochs", type=_int_at_least(1, "--epochs", 1), default=None,
                   help="passes over the training images (default: 1 up to 100 neurons, "
                        "else 3)")
    p.add_argument("--train-images", type=_int_at_least(1, "--train-images", 1000),
                   default=None, help="first N training images per epoch (default: all)")
    p.add_argument("--seed", type=_int_at_least(0, "--seed", 0), default=None,
                   help="master seed (default: 0)")
    p.add_argument("--lockout", metavar="MS|none", default=None,
                   help="excitatory firing lockout after a spike in ms (default: the "
                        "reference code's 50; none: the paper's 5 ms refractory period "
                        "alone)")
    p.add_argument("--threads", type=_int_at_least(1, "--threads", 1), default=1,
                   help="torch and BLAS threads (default: 1; a batch-1 spiking loop is "
                        "dispatch-bound, and two runs side by side each want one core)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--allow-other-code", action="store_true",
                   help="resume a run folder that other code started; metrics.json then "
                        "lists every code version")
    p.set_defaults(func=_cmd_diehlcook2015, subparser=p)


def _lockout(text: str) -> float | None:
    """``--lockout``: a number of ms, or ``none``."""
    from aimc.errors import ConfigError

    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise ConfigError(f"--lockout takes a number of ms such as 50, or none, got "
                          f"{text!r}") from exc


def _cmd_diehlcook2015(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.diehlcook2015 import DiehlCook2015Settings, run_diehlcook2015
    from aimc.experiments.diehlcook2015_report import summary_text

    prog = "aimc reproduce diehlcook2015"
    changes: dict[str, Any] = {}
    try:
        try:
            changes["neurons"] = tuple(int(v) for v in args.neurons.split(",") if v.strip())
        except ValueError as exc:
            raise ConfigError(f"--neurons takes comma-separated integers such as 100,400, got "
                              f"{args.neurons!r}") from exc
        synapses = [v.strip() for v in args.synapse.split(",") if v.strip()]
        if args.ablation:
            from aimc.snn.synapses import ABLATIONS

            synapses += [f"{m}/{v}" for m in list(synapses) for v in ABLATIONS.get(m, {})]
        changes["synapses"] = tuple(synapses)
        for key in ("epochs", "seed", "train_images"):
            if getattr(args, key) is not None:
                changes[key] = getattr(args, key)
        if args.lockout is not None:
            changes["lockout"] = _lockout(args.lockout)
        settings = (DiehlCook2015Settings.quick(**changes) if args.quick
                    else DiehlCook2015Settings(**changes))
    except ConfigError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/diehlcook2015_quick" if args.quick else "runs/diehlcook2015")
    return _run_reproduction(args, prog, "diehlcook2015", run_diehlcook2015, settings, out,
                             f"checkpoints are in {out}/arms", summary_text)


def _cmd_sensitivity(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.sensitivity import default_sensitivity_spec, run_sensitivity

    prog = "aimc reproduce rasch2023-sensitivity"
    spec = default_sensitivity_spec("quick" if args.quick else "full")
    try:
        changes: dict[str, Any] = {}
        if args.repeats is not None:
            changes["repeats"] = args.repeats
        if args.workloads is not None:
            changes["workloads"] = tuple(n.strip() for n in args.workloads.split(",")
                                         if n.strip())
        if args.factors is not None:
            wanted = [n.strip() for n in args.factors.split(",") if n.strip()]
            values = spec.factor_values
            changes["factors"] = tuple((n, values.get(n, ())) for n in wanted)
            unknown = [n for n in wanted if n not in values]
            if unknown:
                raise ConfigError(f"unknown factor(s) {unknown}; choose from "
                                  f"{', '.join(values)}")
        spec = spec.replace(**changes) if changes else spec
    except ConfigError as exc:
        parser.error(str(exc))
    suffix = "_quick" if args.quick else ""
    from_run = args.from_run or f"runs/rasch2023{suffix}"
    out = args.out or f"runs/rasch2023_sensitivity{suffix}"
    try:
        cpus = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        cpus = os.cpu_count() or 1
    workers = args.workers if args.workers is not None else max(1, min(2, cpus))
    _limit_threads()
    command = _command(args, "rasch2023-sensitivity")
    metrics, code = _run_experiment(
        prog, lambda: run_sensitivity(spec, out, from_run=from_run, data_root=args.data,
                                      workers=workers, show_progress=not args.no_progress,
                                      command=command,
                                      allow_other_code=args.allow_other_code),
        f"finished jobs are saved in {out}/jobs")
    if metrics is None:
        return code
    for r in metrics["ranking"]:
        print(f"{r['label']:<28} drop {r['drop_mean']:.3f}")
    print(f"\nreport: {os.path.join(out, 'report.md')}")
    return 0


def _cmd_reproduce_help(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    print("\naimc reproduce: error: choose an experiment, e.g. `aimc reproduce rasch2023 "
          "--quick`", file=sys.stderr)
    return 2


def _rasch2023_spec(args: argparse.Namespace) -> Any:
    from aimc.errors import ConfigError
    from aimc.experiments.rasch2023_spec import default_spec, load_spec_file

    mode = "quick" if args.quick else "standard" if args.standard else "full"
    spec = default_spec(mode)
    if args.spec is not None:
        spec = load_spec_file(args.spec, spec)
        if (args.quick or args.standard) and spec.mode != mode:
            raise ConfigError(f"--{mode} conflicts with the spec file's mode {spec.mode!r}; "
                              "drop one of them")
    if args.workloads is not None:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
        if not names:
            raise ConfigError("--workloads needs at least one name, e.g. --workloads mlp_mnist")
        spec = spec.select(names)
    changes = {k: v for k, v in (("repeats", args.repeats), ("seed", args.seed))
               if v is not None}
    return spec.replace(**changes) if changes else spec


def _cmd_rasch2023(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from aimc.errors import ConfigError
    from aimc.experiments.rasch2023 import run_rasch2023
    from aimc.experiments.rasch2023_report import summary_text

    prog = "aimc reproduce rasch2023"
    from aimc.experiments.executor import check_executor

    try:
        spec = _rasch2023_spec(args)
        check_executor(args.executor, args.workers, args.address)
    except ConfigError as exc:
        parser.error(str(exc))
    _limit_threads()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    command = _command(args, "rasch2023")
    metrics, code = _run_experiment(
        prog, lambda: run_rasch2023(spec, args.out, data_root=args.data, device=args.device,
                                    show_progress=not args.no_progress, command=command,
                                    allow_other_code=args.allow_other_code,
                                    executor=args.executor, workers=args.workers,
                                    address=args.address, threads=args.threads),
        f"finished steps and the last epoch/repeat are saved in {args.out}")
    if metrics is None:
        return code
    print(summary_text(metrics))
    print(f"\nreport: {os.path.join(args.out, 'report.md')}")
    return 0


def _command(args: argparse.Namespace, experiment: str) -> str:
    """The command line for the report, without absolute machine paths."""
    from aimc.experiments.provenance import portable_command

    return "aimc " + portable_command(getattr(args, "argv", None) or ["reproduce", experiment])


def _limit_blas_threads(n: int) -> None:
    """Cap NumPy's BLAS threads (threadpoolctl when installed; else only the environment of
    child processes can be set, which is harmless)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)


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


def _run_reproduction(args: argparse.Namespace, prog: str, experiment: str, run: Any,
                      settings: Any, out: str, saved: str, summary_text: Any) -> int:
    """The shared tail of a settings-driven ``aimc reproduce`` sub-command.

    Caps torch and BLAS threads at ``--threads``, runs ``run(settings, out, ...)`` with the
    common options, maps errors to exit codes (:func:`_run_experiment`; ``saved`` says what
    an interrupted run keeps) and prints the summary and the report path.
    """
    import torch

    torch.set_num_threads(args.threads)
    _limit_blas_threads(args.threads)
    command = _command(args, experiment)
    metrics, code = _run_experiment(
        prog, lambda: run(settings, out, data=args.data, show_progress=not args.no_progress,
                          command=command, allow_other_code=args.allow_other_code), saved)
    if metrics is None:
        return code
    print(summary_text(metrics))
    print(f"\nreport: {os.path.join(out, 'report.md')}")
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a run stops as on ^C (files stay whole)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _run_experiment(prog: str, run: Any, saved: str) -> tuple[Any, int]:
    """Run an experiment; map its errors to exit codes (2 input, 1 run failure or a full
    disk, 130 ^C, 143 SIGTERM). Every result file is written atomically (a temporary file,
    then ``os.replace``), so a run stopped at any point — by ^C, SIGTERM, SIGKILL or a full
    disk — leaves only whole files, and the same command resumes it."""
    import errno
    import signal
    import threading

    from aimc.errors import CheckpointError, ConfigError, DataError, StateError, TrainingError

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return run(), 0
    except (DataError, ConfigError, StateError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return None, 2
    except (TrainingError, CheckpointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return None, 1
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, _Terminated) else "interrupted"
        print(f"\n{prog}: {how}; {saved}; run the same command again to resume",
              file=sys.stderr)
        return None, 143 if isinstance(exc, _Terminated) else 130
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"{prog}: error: the disk is full ({exc}); {saved} (a file being written "
              f"when space ran out was discarded); free space and run the same command "
              f"again to resume", file=sys.stderr)
        return None, 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help(sys.stderr)
        print("\naimc: error: choose a command, e.g. `aimc demo`", file=sys.stderr)
        return 2
    return int(args.func(args, args.subparser))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
