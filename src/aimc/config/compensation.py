"""Drift compensation (physics.md §1.5, aihwkit ``inference/compensation/drift.py``).

Right after programming each tile is read with a fixed probe set (one one-hot input per
row, through the full noisy forward pass) and the reference ``ref = mean|Y|`` is stored.
``rows_per_probe = m > 1`` drives m consecutive rows at full scale per probe (⌈rows/m⌉
probes): with a fixed ADC gain at low resolution a single weight (|w| ≤ 1) reads below one
ADC step (4 bit on ±10: Δ = 1.43), so one-hot probes read zeros and α is meaningless; a sum
of m weights (≈ √m larger) spans several steps.
At time t the same probes give ``cur``; the digital output is multiplied by
α = ref / max(cur, 1e-4) (eval mode only).
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, config
from aimc.errors import ConfigError

__all__ = ["DriftCompensation", "NoCompensation", "GlobalCompensation",
           "PerColumnCompensation"]


class DriftCompensation(ConfigBase):
    """Base of drift-compensation schemes."""


@config
class NoCompensation(DriftCompensation):
    """No compensation: α = 1."""


class _Probed(DriftCompensation):
    rows_per_probe: int

    def _validate(self) -> None:
        m = self.rows_per_probe
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError(f"{type(self).__name__}.rows_per_probe must be an int >= 1 "
                              f"(1 = one-hot probes, aihwkit's), got {m!r}")


@config
class GlobalCompensation(_Probed):
    """One α per tile from the mean |output| over all probes and columns (GDC).

    Attributes:
        rows_per_probe: rows driven together per probe (1: one-hot, as aihwkit).
    """

    rows_per_probe: int = 1


@config
class PerColumnCompensation(_Probed):
    """One α per tile column from the mean |output| of that column over the probes.

    Attributes:
        rows_per_probe: rows driven together per probe (1: one-hot, as aihwkit).
    """

    rows_per_probe: int = 1
