"""``AnalogSGD``: a drop-in SGD whose analog weights are updated by device pulses."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from aimc import distributed
from aimc.errors import ConfigError
from aimc.onchip.registry import arrays_of
from aimc.tile.array import TileArray

__all__ = ["AnalogSGD"]


class AnalogSGD(torch.optim.SGD):
    """SGD for models converted with :func:`aimc.convert_to_analog`.

    * Weights of layers whose config has ``on_chip`` set are updated **on chip**: the
      (x, δ) pairs recorded by the backward passes become device pulses according to the
      config's algorithm (in-situ SGD, mixed precision, Tiki-Taka;
      :mod:`aimc.onchip`), and the weight parameter is then set to what the devices hold.
      These weights get no ``.grad``; momentum and weight decay do not apply to them.
    * Every other parameter (biases, digital layers, analog layers trained hardware-aware)
      gets the plain :class:`torch.optim.SGD` step from its ``.grad``.

    Args:
        params: the model's parameters (or parameter groups), as for torch optimizers.
        lr: learning rate η > 0.
        momentum, dampening, weight_decay, nesterov: as :class:`torch.optim.SGD`, for the
            digitally updated parameters only.

    Raises:
        ConfigError: lr ≤ 0, or none of the parameters belongs to an analog layer (convert the
            model first).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.01,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) \
                or lr <= 0:
            raise ConfigError(f"AnalogSGD learning rate must be a finite number > 0, got {lr!r}")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)
        self._warned_grad = False
        found_analog = False
        for group in self.param_groups:
            for p in group["params"]:
                for tiles, rows in arrays_of(p):
                    found_analog = True
                    if tiles.onchip is not None:  # write the weights onto the devices now
                        with torch.no_grad():
                            tiles.onchip.ensure_initialized(p[rows])
        if not found_analog:
            raise ConfigError(
                "AnalogSGD got no weight of an analog layer; convert the model first, e.g. "
                "model = aimc.convert_to_analog(model, aimc.presets.onchip_sgd()), then pass "
                "model.parameters() (for a purely digital model use torch.optim.SGD)")

    def _onchip_params(self) -> Iterable[tuple[dict[str, Any], Tensor, TileArray]]:
        """(group, weight or its row block, tile array) for every on-chip array."""
        for group in self.param_groups:
            for p in group["params"]:
                for tiles, rows in arrays_of(p):
                    if tiles.onchip is not None:
                        yield group, p[rows], tiles

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        """Digital SGD for parameters with ``.grad``; device pulses for on-chip weights."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for _, p, _ in self._onchip_params():
            base = p if p._base is None else p._base
            if base.grad is not None:  # e.g. from a weight regulariser: not a pulse update
                if not self._warned_grad:
                    warnings.warn("AnalogSGD ignores the .grad of on-chip weights (e.g. from a "
                                  "regulariser on layer.weight): they change only by device "
                                  "pulses from the recorded (x, δ)", stacklevel=2)
                    self._warned_grad = True
                base.grad = None
        super().step()
        for group, p, tiles in self._onchip_params():
            lr = group["lr"]
            if isinstance(lr, Tensor):
                lr = float(lr)
            if not lr > 0:
                raise ConfigError(f"AnalogSGD learning rate must be > 0, got {lr} (changed by a "
                                  "scheduler?)")
            assert tiles.onchip is not None
            if distributed.is_enabled():  # every rank applies the global batch's update
                tiles.onchip.replace_records(
                    distributed.gather_onchip_records(tiles.onchip.records))
            tiles.onchip.step(float(lr), p)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the gradients and drop on-chip (x, δ) records not yet applied."""
        super().zero_grad(set_to_none=set_to_none)
        for _, _, tiles in self._onchip_params():
            assert tiles.onchip is not None
            tiles.onchip.clear_records()
