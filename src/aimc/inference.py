"""Inference lifecycle over whole models: program, set the time, calibrate input ranges.

Semantics follow physics.md §1.4: :func:`program` draws programming noise and drift
exponents once; :func:`set_time` / :func:`at_time` compute drift from that programmed state
and draw fresh read noise on every call; drift compensation is re-measured at every time.
Re-program to get an independent programming draw (e.g. per evaluation repeat).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from aimc._batches import run_eval_batches
from aimc.config import AnalogConfig
from aimc.convert import analog_layers
from aimc.errors import ConfigError, StateError
from aimc.tile.array import TileArray, _check_time

__all__ = ["program", "set_time", "at_time", "calibrate_input_ranges", "tile_arrays",
           "set_noise_generator", "replace_config", "store_programmed_state"]


def tile_arrays(model: nn.Module) -> list[TileArray]:
    """Every tile array in ``model``."""
    return [m for m in model.modules() if isinstance(m, TileArray)]


def _require_analog(model: nn.Module, what: str) -> list[Any]:
    layers = analog_layers(model)
    if not layers:
        raise StateError(f"{what}: the model has no analog layers; convert it first with "
                         "aimc.convert_to_analog(model, aimc.presets.rasch2023())")
    return layers


def set_noise_generator(model: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Use ``generator`` for the per-MVM noise (input, read, output noise) of every tile.

    By default that noise comes from torch's global RNG (like dropout), so
    ``torch.manual_seed`` reproduces a forward pass. With a generator, forward passes are
    reproducible independently of other code that uses the global RNG. All tiles share the
    generator and draw in module order. Pass None to go back to the global RNG.
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator or None, got "
                          f"{type(generator).__name__}")
    for a in tile_arrays(model):
        a.noise_generator = generator
    return model


def replace_config(model: nn.Module,
                   config: AnalogConfig | Callable[[AnalogConfig], AnalogConfig]) -> nn.Module:
    """Give every tile array a new analog config of the same structure, in place.

    ``config`` is a config, or a function from each tile's current config to its new one —
    e.g. for a sensitivity sweep::

        aimc.replace_config(model, lambda c: c.replace(forward=c.forward.replace(out_noise=0.08)))

    The layers' ``analog_config`` attributes follow. Every tile is checked before any
    changes (see :meth:`aimc.tile.TileArray.replace_config` for what may change).
    """
    layers = _require_analog(model, "replace_config()")
    plans = []
    for _, layer in layers:
        for _, tiles, _ in layer.tile_weights():
            new = config(tiles.config) if callable(config) else config
            tiles.check_replacement(new)  # every tile is checked before any is changed
            plans.append((layer, tiles, new))
    for layer, tiles, new in plans:
        tiles.replace_config(new)
        layer.analog_config = new
    return model


def program(model: nn.Module, *, generator: torch.Generator | None = None) -> nn.Module:
    """Program every analog layer's digital weights onto its devices (time becomes 0).

    Args:
        model: a converted model.
        generator: RNG for programming noise, drift exponents and the drift-compensation
            reference readout (None: the global RNG).
    """
    for _, layer in _require_analog(model, "program()"):
        layer.program(generator=generator)
    return model


def store_programmed_state(model: nn.Module) -> nn.Module:
    """Keep every programmed tile's devices as tensors (needed only to edit its weights).

    A programmed tile array normally keeps its devices as a recipe — the weight it was
    programmed from and the RNG state of the draws — and redraws them bit-identically when
    needed (:mod:`aimc.tile.programming`), which saves 3× the FP32 weight bytes. Changing
    the digital weights afterwards makes ``set_time`` refuse (the recipe would describe
    other devices); call this first to keep the programmed state through such a change.
    """
    _require_analog(model, "store_programmed_state()")
    for a in tile_arrays(model):
        a.store_programmed_state()
    return model


def set_time(model: nn.Module, t_inference: float, *,
             generator: torch.Generator | None = None) -> nn.Module:
    """Set every analog layer to ``t_inference`` seconds after programming.

    Draws fresh read noise and re-measures drift compensation.

    Raises:
        StateError: if any analog layer was not programmed.
        ConfigError: if ``t_inference`` is negative, infinite or not a number.
    """
    t = _check_time(t_inference)
    layers = _require_analog(model, "set_time()")
    unprogrammed = [n or "<model>" for n, layer in layers if not layer.is_programmed]
    if unprogrammed:
        raise StateError(f"set_time() before program(): layers {unprogrammed[:5]} are not "
                         "programmed; call aimc.program(model) first")
    for _, layer in layers:
        layer.set_time(t, generator=generator)
    return model


@contextlib.contextmanager
def at_time(model: nn.Module, t_inference: float, *,
            generator: torch.Generator | None = None) -> Iterator[nn.Module]:
    """Context manager: the model at ``t_inference`` s; the previous state comes back on exit.

    Example::

        aimc.program(model, generator=g)
        for t in (1.0, 3600.0, 86400.0, 3.15e7):
            with aimc.at_time(model, t, generator=g):
                accuracy = evaluate(model)
    """
    arrays = tile_arrays(model)
    saved = [(a, a.snapshot()) for a in arrays]
    set_time(model, t_inference, generator=generator)
    try:
        yield model
    finally:
        for a, state in saved:
            a.restore(state)


_CALIBRATION_METHODS = ("quantile", "max", "std")


@torch.no_grad()
def calibrate_input_ranges(model: nn.Module, batches: Iterable[Any], *,
                           num_batches: int | None = None, method: str = "quantile",
                           quantile: float = 0.9999) -> nn.Module:
    """Set every tile's input range r from data (for directly mapped FP models).

    Runs the model in eval mode (BatchNorm statistics and dropout untouched) on up to
    ``num_batches`` batches (default: the config's ``init_from_data``) and sets r per tile
    to the mean over batches of

    * ``"quantile"`` (default): the ``quantile`` of |x| — few inputs clip and the DAC
      levels are used well (aihwkit's post-training calibration uses quantiles too);
    * ``"max"``: max |x| (no clipping, coarse levels when inputs have outliers);
    * ``"std"``: ``init_std_alpha``·std(x), the HWA-training initialisation — it clips
      heavy-tailed activations (e.g. after ReLU) noticeably in a model not trained for it.

    Batches may be tensors or (input, target) pairs. On error the ranges are left as they
    were. Later training batches do not move calibrated ranges.
    """
    if method not in _CALIBRATION_METHODS:
        raise ConfigError(f"method must be one of {_CALIBRATION_METHODS}, got {method!r}")
    if not 0.5 <= quantile <= 1.0:
        raise ConfigError(f"quantile must be in [0.5, 1], got {quantile}")
    arrays = [a for a in tile_arrays(model) if a.input_range is not None]
    if not arrays:
        return model
    limit = num_batches if num_batches is not None else max(
        (a.config.input_range.init_from_data for a in arrays if a.config.input_range), default=1)
    if limit < 1:
        raise ConfigError(f"num_batches must be >= 1, got {limit}")
    saved = [(a, a.input_range.detach().clone(), a.input_range_batches.clone()) for a in arrays]
    try:
        for a in arrays:
            a.input_range_batches.zero_()
            a.sync_range_batches()
            a._calibrating = (method, quantile)
        run_eval_batches(model, batches, limit, "calibrate_input_ranges")
    except BaseException:
        for a, r, n in saved:  # a failed calibration leaves the model as it was
            a.input_range.copy_(r)
            a.input_range_batches.copy_(n)
            a.sync_range_batches()
        raise
    finally:
        for a in arrays:
            a._calibrating = None
    for a in arrays:  # freeze: no further updates from training batches
        cfg = a.config.input_range
        if cfg is not None:
            a.input_range_batches.fill_(max(int(a.input_range_batches), cfg.init_from_data))
            a.sync_range_batches()
    return model
