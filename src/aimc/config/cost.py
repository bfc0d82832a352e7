"""Per-component costs (energy, time, area) of a compute-in-memory accelerator.

One cited table for every cost estimate in ``aimc`` (inference in :mod:`aimc.cost`, on-chip
training in :mod:`aimc.onchip.energy`). Every default names its source; the sources and the
reasoning are collected in ``../shared/reference/energy.md`` §3. Energies are in joules,
times in seconds, areas in m² (SI, like the rest of ``aimc``).

Sources:

* **Horowitz 2014** — M. Horowitz, "Computing's energy problem (and what we can do about
  it)", ISSCC 2014, pp. 10–14, doi:10.1109/ISSCC.2014.6757323; 45 nm, 0.9 V.
* **Stillmaker & Baas 2017** — "Scaling equations for the accurate prediction of CMOS device
  performance from 180 nm to 7 nm", Integration 58:74–81. Evaluated 45 → 14 nm at 0.9 V:
  energy × 0.150, area × 0.17 (the values hwcomponents computes from the paper's fits,
  energy.md §1.1).
* **Andrulis 2024** — T. Andrulis et al., "Modeling Analog-Digital-Converter Energy and Area
  for Compute-In-Memory Accelerator Design", arXiv:2404.06553: a fit to Murmann's ADC survey
  (SAR-class, "optimistic"); its values at 14 nm from ``hwcomponents-adc`` 1.0.21
  (energy.md §1.2).
* **HERMES** — R. Khaddam-Aljameh et al., "HERMES-Core — A 1.59-TOPS/mm² PCM on 14-nm CMOS
  In-Memory Compute Core Using 300-ps/LSB Linearized CCO-Based ADCs", IEEE JSSC 57(4),
  2022: 256×256 PCM, 256 CCO ADCs at 4 µm pitch, 10.5 TOPS/W at 8 bit.
* **CACTI 7** — SRAM leakage and area at 14 nm (energy.md §1.4).
"""

from __future__ import annotations

import math

from aimc.config.base import (
    ConfigBase,
    check_instance,
    check_nonnegative,
    check_positive,
    check_type,
    config,
)
from aimc.errors import ConfigError

__all__ = ["DigitalCosts", "SRAMCosts", "ADCLaw", "SARADC", "CountingADC", "ArrayCosts",
           "CostTable", "MIN_BITS", "MAX_BITS", "interpolate_log"]

#: converter resolutions the cost laws are defined for (bits)
MIN_BITS, MAX_BITS = 2, 12


def interpolate_log(x: float, points: tuple[tuple[float, float], ...], *, log_x: bool = True
                    ) -> float:
    """Piecewise log-log (or lin-log) interpolation through ``points`` [(x, y), ...].

    Extrapolates with the end segments' slopes. ``points`` must be sorted by x.
    """
    xs = [math.log(p[0]) if log_x else p[0] for p in points]
    ys = [math.log(p[1]) for p in points]
    u = math.log(x) if log_x else x
    i = 0
    while i < len(xs) - 2 and u > xs[i + 1]:
        i += 1
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    return math.exp(ys[i] + slope * (u - xs[i]))


