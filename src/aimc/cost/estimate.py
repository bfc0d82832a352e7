"""Energy, latency, area and TOPS/W of a counted run on a layer-serial CiM accelerator.

Energy per inference, per layer l (P read phases, counts from :mod:`aimc.tile.counters`;
energy.md §5.2):

* ``array``      P · V_read² · t_LSB · g_max · (1/Δ_DAC) · Σ |x̂_i|·Σ_j(ĝ⁺+ĝ⁻)_ij
  — the resistive read, exact in the run's inputs and (drifted) conductances;
* ``wordlines``  P · active rows · C_WL · V_dd²  — one PWM pulse per driven row;
* ``bitlines``   P · conversions · C_BL · V_read²;
* ``adc``        P · conversions · E_ADC(b_out)  — the ADC law of the table;
* ``digital``    conversions · (mult + add)  (affine correction: weight scale, drift
  compensation, bias) + tile partial sums · add + outputs · add (activation / requantise),
  all at ``digital_bits``;
* ``sram``       inputs read (rows per vector · vectors · b_in bits) + outputs written
  (outputs · vectors · b_in bits) at the per-bit energy of the activation SRAM;
* ``control``    clock cycles of the schedule · J per cycle;
* ``leakage``    (SRAM + array periphery) static power · latency (or the inference period).

``macro`` = array + wordlines + bitlines + adc + digital; ``system`` = macro + sram + control
+ leakage. TOPS/W = 2 · MACs / energy (1 TOPS/W = 1 operation per pJ), MACs being the
layers' nominal multiply-accumulates (no padding, phases or bit slices).

Not counted: digital layers outside the analog ones (pooling, residual adds, softmax), the
feature extraction (e.g. MFCC), weight programming (one-off; see ``program_pulse``), DRAM
(the layer-serial chip keeps everything on chip).
"""

from __future__ import annotations

import math

from aimc.config.accelerator import LayerSerialAccelerator
from aimc.config.base import check_instance
from aimc.config.cost import CostTable
from aimc.cost.counting import CostCounts, LayerCounts
from aimc.cost.report import MACRO, CostReport, LayerCost
from aimc.cost.schedule import LayerPlacement, mvm_time, place_layer
from aimc.errors import ConfigError

__all__ = ["estimate"]


def estimate(counts: CostCounts, *, table: CostTable | None = None,
             accelerator: LayerSerialAccelerator | None = None,
             inferences: int | None = None) -> CostReport:
    """Turn counted operations into energy, latency, area and TOPS/W per inference.

    Args:
        counts: from :func:`aimc.cost.count_costs`.
        table: per-component costs (default :class:`CostTable`: 14 nm, law B ADC).
        accelerator: the chip (default :class:`LayerSerialAccelerator`: 256×256 arrays,
            sized to the model).
        inferences: how many inferences the counted run made; default the number of samples
            the first analog layer saw (right for feed-forward models; pass it for
            recurrent ones, whose layers run once per time step).

    Returns:
        A :class:`CostReport` (per layer, per component, totals, assumptions).
    """
    table = CostTable() if table is None else table
    acc = LayerSerialAccelerator() if accelerator is None else accelerator
    check_instance("estimate", "table", table, CostTable)
    check_instance("estimate", "accelerator", acc, LayerSerialAccelerator)
    if not isinstance(counts, CostCounts):
        raise ConfigError("estimate needs the CostCounts yielded by aimc.cost.count_costs(model)")
    layers = counts.layers()
    n = layers[0].samples if inferences is None else inferences
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"inferences must be a positive int, got {inferences!r}")
    placements = [place_layer(layer, acc) for layer in layers]
    arrays_needed = sum(p.arrays for p in placements)
    if acc.n_arrays is not None and arrays_needed > acc.n_arrays:
        raise ConfigError(f"the model needs {arrays_needed} arrays of {acc.array_rows}x"
                          f"{acc.array_cols} with weights stationary, the accelerator has "
                          f"{acc.n_arrays}; set LayerSerialAccelerator(n_arrays="
                          f"{arrays_needed}) or None to size it to the model")
    n_arrays = acc.n_arrays or arrays_needed
    sram_needed = max(math.ceil((layer.in_elements + layer.out_elements) * layer.dac_bits / 8)
                      for layer in layers)
    if acc.sram_bytes is not None and sram_needed > acc.sram_bytes:
        raise ConfigError(f"the largest layer needs {sram_needed} bytes of activation SRAM "
                          f"(input + output), the accelerator has {acc.sram_bytes}; set "
                          f"LayerSerialAccelerator(sram_bytes={sram_needed}) or None")
    sram_bytes = acc.sram_bytes or sram_needed
    results = [_layer_cost(layer, p, table, acc, n, sram_bytes)
               for layer, p in zip(layers, placements, strict=True)]
    latency = sum(r.latency for r in results)
    leak_time = latency if acc.inference_period is None else max(acc.inference_period, latency)
    leak_power = (sram_bytes * table.sram.leakage_per_byte
                  + n_arrays * table.periphery_leakage)
    max_adc_bits = max(layer.adc_bits for layer in layers)
    adcs = acc.adcs_per_array or acc.array_cols
    a = table.array
    area = {
        "cells": n_arrays * acc.array_rows * acc.array_cols * 2 * a.cell_area,
        "row drivers": n_arrays * acc.array_rows * a.driver_area,
        "adc": n_arrays * adcs * table.adc.area(max_adc_bits),
        "digital": n_arrays * acc.array_cols * table.digital.area_per_op,
        "sram": sram_bytes * table.sram.area_per_byte,
    }
    return CostReport(layers=tuple(results), inferences=n, latency=latency,
                      leakage=leak_power * leak_time, leakage_power=leak_power,
                      control=latency * table.clock * table.control_per_cycle,
                      n_arrays=n_arrays, sram_bytes=sram_bytes, area=area,
                      assumptions=_assumptions(table, acc, layers))


