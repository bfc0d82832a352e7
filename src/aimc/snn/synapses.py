"""Synapse arrays: the input → excitatory weights of a spiking network as device state.

A plasticity rule only *requests* changes — a depression of the rows of the inputs that
spiked, a potentiation of the columns of the neurons that spiked, each with a strength in
weight units — and the synapse array decides what its devices do with the request
(:mod:`aimc.snn.stdp`). Every array offers the same five operations to the simulation loop
(:mod:`aimc.snn._presentation`), on arrays of its backend (NumPy views on CPU, torch tensors
elsewhere; :mod:`aimc.snn._backend`):

* ``read_rows(idx)`` → (len(idx), n_out): the weights the spikes of inputs ``idx`` deliver;
* ``read_all()`` → (n_in, n_out);
* ``depress(idx, rows, amount)``: requested decrease ≥ 0 of rows ``idx`` (``amount``
  (len(idx), n_out), or (n_out,) for the same decrease on every row; ``rows`` is what
  ``read_rows(idx)`` returned in this step);
* ``potentiate(cols, amount)``: requested increase ≥ 0 of columns ``cols`` ((n_in, len(cols)));
* ``normalize(norm)``: Diehl & Cook's per-neuron weight normalisation (each column scaled to
  sum to ``norm``), as the array can do it;

plus ``begin(xp)`` / ``end()`` around a presentation, ``weights()`` (a torch tensor, the
weights now) and ``state_dict()`` / ``load_state_dict()``.

:class:`IdealSynapses` applies each request exactly (clipped to [0, w_max], the reference code
of Diehl & Cook): the ideal limit of every device array.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aimc.errors import CheckpointError, ConfigError, ShapeError
from aimc.snn._backend import view

__all__ = ["SynapseArray", "IdealSynapses", "make_synapses"]


class SynapseArray:
    """Base class: shape bookkeeping and the checkpoint checks (module docstring)."""

    kind = "synapses"

    def __init__(self, n_in: int, n_out: int, w_max: float) -> None:
        self.n_in, self.n_out = int(n_in), int(n_out)
        if not w_max > 0:
            raise ConfigError(f"w_max must be > 0, got {w_max!r}")
        self.w_max = float(w_max)
        self._xp: ModuleType = np

    # -------------------------------------------------------------- presentation
    def begin(self, xp: ModuleType) -> None:
        self._xp = xp

    def end(self) -> None:
        pass

    # -------------------------------------------------------------- interface
    def weights(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_rows(self, idx: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_all(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def depress(self, idx: Any, rows: Any, amount: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def potentiate(self, cols: Any, amount: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def normalize(self, norm: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Tensor]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _check_state(self, state: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
        if not isinstance(state, dict):
            raise CheckpointError("a synapse checkpoint is the dict of state_dict()")
        kind = state.get("kind")
        if kind is not None and str(kind) != self.kind:
            raise CheckpointError(f"checkpoint holds {kind} synapses, this network "
                                  f"{self.kind}: load it into a network built with the same "
                                  f"synapse model")
        for key, ref in expected.items():
            got = state.get(key)
            if not isinstance(got, Tensor) or got.shape != ref.shape:
                raise ShapeError(f"checkpoint {key} has shape "
                                 f"{tuple(got.shape) if isinstance(got, Tensor) else None}, "
                                 f"this network {tuple(ref.shape)}: it is from another network")


class IdealSynapses(SynapseArray):
    """Plain weights W ∈ [0, w_max] (n_in, n_out): a request is applied exactly, then clipped
    (``w ← clip(w − d, 0, w_max)``, ``w ← clip(w + p, 0, w_max)``)."""

    kind = "ideal"

    def __init__(self, weights: Tensor, w_max: float) -> None:
        if not isinstance(weights, Tensor) or weights.dim() != 2 or \
                not weights.dtype.is_floating_point:
            raise ShapeError("weights must be a floating (n_in, n_out) tensor")
        super().__init__(weights.shape[0], weights.shape[1], w_max)
        self.w = weights.contiguous()
        self._a: Any = view(self.w, np) if self.w.device.type == "cpu" else self.w

    def begin(self, xp: ModuleType) -> None:
        super().begin(xp)
        self._a = view(self.w, xp)

    def weights(self) -> Tensor:
        return self.w

    def read_rows(self, idx: Any) -> Any:
        return self._a[idx]

    def read_all(self) -> Any:
        return self._a

    def depress(self, idx: Any, rows: Any, amount: Any) -> None:
        self._a[idx] = self._xp.clip(rows - amount, 0.0, self.w_max)

    def potentiate(self, cols: Any, amount: Any) -> None:
        self._a[:, cols] = self._xp.clip(self._a[:, cols] + amount, 0.0, self.w_max)

    def normalize(self, norm: float) -> None:
        sums = self.w.sum(dim=0, keepdim=True).clamp_min(1e-12)
        self.w.mul_(norm / sums).clamp_(0.0, self.w_max)

    def state_dict(self) -> dict[str, Tensor]:
        return {"weights": self.w.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self._check_state(state, {"weights": self.w})
        self.w.copy_(state["weights"].to(self.w))


def make_synapses(kind: str, weights: Tensor, w_max: float, *,
                  generator: torch.Generator | None = None) -> SynapseArray:
    """A synapse array of model ``kind`` holding ``weights`` (n_in, n_out) as its initial
    state: ``"ideal"`` (:class:`IdealSynapses`)."""
    if kind == "ideal":
        return IdealSynapses(weights.clone(), w_max)
    raise ConfigError(f"unknown synapse model {kind!r}; choose from ideal")
