"""``aimc.compile``: ``torch.compile`` with the settings analog models want.

Converted models compile with plain ``torch.compile`` too: the inference forward at any
time after programming and the HWA training forward and backward trace into one graph,
without breaks or recompilation across batches and ``set_time`` calls. (The MVM of an
on-chip-trained layer, whose backward records (x, δ) for the pulsed update, runs as an
eager island inside the compiled model: a side effect of a backward pass cannot live in a
compiled graph.) Two settings make compiled models fast and reproducible, and this wrapper
sets them:

* **eager random numbers** (inductor's ``fallback_random``): the noise is drawn by the
  same ATen kernels as in eager mode, from the global RNG. Inductor's own in-kernel
  generator is slow on CPU (several times the cost of the rest of a small analog layer,
  see ``benchmarks/results/compile_cpu.md``), and its stream differs from eager's. With
  eager random numbers a compiled model, seeded with ``torch.manual_seed``, draws the
  noise the eager model draws when seeded the same way.
* **recurrent layers** (dynamo's ``allow_rnn``): dynamo refuses to trace any subclass of
  ``nn.LSTM``/``nn.GRU``/``nn.RNN`` unless this flag is on, and aimc's analog LSTM and
  GRU subclass them (their forward is aimc's own, not cuDNN's). The flag is global in
  torch; it is switched on only when the model holds such a layer.

What changes under compilation: explicit noise generators (:func:`aimc.set_noise_generator`)
cannot be traced, so compiled code draws the per-MVM noise from the global RNG; the
out-of-place (autograd) formulation of the MVM runs in every mode, equal to the in-place
inference path up to float rounding; iterative bound management runs its maximum number
of masked passes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aimc.errors import ConfigError

__all__ = ["compile"]


def compile(model: nn.Module, *, eager_random: bool = True, **kwargs: Any) -> Any:
    """``torch.compile(model, **kwargs)`` with eager random numbers and RNN tracing.

    Args:
        model: a (converted) model.
        eager_random: draw the noise with ATen's kernels from the global RNG (see the
            module docstring); only with the inductor backend.
        **kwargs: passed to :func:`torch.compile` (``mode``, ``backend``, ``options``,
            ``fullgraph``, ``dynamic``, ...). A ``mode`` is expanded into its inductor
            options so that ``fallback_random`` can be added to them.

    Returns:
        The compiled module (``torch._dynamo.eval_frame.OptimizedModule``).
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"aimc.compile expects an nn.Module, got {type(model).__name__}; "
                          "for a function use torch.compile directly")
    if "mode" in kwargs and "options" in kwargs:
        raise ConfigError("give either mode= or options= (torch.compile takes one of them)")
    backend = kwargs.get("backend", "inductor")
    if eager_random and backend == "inductor":
        options = dict(kwargs.pop("options", None) or {})
        mode = kwargs.pop("mode", None)
        if mode is not None and mode != "default":
            from torch._inductor import list_mode_options

            options = {**list_mode_options(mode), **options}
        options.setdefault("fallback_random", True)
        kwargs["options"] = options
    if _has_analog_rnn(model):
        torch._dynamo.config.allow_rnn = True
    return torch.compile(model, **kwargs)


def _has_analog_rnn(model: nn.Module) -> bool:
    from aimc.nn.rnn import AnalogGRU, AnalogLSTM

    return any(isinstance(m, (AnalogLSTM, AnalogGRU)) for m in model.modules())
