"""The accelerator a cost estimate runs on: a layer-serial compute-in-memory chip.

Modelled on AON-CiM (Zhou et al., arXiv:2111.06503, physics.md §2.1): one set of PCM arrays
holds every layer's weights (weights stationary, programmed once), layers run one after
another (no inter-layer pipeline), activations live in an on-chip SRAM, nothing goes to
DRAM. The paper does not publish the array size, ADC count, clock or SRAM size (physics.md
§2.2), so each is a field with a documented default; the defaults follow IBM's 14 nm HERMES
PCM core (256×256 devices, one ADC per column, 1 GHz).
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["LayerSerialAccelerator"]


@config
class LayerSerialAccelerator(ConfigBase):
    """Arrays, converters and memory of a layer-serial CiM accelerator.

    A layer's tiles (``rows`` × ``cols`` each, from the analog config's tile split) are
    packed onto physical arrays block-diagonally: tiles of one layer take disjoint rows and
    columns, so they run in the same MVM step. A layer occupies its arrays for all of its
    MVMs; one MVM step takes ``phases`` · (PWM time of the largest input + ADC time), and
    ``ceil(columns per array / adcs_per_array)`` steps when columns share ADCs.

    Attributes:
        array_rows, array_cols: one physical array (256 × 256, HERMES).
        n_arrays: arrays on the chip; None sizes the chip to the model (minimal area). An int
            is checked: a model that needs more arrays is an error.
        adcs_per_array: ADCs per array (columns share them by multiplexing); None = one per
            column (HERMES).
        phases: read phases per MVM (1, 2 or 4; sign handling as in the 64-core chip,
            Le Gallo et al. 2023).
        sram_bytes: activation SRAM; None sizes it to the largest layer's input plus output.
        inference_period: seconds between inferences of an always-on workload; leakage is
            counted over it (not power-gated). None: over the latency only (power-gated).
    """

    array_rows: int = 256
    array_cols: int = 256
    n_arrays: int | None = None
    adcs_per_array: int | None = None
    phases: int = 1
    sram_bytes: int | None = None
    inference_period: float | None = None

    def _validate(self) -> None:
        n = "LayerSerialAccelerator"
        for f in ("array_rows", "array_cols"):
            check_type(n, f, getattr(self, f), int)
            if getattr(self, f) < 1:
                raise ConfigError(f"{n}.{f} must be >= 1")
        for f in ("n_arrays", "adcs_per_array", "sram_bytes"):
            v = getattr(self, f)
            if v is not None:
                check_type(n, f, v, int)
                if v < 1:
                    raise ConfigError(f"{n}.{f} must be >= 1 (or None to size it to the "
                                      "model)")
        if self.adcs_per_array is not None and self.adcs_per_array > self.array_cols:
            raise ConfigError(f"{n}.adcs_per_array ({self.adcs_per_array}) cannot exceed "
                              f"array_cols ({self.array_cols}); use None for one per column")
        check_type(n, "phases", self.phases, int)
        if self.phases not in (1, 2, 4):
            raise ConfigError(f"{n}.phases must be 1, 2 or 4, got {self.phases}")
        if self.inference_period is not None:
            check_positive(n, "inference_period", self.inference_period)