def _check_bits(owner: str, bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise ConfigError(f"{owner}: bit width must be an int, got {bits!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"{owner}: {bits}-bit converters are outside the supported "
                          f"{MIN_BITS}-{MAX_BITS} bits; use a converter with "
                          f"{MIN_BITS} <= bits <= {MAX_BITS} (Converter(steps=2**bits - 2))")


def _check_points(obj: ConfigBase, name: str) -> None:
    """Validate an ((x, value), ...) table field and store it as nested tuples (JSON gives
    lists)."""
    owner = type(obj).__name__
    points = getattr(obj, name)
    if not isinstance(points, (tuple, list)) or len(points) < 2:
        raise ConfigError(f"{owner}.{name} needs at least two (x, value) points")
    for p in points:
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise ConfigError(f"{owner}.{name}: every entry is an (x, value) pair, got {p!r}")
        for v in p:
            check_type(owner, name, v, (int, float))
            if not v > 0 or math.isinf(v):
                raise ConfigError(f"{owner}.{name}: values must be finite and > 0 (an energy "
                                  f"or size of zero or less is not a cost), got {p!r}")
    if any(a[0] >= b[0] for a, b in zip(points, points[1:], strict=False)):
        raise ConfigError(f"{owner}.{name}: points must be sorted by strictly increasing x")
    object.__setattr__(obj, name, tuple(tuple(p) for p in points))


@config
class DigitalCosts(ConfigBase):
    """Integer digital operations: Horowitz 2014 (45 nm) × a node scaling factor.

    ``add(b)`` and ``mult(b)`` interpolate log-log between the tabulated widths.

    Attributes:
        add_45nm: ((bits, J), ...) integer add: 8 b 0.03 pJ, 16 b 0.05 pJ, 32 b 0.1 pJ.
        mult_45nm: ((bits, J), ...) integer multiply: 8 b 0.2 pJ, 32 b 3.1 pJ.
        fp32_add_45nm, fp32_mult_45nm: 0.9 pJ, 3.7 pJ (FP32 MAC = 4.6 pJ).
        energy_scale: 45 nm → target node factor; 0.150 = 14 nm at 0.9 V (Stillmaker &
            Baas 2017).
        area_per_op: area of the local digital unit per output column (m²); assumption:
            200 µm² per column lane at 14 nm (an 8-16-bit multiply-add lane), UNVERIFIED.
    """

    add_45nm: tuple[tuple[float, float], ...] = ((8, 0.03e-12), (16, 0.05e-12), (32, 0.1e-12))
    mult_45nm: tuple[tuple[float, float], ...] = ((8, 0.2e-12), (32, 3.1e-12))
    fp32_add_45nm: float = 0.9e-12
    fp32_mult_45nm: float = 3.7e-12
    energy_scale: float = 0.150
    area_per_op: float = 200e-12

    def _validate(self) -> None:
        n = "DigitalCosts"
        _check_points(self, "add_45nm")
        _check_points(self, "mult_45nm")
        for f in ("fp32_add_45nm", "fp32_mult_45nm", "energy_scale", "area_per_op"):
            check_positive(n, f, getattr(self, f))

    def add(self, bits: int) -> float:
        """Energy of one b-bit integer add at the target node (J)."""
        return interpolate_log(bits, self.add_45nm) * self.energy_scale

    def mult(self, bits: int) -> float:
        """Energy of one b-bit integer multiply at the target node (J)."""
        return interpolate_log(bits, self.mult_45nm) * self.energy_scale

    @property
    def fp32_mac(self) -> float:
        """FP32 multiply + add at the target node (J)."""
        return (self.fp32_add_45nm + self.fp32_mult_45nm) * self.energy_scale


@config
class SRAMCosts(ConfigBase):
    """On-chip SRAM: energy per bit by array size (Horowitz 2014), leakage and area (CACTI 7).

    Attributes:
        access_64b_45nm: ((size in bytes, J per 64-bit access), ...): 8 KB 10 pJ, 32 KB
            20 pJ, 1 MB 100 pJ (Horowitz 2014; interpolated log-log in size).
        energy_scale: 45 nm → target node (0.150, 14 nm, Stillmaker & Baas 2017).
        leakage_per_byte: W per byte; CACTI 7 at 14 nm, 32 KB: 3.44 µW → 1.05e-10 W/B.
        area_per_byte: m² per byte; CACTI 7 at 14 nm, 32 KB: 16,988 µm² → 0.518 µm²/B.
        dram_per_bit: J per bit for off-chip DRAM (Horowitz: 1.3–2.6 nJ per 64 bit; the
            low end, 20.3 pJ/bit; not scaled with the node, it is I/O dominated).
    """

    access_64b_45nm: tuple[tuple[float, float], ...] = (
        (8 * 1024, 10e-12), (32 * 1024, 20e-12), (1024 * 1024, 100e-12))
    energy_scale: float = 0.150
    leakage_per_byte: float = 3.44e-6 / (32 * 1024)
    area_per_byte: float = 16988e-12 / (32 * 1024)
    dram_per_bit: float = 1.3e-9 / 64

    def _validate(self) -> None:
        n = "SRAMCosts"
        _check_points(self, "access_64b_45nm")
        for f in ("energy_scale", "leakage_per_byte", "area_per_byte", "dram_per_bit"):
            check_positive(n, f, getattr(self, f))

    def per_bit(self, size_bytes: int) -> float:
        """Read or write energy per bit of an SRAM of ``size_bytes`` (J)."""
        return interpolate_log(size_bytes, self.access_64b_45nm) * self.energy_scale / 64


class ADCLaw(ConfigBase):
    """How an ADC's energy per conversion, conversion time and area depend on its bits."""

    def energy(self, bits: int) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def time(self, bits: int) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def area(self, bits: int) -> float:  # pragma: no cover - interface
        raise NotImplementedError


@config
class SARADC(ADCLaw):
    """Law A: SAR-class ADC, the Andrulis 2024 fit to Murmann's survey at 14 nm.

    Energy per conversion (convert + its 20 % leakage share) interpolated log-linear in
    bits between the fit's values: 4 b 0.195 pJ, 6 b 0.225 pJ, 8 b 0.362 pJ, 10 b 0.700 pJ
    (at ≤ 100 MS/s the fit does not depend on the rate); area 597 / 623 / 718 µm² at
    4 / 6 / 8 b (10 MS/s). A SAR ADC needs one cycle per bit: time = bits / ``clock``.
    8 b costs only 1.86× more than 4 b: a technology floor, not the 4^b thermal line.

    Attributes:
        energy_points: ((bits, J), ...), interpolated log-linear in bits.
        area_points: ((bits, m²), ...).
        clock: bit-cycle rate of the SAR loop (Hz); assumption 1 GHz.
    """

    energy_points: tuple[tuple[float, float], ...] = (
        (4, 0.195e-12), (6, 0.225e-12), (8, 0.362e-12), (10, 0.700e-12))
    area_points: tuple[tuple[float, float], ...] = ((4, 597e-12), (6, 623e-12), (8, 718e-12))
    clock: float = 1e9

    def _validate(self) -> None:
        _check_points(self, "energy_points")
        _check_points(self, "area_points")
        check_positive("SARADC", "clock", self.clock)

    def energy(self, bits: int) -> float:
        _check_bits("SARADC", bits)
        return interpolate_log(bits, self.energy_points, log_x=False)

    def time(self, bits: int) -> float:
        _check_bits("SARADC", bits)
        return bits / self.clock

    def area(self, bits: int) -> float:
        _check_bits("SARADC", bits)
        return interpolate_log(bits, self.area_points, log_x=False)


@config
class CountingADC(ADCLaw):
    """Law B: a time-domain (CCO / ramp, counting) ADC, energy and time ∝ 2^bits.

    Anchored on HERMES (IBM 14 nm PCM core): 300 ps per LSB, so a b-bit conversion takes
    2^b × 0.3 ns (77 ns at 8 b). The energy per conversion step is derived from the core's
    measured 10.5 TOPS/W at 8 bit on its 256×256 array: one 8-bit MVM is 2·256² operations
    = 12.48 nJ, i.e. 48.8 pJ per column conversion; ``anchor_share`` of it is attributed to
    the ADC (default 1.0: all of it — an upper bound, since the measured core energy also
    contains the array, drivers and local digital unit, which :mod:`aimc.cost` counts
    separately). E(b) = anchor_share · 48.8 pJ · 2^(b−8). Area: HERMES' 4 µm column pitch ×
    ``length`` (assumption 50 µm).

    Attributes:
        anchor_tops_per_w: measured core efficiency at ``anchor_bits`` (10.5, HERMES).
        anchor_rows: rows per column conversion of the anchor (256).
        anchor_bits: ADC bits of the anchor measurement (8).
        anchor_share: fraction of the anchor's core energy attributed to the ADC (0–1].
        time_per_step: seconds per LSB (3e-10, HERMES).
        pitch, length: ADC footprint (m): 4 µm (HERMES) × 50 µm (assumption).
    """

    anchor_tops_per_w: float = 10.5
    anchor_rows: int = 256
    anchor_bits: int = 8
    anchor_share: float = 1.0
    time_per_step: float = 0.3e-9
    pitch: float = 4e-6
    length: float = 50e-6

    def _validate(self) -> None:
        n = "CountingADC"
        for f in ("anchor_tops_per_w", "time_per_step", "pitch", "length"):
            check_positive(n, f, getattr(self, f))
        check_type(n, "anchor_rows", self.anchor_rows, int)
        if self.anchor_rows < 1:
            raise ConfigError("CountingADC.anchor_rows must be >= 1")
        _check_bits(n, self.anchor_bits)
        check_type(n, "anchor_share", self.anchor_share, (int, float))
        if not 0 < self.anchor_share <= 1:
            raise ConfigError("CountingADC.anchor_share must be in (0, 1]: the fraction of the "
                              "anchor core's measured energy that the ADC accounts for")

    @property
    def energy_per_step(self) -> float:
        """J per conversion step (LSB) derived from the anchor."""
        per_conversion = 2.0 * self.anchor_rows / (self.anchor_tops_per_w * 1e12)
        return self.anchor_share * per_conversion / 2**self.anchor_bits

    def energy(self, bits: int) -> float:
        _check_bits("CountingADC", bits)
        return self.energy_per_step * 2**bits

    def time(self, bits: int) -> float:
        _check_bits("CountingADC", bits)
        return self.time_per_step * 2**bits

    def area(self, bits: int) -> float:
        _check_bits("CountingADC", bits)
        return self.pitch * self.length


@config
class ArrayCosts(ConfigBase):
    """The crossbar and its row drivers (energy.md §3.5).

    Resistive read energy of one MVM with PWM inputs (t_i = |x_i|·t_LSB at V_read), both
    devices of a differential pair conducting:

        E_R = V_read² · t_LSB · Σ_i |x_i| · Σ_j (G⁺_ij + G⁻_ij)

    with |x_i| in LSBs. Capacitive energy: each active row's word line is charged once per
    phase (C_WL·V_dd² per active row), each read column's bit line once (C_BL·V_read²).

    Attributes:
        v_read: read voltage across a device (V); assumption 0.2 V (energy.md §3.5).
        t_lsb: PWM time per input LSB (s); assumption 1 ns.
        v_dd: word-line swing (V); 0.8 V.
        c_wordline, c_bitline: per line (F); assumption 0.2 fF per cell pitch × 256 cells
            ≈ 50 fF each.
        cell_area: one PCM device with its access transistor (m²); assumption 50 F² at
            F = 14 nm (≈ 0.0098 µm²), UNVERIFIED.
        driver_area: one row driver (m²); assumption 20 µm².
    """

    v_read: float = 0.2
    t_lsb: float = 1e-9
    v_dd: float = 0.8
    c_wordline: float = 50e-15
    c_bitline: float = 50e-15
    cell_area: float = 50 * (14e-9) ** 2
    driver_area: float = 20e-12

    def _validate(self) -> None:
        for f in ("v_read", "t_lsb", "v_dd", "cell_area", "driver_area"):
            check_positive("ArrayCosts", f, getattr(self, f))
        for f in ("c_wordline", "c_bitline"):
            check_nonnegative("ArrayCosts", f, getattr(self, f))


@config
class CostTable(ConfigBase):
    """Every per-component cost the cost model multiplies its counts by.

    Attributes:
        digital: integer / floating-point operations (:class:`DigitalCosts`).
        sram: on-chip memory (:class:`SRAMCosts`).
        adc: the ADC law (:class:`SARADC` = law A, :class:`CountingADC` = law B).
        array: crossbar and row drivers (:class:`ArrayCosts`).
        digital_bits: width of the local digital unit's affine correction and partial sums.
        control_per_cycle: control, clock tree and sequencer (J per clock cycle of the
            schedule); assumption 0.5 pJ at 14 nm, UNVERIFIED.
        clock: control clock (Hz), 1 GHz (HERMES).
        periphery_leakage: static power of the array periphery per array (W); assumption
            10 µW, UNVERIFIED.
        program_pulse: energy of one PCM programming pulse (J): a documented range
            0.1–30 pJ (Stern 2021 to the Lee 2009 cell, energy.md §3.4); default 5 pJ.
    """

    digital: DigitalCosts = DigitalCosts()
    sram: SRAMCosts = SRAMCosts()
    adc: ADCLaw = CountingADC()
    array: ArrayCosts = ArrayCosts()
    digital_bits: int = 16
    control_per_cycle: float = 0.5e-12
    clock: float = 1e9
    periphery_leakage: float = 10e-6
    program_pulse: float = 5e-12

    def _validate(self) -> None:
        n = "CostTable"
        check_instance(n, "digital", self.digital, DigitalCosts)
        check_instance(n, "sram", self.sram, SRAMCosts)
        check_instance(n, "adc", self.adc, ADCLaw)
        check_instance(n, "array", self.array, ArrayCosts)
        check_type(n, "digital_bits", self.digital_bits, int)
        if not 4 <= self.digital_bits <= 32:
            raise ConfigError("CostTable.digital_bits must be between 4 and 32")
        check_nonnegative(n, "control_per_cycle", self.control_per_cycle)
        check_positive(n, "clock", self.clock)
        check_nonnegative(n, "periphery_leakage", self.periphery_leakage)
        check_positive(n, "program_pulse", self.program_pulse)
