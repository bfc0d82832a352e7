"""A restricted unpickler for the CIFAR-10 python release.

The CIFAR-10 python batches (``data_batch_1`` ... ``test_batch``) are pickles: a dict of bytes
keys holding a uint8 numpy array and lists. A plain :func:`pickle.load` would run whatever
callable a tampered file names (``os.system``, ``eval``...), so we unpickle with
:class:`SafeUnpickler`, whose ``find_class`` only hands out what a numpy array needs to be
rebuilt:

* ``numpy.ndarray`` and ``numpy.dtype`` (the classes);
* ``numpy(._)core.multiarray._reconstruct`` (protocol <= 4 arrays) and
  ``numpy(._)core.numeric._frombuffer`` (protocol 5 arrays), which only allocate an array;
* ``_codecs.encode`` restricted to latin-1 (how Python 3 writes ``bytes`` at protocol 2).

Everything else -- any other module global, including builtins -- raises
:class:`~aimc.errors.DataError`. Containers, strings, bytes and numbers need no global at all.
Object-dtype arrays are rebuilt through this same unpickler, so they cannot smuggle code in
either; the CIFAR reader then refuses them anyway (it wants uint8 data).
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aimc.errors import DataError

__all__ = ["SafeUnpickler", "safe_load"]


def _numpy_core(name: str, attr: str) -> Callable[..., Any]:
    """``numpy._core.<name>.<attr>`` (numpy 2) or ``numpy.core.<name>.<attr>`` (numpy 1)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{name}"), attr)
        except (ImportError, AttributeError):
            continue
    raise DataError(f"this numpy has no {name}.{attr}; cannot rebuild pickled arrays")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if codecs.lookup(encoding).name != "iso8859-1":
        raise DataError(f"pickle asks for _codecs.encode(..., {encoding!r}); only latin-1 "
                        f"(how Python 3 writes bytes) is allowed")
    return codecs.encode(text, "latin-1", errors)


def _allowed() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_core("multiarray", "_reconstruct")
    frombuffer = _numpy_core("numeric", "_frombuffer")
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return table


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the numpy-array globals listed in the module docstring.

    Use with ``encoding="bytes"`` for Python 2 pickles such as the CIFAR-10 batches.
    """

    _ALLOWED: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if SafeUnpickler._ALLOWED is None:
            SafeUnpickler._ALLOWED = _allowed()
        try:
            return SafeUnpickler._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy array reconstruction is "
                f"allowed in dataset pickles") from None


def safe_load(path: Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler` (``encoding="bytes"``).

    Raises:
        DataError: the file cannot be read, is not a valid pickle, or names a forbidden global
            (i.e. it tries to run code); the message names the file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise DataError(f"{path}: not a valid CIFAR-10 python batch ({type(exc).__name__}: "
                        f"{exc}); a tampered or corrupt file? get the official release "
                        f"(aimc.data.download('cifar10', root))") from exc
