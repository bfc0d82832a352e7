"""Where datasets live: ``data_dir`` argument, else ``$AIMC_DATA/<dataset>``.

Every loader in :mod:`aimc.data` takes ``data_dir=None``. The folder is found as

1. the explicit ``data_dir`` argument: the folder that holds the dataset's files itself;
2. else the ``AIMC_DATA`` environment variable: a root with one sub-folder per dataset
   (``$AIMC_DATA/mnist``, ``$AIMC_DATA/cifar10``, ``$AIMC_DATA/ptb``, ``$AIMC_DATA/sst2``...);
3. else a :class:`~aimc.errors.DataError` naming both ways and the files expected.

Nothing is ever downloaded implicitly; :func:`aimc.data.download` fetches the public sets on
request when the machine is online.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aimc.errors import DataError

__all__ = ["AIMC_DATA_ENV", "resolve_data_dir", "find_file", "expected_files"]

AIMC_DATA_ENV = "AIMC_DATA"
"""Name of the environment variable that points at the dataset root."""

# dataset -> (sub-folders of $AIMC_DATA tried in order, what the folder must hold)
_KNOWN: dict[str, tuple[tuple[str, ...], str]] = {
    "mnist": (("mnist",), "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or the same without .gz)"),
    "fashion_mnist": (("fashion_mnist", "fashion-mnist"),
                      "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or without .gz)"),
    "cifar10": (("cifar10", "cifar10_jpeg", "cifar-10"),
                "cifar-10-batches-py/data_batch_1..5 + test_batch (the python release), or "
                "train/<class>/*.jpg + test/<class>/*.jpg, or cifar10_jpeg_train*.zip + "
                "cifar10_jpeg_test.zip"),
    "ptb": (("ptb",), "ptb.train.txt, ptb.valid.txt, ptb.test.txt"),
    "sst2": (("sst2", "SST-2"), "train.tsv, dev.tsv (GLUE SST-2, header 'sentence\\tlabel')"),
    "fsdd": (("fsdd",), "recordings/<digit>_<speaker>_<index>.wav (Free Spoken Digit "
             "Dataset, 8 kHz mono)"),
    "speech_commands_v2_subset": (("speech_commands_v2_subset",),
                                  "labels.csv, wav/*.wav (16 kHz mono), mfcc_int8/*.bin"),
    "vww_subset": (("vww_subset",), "labels.csv, images/<coco id>.bin (96x96x3 uint8)"),
    "speech_commands_v2": (("speech_commands_v2",),
                           "<word>/*.wav (16 kHz mono), validation_list.txt, testing_list.txt, "
                           "_background_noise_/*.wav (the extracted speech_commands_v0.02)"),
}

_DOWNLOAD_HINT = ("aimc.data.download({name!r}, root) can fetch the public release into "
                  "root/{sub} when the machine is online")


def expected_files(dataset: str) -> str:
    """Human-readable list of the files ``dataset``'s folder must hold (for error messages)."""
    return _KNOWN.get(dataset, ((dataset,), "the dataset's files"))[1]


def _download_hint(dataset: str) -> str:
    from aimc.data.sources import SOURCES  # local import: sources is only needed for the hint

    if dataset not in SOURCES:
        return ""
    sub = _KNOWN.get(dataset, ((dataset,), ""))[0][0]
    return "; " + _DOWNLOAD_HINT.format(name=dataset, sub=sub)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, dataset: str) -> Path:
    """Return the folder that holds ``dataset``'s files.

    Args:
        data_dir: the dataset's own folder (e.g. ``~/data/mnist``), or ``None`` to use
            ``$AIMC_DATA/<dataset>``.
        dataset: dataset name, e.g. ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ``"ptb"``,
            ``"sst2"``. For ``"cifar10"`` the sub-folders ``cifar10`` then ``cifar10_jpeg`` of
            ``$AIMC_DATA`` are tried; unknown names use ``$AIMC_DATA/<dataset>``.

    Returns:
        The existing folder (user and environment variables in it expanded).

    Raises:
        DataError: neither ``data_dir`` nor ``AIMC_DATA`` is given, or the folder does not exist
            or is not a directory. The message names the expected files and where to put them.
    """
    subs, files = _KNOWN.get(dataset, ((dataset,), "the dataset's files"))
    hint = _download_hint(dataset)
    if data_dir is not None:
        path = Path(os.path.expandvars(os.fspath(data_dir))).expanduser()
        if not path.exists():
            raise DataError(f"{dataset}: data directory {path} does not exist; create it and put "
                            f"{files} there{hint}")
        if not path.is_dir():
            raise DataError(f"{dataset}: data_dir {path} is a file, not a directory; pass the "
                            f"folder that holds {files}")
        return path
    root_text = os.environ.get(AIMC_DATA_ENV, "").strip()
    if not root_text:
        raise DataError(
            f"{dataset}: no data directory given. Either pass data_dir=<folder holding {files}>, "
            f"or set the environment variable {AIMC_DATA_ENV} to a root folder with a "
            f"sub-folder {subs[0]!r} holding those files{hint}")
    root = Path(os.path.expandvars(root_text)).expanduser()
    if not root.is_dir():
        raise DataError(f"{dataset}: {AIMC_DATA_ENV}={root_text!r} is not an existing directory; "
                        f"point it at a root folder with a sub-folder {subs[0]!r} holding {files}")
    for sub in subs:
        if (root / sub).is_dir():
            return root / sub
    raise DataError(f"{dataset}: {AIMC_DATA_ENV} is {root} but {root / subs[0]} does not exist; "
                    f"create it and put {files} there, or pass data_dir=...{hint}")


def find_file(folder: Path, candidates: Sequence[str], dataset: str) -> Path:
    """Return the first of ``candidates`` (paths relative to ``folder``) that is a file.

    Raises:
        DataError: none exists; the message names the preferred file, the full path where it
            should go and the accepted alternatives.
    """
    for name in candidates:
        path = folder / name
        if path.is_file():
            return path
    alternatives = ""
    if len(candidates) > 1:
        alternatives = f" (also accepted: {', '.join(candidates[1:])})"
    raise DataError(f"{dataset}: missing file {candidates[0]}{alternatives}; put it at "
                    f"{folder / candidates[0]}{_download_hint(dataset)}")
