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

from torch import Tensor, nn

from aimc._batches import check_num_batches, run_eval_batches
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
    check_num_batches(num_batches)
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
    try:
        run_eval_batches(model, batches, num_batches, "nonnegative_input_layers")
    finally:
        for h in handles:
            h.remove()
    return [name for name, _ in model.named_modules() if seen.get(name, False)]
