"""Layer-serial schedule: how layers map onto physical arrays, latency and area.

A layer's K tiles (``rows`` × ``cols``) are packed block-diagonally onto arrays of
R × C devices (:class:`aimc.config.accelerator.LayerSerialAccelerator`):

    tiles per array = min(⌊R/rows⌋, ⌊C/cols⌋),  arrays = ⌈K / tiles per array⌉

(a tile wider than C spans ⌈cols/C⌉ arrays that share its inputs). All arrays of a layer
run in the same MVM step; one step takes

    t_MVM = P · (n_LSB · t_LSB + t_ADC(b_out)) · ⌈columns per array / ADCs per array⌉

with n_LSB = bound/Δ_DAC (steps/2 signed, steps unsigned) the PWM length of a full-scale
input. Layers run one after another:
the latency of an inference is Σ_l (vectors_l per inference) · t_MVM,l.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aimc.config.accelerator import LayerSerialAccelerator
from aimc.config.cost import CostTable
from aimc.cost.counting import LayerCounts
from aimc.errors import ConfigError

__all__ = ["LayerPlacement", "place_layer", "mvm_time"]


@dataclass(frozen=True)
class LayerPlacement:
    """Where a layer lives: ``arrays`` arrays, ``columns_per_array`` columns used on each."""

    arrays: int
    columns_per_array: int
    steps_per_mvm: int


def place_layer(layer: LayerCounts, acc: LayerSerialAccelerator) -> LayerPlacement:
    """Pack a layer's tiles onto arrays (see the module docstring)."""
    r, c = acc.array_rows, acc.array_cols
    if layer.rows > r:
        raise ConfigError(
            f"layer {layer.name!r} has tiles of {layer.rows} rows, more than the accelerator's "
            f"{r}-row arrays, so its analog column sums cannot be computed there; convert "
            f"with TileSplit(max_rows={r}) or use LayerSerialAccelerator(array_rows="
            f"{layer.rows})")
    if layer.cols <= c:
        per_array = min(r // layer.rows, c // layer.cols)
        arrays = math.ceil(layer.tiles / per_array)
        cols_used = min(layer.tiles, per_array) * layer.cols
    else:
        arrays = layer.tiles * math.ceil(layer.cols / c)
        cols_used = c
    adcs = acc.adcs_per_array or c
    return LayerPlacement(arrays=arrays, columns_per_array=cols_used,
                          steps_per_mvm=math.ceil(cols_used / adcs))


def mvm_time(layer: LayerCounts, placement: LayerPlacement, table: CostTable,
             acc: LayerSerialAccelerator) -> float:
    """Seconds for one MVM step of ``layer`` (all its arrays in parallel)."""
    assert layer.dac.steps is not None
    n_lsb = layer.dac.bound / layer.dac.step_size  # steps/2 signed, steps unsigned
    t_read = n_lsb * table.array.t_lsb + table.adc.time(layer.adc_bits)
    return acc.phases * t_read * placement.steps_per_mvm
