"""Weight → conductance mapping, digital scales and tiling.

A layer's weight matrix W (out × in) is split over tiles of at most ``max_rows`` inputs
(near-equal row blocks); a tile has as many columns as the layer has outputs (no column
limit, as in the standard preset; column splitting is not implemented yet). On each tile,
W is normalised to w ∈ [−1, 1] by a digital scale (per column or per tile), and w = 1 maps
to g_max on a differential pair: G⁺ = max(w, 0)·g_max, G⁻ = max(−w, 0)·g_max (physics.md §1.4,
aihwkit ``SinglePairConductanceConverter``). Partial sums of the row blocks are added in
digital (floating point), after each tile's own ADC.
"""

from __future__ import annotations

from aimc.config.base import ConfigBase, check_instance, check_type, config
from aimc.errors import ConfigError

__all__ = [
    "WeightScaling", "PerColumnScaling", "PerTileScaling", "NoScaling",
    "UnitCell", "DifferentialPair", "TileSplit", "Mapping",
]


class WeightScaling(ConfigBase):
    """How digital weights are normalised onto the conductance range."""


@config
class PerColumnScaling(WeightScaling):
    """Each output column's abs-max weight maps to g_max (aihwkit column-wise ω = 1)."""


@config
class PerTileScaling(WeightScaling):
    """One scale per tile: the tile's abs-max weight maps to g_max."""


@config
class NoScaling(WeightScaling):
    """Weights are used as normalised conductances directly (must lie in [−1, 1])."""


class UnitCell(ConfigBase):
    """How one weight is stored in devices."""


@config
class DifferentialPair(UnitCell):
    """w ∝ G⁺ − G⁻, one device of the pair at 0 after mapping (programming noise on both)."""


@config
class TileSplit(ConfigBase):
    """Physical tile size: at most ``max_rows`` inputs per tile (512 in the standard preset).

    Layers with more inputs are split into near-equal row blocks whose partial outputs are
    summed digitally. There is no column limit (as in the standard preset).
    """

    max_rows: int = 512

    def _validate(self) -> None:
        check_type("TileSplit", "max_rows", self.max_rows, int)
        if self.max_rows < 1:
            raise ConfigError(f"TileSplit.max_rows must be >= 1, got {self.max_rows}")


@config
class Mapping(ConfigBase):
    """Weight mapping settings.

    Attributes:
        weight_scaling: :class:`PerColumnScaling` (standard), :class:`PerTileScaling` or
            :class:`NoScaling`.
        cell: the unit cell; :class:`DifferentialPair`.
        digital_bias: add the bias digitally after the ADC (True in the standard preset;
            False is not supported yet and raises).
        tiles: :class:`TileSplit`.
        learn_out_scaling: learnable per-column digital output scales (HWA training).
    """

    weight_scaling: WeightScaling = PerColumnScaling()
    cell: UnitCell = DifferentialPair()
    digital_bias: bool = True
    tiles: TileSplit = TileSplit()
    learn_out_scaling: bool = False

    def _validate(self) -> None:
        check_instance("Mapping", "weight_scaling", self.weight_scaling, WeightScaling)
        check_instance("Mapping", "cell", self.cell, UnitCell)
        check_instance("Mapping", "tiles", self.tiles, TileSplit)
        check_type("Mapping", "digital_bias", self.digital_bias, bool)
        check_type("Mapping", "learn_out_scaling", self.learn_out_scaling, bool)
        if not self.digital_bias:
            raise ConfigError("Mapping.digital_bias=False (bias stored in the array) is not "
                              "supported yet; use digital_bias=True")
