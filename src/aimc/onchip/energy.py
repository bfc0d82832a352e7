"""Training-energy estimate of on-chip (in-memory) training vs a 32-bit digital processor.

Nandakumar et al., arXiv:2001.11773 / Front. Neurosci. 14:406 (2020) report that
mixed-precision training of an MLP on a PCM computational memory is **173×** (arXiv) or
**172×** (journal) more energy-efficient than a dedicated 32-bit digital implementation.
The per-operation energies behind that number are not published in our sources
(``physics.md`` §3.1, §3.4), so every energy here is a parameter of :class:`EnergyModel`
with a cited (or explicitly UNVERIFIED) default, and :func:`estimate_training_energy`
turns the operation counters that every on-chip weight matrix keeps
(``tiles.onchip.counters``, :mod:`aimc.onchip.state`) into energies.

**What is counted** (per on-chip weight matrix of shape out × in, N = out·in weights,
M = MACs per vector = N; for a convolution M = out_channels·(in_channels/groups)·k, one
vector per output position):

In-memory side (``analog``):

* ``forward_mvm`` / ``backward_mvm`` / ``read_mvm``: vectors × M × ``analog_mac`` — the
  crossbar MVMs of the forward pass, the transposed MVMs of the backward pass, and the
  column reads of Tiki-Taka. The default ``analog_mac`` is a *core-level* figure (it
  includes the ADCs, DACs and local digital processing of the measured core);
* ``dac`` / ``adc``: conversions × ``dac_conversion`` / ``adc_conversion``. Forward (and
  read) vectors convert their ``in`` inputs and ``out``·tiles partial sums; backward vectors
  convert ``out``·tiles errors and ``in`` outputs. Both default to 0 because the default
  ``analog_mac`` already contains them — set them (and lower ``analog_mac``) to split;
* ``pulses``: device programming pulses × ``set_pulse``;
* ``refresh``: refreshed weights × (2·devices-per-sign RESETs × ``reset_pulse`` +
  ``refresh_set_pulses`` × ``set_pulse``);
* ``chi_macs``: the digital χ accumulation of mixed precision, counted MACs × (``fp_mult`` +
  ``fp_add``);
* ``chi_memory``: χ read + write per weight per update step (``chi_accesses`` words ×
  ``chi_word``), mixed precision only;
* ``transfer``: the χ → pulse decision, ``transfer_ops`` FP additions (compare, subtract)
  per weight per transfer, mixed precision only.

32-bit digital side (``digital``), the same training — the same number of input and error
vectors through the same weight matrices, and the same number of optimizer steps:

* ``forward_macs``, ``backward_macs``, ``gradient_macs``: vectors × M × (``fp_mult`` +
  ``fp_add``) for the forward pass, the input-gradient (backward) pass and the weight
  gradient (one outer-product MAC per weight per error vector, ``update_vectors``: a first
  layer has weight gradients but no input-gradient MVM);
* ``update``: w ← w − η·g, one multiply and one add per weight per optimizer step;
* ``weight_memory``: ``weight_accesses`` 32-bit words per weight per optimizer step ×
  ``weight_word`` (default 6: read for the forward pass, read for the backward pass, write
  and read of the gradient, read and write of the weight in the update).

Not counted on either side (the same in both, or not modelled): activation functions,
biases, loss, input/activation memory traffic, control, the stochastic pulse-train
generation of in-situ SGD, Tiki-Taka v2's digital buffer H, leakage.

One home for costs: :meth:`EnergyModel.from_table` builds the per-operation energies from
the same cited component table as the inference cost model (:class:`aimc.config.cost.
CostTable`); the defaults below equal that table at 45 nm (Horowitz 2014 unscaled), i.e.
a 14 nm analog core against a 45 nm digital baseline. ``aimc reproduce nandakumar2020``
prices the same run under named assumption sets (``SCENARIOS`` of its report), from
"same node, weights in a 1 MB SRAM" to "weights in DRAM, χ in banked small SRAMs"; the
paper's own accounting is not in our sources (energy.md §5.3, §8).

Example::

    report = aimc.onchip.energy.estimate_training_energy(model)   # after training
    print(report.ratio)           # digital / in-memory energy
    print(report.to_markdown())   # breakdown + assumptions next to the paper's 173×
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from torch import nn

from aimc.config.base import ConfigBase, check_nonnegative, config
from aimc.config.cost import CostTable
from aimc.errors import ConfigError, StateError

__all__ = ["EnergyModel", "EnergyReport", "ArrayCounts", "estimate_training_energy",
           "PAPER_RATIO", "PAPER_RATIO_JOURNAL", "ANALOG_COMPONENTS", "DIGITAL_COMPONENTS"]

#: the paper's energy gain vs 32-bit digital for MLP training (arXiv:2001.11773 abstract)
PAPER_RATIO = 173.0
#: the same number in the journal version (Front. Neurosci. 14:406, 2020)
PAPER_RATIO_JOURNAL = 172.0

#: component keys of the in-memory total, in report order
ANALOG_COMPONENTS = ("forward_mvm", "backward_mvm", "read_mvm", "dac", "adc", "pulses",
                     "refresh", "chi_macs", "chi_memory", "transfer")
#: component keys of the digital total, in report order
DIGITAL_COMPONENTS = ("forward_macs", "backward_macs", "gradient_macs", "update",
                      "weight_memory")

_LABELS = {
    "forward_mvm": "crossbar MVMs, forward",
    "backward_mvm": "crossbar MVMs, backward (transposed)",
    "read_mvm": "crossbar column reads (Tiki-Taka)",
    "dac": "DAC conversions",
    "adc": "ADC conversions",
    "pulses": "device programming pulses",
    "refresh": "refresh (RESET + re-program)",
    "chi_macs": "digital χ accumulation (MACs)",
    "chi_memory": "χ memory (read + write per step)",
    "transfer": "χ → pulse transfer decisions",
    "forward_macs": "forward MACs",
    "backward_macs": "backward (input-gradient) MACs",
    "gradient_macs": "weight-gradient MACs",
    "update": "weight update (mult + add)",
    "weight_memory": "weight / gradient memory traffic",
}

# one MAC = 2 operations in TOPS/W figures
_HERMES_TOPS_PER_W = 10.5


@config
class EnergyModel(ConfigBase):
    """Per-operation energies (joules) and access counts of the training-energy estimate.

    Defaults and their sources (Horowitz = M. Horowitz, "Computing's energy problem (and
    what we can do about it)", ISSCC 2014, pp. 10–14, 45 nm, 0.9 V):

    Attributes:
        analog_mac: energy of one multiply-accumulate in the crossbar, core level.
            Default 2/10.5e12 J ≈ 0.19 pJ: the measured 10.5 TOPS/W of IBM's HERMES PCM
            core (256×256, 14 nm, incl. its 256 CCO ADCs and local digital unit; one MAC
            = 2 operations) — R. Khaddam-Aljameh et al., "HERMES-Core — A 1.59-TOPS/mm²
            PCM on 14-nm CMOS In-Memory Compute Core Using 300-ps/LSB Linearized
            CCO-Based ADCs", IEEE JSSC 57(4):1027–1038, 2022. (The 64-core chip built from
            it reaches 9.76 TOPS/W, 8-bit, one-phase read: Le Gallo et al., Nat. Electron.
            6:680–693, 2023.)
        dac_conversion: energy per DAC conversion (one input element of an MVM). Default
            0: included in ``analog_mac``.
        adc_conversion: energy per ADC conversion (one output element per tile). Default
            0: included in ``analog_mac``.
        set_pulse: energy of one device programming (SET) pulse. Default 5 pJ —
            UNVERIFIED order-of-magnitude estimate I·V·t ≈ 100 µA × 1 V × 50 ns for a
            mushroom PCM SET pulse; not taken from a source we could check.
        reset_pulse: energy of one RESET pulse (refresh). Default 20 pJ — UNVERIFIED
            estimate (≈ 0.3 mA × 1.3 V × 50 ns).
        refresh_set_pulses: SET pulses to re-program one refreshed weight. Default 10 —
            an assumption; by the Nandakumar-2018 model (physics.md §3.3),
            P(G) = 0.027G³ − 0.15G² + 0.81G ≈ 5–20 pulses reach 6–10 µS from RESET.
        fp_mult: 32-bit floating-point multiply, 3.7 pJ (Horowitz).
        fp_add: 32-bit floating-point add, 0.9 pJ (Horowitz).
        weight_word: one 32-bit weight/gradient word access of the digital processor.
            Default 50 pJ: half of Horowitz's 100 pJ per 64-bit access of a 1 MB SRAM
            (a 784-250-10 MLP holds 0.8 MB of FP32 weights). Horowitz gives 1.3–2.6 nJ
            per 64-bit DRAM access for weights off chip.
        chi_word: one 32-bit χ word access of the mixed-precision digital unit. Default
            50 pJ: the same 1 MB SRAM as the digital weights (χ has one entry per weight).
        weight_accesses: 32-bit words moved per weight per optimizer step on the digital
            side (default 6: forward read, backward read, gradient write + read, weight
            read + write).
        chi_accesses: χ words moved per weight per update step (default 2: read + write).
        transfer_ops: FP additions per weight per χ transfer (default 2: compare |χ| with
            ε, subtract n·ε).
    """

    analog_mac: float = 2.0 / (_HERMES_TOPS_PER_W * 1e12)
    dac_conversion: float = 0.0
    adc_conversion: float = 0.0
    set_pulse: float = 5e-12
    reset_pulse: float = 20e-12
    refresh_set_pulses: float = 10.0
    fp_mult: float = 3.7e-12
    fp_add: float = 0.9e-12
    weight_word: float = 50e-12
    chi_word: float = 50e-12
    weight_accesses: float = 6.0
    chi_accesses: float = 2.0
    transfer_ops: float = 2.0

    def _validate(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            check_nonnegative("EnergyModel", f.name, value)
            if math.isinf(value):
                raise ConfigError(f"EnergyModel.{f.name} must be finite, got {value!r}")

    @property
    def fp_mac(self) -> float:
        """One 32-bit FP multiply-accumulate: ``fp_mult`` + ``fp_add``."""
        return self.fp_mult + self.fp_add

    @classmethod
    def from_table(cls, table: CostTable | None = None, *, digital_scaled: bool = True,
                   weights_in: str = "sram", weight_sram_bytes: int = 1 << 20,
                   chi_sram_bytes: int = 1 << 20, chi_bits: int = 32,
                   **overrides: float) -> EnergyModel:
        """Per-operation energies from the shared component table (:mod:`aimc.config.cost`).

        The inference cost model (:mod:`aimc.cost`) and this training estimate then use the
        same numbers: Horowitz 2014 FP32 operations and SRAM per bit by size, scaled to the
        table's node (``digital_scaled=False`` keeps 45 nm, the node mix of a 14 nm analog
        core against a 45 nm digital baseline), DRAM per bit (``weights_in="dram"``), and
        the table's programming-pulse energy. The analog MAC stays the HERMES core figure.

        Args:
            table: the component table (default :class:`CostTable`).
            digital_scaled: apply the table's 45 nm → node energy factor to digital parts.
            weights_in: where the digital baseline's weights live: "sram" or "dram".
            weight_sram_bytes, chi_sram_bytes: SRAM sizes that set the per-bit energy.
            chi_bits: width of a χ word (16 or 32).
            **overrides: any field, set directly.
        """
        table = CostTable() if table is None else table
        if weights_in not in ("sram", "dram"):
            raise ConfigError(f"weights_in must be 'sram' or 'dram', got {weights_in!r}")
        d, m = table.digital, table.sram
        f = d.energy_scale if digital_scaled else 1.0
        per_bit = m.per_bit if digital_scaled else (
            lambda size: m.per_bit(size) / m.energy_scale)
        weight_word = 32 * (m.dram_per_bit if weights_in == "dram"
                            else per_bit(weight_sram_bytes))
        values: dict[str, float] = {
            "fp_mult": d.fp32_mult_45nm * f, "fp_add": d.fp32_add_45nm * f,
            "weight_word": weight_word, "chi_word": chi_bits * per_bit(chi_sram_bytes),
            "set_pulse": table.program_pulse}
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass
class ArrayCounts:
    """The operation counts of one on-chip weight matrix (after optional scaling).

    Attributes:
        name: where the matrix sits (``layer.weight_name``).
        algorithm, cell: the on-chip algorithm and unit-cell names.
        shape: (out, in) of the flattened weight (conv: (out_channels, in_g·k)).
        macs_per_vector: MACs per input (or error) vector.
        weights: number of weights N.
        in_elements, out_elements: DAC inputs and ADC outputs per forward vector.
        devices_per_sign: devices per sign of a differential cell (0: single device).
        transfer_every: optimizer steps between χ transfers (mixed precision), else 0.
        counters: the counters used (``forward_mvms``, ``backward_mvms``, ``read_mvms``,
            ``pulses``, ``digital_macs``, ``update_steps``, ``refreshes``), possibly
            scaled to ``steps``.
    """

    name: str
    algorithm: str
    cell: str
    shape: tuple[int, int]
    macs_per_vector: int
    weights: int
    in_elements: int
    out_elements: int
    devices_per_sign: int
    transfer_every: int
    counters: dict[str, float]


@dataclasses.dataclass
class EnergyReport:
    """The result of :func:`estimate_training_energy`.

    Attributes:
        analog: in-memory energy per component (J), keys :data:`ANALOG_COMPONENTS`.
        digital: 32-bit digital energy per component (J), keys :data:`DIGITAL_COMPONENTS`.
        analog_total, digital_total: the sums (J).
        ratio: ``digital_total / analog_total`` (the paper's "energy efficiency" gain).
        energy: the :class:`EnergyModel` used.
        arrays: the counts per weight matrix.
        steps: the number of optimizer steps the counts were scaled to (None: as counted).
        samples: forward vectors through the first on-chip weight matrix (samples seen,
            times positions for a convolution / time steps for an RNN).
    """

    analog: dict[str, float]
    digital: dict[str, float]
    analog_total: float
    digital_total: float
    ratio: float
    energy: EnergyModel
    arrays: list[ArrayCounts]
    steps: int | None = None
    samples: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable) for ``metrics.json``."""
        return {
            "analog_J": dict(self.analog), "digital_J": dict(self.digital),
            "analog_total_J": self.analog_total, "digital_total_J": self.digital_total,
            "ratio": self.ratio, "paper_ratio": PAPER_RATIO,
            "paper_ratio_journal": PAPER_RATIO_JOURNAL,
            "steps": self.steps, "samples": self.samples,
            "energy_model": self.energy.to_dict(),
            "arrays": [dataclasses.asdict(a) for a in self.arrays],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyReport:
        """Rebuild a report from :meth:`to_dict` output (e.g. read back from JSON)."""
        try:
            energy = EnergyModel.from_dict(data["energy_model"])
            arrays = [ArrayCounts(**{**a, "shape": tuple(a["shape"])}) for a in data["arrays"]]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not an EnergyReport.to_dict() result ({exc!r}); pass the dict "
                              "that to_dict() returned") from exc
        return _report(arrays, energy, data.get("steps"))

    def with_energy(self, energy: EnergyModel) -> EnergyReport:
        """The same operation counts priced with other per-operation energies."""
        if not isinstance(energy, EnergyModel):
            raise ConfigError(f"energy must be an EnergyModel, got {type(energy).__name__}")
        return _report(self.arrays, energy, self.steps)

    def to_markdown(self, *, title: str | None = "Training energy estimate") -> str:
        """A Markdown section: breakdown tables, totals, the ratio next to the paper's 173×,
        and the assumptions behind every number."""
        lines: list[str] = []
        if title:
            lines += [f"### {title}", ""]
        lines += [
            f"**Energy gain vs 32-bit digital: {_fmt_ratio(self.ratio)}** "
            f"(digital {_fmt_j(self.digital_total)} / in-memory {_fmt_j(self.analog_total)}). "
            f"Paper: {PAPER_RATIO:.0f}× (arXiv:2001.11773) / {PAPER_RATIO_JOURNAL:.0f}× "
            "(Front. Neurosci. 14:406) for MLP training; its per-operation energies are not "
            "published in our sources, so the numbers below rest on the assumptions listed "
            "after the tables.", ""]
        algs = sorted({a.algorithm for a in self.arrays})
        lines += [f"Counted: {len(self.arrays)} on-chip weight matrices ({', '.join(algs)}), "
                  f"{_fmt_count(sum(a.weights for a in self.arrays))} weights"
                  + (f", scaled to {self.steps} optimizer steps" if self.steps else "")
                  + ".", ""]
        for side, comps, total in (("In-memory (this run)", self.analog, self.analog_total),
                                   ("32-bit digital, same training", self.digital,
                                    self.digital_total)):
            lines += [f"| {side} | energy | share |", "|---|---:|---:|"]
            for key, value in comps.items():
                share = 100 * value / total if total > 0 else 0.0
                lines.append(f"| {_LABELS.get(key, key)} | {_fmt_j(value)} | {share:.1f} % |")
            lines += [f"| **total** | **{_fmt_j(total)}** | 100 % |", ""]
        c = self.counts()
        lines += ["Operation counts: "
                  f"{_fmt_count(c['forward_vectors'])} forward, "
                  f"{_fmt_count(c['backward_vectors'])} backward and "
                  f"{_fmt_count(c['read_vectors'])} read vectors; "
                  f"{_fmt_count(c['pulses'])} pulses; "
                  f"{_fmt_count(c['digital_macs'])} digital χ MACs; "
                  f"{_fmt_count(c['update_steps'])} update steps (summed over matrices); "
                  f"{_fmt_count(c['refreshes'])} refreshed weights.", ""]
        e = self.energy
        lines += [
            "Assumptions (all configurable in `aimc.onchip.energy.EnergyModel`):", "",
            f"* crossbar MAC {_fmt_j(e.analog_mac)} incl. periphery: measured 10.5 TOPS/W of "
            "the HERMES PCM core, 14 nm (Khaddam-Aljameh et al., IEEE JSSC 57(4), 2022), "
            "1 MAC = 2 ops"
            + ("" if e.dac_conversion == 0 and e.adc_conversion == 0 else
               f"; DAC {_fmt_j(e.dac_conversion)}, ADC {_fmt_j(e.adc_conversion)} per "
               "conversion on top") + ";",
            f"* SET pulse {_fmt_j(e.set_pulse)}, RESET pulse {_fmt_j(e.reset_pulse)}, "
            f"{e.refresh_set_pulses:g} SET pulses to re-program a refreshed weight: "
            "UNVERIFIED order-of-magnitude estimates (I·V·t of a mushroom PCM cell);",
            f"* 32-bit FP multiply {_fmt_j(e.fp_mult)}, add {_fmt_j(e.fp_add)} "
            "(Horowitz, ISSCC 2014, 45 nm);",
            f"* digital weight/gradient word {_fmt_j(e.weight_word)} × "
            f"{e.weight_accesses:g} per weight per step; χ word {_fmt_j(e.chi_word)} × "
            f"{e.chi_accesses:g} per weight per step (Horowitz: 100 pJ per 64-bit access of "
            "a 1 MB SRAM, 10 pJ for 8 kB, 1.3–2.6 nJ for DRAM);",
            f"* {e.transfer_ops:g} FP additions per weight per χ transfer;",
            "* not counted: activations, biases, loss, activation memory traffic, control, "
            "pulse-train generation, leakage; the CMOS nodes differ (45 nm digital vs 14 nm "
            "AIMC core).", ""]
        return "\n".join(lines)

    def counts(self) -> dict[str, float]:
        """Operation counts summed over all matrices."""
        keys = ("forward_vectors", "backward_vectors", "update_vectors", "read_vectors",
                "pulses", "digital_macs", "update_steps", "refreshes")
        src = ("forward_mvms", "backward_mvms", "update_vectors", "read_mvms", "pulses",
               "digital_macs", "update_steps", "refreshes")
        return {k: float(sum(a.counters.get(s, 0) for a in self.arrays))
                for k, s in zip(keys, src, strict=True)}


# --------------------------------------------------------------------------- formatting
def _fmt_j(value: float) -> str:
    if value == 0:
        return "0 J"
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12),
                        ("fJ", 1e-15)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} J"


