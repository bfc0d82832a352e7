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
from aimc.tile.array import TileArray

__all__ = ["save_checkpoint", "load_checkpoint", "validate_state_dict", "validate_state_dict_hook"]


def validate_state_dict(model: nn.Module, state_dict: dict[str, Any], prefix: str = "",
                        strict: bool = True) -> None:
    """Raise CheckpointError unless ``state_dict`` fits ``model`` (nothing is modified)."""
    own = model.state_dict(keep_vars=True)
    tile_prefixes = {prefix + n + "." for n, m in model.named_modules() if isinstance(m, TileArray)}
    given = {k for k in state_dict if k.startswith(prefix)}
    if strict:
        missing = sorted(prefix + k for k in own if prefix + k not in state_dict)
        unexpected = sorted(k for k in given if k[len(prefix):] not in own)
        if missing or unexpected:
            raise CheckpointError(
                "checkpoint does not match the model: "
                + (f"missing {missing[:5]}{' …' if len(missing) > 5 else ''} " if missing else "")
                + (f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}"
                   if unexpected else "")
                + "; build the same architecture (and convert it with the same config) before "
                "loading, or pass strict=False")
    for tile_prefix in tile_prefixes:
        module = model.get_submodule(tile_prefix[len(prefix):-1])
        assert isinstance(module, TileArray)
        extra = state_dict.get(tile_prefix + "_extra_state")
        if extra is not None:
            module.check_extra_state(extra, tile_prefix[:-1])
        module.check_state_shapes(state_dict, tile_prefix)
    for key, value in own.items():
        full = prefix + key
        if full not in state_dict or key.endswith("_extra_state"):
            continue
        if any(full.startswith(p) for p in tile_prefixes) and key.rsplit(".", 1)[-1] in (
                "g_programmed", "drift_nu", "weight_scales", "weight_now", "gdc_reference",
                "gdc_alpha"):
            continue  # shape checked above (may be empty before programming)
        got = state_dict[full]
        if not isinstance(got, torch.Tensor):
            raise CheckpointError(f"{full} in the checkpoint is a {type(got).__name__}, "
                                  "expected a tensor; the file is not a model state_dict")
        if tuple(got.shape) != tuple(value.shape):
            raise CheckpointError(f"{full} has shape {tuple(got.shape)} in the checkpoint but "
                                  f"{tuple(value.shape)} in the model; build the same "
                                  "architecture before loading")


def validate_state_dict_hook(module: nn.Module, state_dict: dict[str, Any], prefix: str,
                             local_metadata: Any, strict: bool, missing_keys: list[str],
                             unexpected_keys: list[str], error_msgs: list[str]) -> None:
    """``load_state_dict`` pre-hook: validate everything before the first copy."""
    validate_state_dict(module, state_dict, prefix, strict)


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
