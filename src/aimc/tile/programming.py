"""Programmed device state kept as a recipe: the source weights and the RNG state of the draws.

A programmed PCM array holds, per device pair, the programmed conductances ĝ⁺, ĝ⁻ and the
drift exponents ν⁺, ν⁻ (physics.md §1.4): stored as tensors that is 2 × float32 + 2 ×
float16 = 3× the bytes of the FP32 weight. All of it is a deterministic function of

* the digital weight that was programmed (target conductances: per-column scale, then the
  differential mapping of :mod:`aimc.physics.mapping`), and
* the state of the random number generator when the programming draws began (programming
  noise first, then ν: :func:`aimc.physics.devices.program_conductances`),

so :class:`ProgrammingRecord` keeps only those — a reference to the weight tensor (no copy:
it shares the layer parameter's storage) and the generator state (≈ 5 kB on CPU, 16 B on
CUDA) — and draws the same numbers again whenever ``set_time`` or a checkpoint needs them.
The redraw runs on the device and in the dtype of the original draw, so it is bit-identical
to the stored tensors it replaces (tested), also after the layer moved to another device.

Changing the digital weight after programming would make the recipe describe devices that
were never programmed, so the record fingerprints the weight (its in-place version counter
and two float64 sums, which also see writes through ``.data``) and
:meth:`ProgrammingRecord.check` refuses a changed one with the fix. Call
:meth:`aimc.tile.array.TileArray.store_programmed_state` before editing the weights of a
programmed layer to keep its devices as tensors instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aimc.errors import StateError

__all__ = ["ProgrammingRecord", "generator_for"]


def generator_for(device: torch.device) -> torch.Generator | None:
    """The global generator that draws for ``device`` (None where torch exposes none)."""
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return None


_CHUNK = 1 << 20  # elements per step of the fingerprint (bounds its temporary memory)


def _fingerprint(w: Tensor) -> Tensor:
    """Two float64 sums of ``w``: Σ w and Σ w·(1 + i mod 1021) over the flat index i.

    Any realistic edit changes one (the second also sees permutations). Computed in chunks
    of 2^20 elements, so its temporaries stay at a few MB for any layer size.
    """
    flat = w.detach().reshape(-1)
    total = torch.zeros(2, dtype=torch.float64, device=flat.device)
    for start in range(0, flat.numel(), _CHUNK):
        part = flat[start:start + _CHUNK].to(torch.float64)
        ramp = torch.arange(start, start + part.numel(), dtype=torch.float64,
                            device=part.device).remainder_(1021.0).add_(1.0)
        total[0] += part.sum()
        total[1] += torch.dot(part, ramp)
    return total.cpu()


@dataclass(frozen=True)
class ProgrammingRecord:
    """What redraws a tile array's programmed devices: source weight + RNG state.

    Attributes:
        source: the digital weight that was programmed (the layer's tensor, not a copy).
        version: ``source._version`` at programming time.
        fingerprint: :func:`_fingerprint` of ``source`` at programming time (CPU, float64).
        rng_state: the generator state before the programming draws (CPU uint8 tensor).
        rng_device: the device of that generator (the draws are redone there).
    """

    source: Tensor
    version: int
    fingerprint: Tensor
    rng_state: Tensor
    rng_device: torch.device

    @staticmethod
    def capture(weight: Tensor, generator: torch.Generator | None) -> ProgrammingRecord | None:
        """The record for programming ``weight`` with draws from ``generator`` (None: the
        global RNG of the weight's device), taken *before* the draws; None where the state
        cannot be captured (no generator object for the device, or an inference-mode
        tensor without a version counter): then the caller stores the tensors."""
        source = weight.detach()
        gen = generator if generator is not None else generator_for(source.device)
        if gen is None:
            return None
        try:
            version = source._version
        except RuntimeError:  # inference tensors track no version
            return None
        return ProgrammingRecord(source=source, version=version,
                                 fingerprint=_fingerprint(source),
                                 rng_state=gen.get_state(), rng_device=gen.device)

    def generator(self) -> torch.Generator:
        """A fresh generator in the captured state (the caller's generator is untouched)."""
        gen = torch.Generator(device=self.rng_device)
        gen.set_state(self.rng_state)
        return gen

    def check(self) -> None:
        """Raise StateError if the source weight changed since programming."""
        changed = self.source._version != self.version or not torch.equal(
            _fingerprint(self.source), self.fingerprint)
        if changed:
            raise StateError(
                "the digital weights of this layer changed after aimc.program(); its "
                "programmed devices are redrawn from the weights they were programmed from, "
                "so program again (aimc.program(model)) after changing the weights, or call "
                "aimc.store_programmed_state(model) before changing them to keep the devices "
                "as tensors")
