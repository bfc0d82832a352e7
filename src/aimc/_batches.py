"""Running a model over calibration batches: eval mode, no gradient, mode restored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from aimc.errors import ConfigError

__all__ = ["check_num_batches", "run_eval_batches"]


def check_num_batches(num_batches: Any) -> None:
    """Raise ConfigError unless ``num_batches`` is None or an int >= 1."""
    if num_batches is not None and (isinstance(num_batches, bool)
                                    or not isinstance(num_batches, int) or num_batches < 1):
        raise ConfigError(f"num_batches must be an int >= 1 or None, got {num_batches!r}")


def run_eval_batches(model: nn.Module, batches: Iterable[Any], num_batches: int | None,
                     what: str) -> int:
    """Run ``model`` on up to ``num_batches`` batches in eval mode without gradient.

    Batches are input tensors, tuples of inputs, or (input, target) pairs (the first element
    is the input). The model's train/eval mode is restored afterwards, also on error.
    Returns the number of batches run; raises ConfigError (naming ``what``) if there was none.
    """
    was_training = model.training
    seen = 0
    try:
        model.eval()
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if num_batches is not None and i >= num_batches:
                    break
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x) if isinstance(x, Tensor) else model(*x)
                seen += 1
    finally:
        model.train(was_training)
    if seen == 0:
        raise ConfigError(f"{what} got no batches; pass an iterable of input tensors or "
                          "(input, target) pairs")
    return seen
