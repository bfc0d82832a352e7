"""Collect operation counts from a simulated run: :func:`count_costs`.

Example::

    with aimc.cost.count_costs(model) as counts:     # model converted and programmed
        for x, _ in loader:
            model(x)
    report = aimc.cost.estimate(counts)               # energy, latency, area, TOPS/W

Counting is off unless this context is active, so the accuracy path pays nothing for it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import nn

from aimc.config.periphery import Converter
from aimc.errors import ConfigError, StateError
from aimc.physics.geometry import ConvGeometry, LinearGeometry
from aimc.tile.array import TileArray
from aimc.tile.counters import TileCounters

__all__ = ["count_costs", "CostCounts", "LayerCounts", "converter_bits"]


def converter_bits(conv: Converter, what: str) -> int:
    """Bits of a uniform converter with ``steps`` steps: ceil(log2(steps + 1)).

    A signed b-bit converter has 2^b − 2 steps (symmetric), an unsigned one 2^b − 1: both b.
    """
    if conv.steps is None:
        raise ConfigError(f"the cost model needs a finite {what} resolution, but the config has "
                          f"{what}=Converter(steps=None); set e.g. Converter(steps=254) (8 bit) "
                          "before counting costs")
    return max(1, math.ceil(math.log2(conv.steps + 1)))


@dataclass(frozen=True)
class LayerCounts:
    """What one analog layer did during the counted run (summed over its tiles).

    Attributes:
        name: module name in the model.
        tiles: K tiles of ``rows`` × ``cols`` (the analog config's tile split).
        tiles_per_group: tiles whose outputs are summed digitally (per conv group).
        rows_used: real (unpadded) rows per input vector, over all tiles.
        outputs: output features (channels) per vector.
        macs_per_vector: the layer's nominal multiply-accumulates per input vector.
        vectors, samples, calls: MVM input vectors per tile, samples, forward calls.
        in_elements, out_elements: per-sample input and output activations.
        input_abs, active_rows, charge: see :class:`aimc.tile.counters.TileCounters`.
        dac, adc: the converters (for bit widths and LSB size); g_max: S.
    """

    name: str
    tiles: int
    rows: int
    cols: int
    tiles_per_group: int
    rows_used: int
    outputs: int
    macs_per_vector: int
    vectors: int
    samples: int
    calls: int
    in_elements: int
    out_elements: int
    input_abs: float
    active_rows: float
    charge: float
    dac: Converter
    adc: Converter
    g_max: float

    @property
    def dac_bits(self) -> int:
        return converter_bits(self.dac, "DAC (forward.dac)")

    @property
    def adc_bits(self) -> int:
        return converter_bits(self.adc, "ADC (forward.adc)")

    @property
    def conversions(self) -> int:
        """ADC conversions: every column of every tile, per vector."""
        return self.vectors * self.tiles * self.cols

    @property
    def partial_sums(self) -> int:
        """Digital additions of tile partial outputs."""
        groups = self.tiles // self.tiles_per_group
        return self.vectors * (self.tiles - groups) * self.cols

    @property
    def macs(self) -> int:
        return self.vectors * self.macs_per_vector


@dataclass
class CostCounts:
    """The counters of every analog layer of one model (filled by :func:`count_costs`)."""

    counters: dict[str, tuple[TileArray, TileCounters]] = field(default_factory=dict)

    def layers(self) -> list[LayerCounts]:
        """One :class:`LayerCounts` per layer that ran at least once, in model order."""
        out = []
        for name, (tiles, c) in self.counters.items():
            if c.calls == 0:
                continue
            assert c.input_abs is not None and c.active_rows is not None
            assert c.charge is not None
            out.append(_layer_counts(name, tiles, c))
        if not out:
            raise StateError("no analog layer ran while costs were counted; run the model on "
                             "inputs inside `with aimc.cost.count_costs(model):`")
        return out


def _layer_counts(name: str, tiles: TileArray, c: TileCounters) -> LayerCounts:
    g = tiles.geometry
    if isinstance(g, LinearGeometry):
        tpg, rows_used, outputs = g.num_tiles, g.in_features, g.out_features
        macs = g.in_features * g.out_features
    else:
        assert isinstance(g, ConvGeometry)
        k = math.prod(g.kernel_size)
        tpg, rows_used, outputs = g.tiles_per_group, g.in_channels * k, g.out_channels
        macs = g.in_g * k * g.out_channels
    io = tiles.config.forward
    assert c.input_abs is not None and c.active_rows is not None and c.charge is not None
    return LayerCounts(
        name=name, tiles=g.num_tiles, rows=g.rows, cols=g.out, tiles_per_group=tpg,
        rows_used=rows_used, outputs=outputs, macs_per_vector=macs, vectors=c.vectors,
        samples=c.samples, calls=c.calls, in_elements=c.in_elements,
        out_elements=c.out_elements, input_abs=float(c.input_abs.sum()),
        active_rows=float(c.active_rows.sum()), charge=float(c.charge.sum()),
        dac=io.dac, adc=io.adc, g_max=float(tiles.config.device.g_max))


def _tile_arrays(model: nn.Module) -> list[tuple[str, TileArray]]:
    found = []
    for name, module in model.named_modules():
        if isinstance(module, TileArray):
            found.append((name.removesuffix(".tiles") or name, module))
    return found


@contextlib.contextmanager
def count_costs(model: nn.Module, *, require_programmed: bool = True,
                resume: CostCounts | None = None) -> Iterator[CostCounts]:
    """Count what every analog layer of ``model`` does inside the ``with`` block.

    Args:
        model: a model converted with :func:`aimc.convert_to_analog`.
        require_programmed: the array energy depends on the programmed (and drifted)
            conductances, so by default every layer must be programmed
            (:func:`aimc.program`). ``False`` counts with the conductances the current
            digital weights map to (e.g. during HWA training).
        resume: the counts of an earlier block on the same model, to add to (e.g. count
            only the evaluation batches of a loop that also does other work).

    Yields:
        :class:`CostCounts`, filled as the model runs; pass it to :func:`aimc.cost.estimate`.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"count_costs needs a torch.nn.Module, got {type(model).__name__}")
    arrays = _tile_arrays(model)
    if not arrays:
        raise StateError("the model has no analog layers, so there is nothing to cost; "
                         "convert it first: model = aimc.convert_to_analog(model, config)")
    if require_programmed:
        missing = [n for n, t in arrays if not t.is_programmed]
        if missing:
            raise StateError(f"layers {missing[:3]} are not programmed; call "
                             "aimc.program(model) first (the array energy depends on the "
                             "programmed conductances), or pass require_programmed=False")
    busy = [n for n, t in arrays if t.counters is not None]
    if busy:
        raise StateError(f"layers {busy[:3]} are already being counted; nested count_costs "
                         "blocks on one model are not supported")
    if resume is not None:
        if not isinstance(resume, CostCounts):
            raise ConfigError(f"resume must be the CostCounts of an earlier count_costs "
                              f"block, got {type(resume).__name__}")
        same = (list(resume.counters) == [n for n, _ in arrays]
                and all(resume.counters[n][0] is t for n, t in arrays))
        if not same:
            raise ConfigError("resume holds the counts of another model; pass the "
                              "CostCounts that count_costs yielded for this model")
    counts = resume if resume is not None else CostCounts()
    for name, tiles in arrays:
        if resume is None:
            counts.counters[name] = (tiles, TileCounters())
        tiles.counters = counts.counters[name][1]
    try:
        yield counts
    finally:
        for _, tiles in arrays:
            tiles.counters = None
