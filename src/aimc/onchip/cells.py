"""Unit cells at run time: the devices behind each weight and how pulses reach them.

* single device (:class:`aimc.config.SingleDeviceCell`): w = g; up pulses potentiate and
  down pulses depress the same device;
* differential (:class:`aimc.config.DifferentialCell`): w = Σᵢ g⁺ᵢ − Σᵢ g⁻ᵢ over N devices
  per sign; only SET pulses (up on G⁺ for positive updates, up on G⁻ for negative ones), one
  device per sign selected in turn by a counter that advances every optimizer step
  (Boybat et al., Nat. Commun. 9:2514, 2018), and the refresh of physics.md §3.2.

All counts are applied sparsely: only devices with a non-zero count are touched.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.config.onchip import DifferentialCell, PulsedCell, SingleDeviceCell
from aimc.errors import CheckpointError
from aimc.physics.pulsed import PulsedDeviceArray, make_device_array

__all__ = ["CellArray", "make_cell_array"]


def _pulse_sparse(dev: PulsedDeviceArray, n: Tensor, direction: int,
                  generator: torch.Generator | None) -> int:
    """Apply ``n`` (same shape as the devices, ≥ 0) pulses; returns the total pulse count."""
    flat = n.reshape(-1)
    index = flat.nonzero().squeeze(1)
    if index.numel() == 0:
        return 0
    counts = flat.index_select(0, index)
    dev.pulse(counts, direction, generator, index=index)
    return int(counts.sum())


class CellArray:
    """The devices of one weight matrix (shape ``shape``) in a unit-cell arrangement.

    Attributes:
        cfg: the cell config.
        shape: the weight shape (out, in).
        granularity: the cell's nominal weight change per pulse (ε).
        w_ref: the largest |weight| the cell can hold nominally (normalises the crossbar).
        pulses: total pulses applied so far (for the energy estimate).
    """

    def __init__(self, cfg: PulsedCell, shape: tuple[int, int], *,
                 generator: torch.Generator | None, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32):
        self.cfg = cfg
        self.shape = shape
        if isinstance(cfg, SingleDeviceCell):
            self.devices = [make_device_array(cfg.device, shape, generator=generator,
                                              device=device, dtype=dtype)]
            lo, hi = self.devices[0].nominal_bounds
            self.w_ref = max(abs(lo), abs(hi))
            self.n_per_sign = 0
        elif isinstance(cfg, DifferentialCell):
            n = cfg.devices_per_sign
            self.devices = [make_device_array(cfg.device, shape, generator=generator,
                                              device=device, dtype=dtype) for _ in range(2 * n)]
            self.w_ref = n * max(abs(b) for b in self.devices[0].nominal_bounds)
            self.n_per_sign = n
        else:  # pragma: no cover - configs are validated
            raise TypeError(f"unknown cell {cfg!r}")
        self.granularity = float(self.devices[0].granularity)
        self.pulses = 0
        self.counter = 0

    # ------------------------------------------------------------------ read-out
    @property
    def plus(self) -> list[PulsedDeviceArray]:
        return self.devices[: self.n_per_sign]

    @property
    def minus(self) -> list[PulsedDeviceArray]:
        return self.devices[self.n_per_sign:]

    def weight(self) -> Tensor:
        """The cell weights now (shape ``shape``, weight units)."""
        if not self.n_per_sign:
            return self.devices[0].value.clone()
        w = self.plus[0].value.clone()
        for d in self.plus[1:]:
            w.add_(d.value)
        for d in self.minus:
            w.sub_(d.value)
        return w

    # ------------------------------------------------------------------ writing
    def set_weight(self, target: Tensor, generator: torch.Generator | None) -> None:
        """Write ``target`` directly (initialisation), clipped to what the devices can hold."""
        if not self.n_per_sign:
            self.devices[0].set_value(target)
            return
        everything = torch.ones(self.shape, dtype=torch.bool, device=target.device)
        for d in self.devices:
            d.reset(everything, generator)
        self._write_difference(target, everything)

    def _write_difference(self, target: Tensor, mask: Tensor) -> None:
        """Set the devices of each masked weight's sign so that Σ⁺ − Σ⁻ = target."""
        n = self.n_per_sign
        base_plus = sum(d.value for d in self.plus)
        base_minus = sum(d.value for d in self.minus)
        pos = mask & (target >= 0)
        neg = mask & (target < 0)
        for d in self.plus:
            d.set_value(((target + base_minus) / n), mask=pos)
        for d in self.minus:
            d.set_value(((base_plus - target) / n), mask=neg)

    def apply_counts(self, up: Tensor, down: Tensor, generator: torch.Generator | None) -> None:
        """Apply ``up`` potentiating and ``down`` depressing pulse counts (ints, ``shape``)."""
        if not self.n_per_sign:
            dev = self.devices[0]
            self.pulses += _pulse_sparse(dev, up, +1, generator)
            self.pulses += _pulse_sparse(dev, down, -1, generator)
            return
        c = self.counter % self.n_per_sign
        self.pulses += _pulse_sparse(self.plus[c], up, +1, generator)
        self.pulses += _pulse_sparse(self.minus[c], down, +1, generator)

    def apply_signed(self, n: Tensor, generator: torch.Generator | None) -> None:
        """Apply a signed count per weight: n > 0 up, n < 0 down pulses."""
        self.apply_counts(n.clamp(min=0), (-n).clamp_(min=0), generator)

    def end_step(self, step: int, generator: torch.Generator | None) -> int:
        """Advance the device-selection counter and refresh if due; returns refreshed count."""
        self.counter += 1
        cfg = self.cfg
        if not isinstance(cfg, DifferentialCell) or cfg.refresh_every == 0:
            return 0
        if step % cfg.refresh_every:
            return 0
        return self.refresh(generator)

    def refresh(self, generator: torch.Generator | None) -> int:
        """RESET and re-program the weights whose two sides are both high (physics.md §3.2)."""
        cfg = self.cfg
        assert isinstance(cfg, DifferentialCell)
        n = self.n_per_sign
        g_max = max(self.devices[0].nominal_bounds)
        p = sum(d.value for d in self.plus) / n
        m = sum(d.value for d in self.minus) / n
        hi, lo = torch.maximum(p, m), torch.minimum(p, m)
        mask = (hi > cfg.refresh_upper * g_max) & (lo > cfg.refresh_lower * g_max)
        count = int(mask.sum())
        if not count:
            return 0
        diff = (p - m) * n
        for d in self.devices:
            d.reset(mask, generator)
        base_plus = sum(d.value for d in self.plus)
        base_minus = sum(d.value for d in self.minus)
        pos = mask & (diff >= 0)
        neg = mask & (diff < 0)
        for d in self.plus:
            d.program((diff + base_minus) / n, pos, generator)
        for d in self.minus:
            d.program((base_plus - diff) / n, neg, generator)
        return count

    # ------------------------------------------------------------------ state
    def state_tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, d in enumerate(self.devices):
            for k, v in d.state_tensors().items():
                out[f"dev{i}.{k}"] = v
        return out

    def load_state_tensors(self, state: dict[str, Tensor]) -> None:
        for i, d in enumerate(self.devices):
            prefix = f"dev{i}."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not sub:
                raise CheckpointError(f"the checkpoint has no state for device {i} of this "
                                      f"cell; it was saved with a different unit cell")
            d.load_state_tensors(sub)


def make_cell_array(cfg: PulsedCell, shape: tuple[int, int], *,
                    generator: torch.Generator | None, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> CellArray:
    """Build the run-time devices of a weight matrix (device-to-device draws from
    ``generator``)."""
    return CellArray(cfg, shape, generator=generator, device=device, dtype=dtype)