def _fmt_count(value: float) -> str:
    if value >= 1e6:
        return f"{value:.3g}"
    return f"{value:,.0f}"


def _fmt_ratio(value: float) -> str:
    if not math.isfinite(value):
        return "undefined"
    return f"{value:,.0f}×" if value >= 1000 else f"{value:.3g}×"


# --------------------------------------------------------------------------- counting
def _onchip_arrays(model: nn.Module) -> list[tuple[str, Any]]:
    """(name, tile array) of every on-chip-trained weight matrix in ``model``."""
    from aimc.convert import analog_layers

    out: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for lname, layer in analog_layers(model):
        for wname, tiles, _ in layer.tile_weights():
            if getattr(tiles, "onchip", None) is None or id(tiles) in seen:
                continue
            seen.add(id(tiles))
            out.append((f"{lname}.{wname}" if lname else wname, tiles))
    return out


def _array_counts(name: str, tiles: Any, scale_to: int | None) -> ArrayCounts:
    from aimc.config.onchip import DifferentialCell, MixedPrecision
    from aimc.physics.geometry import ConvGeometry

    state = tiles.onchip
    out_f, in_f = (int(s) for s in state.shape)
    g = state.geometry
    macs = out_f * in_f
    if isinstance(g, ConvGeometry):
        k = math.prod(g.kernel_size)
        in_elements = g.in_channels * k
        out_elements = g.out_channels * g.tiles_per_group
    else:
        in_elements = in_f
        out_elements = out_f * int(getattr(g, "num_tiles", 1))
    cfg = state.cfg
    counters = {k: float(v) for k, v in state.counters.items()}
    if scale_to is not None:
        steps = counters.get("update_steps", 0.0)
        if steps <= 0:
            raise StateError(f"{name}: steps={scale_to} scales the counts per optimizer step, "
                             "but this weight matrix has no update step yet; train at least "
                             "one step with aimc.optim.AnalogSGD, or pass steps=None")
        factor = scale_to / steps
        counters = {k: v * factor for k, v in counters.items()}
    alg = cfg.algorithm
    cell = cfg.cell
    return ArrayCounts(
        name=name, algorithm=type(alg).__name__, cell=f"{type(cell).__name__}"
        f"({type(cell.device).__name__})", shape=(out_f, in_f), macs_per_vector=macs,
        weights=macs, in_elements=in_elements, out_elements=out_elements,
        devices_per_sign=cell.devices_per_sign if isinstance(cell, DifferentialCell) else 0,
        transfer_every=alg.transfer_every if isinstance(alg, MixedPrecision) else 0,
        counters=counters)


