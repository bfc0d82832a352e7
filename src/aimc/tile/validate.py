"""Validation of a state dict against a model holding tile arrays (before anything loads).

Registered as a ``load_state_dict`` pre-hook on converted models and on every analog layer:
a checkpoint whose tensors have other shapes, or whose tile arrays were saved with another
analog config or tile geometry, raises :class:`~aimc.errors.CheckpointError` and leaves the
model unchanged.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from aimc.errors import CheckpointError
from aimc.tile.array import STATE_BUFFERS, TileArray

__all__ = ["validate_state_dict", "validate_state_dict_hook"]


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
    for name, m in model.named_modules():
        # other stateful parts that validate their own extra state (aimc.onchip.OnChipState)
        if not isinstance(m, TileArray) and callable(getattr(m, "check_extra_state", None)):
            key = prefix + (name + "." if name else "") + "_extra_state"
            if key in state_dict:
                m.check_extra_state(state_dict[key], key)
    for key, value in own.items():
        full = prefix + key
        if full not in state_dict or key.endswith("_extra_state"):
            continue
        in_tile = any(full.startswith(p) for p in tile_prefixes)
        if in_tile and key.rsplit(".", 1)[-1] in STATE_BUFFERS:
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
    """``load_state_dict`` pre-hook: validate keys, shapes and analog configs before any copy.

    torch hands pre-hooks ``strict=True`` whatever the caller asked for, so the caller's
    flag is read from the enclosing ``nn.Module.load_state_dict`` call.
    """
    validate_state_dict(module, state_dict, prefix, strict and _caller_strict())


def _caller_strict() -> bool:
    """The ``strict`` argument of the enclosing ``nn.Module.load_state_dict`` (default True)."""
    frame = sys._getframe(1)
    target = nn.Module.load_state_dict.__code__
    while frame is not None:
        if frame.f_code is target:
            return bool(frame.f_locals.get("strict", True))
        frame = frame.f_back  # type: ignore[assignment]
    return True
