"""Drift compensation (physics.md §1.5, aihwkit ``inference/compensation/drift.py``).

Right after programming each tile is read with a fixed probe set (one one-hot input per
row, through the full noisy forward pass) and the reference ``ref = mean|Y|`` is stored.
At time t the same probes give ``cur``; the digital output is multiplied by
α = ref / max(cur, 1e-4) (eval mode only).
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, config

__all__ = ["DriftCompensation", "NoCompensation", "GlobalCompensation",
           "PerColumnCompensation"]


class DriftCompensation(ConfigBase):
    """Base of drift-compensation schemes."""


@config
class NoCompensation(DriftCompensation):
    """No compensation: α = 1."""


@config
class GlobalCompensation(DriftCompensation):
    """One α per tile from the mean |output| over all probes and columns (GDC)."""


@config
class PerColumnCompensation(DriftCompensation):
    """One α per tile column from the mean |output| of that column over the probes."""
