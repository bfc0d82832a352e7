"""Which layers only ever see non-negative inputs (and so can use an unsigned DAC).

A layer after a ReLU (or a pooling of one) gets inputs x ≥ 0. A signed b-bit DAC spends
half its 2^b − 1 levels on negative values that never come; an unsigned one
(:class:`aimc.config.Converter` with ``signed=False``, 2^b − 1 steps on [0, bound]) gives
such a layer twice the resolution for the same bits — how PWM-input CiM arrays drive
post-ReLU activations (AnalogNets, arXiv:2111.06503: 8/6/4-bit activations; HERMES-class
cores encode the magnitude in the pulse length). Use :func:`nonnegative_input_layers` on
training data, then give those layers an unsigned-DAC config through
``convert_to_analog(..., overrides={name: config})``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from aimc.errors import ConfigError

__all__ = ["nonnegative_input_layers"]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def nonnegative_input_layers(model: nn.Module, batches: Iterable[Any], *,
                             num_batches: int | None = None) -> list[str]:
    """Names of the Linear / Conv1d / Conv2d layers whose input was ≥ 0 on every batch.

    Args:
        model: a digital or converted model (analog Linear/Conv layers are torch
            Linear/Conv subclasses and are checked too); run in eval mode, no gradient.
        batches: input tensors or (input, target) pairs.
        num_batches: use at most this many (default: all).

    Returns:
        Module names in model order (``model.named_modules()``) of layers that ran and saw
        no negative input element; a layer that never ran is not listed.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"nonnegative_input_layers needs a torch.nn.Module, got "
                          f"{type(model).__name__}")
    if num_batches is not None and (isinstance(num_batches, bool)
                                    or not isinstance(num_batches, int) or num_batches < 1):
        raise ConfigError(f"num_batches must be an int >= 1 or None, got {num_batches!r}")
    seen: dict[str, bool] = {}
    handles = []

    def hook(name: str) -> Any:
        def check(_: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0] if args else None
            if isinstance(x, Tensor):
                ok = bool((x.detach() >= 0).all())
                seen[name] = seen.get(name, True) and ok
        return check

    for name, module in model.named_modules():
        if isinstance(module, _LAYERS):
            handles.append(module.register_forward_pre_hook(hook(name)))
    was_training = model.training
    n = 0
    try:
        model.eval()
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if num_batches is not None and i >= num_batches:
                    break
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x) if isinstance(x, Tensor) else model(*x)
                n += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if n == 0:
        raise ConfigError("nonnegative_input_layers got no batches; pass an iterable of "
                          "input tensors or (input, target) pairs")
    return [name for name, _ in model.named_modules() if seen.get(name, False)]
