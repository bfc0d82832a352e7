"""Checkpoints that hold only tensors and plain data, validated before anything loads.

``model.state_dict()`` of a converted model holds the digital weights, the programmed
conductances, drift exponents, current effective weights, drift-compensation state and
simulated time as tensors, plus each tile array's config as plain data (``_extra_state``),
so ``torch.load(path, weights_only=True)`` works and save → load reproduces outputs.

:func:`validate_state_dict_hook` is registered on converted models: it checks a state dict
against the whole model (keys, shapes, analog configs) *before* any tensor is copied, so a
mismatching checkpoint raises :class:`~aimc.errors.CheckpointError` and leaves the model
unchanged.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch
from torch import nn

from aimc.errors import CheckpointError
from aimc.tile.validate import validate_state_dict, validate_state_dict_hook

__all__ = ["save_checkpoint", "load_checkpoint", "validate_state_dict", "validate_state_dict_hook"]


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write ``model.state_dict()`` atomically (temporary file + rename)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str], *,
                    map_location: Any = None, strict: bool = True) -> nn.Module:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, or does not match.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file {path!r} does not exist; check the path")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            OSError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt ({exc}); re-save it "
                              "with aimc.save_checkpoint(model, path)") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path!r} holds a {type(state).__name__}, not a "
                              "state_dict; save with aimc.save_checkpoint(model, path)")
    validate_state_dict(model, state, "", strict)
    model.load_state_dict(state, strict=strict)
    return model