def _layer_cost(layer: LayerCounts, p: LayerPlacement, table: CostTable,
                acc: LayerSerialAccelerator, n: int, sram_bytes: int) -> LayerCost:
    a, d = table.array, table.digital
    ph = acc.phases
    assert layer.dac.steps is not None
    lsb_per_unit = 1.0 / layer.dac.step_size  # PWM slots per full-scale unit
    b_in, b_out, b_d = layer.dac_bits, layer.adc_bits, table.digital_bits
    conv = layer.conversions / n
    energy = {
        "array": ph * a.v_read**2 * a.t_lsb * layer.g_max * lsb_per_unit * layer.charge / n,
        "wordlines": ph * layer.active_rows / n * a.c_wordline * a.v_dd**2,
        "bitlines": ph * conv * a.c_bitline * a.v_read**2,
        "adc": ph * conv * table.adc.energy(b_out),
        "digital": (conv * (d.mult(b_d) + d.add(b_d)) + layer.partial_sums / n * d.add(b_d)
                    + layer.vectors / n * layer.outputs * d.add(b_in)),
        "sram": (layer.vectors / n * (layer.rows_used + layer.outputs) * b_in
                 * table.sram.per_bit(sram_bytes)),
    }
    assert set(MACRO) <= set(energy)
    latency = layer.vectors / n * mvm_time(layer, p, table, acc)
    return LayerCost(name=layer.name, macs=layer.macs / n, mvms=layer.vectors / n,
                     conversions=conv, arrays=p.arrays, rows=layer.rows, cols=layer.cols,
                     tiles=layer.tiles, dac_bits=b_in, adc_bits=b_out, latency=latency,
                     energy=energy, utilisation=_utilisation(layer, p, acc))


def _utilisation(layer: LayerCounts, p: LayerPlacement, acc: LayerSerialAccelerator) -> float:
    """Useful devices / devices of the arrays the layer occupies (weights per cell)."""
    weights = layer.macs_per_vector
    return weights / (p.arrays * acc.array_rows * acc.array_cols)


def _assumptions(table: CostTable, acc: LayerSerialAccelerator,
                 layers: list[LayerCounts]) -> tuple[str, ...]:
    adc = table.adc
    bits = sorted({layer.adc_bits for layer in layers})
    a = table.array
    adcs = ("one ADC per column" if acc.adcs_per_array is None
            else f"{acc.adcs_per_array} ADCs per array")
    sram = "sized to the model" if acc.sram_bytes is None else f"{acc.sram_bytes} B"
    return (
        f"node 14 nm: Horowitz 2014 (45 nm) x {table.digital.energy_scale:g} "
        "(Stillmaker & Baas 2017, 0.9 V)",
        f"ADC law {type(adc).__name__}: " + ", ".join(
            f"{b} b {adc.energy(b) * 1e12:.3g} pJ / {adc.time(b) * 1e9:.3g} ns" for b in bits),
        f"arrays {acc.array_rows}x{acc.array_cols}, {adcs}, {acc.phases} read phase(s), "
        "block-diagonal packing, weights stationary",
        f"PWM inputs: V_read {a.v_read:g} V, t_LSB {a.t_lsb * 1e9:g} ns; C_WL "
        f"{a.c_wordline * 1e15:g} fF, C_BL {a.c_bitline * 1e15:g} fF, V_dd {a.v_dd:g} V",
        "differential pair: both devices conduct; G from the run's programmed, drifted state",
        f"activation SRAM {sram}; no DRAM (all weights on chip)",
        f"control {table.control_per_cycle * 1e12:g} pJ/cycle at {table.clock / 1e9:g} GHz; "
        f"periphery leakage {table.periphery_leakage * 1e6:g} uW per array",
        "leakage over " + ("the latency (power-gated between inferences)"
                           if acc.inference_period is None
                           else f"the inference period {acc.inference_period:g} s"),
        "not counted: digital layers outside the analog ones, feature extraction, weight "
        "programming (one-off), batch effects (batch 1 schedule)",
    )
