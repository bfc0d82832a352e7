"""Whole-model transforms: ``convert_to_analog`` and ``convert_to_digital``.

A registry maps torch layer types to analog layers. Conversion walks any nesting of
modules, swaps each convertible layer for its analog twin (digital weights copied), and
leaves everything else untouched. Attention matmuls and softmax stay digital (see
:mod:`aimc.nn.attention`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from aimc.config import AnalogConfig
from aimc.errors import ConfigError, ConversionWarning
from aimc.nn import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogGRU,
    AnalogLinear,
    AnalogLSTM,
    AnalogMultiheadAttention,
    AnalogTransformerEncoderLayer,
)
from aimc.nn.base import AnalogLayerMixin, resolve_config
from aimc.tile.validate import validate_state_dict_hook

__all__ = ["convert_to_analog", "convert_to_digital", "ANALOG_LAYERS", "analog_layers"]

#: torch layer type → analog layer type (exact types; ``nn.Linear`` subclasses such as
#: ``NonDynamicallyQuantizableLinear`` convert as Linear).
ANALOG_LAYERS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: AnalogLinear,
    nn.Conv1d: AnalogConv1d,
    nn.Conv2d: AnalogConv2d,
    nn.LSTM: AnalogLSTM,
    nn.GRU: AnalogGRU,
    nn.MultiheadAttention: AnalogMultiheadAttention,
}

FilterFn = Callable[[nn.Module, str], bool]


def _analog_type(module: nn.Module) -> type[nn.Module] | None:
    if isinstance(module, AnalogLayerMixin):
        return None
    if type(module) in ANALOG_LAYERS:
        return ANALOG_LAYERS[type(module)]
    if isinstance(module, nn.Linear) and type(module).__module__.startswith("torch."):
        return AnalogLinear  # e.g. NonDynamicallyQuantizableLinear inside attention
    return None


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogLayerMixin]]:
    """(name, layer) for every analog layer in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayerMixin)]


def convert_to_analog(model: nn.Module, config: AnalogConfig, *,
                      filter_fn: FilterFn | None = None,
                      overrides: Mapping[str, AnalogConfig] | None = None,
                      inplace: bool = False) -> nn.Module:
    """Swap every Linear/Conv1d/Conv2d/LSTM/GRU/MultiheadAttention for its analog layer.

    Args:
        model: any ``nn.Module`` (the module itself may be a convertible layer).
        config: the analog config for every converted layer (e.g. ``presets.rasch2023()``).
        filter_fn: ``filter_fn(module, name) -> bool``; only modules for which it returns
            True are converted (default: all). ``name`` is the dotted module name.
        overrides: per-layer configs by dotted module name, e.g. ``{"fc3": presets.ideal()}``.
        inplace: modify ``model`` itself instead of a deep copy.

    Returns:
        The converted model. ``nn.TransformerEncoderLayer``s become
        :class:`~aimc.nn.AnalogTransformerEncoderLayer` (no fused fast path) and
        ``nn.TransformerEncoder``s stop converting inputs to nested tensors.

    Warns:
        ConversionWarning: when nothing was converted.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"convert_to_analog expects an nn.Module, got {type(model).__name__}")
    if config is None:
        raise ConfigError("convert_to_analog needs a config, e.g. aimc.presets.rasch2023()")
    config = resolve_config(config)
    overrides = dict(overrides or {})
    names = {n for n, _ in model.named_modules()}
    for key, cfg in overrides.items():
        if key not in names:
            raise ConfigError(f"overrides names module '{key}', which is not in the model; "
                              f"names look like: {', '.join(sorted(n for n in names if n)[:8])}")
        resolve_config(cfg)
    if filter_fn is not None and not callable(filter_fn):
        raise ConfigError("filter_fn must be a callable (module, name) -> bool")
    if not inplace:
        model = copy.deepcopy(model)
    counter = [0]
    actions: list[Callable[[], None]] = []
    # build every analog layer first; modify the model only once nothing can fail any more
    root = _convert(model, "", config, filter_fn, overrides, counter, actions)
    for act in actions:
        act()
    if counter[0] == 0:
        warnings.warn("convert_to_analog converted no layer: the model has no Linear, Conv1d, "
                      "Conv2d, LSTM, GRU or MultiheadAttention (or filter_fn excluded them all)",
                      ConversionWarning, stacklevel=2)
    else:
        root.register_load_state_dict_pre_hook(validate_state_dict_hook)
    return root


def _convert(module: nn.Module, name: str, config: AnalogConfig, filter_fn: FilterFn | None,
             overrides: dict[str, AnalogConfig], counter: list[int],
             actions: list[Callable[[], None]]) -> nn.Module:
    """The converted ``module``; changes to existing modules are deferred into ``actions``."""
    target = _analog_type(module)
    if target is not None and (filter_fn is None or filter_fn(module, name)):
        module = target.from_float(module, overrides.get(name, config))  # type: ignore[attr-defined]
        counter[0] += 1
    elif type(module) is nn.TransformerEncoderLayer:
        actions.append(lambda m=module: setattr(m, "__class__", AnalogTransformerEncoderLayer))
    elif isinstance(module, nn.TransformerEncoder):
        actions.append(lambda m=module: setattr(m, "use_nested_tensor", False))
    for child_name, child in list(module.named_children()):
        full = f"{name}.{child_name}" if name else child_name
        new = _convert(child, full, config, filter_fn, overrides, counter, actions)
        if new is not child:
            actions.append(lambda m=module, n=child_name, c=new: setattr(m, n, c))
    return module


def convert_to_digital(model: nn.Module, *, realistic: bool = False,
                       inplace: bool = False) -> nn.Module:
    """Replace every analog layer by its torch layer.

    Args:
        model: a model converted with :func:`convert_to_analog`.
        realistic: use the weights the programmed hardware holds now (drift, noise, drift
            compensation) instead of the digital weights.
        inplace: modify ``model`` instead of a deep copy.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"convert_to_digital expects an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    return _to_digital(model, realistic)


def _to_digital(module: nn.Module, realistic: bool) -> nn.Module:
    if isinstance(module, AnalogLayerMixin):
        module = module.to_float(realistic=realistic)  # type: ignore[attr-defined]
    elif type(module) is AnalogTransformerEncoderLayer:
        module.__class__ = nn.TransformerEncoderLayer
    for child_name, child in list(module.named_children()):
        new = _to_digital(child, realistic)
        if new is not child:
            setattr(module, child_name, new)
    hooks: Any = module._load_state_dict_pre_hooks
    for key, hook in list(hooks.items()):
        if getattr(hook, "hook", None) is validate_state_dict_hook:
            del hooks[key]
    return module
