"""The result of a cost estimate: per layer, per component, totals and assumptions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LayerCost", "CostReport", "MACRO", "SYSTEM_EXTRA", "COMPONENTS"]

#: components of the macro (array + converters + local digital)
MACRO = ("array", "wordlines", "bitlines", "adc", "digital")
#: what the system figure adds to the macro
SYSTEM_EXTRA = ("sram", "control", "leakage")
COMPONENTS = MACRO + SYSTEM_EXTRA


@dataclass(frozen=True)
class LayerCost:
    """One layer, per inference: counts, placement, latency (s) and energies (J)."""

    name: str
    macs: float
    mvms: float
    conversions: float
    arrays: int
    tiles: int
    rows: int
    cols: int
    dac_bits: int
    adc_bits: int
    latency: float
    energy: dict[str, float]
    utilisation: float

    @property
    def total(self) -> float:
        return sum(self.energy.values())


@dataclass(frozen=True)
class CostReport:
    """Energy (J), latency (s) and area (m²) of one inference on the accelerator.

    ``leakage`` and ``control`` belong to the whole schedule, not to a layer.
    """

    layers: tuple[LayerCost, ...]
    inferences: int
    latency: float
    leakage: float
    leakage_power: float
    control: float
    n_arrays: int
    sram_bytes: int
    area: dict[str, float]
    assumptions: tuple[str, ...]

    @property
    def macs(self) -> float:
        """Nominal multiply-accumulates per inference."""
        return sum(layer.macs for layer in self.layers)

    @property
    def breakdown(self) -> dict[str, float]:
        """Energy per inference by component (J)."""
        out = {c: 0.0 for c in COMPONENTS}
        for layer in self.layers:
            for k, v in layer.energy.items():
                out[k] += v
        out["control"] = self.control
        out["leakage"] = self.leakage
        return out

    @property
    def macro_energy(self) -> float:
        b = self.breakdown
        return sum(b[c] for c in MACRO)

    @property
    def system_energy(self) -> float:
        return sum(self.breakdown.values())

    @property
    def macro_tops_per_w(self) -> float:
        """2·MACs / macro energy, in TOPS/W (= operations per pJ)."""
        return 2 * self.macs / self.macro_energy / 1e12

    @property
    def system_tops_per_w(self) -> float:
        return 2 * self.macs / self.system_energy / 1e12

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.latency

    @property
    def area_mm2(self) -> float:
        return sum(self.area.values()) * 1e6

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready), with the derived figures."""
        return {
            "macs": self.macs, "latency_s": self.latency,
            "inferences_per_s": self.inferences_per_s,
            "energy_j": {"macro": self.macro_energy, "system": self.system_energy,
                         "breakdown": self.breakdown},
            "macro_tops_per_w": self.macro_tops_per_w,
            "system_tops_per_w": self.system_tops_per_w,
            "area_mm2": self.area_mm2, "area_m2": dict(self.area),
            "n_arrays": self.n_arrays, "sram_bytes": self.sram_bytes,
            "leakage_power_w": self.leakage_power, "inferences_counted": self.inferences,
            "layers": [asdict(layer) | {"total_j": layer.total} for layer in self.layers],
            "assumptions": list(self.assumptions),
        }

    def to_markdown(self, *, title: str | None = "Cost per inference") -> str:
        """Summary, component breakdown, per-layer table and the assumptions."""
        lines = [f"## {title}", ""] if title else []
        lines += [
            f"- MACs {self.macs:,.0f}; macro **{self.macro_tops_per_w:.3g} TOPS/W**, system "
            f"**{self.system_tops_per_w:.3g} TOPS/W**",
            f"- energy {self.system_energy * 1e9:.4g} nJ (macro {self.macro_energy * 1e9:.4g} "
            f"nJ); latency {self.latency * 1e6:.4g} us ({self.inferences_per_s:,.0f} "
            "inferences/s)",
            f"- {self.n_arrays} arrays, {self.sram_bytes:,} B SRAM, area "
            f"{self.area_mm2:.4g} mm2", "",
            "| component | nJ | share |", "|---|---:|---:|"]
        total = self.system_energy
        for k, v in self.breakdown.items():
            lines.append(f"| {k} | {v * 1e9:.4g} | {100 * v / total:.1f} % |")
        lines += ["", "| layer | tiles (rows x cols) | arrays | util. | MACs | MVMs | "
                  "bits in/out | nJ | us |", "|---|---|---:|---:|---:|---:|---|---:|---:|"]
        for ly in self.layers:
            lines.append(
                f"| {ly.name} | {ly.tiles} ({ly.rows}x{ly.cols}) | {ly.arrays} | "
                f"{100 * ly.utilisation:.1f} % | {ly.macs:,.0f} | {ly.mvms:,.0f} | "
                f"{ly.dac_bits}/{ly.adc_bits} | {ly.total * 1e9:.4g} | "
                f"{ly.latency * 1e6:.4g} |")
        lines += ["", "Assumptions:", ""] + [f"- {a}" for a in self.assumptions]
        return "\n".join(lines) + "\n"