def _energies(arrays: list[ArrayCounts], e: EnergyModel) -> tuple[dict[str, float],
                                                                    dict[str, float]]:
    analog = dict.fromkeys(ANALOG_COMPONENTS, 0.0)
    digital = dict.fromkeys(DIGITAL_COMPONENTS, 0.0)
    for a in arrays:
        c = a.counters
        fwd, bwd, rd = c.get("forward_mvms", 0.0), c.get("backward_mvms", 0.0), \
            c.get("read_mvms", 0.0)
        steps = c.get("update_steps", 0.0)
        m = a.macs_per_vector
        analog["forward_mvm"] += fwd * m * e.analog_mac
        analog["backward_mvm"] += bwd * m * e.analog_mac
        analog["read_mvm"] += rd * m * e.analog_mac
        analog["dac"] += ((fwd + rd) * a.in_elements + bwd * a.out_elements) * e.dac_conversion
        analog["adc"] += ((fwd + rd) * a.out_elements + bwd * a.in_elements) * e.adc_conversion
        analog["pulses"] += c.get("pulses", 0.0) * e.set_pulse
        resets = 2 * max(a.devices_per_sign, 1)
        analog["refresh"] += c.get("refreshes", 0.0) * (resets * e.reset_pulse
                                                        + e.refresh_set_pulses * e.set_pulse)
        analog["chi_macs"] += c.get("digital_macs", 0.0) * e.fp_mac
        if a.transfer_every:
            analog["chi_memory"] += steps * a.weights * e.chi_accesses * e.chi_word
            transfers = steps / a.transfer_every
            analog["transfer"] += transfers * a.weights * e.transfer_ops * e.fp_add
        digital["forward_macs"] += fwd * m * e.fp_mac
        digital["backward_macs"] += bwd * m * e.fp_mac
        digital["gradient_macs"] += c.get("update_vectors", bwd) * m * e.fp_mac
        digital["update"] += steps * a.weights * e.fp_mac
        digital["weight_memory"] += steps * a.weights * e.weight_accesses * e.weight_word
    return analog, digital


