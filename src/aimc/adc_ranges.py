"""Fixed per-layer ADC gain: set each layer's ADC range once from data.

A chip with a *fixed ADC gain* (AnalogNets, arXiv:2111.06503, physics.md §2.3) has no
dynamic noise or bound management: each layer's ADC converts a fixed analog range
±b_l, chosen once (at calibration) so that the layer's column outputs use the converter's
levels and few saturate. One global range (``presets.analognets(adc_bound=...)``) cannot
suit every layer: with 14 levels (4 bits) on ±10 full-scale units a layer whose outputs
stay within ±1 reads almost only zeros.

:func:`calibrate_adc_ranges` runs the model on calibration batches, takes the ``quantile``
of |y| — the analog column outputs just before the ADC, in full-scale units (1 = all rows
at full input and weight), noise included — per call, averages it over calls and sets
b_l = ``margin`` × that mean in each tile array's config (``forward.adc.bound``; the
number of steps is kept, so the step grows with b_l). The ranges are then constants of the
model: they are saved in its state (the configs), and later training or drift do not move
them (drift shrinks the outputs; global drift compensation rescales them digitally, after
the ADC).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from aimc._batches import check_num_batches, run_eval_batches
from aimc.errors import ConfigError, StateError
from aimc.inference import _require_analog

__all__ = ["calibrate_adc_ranges"]

#: |y| values per call kept for the quantile (a deterministic strided subsample beyond this)
_QUANTILE_SAMPLES = 1 << 20


class _AdcInputQuantiles:
    """Collects the ``quantile`` of |y·unit| of every forward call of one tile array."""

    def __init__(self, quantile: float) -> None:
        self.quantile = quantile
        self.values: list[Tensor] = []

    def add(self, y: Tensor, unit: float) -> None:
        v = y.detach().abs().reshape(-1)
        if v.numel() > _QUANTILE_SAMPLES:
            v = v[:: v.numel() // _QUANTILE_SAMPLES + 1]
        self.values.append(torch.quantile(v.float(), self.quantile) * unit)


def calibrate_adc_ranges(model: nn.Module, batches: Iterable[Any], *,
                         num_batches: int | None = None, quantile: float = 0.999,
                         margin: float = 1.0) -> nn.Module:
    """Set every tile array's ADC range to ``margin`` × the ``quantile`` of its |ADC input|.

    Args:
        model: a converted model (:func:`aimc.convert_to_analog`), programmed or not; its
            input ranges should be set first (:func:`aimc.calibrate_input_ranges`), since
            the ADC input depends on the DAC scaling.
        batches: input tensors or (input, target) pairs; the model runs in eval mode
            (BatchNorm statistics and dropout untouched), noise included.
        num_batches: use at most this many batches (default: all).
        quantile: in [0.5, 1]; 0.999 lets about one output in a thousand saturate.
        margin: factor > 0 on the measured range (headroom, e.g. for drift before
            compensation).

    Returns:
        ``model``, with each tile array's ``config.forward.adc.bound`` replaced (steps kept).
        On error the configs are left as they were.
    """
    if not 0.5 <= quantile <= 1.0:
        raise ConfigError(f"quantile must be in [0.5, 1], got {quantile!r}")
    if not margin > 0:
        raise ConfigError(f"margin must be > 0, got {margin!r}")
    check_num_batches(num_batches)
    layers = _require_analog(model, "calibrate_adc_ranges()")
    arrays = [(layer, tiles) for _, layer in layers for _, tiles, _ in layer.tile_weights()]
    ideal = [n for (n, layer) in layers for _, t, _ in layer.tile_weights()
             if t.config.forward.adc.steps is None]
    if ideal:
        raise ConfigError(f"layers {ideal[:3]} have an ideal ADC (steps=None), so there is no "
                          "range to calibrate; give them a quantising ADC "
                          "(forward.adc = Converter(steps=..., bound=...)) first")
    collectors = []
    for _, tiles in arrays:
        tiles.adc_calibration = _AdcInputQuantiles(quantile)
        collectors.append(tiles.adc_calibration)
    try:
        run_eval_batches(model, batches, num_batches, "calibrate_adc_ranges")
    finally:
        for _, tiles in arrays:
            tiles.adc_calibration = None
    plans = []
    for (layer, tiles), c in zip(arrays, collectors, strict=True):
        if not c.values:
            continue  # this array did not run on these inputs: keep its range
        bound = margin * float(torch.stack(c.values).mean())
        if not bound > 0:
            continue  # all outputs zero: nothing to scale to
        cfg = tiles.config
        new = cfg.replace(forward=cfg.forward.replace(adc=cfg.forward.adc.replace(bound=bound)))
        tiles.check_replacement(new)
        plans.append((layer, tiles, new))
    if not plans:
        raise StateError("no analog layer produced a non-zero output on these batches; "
                         "check that the batches reach the analog layers")
    for layer, tiles, new in plans:
        tiles.replace_config(new)
        layer.analog_config = new
    return model
