"""Energy, latency, area and TOPS/W of a simulated run (layer 5).

Counts come from the run itself (:func:`count_costs` attaches counters to every tile array);
:func:`estimate` multiplies them by a cited per-component table
(:class:`aimc.config.cost.CostTable`) on a layer-serial accelerator
(:class:`aimc.config.accelerator.LayerSerialAccelerator`). Sources and reasoning:
``../shared/reference/energy.md``.
"""

from aimc.config.accelerator import LayerSerialAccelerator
from aimc.config.cost import SARADC, ArrayCosts, CostTable, CountingADC, DigitalCosts, SRAMCosts
from aimc.cost.counting import CostCounts, LayerCounts, converter_bits, count_costs
from aimc.cost.estimate import estimate
from aimc.cost.measure import measure
from aimc.cost.report import CostReport, LayerCost

__all__ = ["count_costs", "estimate", "measure", "CostCounts", "LayerCounts", "CostReport",
           "LayerCost", "CostTable", "DigitalCosts", "SRAMCosts", "SARADC", "CountingADC",
           "ArrayCosts", "LayerSerialAccelerator", "converter_bits"]
