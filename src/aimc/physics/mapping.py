"""Weight ↔ conductance mapping on a differential pair (physics.md §1.4).

Weights are first normalised to w ∈ [−1, 1] by their digital scale (see
:mod:`aimc.config.mapping`); then G⁺ = clip(w, 0, 1)·g_max and G⁻ = clip(−w, 0, 1)·g_max, and
w is read back as (G⁺ − G⁻)/g_max. Here conductances are normalised (ĝ = g/g_max).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["weights_to_conductances", "conductances_to_weights"]


def weights_to_conductances(w: Tensor) -> Tensor:
    """Normalised weights (...) → target conductances (2, ...): [ĝ⁺, ĝ⁻]."""
    return torch.stack((w.clamp(0.0, 1.0), (-w).clamp(0.0, 1.0)))


def conductances_to_weights(g: Tensor) -> Tensor:
    """Conductances (2, ...) → normalised weights ĝ⁺ − ĝ⁻ (...)."""
    return g[0] - g[1]
