"""Unit cells at run time: the devices behind each weight and how pulses reach them.

* single device (:class:`aimc.config.SingleDeviceCell`): w = g; up pulses potentiate and
  down pulses depress the same device;
* differential (:class:`aimc.config.DifferentialCell`): w = Σᵢ g⁺ᵢ − Σᵢ g⁻ᵢ over N devices
  per sign; only SET pulses (up on G⁺ for positive updates, up on G⁻ for negative ones), one
  device per sign selected in turn by a counter that advances every optimizer step
  (Boybat et al., Nat. Commun. 9:2514, 2018), and the refresh of physics.md §3.2.

Counts are applied sparsely (only devices with a non-zero count are gathered, advanced
and stored) unless the array is small (≤ :data:`DENSE_BELOW` devices) or more than half
of its devices are pulsed; each device is advanced once by its up (or down) pulses,
and a second time only when it got pulses in both directions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.config.onchip import DifferentialCell, PulsedCell, SingleDeviceCell
from aimc.errors import CheckpointError
from aimc.onchip.pulses import split_by_sign as _split
from aimc.physics._indexing import flat_nonzero
from aimc.physics.pulsed import PulsedDeviceArray, make_device_array

__all__ = ["CellArray", "make_cell_array", "DENSE_BELOW"]

#: single-device arrays with at most this many devices are always updated densely: one pass
#: and no index bookkeeping (on CPU the 10×256 layer of the on-chip benchmark takes the same
#: time either way at batch 64; the dense pass avoids a host sync for the pulsed indices)
DENSE_BELOW = 8192


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
        #: flat indices changed since the last refresh check (None: any may have changed)
        self._dirty: list[Tensor] | None = None

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
        self._dirty = None
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

    def apply_counts(self, up: Tensor, down: Tensor, generator: torch.Generator | None
                     ) -> Tensor | None:
        """Apply ``up`` potentiating and ``down`` depressing pulse counts (ints, ``shape``).

        See :meth:`apply_total_net`; returns the flat indices of the pulsed weights, or None
        when the dense path ran (any weight may have changed).
        """
        return self.apply_total_net(up + down, down - up, generator)

    def apply_total_net(self, total: Tensor, net: Tensor, generator: torch.Generator | None
                        ) -> Tensor | None:
        """Apply pulse counts given as ``total`` = up + down and ``net`` = down − up (ints,
        ``shape``).

        Sparse (only the pulsed devices, total > 0, are touched) unless more than half of
        the devices receive pulses. Returns the flat indices of the pulsed weights, or None
        when the dense path ran (any weight may have changed).
        """
        total_f, net_f = total.reshape(-1), net.reshape(-1)
        if not self.n_per_sign and total_f.numel() <= DENSE_BELOW:
            # a small array: a dense pass costs less than finding the pulsed devices
            self.pulses += int(total_f.sum())
            up, down = _split(total_f.clone(), net_f)
            self.devices[0].pulse_up_down(up, down, generator)
            self._dirty = None
            return None
        index = flat_nonzero(total_f > 0)
        if index.numel() == 0:
            return index
        # a sparse gather costs a few dense passes per touched device; the dense path draws
        # noise for every device: it wins only when most devices are pulsed
        if self.n_per_sign or 2 * index.numel() <= total_f.numel():
            index = index.to(total_f.device)
            t = total_f.index_select(0, index)
            self.pulses += int(t.sum())
            up, down = _split(t, net_f.index_select(0, index))
            return self._apply_at(index, up, down, generator)
        self.pulses += int(total_f.sum())
        up, down = _split(total_f.clone(), net_f)
        self.devices[0].pulse_up_down(up, down, generator)
        self._dirty = None
        return None

    def _mark(self, index: Tensor) -> None:
        """Remember changed weights for the next refresh check (differential cells only)."""
        cfg = self.cfg
        if (self._dirty is None or not isinstance(cfg, DifferentialCell)
                or cfg.refresh_every == 0):
            return
        self._dirty.append(index)
        if sum(t.numel() for t in self._dirty) > self.shape[0] * self.shape[1]:
            self._dirty = None  # cheaper to check everything

    def apply_counts_at(self, index: Tensor, up: Tensor, down: Tensor,
                        generator: torch.Generator | None) -> Tensor:
        """Apply ``up``/``down`` counts (1-D ints ≥ 0) at unique flat ``index``; returns
        ``index``."""
        self.pulses += int(up.sum() + down.sum())
        return self._apply_at(index, up, down, generator)

    def _apply_at(self, index: Tensor, up: Tensor, down: Tensor,
                  generator: torch.Generator | None) -> Tensor:
        if not self.n_per_sign:
            self.devices[0].pulse_up_down(up, down, generator, index=index)
        else:
            c = self.counter % self.n_per_sign
            for dev, n in ((self.plus[c], up), (self.minus[c], down)):
                pulsed = n > 0
                dev.pulse_up_down(n[pulsed], None, generator, index=index[pulsed])
        self._mark(index)
        return index

    def apply_signed_at(self, index: Tensor, n: Tensor, generator: torch.Generator | None
                        ) -> None:
        """Apply signed counts ``n`` (1-D ints; > 0 up, < 0 down) at unique flat ``index``."""
        self.pulses += int(n.abs().sum())
        if self.n_per_sign:
            self._apply_at(index, n.clamp(min=0), n.neg().clamp_(min=0), generator)
        else:
            self.devices[0].pulse_signed(n, generator, index=index)
            self._mark(index)

    def weight_at(self, index: Tensor) -> Tensor:
        """The cell weights at flat ``index`` (1-D)."""
        if not self.n_per_sign:
            return self.devices[0].value.reshape(-1).index_select(0, index)
        w = self.plus[0].value.reshape(-1).index_select(0, index)
        for d in self.plus[1:]:
            w.add_(d.value.reshape(-1).index_select(0, index))
        for d in self.minus:
            w.sub_(d.value.reshape(-1).index_select(0, index))
        return w

    def end_step(self, step: int, generator: torch.Generator | None) -> int:
        """Advance the device-selection counter and refresh if due; returns the number of
        refreshed weights."""
        self.counter += 1
        cfg = self.cfg
        if not isinstance(cfg, DifferentialCell) or cfg.refresh_every == 0:
            return 0
        if step % cfg.refresh_every:
            return 0
        return self.refresh(generator)

    def refresh(self, generator: torch.Generator | None) -> int:
        """RESET and re-program the weights whose two sides are both high (physics.md §3.2).

        Returns the number of refreshed weights.
        """
        cfg = self.cfg
        assert isinstance(cfg, DifferentialCell)
        n = self.n_per_sign
        g_max = max(self.devices[0].nominal_bounds)
        p = self._side_mean(self.plus)
        m = self._side_mean(self.minus)
        lower = cfg.refresh_lower * g_max
        dirty, self._dirty = self._dirty, []
        if dirty is None:  # check every weight
            both = (p > lower) & (m > lower)  # cheap pre-filter: usually few weights
            cand = flat_nonzero(both)
        else:  # only weights whose devices changed since the last check can have become due
            if not dirty:
                return 0
            cand = torch.cat(dirty).unique() if len(dirty) > 1 else dirty[0]
            ok = (p.reshape(-1).index_select(0, cand) > lower) & (
                m.reshape(-1).index_select(0, cand) > lower)
            cand = cand[ok]
        if cand.numel() == 0:
            return 0
        pc, mc = p.reshape(-1).index_select(0, cand), m.reshape(-1).index_select(0, cand)
        due = torch.maximum(pc, mc) > cfg.refresh_upper * g_max
        cand = cand[due]
        if cand.numel() == 0:
            return 0
        diff = ((pc - mc)[due] * n).to(p.dtype)
        mask = torch.zeros(self.shape, dtype=torch.bool, device=p.device)
        mask.view(-1)[cand] = True
        for d in self.devices:
            d.reset(mask, generator)
        base_plus = self.weight_side_at(self.plus, cand)
        base_minus = self.weight_side_at(self.minus, cand)
        full = torch.zeros(self.shape, dtype=p.dtype, device=p.device).view(-1)
        pos = torch.zeros_like(mask)
        pos.view(-1)[cand[diff >= 0]] = True
        neg = mask & ~pos
        full[cand] = torch.where(diff >= 0, (diff + base_minus) / n, (base_plus - diff) / n)
        for d in self.plus:
            d.program(full.view(self.shape), pos, generator)
        for d in self.minus:
            d.program(full.view(self.shape), neg, generator)
        return int(cand.numel())

    def _side_mean(self, side: list[PulsedDeviceArray]) -> Tensor:
        if len(side) == 1:
            return side[0].value
        total = side[0].value.clone()
        for d in side[1:]:
            total.add_(d.value)
        return total.div_(len(side))

    @staticmethod
    def weight_side_at(side: list[PulsedDeviceArray], index: Tensor) -> Tensor:
        w = side[0].value.reshape(-1).index_select(0, index)
        for d in side[1:]:
            w = w + d.value.reshape(-1).index_select(0, index)
        return w

    # ------------------------------------------------------------------ state
    def state_tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, d in enumerate(self.devices):
            for k, v in d.state_tensors().items():
                out[f"dev{i}.{k}"] = v
        return out

    def load_state_tensors(self, state: dict[str, Tensor]) -> None:
        self._dirty = None
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