def estimate_training_energy(model: nn.Module, *, energy: EnergyModel | None = None,
                             steps: int | None = None) -> EnergyReport:
    """Estimate the energy of the on-chip training done so far, and of the same training on
    a 32-bit digital processor.

    Reads the counters of every on-chip-trained weight matrix of ``model`` (layers
    converted with an ``on_chip`` config, e.g. :func:`aimc.presets.onchip_mixed_precision`,
    and trained with :class:`aimc.optim.AnalogSGD`). Layers not trained on chip are not
    counted on either side. See the module docstring for every term.

    Args:
        model: the trained model.
        energy: per-operation energies (default :class:`EnergyModel`\\ ()).
        steps: scale every matrix's counts to this many optimizer steps (per-step averages
            × ``steps``), e.g. to extrapolate a short run to a full training; None uses the
            counts as they are.

    Returns:
        An :class:`EnergyReport` (``ratio`` = digital / in-memory energy).

    Raises:
        ConfigError: ``energy`` is not an :class:`EnergyModel`, ``steps`` is not a positive
            integer, or ``model`` has no on-chip-trained layer (the message names the fix).
        StateError: nothing was trained yet (all counters are zero).
    """
    if energy is None:
        energy = EnergyModel()
    if not isinstance(energy, EnergyModel):
        raise ConfigError(f"energy must be an aimc.onchip.energy.EnergyModel, got "
                          f"{type(energy).__name__}; e.g. energy=EnergyModel(set_pulse=1e-12)")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < 1):
        raise ConfigError(f"steps must be a positive integer (optimizer steps) or None, got "
                          f"{steps!r}")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = _onchip_arrays(model)
    if not found:
        raise ConfigError(
            "the model has no layer trained on chip, so there is nothing to estimate; convert "
            "it with an on-chip config, e.g. model = aimc.convert_to_analog(model, "
            "aimc.presets.onchip_mixed_precision()), and train it with "
            "aimc.optim.AnalogSGD(model.parameters(), lr=...)")
    arrays = [_array_counts(name, tiles, steps) for name, tiles in found]
    if not any(any(v > 0 for v in a.counters.values()) for a in arrays):
        raise StateError("the on-chip layers have not been trained yet (all operation "
                         "counters are 0); run training steps with aimc.optim.AnalogSGD "
                         "(model.train(), loss.backward(), opt.step()) before estimating")
    return _report(arrays, energy, steps)


def _report(arrays: list[ArrayCounts], energy: EnergyModel, steps: int | None) -> EnergyReport:
    analog, digital = _energies(arrays, energy)
    a_tot, d_tot = sum(analog.values()), sum(digital.values())
    ratio = d_tot / a_tot if a_tot > 0 else math.inf
    samples = arrays[0].counters.get("forward_mvms", 0.0) if arrays else 0.0
    return EnergyReport(analog=analog, digital=digital, analog_total=a_tot,
                        digital_total=d_tot, ratio=ratio, energy=energy, arrays=arrays,
                        steps=steps, samples=samples)
