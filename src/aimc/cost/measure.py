"""One call: run a programmed model on inputs with counters on and estimate its cost."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from aimc.config.accelerator import LayerSerialAccelerator
from aimc.config.cost import CostTable
from aimc.cost.counting import count_costs
from aimc.cost.estimate import estimate
from aimc.cost.report import CostReport
from aimc.errors import ConfigError

__all__ = ["measure"]


@torch.no_grad()
def measure(model: nn.Module, inputs: Tensor | Iterable[Tensor], *,
            table: CostTable | None = None,
            accelerator: LayerSerialAccelerator | None = None) -> CostReport:
    """Cost per inference of ``model`` (converted and programmed) on ``inputs``.

    ``inputs``: one batch tensor (first dim = samples) or an iterable of batches. The model
    runs in eval mode at its current simulated time (drift lowers the array energy).
    """
    batches = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not batches or not all(isinstance(b, Tensor) and b.dim() >= 1 for b in batches):
        raise ConfigError("measure needs a batch tensor or an iterable of batch tensors")
    was_training = model.training
    model.eval()
    try:
        with count_costs(model) as counts:
            for b in batches:
                model(b)
    finally:
        model.train(was_training)
    return estimate(counts, table=table, accelerator=accelerator,
                    inferences=sum(b.shape[0] for b in batches))
