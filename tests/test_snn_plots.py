"""Receptive-field grid layout and the trace rule's pair window (golden values)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from aimc.config.snn import DiehlCookSTDP
from aimc.errors import ShapeError
from aimc.plotting.receptive_fields import plot_receptive_fields, receptive_field_grid
from aimc.plotting.stdp_window import rule_window


def test_grid_places_neuron_j_at_row_j_div_cols() -> None:
    """5 neurons of 2×3 images: a 3×3 grid of cells (⌈√5⌉ = 3 columns, 2 rows), neuron 4
    at grid row 1, column 1; empty cells stay 0."""
    w = torch.arange(6 * 5, dtype=torch.float32).reshape(6, 5)
    grid = receptive_field_grid(w, (2, 3))
    assert grid.shape == (4, 9)
    assert torch.equal(grid[2:4, 3:6], w[:, 4].reshape(2, 3))
    assert torch.equal(grid[0:2, 0:3], w[:, 0].reshape(2, 3))
    assert float(grid[2:4, 6:9].abs().sum()) == 0.0
    with pytest.raises(ShapeError, match="pixels"):
        receptive_field_grid(w, (3, 3))


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "rf.png"
    plot_receptive_fields(torch.rand(784, 10), path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rule_window_golden_values() -> None:
    """Δt = +20 ms: ν_post·e^(−1) = 0.01·0.3679; Δt = −20 ms: −ν_pre·e^(−1); Δt = 0: ν_post."""
    p = DiehlCookSTDP()
    got = rule_window(p, torch.tensor([20.0, -20.0, 0.0]))
    want = torch.tensor([0.01 * math.exp(-1), -1e-4 * math.exp(-1), 0.01], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
