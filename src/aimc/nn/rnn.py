"""``AnalogLSTM`` / ``AnalogGRU``: recurrent layers whose weight matrices sit on tiles.

Each layer and direction has two tile arrays, ``ih`` (input → gates) and ``hh`` (hidden →
gates), like torch's ``weight_ih_l{k}`` / ``weight_hh_l{k}``. The input projection of all
time steps runs as one batched MVM; only the recurrence loops over time (it must). Biases
are digital. Gate equations are torch's (see :class:`torch.nn.LSTM`, :class:`torch.nn.GRU`).

Shapes: input (L, N, H_in) (or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in));
output (L, N, D·H_out); states (D·num_layers, N, H_out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from aimc.config import AnalogConfig
from aimc.errors import ConfigError, ShapeError
from aimc.nn.base import AnalogLayerMixin, make_tile_array, resolve_config
from aimc.physics.geometry import LinearGeometry
from aimc.tile.array import TileArray

__all__ = ["AnalogLSTM", "AnalogGRU"]


class _AnalogRNNBase(AnalogLayerMixin):
    """Shared code for analog LSTM/GRU (mixed before the torch RNN class)."""

    _gates: int
    _torch_type: type[nn.RNNBase]

    @staticmethod
    def _constructor_kwargs(module: Any) -> dict[str, Any]:
        kwargs = {"input_size": module.input_size, "hidden_size": module.hidden_size,
                  "num_layers": module.num_layers, "bias": module.bias,
                  "batch_first": module.batch_first, "dropout": module.dropout,
                  "bidirectional": module.bidirectional, "device": module.weight_ih_l0.device,
                  "dtype": module.weight_ih_l0.dtype}
        if getattr(module, "proj_size", 0):
            kwargs["proj_size"] = module.proj_size
        return kwargs

    @classmethod
    def from_float(cls, module: nn.RNNBase, config: AnalogConfig | None = None) -> Any:
        """An analog copy of ``module`` (weights copied, same device, dtype and mode)."""
        new = cls(**cls._constructor_kwargs(module), config=config)
        _copy_rnn_params(module, new)
        return new

    def to_float(self, *, realistic: bool = False) -> nn.RNNBase:
        """The torch RNN with digital (or, ``realistic``, programmed) weights."""
        out = self._torch_type(**self._constructor_kwargs(self))
        _copy_rnn_params(self, out, self.float_weights(realistic=realistic))  # type: ignore[arg-type]
        return out

    def _init_tiles(self, config: AnalogConfig | None) -> None:
        rnn: Any = self
        if getattr(rnn, "proj_size", 0):
            raise ConfigError("AnalogLSTM does not support proj_size > 0 yet; use proj_size=0 "
                              "and an AnalogLinear projection after the LSTM")
        self.analog_config = resolve_config(config)
        max_rows = self.analog_config.mapping.tiles.max_rows
        arrays = {}
        ref = rnn.weight_ih_l0
        for name, weight in self._named_weights():
            out, inp = weight.shape
            arrays[name] = make_tile_array(LinearGeometry(inp, out, max_rows),
                                           self.analog_config, device=ref.device,
                                           dtype=ref.dtype)
        self.tile_arrays = nn.ModuleDict(arrays)
        self._register_checkpoint_validation()

    def _named_weights(self) -> Iterator[tuple[str, Tensor]]:
        rnn: Any = self
        for layer in range(rnn.num_layers):
            for suffix in ("", "_reverse")[: 2 if rnn.bidirectional else 1]:
                for kind in ("ih", "hh"):
                    name = f"weight_{kind}_l{layer}{suffix}"
                    yield name, getattr(rnn, name)

    def tile_weights(self) -> Iterator[tuple[str, TileArray, Tensor]]:
        for name, weight in self._named_weights():
            yield name, self.tile_arrays[name], weight

    def _bias(self, kind: str, layer: int, suffix: str) -> Tensor | None:
        rnn: Any = self
        return getattr(rnn, f"bias_{kind}_l{layer}{suffix}") if rnn.bias else None

    def _project(self, kind: str, layer: int, suffix: str, x: Tensor) -> Tensor:
        name = f"weight_{kind}_l{layer}{suffix}"
        return self.tile_arrays[name](x, getattr(self, name), self._bias(kind, layer, suffix))

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Any]:
        rnn: Any = self
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            raise ShapeError(f"{name} does not take a PackedSequence; pass the padded tensor "
                             "(torch.nn.utils.rnn.pad_packed_sequence) instead")
        self._check_input(input, "input", (2, 3), rnn.input_size, -1)
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if rnn.batch_first
                                                   else input)
        steps, batch = x.shape[0], x.shape[1]
        n_dir = 2 if rnn.bidirectional else 1
        h0, c0 = self._initial_state(hx, batch, unbatched, x)
        h_n, c_n = [], []
        layer_in = x
        for layer in range(rnn.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:n_dir]):
                idx = layer * n_dir + d
                gates_x = self._project("ih", layer, suffix,
                                        layer_in.reshape(steps * batch, -1))
                gates_x = gates_x.view(steps, batch, -1)
                out, h, c = self._run_direction(gates_x, layer, suffix, h0[idx],
                                                None if c0 is None else c0[idx], d == 1)
                outs.append(out)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_in = outs[0] if n_dir == 1 else torch.cat(outs, dim=2)
            if rnn.dropout and self.training and layer < rnn.num_layers - 1:
                layer_in = F.dropout(layer_in, rnn.dropout, True)
        output = layer_in
        h_stack = torch.stack(h_n)
        state: Any = h_stack if not c_n else (h_stack, torch.stack(c_n))
        if unbatched:
            output = output.squeeze(1)
            state = state.squeeze(1) if isinstance(state, Tensor) else tuple(
                s.squeeze(1) for s in state)
        elif rnn.batch_first:
            output = output.transpose(0, 1)
        return output, state

    def _initial_state(self, hx: Any, batch: int, unbatched: bool, x: Tensor
                       ) -> tuple[Tensor, Tensor | None]:
        rnn: Any = self
        n = rnn.num_layers * (2 if rnn.bidirectional else 1)
        shape = (n, batch, rnn.hidden_size)
        is_lstm = self._gates == 4
        if hx is None:
            z = torch.zeros(shape, dtype=x.dtype, device=x.device)
            return z, (z if is_lstm else None)
        states = tuple(hx) if is_lstm else (hx,)
        if is_lstm and len(states) != 2:
            raise ShapeError("AnalogLSTM expects hx=(h_0, c_0)")
        fixed = []
        for s in states:
            if not isinstance(s, Tensor):
                raise ShapeError(f"{type(self).__name__} expects tensor initial states, got "
                                 f"{type(s).__name__}")
            if s.dtype != x.dtype or s.device != x.device:
                raise ShapeError(f"{type(self).__name__} got initial states of {s.dtype} on "
                                 f"{s.device} but input of {x.dtype} on {x.device}; cast with "
                                 "h_0.to(input)")
            s = s.unsqueeze(1) if unbatched else s
            if tuple(s.shape) != shape:
                raise ShapeError(f"{type(self).__name__} expects initial states of shape "
                                 f"{shape}, got {tuple(s.shape)}")
            fixed.append(s)
        return fixed[0], (fixed[1] if is_lstm else None)


class AnalogLSTM(_AnalogRNNBase, nn.LSTM):
    """:class:`torch.nn.LSTM` on analog tiles; same signature plus ``config``."""

    _gates = 4
    _torch_type = nn.LSTM

    def __init__(self, *args: Any, config: AnalogConfig | None = None, **kwargs: Any):
        nn.LSTM.__init__(self, *args, **kwargs)
        self._init_tiles(config)

    def _run_direction(self, gates_x: Tensor, layer: int, suffix: str, h: Tensor,
                       c: Tensor | None, reverse: bool) -> tuple[Tensor, Tensor, Tensor]:
        assert c is not None
        steps = gates_x.shape[0]
        out = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            gates = gates_x[t] + self._project("hh", layer, suffix, h)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out[t] = h
        return torch.stack(out), h, c  # type: ignore[arg-type]


class AnalogGRU(_AnalogRNNBase, nn.GRU):
    """:class:`torch.nn.GRU` on analog tiles; same signature plus ``config``."""

    _gates = 3
    _torch_type = nn.GRU

    def __init__(self, *args: Any, config: AnalogConfig | None = None, **kwargs: Any):
        nn.GRU.__init__(self, *args, **kwargs)
        self._init_tiles(config)

    def _run_direction(self, gates_x: Tensor, layer: int, suffix: str, h: Tensor,
                       c: Tensor | None, reverse: bool) -> tuple[Tensor, Tensor, None]:
        steps = gates_x.shape[0]
        out = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            gh = self._project("hh", layer, suffix, h)
            ir, iz, inn = gates_x[t].chunk(3, dim=1)
            hr, hz, hn = gh.chunk(3, dim=1)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            h = (1 - z) * n + z * h
            out[t] = h
        return torch.stack(out), h, None  # type: ignore[arg-type]


def _copy_rnn_params(src: nn.Module, dst: nn.Module,
                     weights: dict[str, Tensor] | Tensor | None = None) -> None:
    with torch.no_grad():
        for name, p in src.named_parameters(recurse=False):
            value = weights[name] if isinstance(weights, dict) and name in weights else p
            getattr(dst, name).copy_(value)
            getattr(dst, name).requires_grad_(p.requires_grad)
    dst.train(src.training)
