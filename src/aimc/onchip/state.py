"""The on-chip training state of one weight matrix, and its update step.

:class:`OnChipState` is attached to a :class:`aimc.tile.TileArray` (``tiles.onchip``) when
its config has ``on_chip`` set. It holds

* the devices of the weight (``main``: a :class:`~aimc.onchip.cells.CellArray`; Tiki-Taka
  adds the fast array ``fast``),
* the digital accumulators (mixed precision χ; Tiki-Taka v2 buffer H),
* the (x, δ) pairs recorded by the backward passes since the last optimizer step,
* its own random generator (device-to-device draws, pulse trains, cycle-to-cycle noise and
  the forward/backward MVM noise unless the tile has a ``noise_generator``), saved in the
  checkpoint so that training resumes bit-exactly,
* counters for the energy estimate (MVMs, pulses, digital multiply-accumulates).

The layer's weight parameter mirrors the devices: after every step it is overwritten with
s·(cell weight), so the forward pass reads what the devices hold. s is the config's
``weight_scale``, or, with ``weight_scaling_omega`` = ω, the layer's own factor
max|W_init|/(ω·w_ref) fixed when the weights are first written (:attr:`weight_scale`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aimc.config.onchip import InSituSGD, MixedPrecision, OnChipTraining, TikiTaka
from aimc.config.periphery import AbsMaxNoiseManagement, IOConfig
from aimc.errors import CheckpointError, StateError
from aimc.onchip.autograd import OnChipMVM
from aimc.onchip.cells import CellArray, make_cell_array
from aimc.onchip.pulses import (
    SparseCounts,
    count_pulses,
    line_counts,
    stochastic_round_quantize,
)
from aimc.physics._indexing import flat_nonzero
from aimc.physics._random import randn_like
from aimc.physics.geometry import ConvGeometry, LinearGeometry, TileGeometry
from aimc.physics.periphery import adc, dac

if TYPE_CHECKING:
    from aimc.tile.array import TileArray

__all__ = ["OnChipState", "COUNTERS"]

#: the operation counters kept per weight matrix (see :mod:`aimc.onchip.energy`)
#: (MVM counters count vectors: one input/error vector through the array; for convolutions
#: one per output position; ``update_vectors`` counts the (x, δ) pairs of the updates, which
#: include a first layer's, whose transposed MVM is skipped)
COUNTERS = ("forward_mvms", "backward_mvms", "update_vectors", "read_mvms", "pulses",
            "digital_macs", "update_steps", "refreshes")


class OnChipState(nn.Module):
    """Devices, accumulators and update rule of one on-chip-trained weight matrix.

    Args:
        cfg: the on-chip training config.
        forward_io: the forward periphery (used for Tiki-Taka's column reads).
        geometry: the tile geometry of the weight (dense or convolution).
        device, dtype: of the state.
    """

    def __init__(self, cfg: OnChipTraining, forward_io: IOConfig, geometry: TileGeometry, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        self.cfg = cfg
        self.forward_io = forward_io
        self.geometry = geometry
        dtype = dtype or torch.get_default_dtype()
        if isinstance(geometry, LinearGeometry):
            self.shape = (geometry.out_features, geometry.in_features)
        else:
            assert isinstance(geometry, ConvGeometry)
            self.shape = (geometry.out_channels,
                          geometry.in_g * math.prod(geometry.kernel_size))
        dev = torch.device(device) if device is not None else torch.device("cpu")
        # seeded from the global RNG: reproducible under torch.manual_seed
        seed = int(torch.randint(0, 2**62, (1,)))
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(seed)
        self.main: CellArray = make_cell_array(cfg.cell, self.shape, generator=self.generator,
                                               device=dev, dtype=dtype)
        alg = cfg.algorithm
        self.fast: CellArray | None = None
        if isinstance(alg, TikiTaka):
            self.fast = make_cell_array(alg.fast_cell or cfg.cell, self.shape,
                                        generator=self.generator, device=dev, dtype=dtype)
        acc = isinstance(alg, MixedPrecision) or (isinstance(alg, TikiTaka) and alg.variant == 2)
        self.register_buffer("accumulator", torch.zeros(self.shape if acc else (0,),
                                                        device=dev, dtype=dtype))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool, device=dev))
        self._known_initialized = False
        #: s: layer weight per cell weight (config value, or chosen by ``initialize``)
        self.weight_scale = float(cfg.weight_scale)
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.transfer_column = 0
        self._records: list[tuple[Tensor, Tensor]] = []
        self._row_starts: Tensor | None = None  # row · in_features, for column positions
        self._out_scale: tuple[float, Tensor] | None = None  # (crossbar_scale, (tiles, out))

    # ------------------------------------------------------------------ forward
    def differentiable_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None,
                               tiles: TileArray) -> Tensor:
        """The layer's MVM whose backward records (x, δ) for :meth:`step` (:class:`OnChipMVM`).

        Runs eagerly under ``torch.compile``: the record is a side effect of the backward
        pass, which a compiled graph cannot hold (the rest of the model stays compiled).
        """
        return _on_chip_mvm(x, weight, bias, tiles)

    # ------------------------------------------------------------------ properties
    @property
    def crossbar_scale(self) -> float:
        """Layer weight per normalised crossbar weight: s·w_ref (:attr:`weight_scale`)."""
        return self.weight_scale * self.main.w_ref

    def out_scale(self, shape: torch.Size, like: Tensor) -> Tensor:
        """The digital output scale (tiles, out) of the forward MVM: ``crossbar_scale``
        everywhere (cached; callers must not modify it)."""
        s = self.crossbar_scale
        if self._out_scale is not None:
            value, t = self._out_scale
            if (value == s and t.shape == shape and t.dtype == like.dtype
                    and t.device == like.device):
                return t
        t = torch.full(shape, s, dtype=like.dtype, device=like.device)
        self._out_scale = (s, t)
        return t

    @property
    def granularity(self) -> float:
        """ε of the main cell (weight units of the cell)."""
        alg = self.cfg.algorithm
        if isinstance(alg, MixedPrecision) and alg.granularity > 0:
            return float(alg.granularity)
        return self.main.granularity

    def cell_weight(self) -> Tensor:
        """The weight the devices hold now in cell units (Tiki-Taka: γ·A + C)."""
        w = self.main.weight()
        alg = self.cfg.algorithm
        if isinstance(alg, TikiTaka) and alg.gamma > 0 and self.fast is not None:
            w.add_(self.fast.weight(), alpha=alg.gamma)
        return w

    def layer_weight(self) -> Tensor:
        """The cell weight in layer units (s·cell weight), flattened (out, in)."""
        return self.cell_weight().mul_(self.weight_scale)

    # ------------------------------------------------------------------ lifecycle
    @torch.no_grad()
    def initialize(self, weight: Tensor) -> None:
        """Write the layer's current weights onto the devices (once, before training).

        With ``weight_scaling_omega`` = ω, first choose s = max|W|/(ω·w_ref) (s = 1 for an
        all-zero weight), so that the largest weight lands at ω·w_ref on the cell.
        """
        target = weight.detach().reshape(self.shape).to(self.accumulator.dtype)
        omega = self.cfg.weight_scaling_omega
        if omega is not None:
            largest = float(target.abs().max()) if target.numel() else 0.0
            self.weight_scale = largest / (omega * self.main.w_ref) if largest > 0 else 1.0
        self.main.set_weight(target / self.weight_scale, self.generator)
        if self.fast is not None:
            self.fast.set_weight(torch.zeros_like(target), self.generator)
        self.initialized.fill_(True)
        self.sync(weight)

    @torch.no_grad()
    def sync(self, weight: Tensor) -> None:
        """Overwrite the layer weight with what the devices hold."""
        weight.copy_(self.layer_weight().view_as(weight))

    def ensure_initialized(self, weight: Tensor) -> None:
        """Write the layer weights onto the devices unless that happened already."""
        if self._known_initialized:  # Python mirror of the buffer: no host sync per call
            return
        if not bool(self.initialized):
            self.initialize(weight)
        self._known_initialized = True

    def record(self, x: Tensor, d: Tensor, *, transposed_mvm: bool = True) -> None:
        """Keep the (input, error) pair of one backward pass for the next update.

        ``transposed_mvm``: whether the backward MVM ran (not for a first layer, whose
        input needs no gradient); counted for the energy estimate.
        """
        self._records.append((x.detach(), d.detach()))
        vectors = d.numel() // self.shape[0]  # error vectors (per output position for convs)
        self.counters["update_vectors"] += vectors
        if transposed_mvm:
            self.counters["backward_mvms"] += vectors

    def clear_records(self) -> None:
        self._records.clear()

    @property
    def records(self) -> list[tuple[Tensor, Tensor]]:
        """The (input, error) pairs recorded since the last update (a copy of the list)."""
        return list(self._records)

    def replace_records(self, records: list[tuple[Tensor, Tensor]]) -> None:
        """Use ``records`` for the next update instead (e.g. every rank's, gathered by
        :func:`aimc.distributed.gather_onchip_records`)."""
        self._records = list(records)

    @property
    def pending(self) -> int:
        """Number of recorded backward passes waiting for the next optimizer step."""
        return len(self._records)

    # ------------------------------------------------------------------ update
    def _conv_columns(self, x: Tensor) -> Tensor:
        """im2col of a conv input: (N, C_in, *sp) → (N, C_in/G·prod(k), L)."""
        g = self.geometry
        assert isinstance(g, ConvGeometry)
        x, pad, kernel, stride, dilation = _as_2d(x, g)
        return F.unfold(x, kernel, dilation=dilation, padding=pad, stride=stride)

    def _update_pairs(self) -> list[tuple[Tensor, Tensor, slice]]:
        """(X (M, in), D (M, out), output-row slice) per group, from the recorded passes."""
        g = self.geometry
        if isinstance(g, LinearGeometry):
            xs = [x.reshape(-1, g.in_features) for x, _ in self._records]
            ds = [d.reshape(-1, g.out_features) for _, d in self._records]
            return [(torch.cat(xs) if len(xs) > 1 else xs[0],
                     torch.cat(ds) if len(ds) > 1 else ds[0], slice(None))]
        assert isinstance(g, ConvGeometry)
        out: list[tuple[Tensor, Tensor, slice]] = []
        cols = [self._conv_columns(x) for x, _ in self._records]
        errs = [d.reshape(d.shape[0], d.shape[1], -1) for _, d in self._records]
        per_group_in = g.in_g * math.prod(g.kernel_size)
        for grp in range(g.groups):
            xs, ds = [], []
            for c, d in zip(cols, errs, strict=True):
                # unfold orders rows as (channel, kernel position): group channels are contiguous
                cg = c[:, grp * per_group_in:(grp + 1) * per_group_in]
                xs.append(cg.transpose(1, 2).reshape(-1, per_group_in))
                dg = d[:, grp * g.out_g:(grp + 1) * g.out_g]
                ds.append(dg.transpose(1, 2).reshape(-1, g.out_g))
            out.append((torch.cat(xs), torch.cat(ds), slice(grp * g.out_g, (grp + 1) * g.out_g)))
        return out

    def _pulse_update(self, cell: CellArray, lr: float) -> Tensor | None:
        """In-situ pulse-train update of ``cell`` with the recorded (x, δ); returns the flat
        indices of the pulsed weights (None: possibly all)."""
        alg = self.cfg.algorithm
        assert isinstance(alg, (InSituSGD, TikiTaka))
        pairs = self._update_pairs()
        in_f = self.shape[1]
        counts = [(count_pulses(x, d, lr, cell.granularity, alg.pulse, self.generator,
                                sparse_ok=True), rows) for x, d, rows in pairs]
        if len(counts) == 1:
            c = counts[0][0]
            if isinstance(c, SparseCounts):
                return cell.apply_counts_at(c.index, c.up, c.down, self.generator)
            return cell.apply_total_net(c.total, c.net, self.generator)
        ups, downs = [], []
        for c, rows in counts:  # several conv groups: stack their rows
            if isinstance(c, SparseCounts):
                n_rows = (rows.stop or self.shape[0]) - (rows.start or 0)
                up = torch.zeros(n_rows * in_f, dtype=torch.int32, device=c.index.device)
                down = torch.zeros_like(up)
                up[c.index], down[c.index] = c.up, c.down
                ups.append(up.view(n_rows, in_f))
                downs.append(down.view(n_rows, in_f))
            else:
                up, down = c.up_down()
                ups.append(up)
                downs.append(down)
        return cell.apply_counts(torch.cat(ups), torch.cat(downs), self.generator)

    @torch.no_grad()
    def step(self, lr: float, weight: Tensor) -> None:
        """One optimizer step: apply the recorded updates as pulses, then sync ``weight``.

        Args:
            lr: the layer learning rate η (layer units); the device update is η/weight_scale.
            weight: the layer's weight parameter (overwritten with the device weights; only
                the entries whose devices changed are rewritten).
        """
        self.ensure_initialized(weight)
        if not self._records:
            return
        alg = self.cfg.algorithm
        lr_dev = lr / self.weight_scale
        self.counters["update_steps"] += 1
        step = self.counters["update_steps"]
        before = self.main.pulses + (self.fast.pulses if self.fast is not None else 0)
        touched: Tensor | None = None  # None: re-sync everything
        if isinstance(alg, InSituSGD):
            touched = self._pulse_update(self.main, lr_dev)
        elif isinstance(alg, MixedPrecision):
            touched = self._mixed_precision(alg, lr_dev, step)
        elif isinstance(alg, TikiTaka):
            assert self.fast is not None
            self._pulse_update(self.fast, lr_dev * alg.fast_lr)
            touched = (self._transfer(alg, lr_dev) if step % alg.transfer_every == 0
                       else torch.zeros(0, dtype=torch.long, device=weight.device))
            if alg.gamma > 0:
                touched = None
        self._records.clear()
        for cell in (self.main, self.fast):
            if cell is not None:
                refreshed = cell.end_step(step, self.generator)
                if refreshed:
                    self.counters["refreshes"] += refreshed
                    touched = None
        after = self.main.pulses + (self.fast.pulses if self.fast is not None else 0)
        self.counters["pulses"] += after - before
        if touched is None:
            self.sync(weight)
        elif touched.numel():
            new = self.main.weight_at(touched)
            if self.weight_scale != 1.0:
                new.mul_(self.weight_scale)
            weight.view(-1).index_copy_(0, touched, new)

    def _mixed_precision(self, alg: MixedPrecision, lr: float, step: int) -> Tensor:
        """χ accumulation and (when due) transfer; returns the flat indices pulsed."""
        chi = self.accumulator
        for x, d, rows in self._update_pairs():
            xq = stochastic_round_quantize(x, alg.n_x_bins, alg.stochastic_rounding,
                                           self.generator)
            dq = stochastic_round_quantize(d, alg.n_d_bins, alg.stochastic_rounding,
                                           self.generator)
            chi[rows].addmm_(dq.t(), xq, alpha=-lr)
            self.counters["digital_macs"] += x.shape[0] * x.shape[1] * d.shape[1]
        if step % alg.transfer_every:
            return torch.zeros(0, dtype=torch.long, device=chi.device)
        eps = self.granularity
        flat = chi.view(-1)
        index = flat_nonzero(flat.abs() >= eps)  # the weights due a pulse
        if index.numel() == 0:
            return index
        c = flat.index_select(0, index)
        n = torch.trunc(c / eps)
        flat.index_copy_(0, index, c - n * eps)
        self.main.apply_signed_at(index, n.to(torch.int32), self.generator)
        return index

    def _column_positions(self, columns: list[int]) -> Tensor:
        """Flat positions (len(columns), out) of the devices of columns j (cached rows)."""
        base = self._row_starts
        if base is None or base.device != self.accumulator.device:
            out_f, in_f = self.shape
            base = torch.arange(out_f, device=self.accumulator.device) * in_f
            self._row_starts = base
        if len(columns) == 1:
            return (base + columns[0]).unsqueeze(0)
        return base.unsqueeze(0) + torch.tensor(columns, device=base.device).unsqueeze(1)

    def _read_columns(self, cell: CellArray, columns: list[int], flat: Tensor) -> Tensor:
        """Read columns j of ``cell`` through the forward periphery: (len(columns), out).

        ``flat``: the columns' flat device positions (:meth:`_column_positions`). A one-hot
        input eⱼ reads column j. Without input noise, read noise and IR drop the MVM reduces
        to the column itself: y = ADC(w[:, j]/w_ref + σ_out·ξ)·w_ref (the DAC passes 1
        exactly, abs-max noise management scales by 1, and bound management never triggers
        for |w| ≤ w_ref inside the ADC range), computed on the gathered column only.
        Otherwise the full analog MVM runs.
        """
        io = self.forward_io
        out_f, in_f = self.shape
        w_ref = cell.w_ref
        self.counters["read_mvms"] += len(columns)
        simple = (io.inp_noise == 0 and io.read_noise == 0 and io.ir_drop is None
                  and io.out_nonlinearity == 0 and io.adc.bound >= 1.0)
        if simple:
            v = cell.weight_at(flat.reshape(-1)).view(len(columns), out_f).div_(w_ref)
            if io.out_noise > 0:
                v.add_(torch.randn(v.shape, generator=self.generator, device=v.device,
                                   dtype=v.dtype), alpha=io.out_noise)
            return adc(v, io.adc).mul_(w_ref)
        from aimc.physics.mvm import PerturbationWeights, analog_mvm

        geom = LinearGeometry(in_f, out_f, max(in_f, 1))
        x = torch.zeros((len(columns), in_f), dtype=self.accumulator.dtype,
                        device=self.accumulator.device)
        x[torch.arange(len(columns), device=x.device),
          torch.tensor(columns, device=x.device)] = 1.0
        w = geom.weight_to_tiles(cell.weight() / w_ref)
        scale = torch.full((geom.num_tiles, out_f), w_ref, dtype=w.dtype, device=w.device)
        return analog_mvm(geom.to_tiles(x), w, io, geom, out_scale=scale,
                          generator=self.generator, pert=PerturbationWeights(w.dtype))

    def _transfer(self, alg: TikiTaka, lr: float) -> Tensor:
        """Tiki-Taka transfer of ``n_reads_per_transfer`` columns of A into C; returns the
        flat indices of C that were pulsed.

        Only the read columns j can change: the one-hot input eⱼ drives a single row line,
        so the update is computed on those columns alone.
        """
        assert self.fast is not None
        out_f, in_f = self.shape
        n_cols = min(alg.n_reads_per_transfer, in_f)
        cols = [(self.transfer_column + i) % in_f for i in range(n_cols)]
        self.transfer_column = int((self.transfer_column + n_cols) % in_f)
        flat = self._column_positions(cols)  # (R, out): C[:, j] (and A[:, j])
        v = self._read_columns(self.fast, cols, flat)  # (R, out): A[:, j]
        t_lr = alg.transfer_lr * lr
        index = flat.reshape(-1)
        if alg.variant == 1:
            # ΔC[:, j] = −η_t·(−v)·1 = η_t·v, as pulse trains on one row line per column
            n = torch.cat([line_counts(v[r], t_lr, self.main.granularity, alg.pulse,
                                       self.generator) for r in range(n_cols)])
        else:
            hv = self.accumulator.view(-1)
            hc = hv.index_select(0, index).add_(v.reshape(-1), alpha=t_lr)
            eps = self.main.granularity
            nf = torch.trunc(hc / eps)
            hv.index_copy_(0, index, hc.sub_(nf, alpha=eps))
            n = nf.to(torch.int32)
        self.main.apply_signed_at(index, n, self.generator)
        return index

    # ------------------------------------------------------------------ backward MVM
    @torch.no_grad()
    def input_gradient(self, grad_out: Tensor, weight: Tensor, x_shape: torch.Size) -> Tensor:
        """The backward MVM: δ through the transposed array with the backward periphery.

        Per error vector (a sample's δ, for convolutions one per output position):
        abs-max noise management, DAC, the transposed MVM Wᵀδ on normalised weights,
        output noise and ADC per crossbar row, then the digital rescale. Convolutions
        compute Wᵀδ per position (the transposed im2col product) before the overlapping
        patches are summed digitally (col2im), as on an im2col crossbar.
        ``backward=None``: the ideal product.
        """
        io = self.cfg.backward
        s = self.crossbar_scale
        g = self.geometry
        w2d = weight.detach().reshape(self.shape[0], -1)
        if isinstance(g, LinearGeometry):
            d = grad_out.reshape(-1, g.out_features)
            z = d @ w2d if io is None else self._noisy_transposed(d, w2d / s, io) * s
            return z.reshape(x_shape)
        assert isinstance(g, ConvGeometry)
        n = grad_out.shape[0]
        d = grad_out.reshape(n, g.out_channels, -1).transpose(1, 2)  # (N, L, C_out)
        cols = []
        for grp in range(g.groups):
            dg = d[..., grp * g.out_g:(grp + 1) * g.out_g].reshape(-1, g.out_g)
            wg = w2d[grp * g.out_g:(grp + 1) * g.out_g]
            z = dg @ wg if io is None else self._noisy_transposed(dg, wg / s, io) * s
            cols.append(z.view(n, -1, wg.shape[1]))
        col = torch.cat(cols, dim=2).transpose(1, 2)  # (N, C_in·prod(k), L)
        return _fold(col, x_shape, g)

    def _noisy_transposed(self, d: Tensor, w: Tensor, io: IOConfig) -> Tensor:
        """z = ADC(DAC(δ/a)·w + noise)·a for rows δ (M, out), normalised w (out, in).

        With abs-max noise management a = max|δ| per row, and a row with a = 0 gives z = 0:
        the digital unit knows the product is zero and issues no MVM, so no output noise
        reaches it (aihwkit ``ForwardBackwardPassIOManaged::backwardVector``, "max is zero,
        output is just zero"). In a CNN most error vectors are zero (positions a max-pool
        or ReLU discarded); adding noise to them would feed pure noise into the updates.
        """
        nm = io.noise_management
        if isinstance(nm, AbsMaxNoiseManagement):
            a = d.abs().amax(dim=1, keepdim=True)
            x = d / torch.where(a > 0, a, torch.ones_like(a))
        else:
            a = None
            x = d
        x = dac(x, io.dac)
        if io.inp_noise > 0:  # rows are (sample, position)-ordered: one axis of samples
            x = x + io.inp_noise * randn_like(x, self.generator, batch_dim=0)
        z = x @ w
        if io.out_noise > 0:
            z.add_(randn_like(z, self.generator, batch_dim=0), alpha=io.out_noise)
        z = adc(z, io.adc)
        return z if a is None else z * a

    # ------------------------------------------------------------------ state
    def _apply(self, fn: Any, recurse: bool = True) -> OnChipState:  # type: ignore[override]
        super()._apply(fn, recurse)
        for cell in (self.main, self.fast):
            if cell is not None:
                cell.load_state_tensors({k: fn(v) for k, v in cell.state_tensors().items()})
        dev = self.accumulator.device
        if self.generator.device != dev:
            # generators cannot move between device types: continue deterministically with
            # a generator on the new device seeded from the old one
            seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
            self.generator = torch.Generator(device=dev)
            self.generator.manual_seed(seed)
        return self

    def get_extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "main": self.main.state_tensors(),
            "rng": self.generator.get_state(),
            "counters": dict(self.counters),
            "cell_counters": [self.main.counter, self.main.pulses],
            "transfer_column": self.transfer_column,
            "weight_scale": self.weight_scale,
        }
        if self.fast is not None:
            state["fast"] = self.fast.state_tensors()
            state["fast_counters"] = [self.fast.counter, self.fast.pulses]
        return state

    def check_extra_state(self, state: Any, where: str = "on-chip state") -> None:
        """Raise CheckpointError unless ``state`` fits this state (nothing is modified)."""
        keys = ("main", "rng", "counters", "cell_counters", "transfer_column")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise CheckpointError(f"{where} is not an aimc on-chip training state; save it from "
                                  "a model built with the same on-chip config")
        if (self.fast is None) != ("fast" not in state):
            raise CheckpointError(f"{where}: the checkpoint's on-chip algorithm differs from "
                                  "this model's (Tiki-Taka fast array present in only one); build "
                                  "the model with the same config")
        scale = state.get("weight_scale", self.cfg.weight_scale)
        if (isinstance(scale, bool) or not isinstance(scale, (int, float))
                or not math.isfinite(scale) or scale <= 0):
            raise CheckpointError(f"{where}: weight_scale {scale!r} is not a positive number; "
                                  "the checkpoint is damaged, save it again")
        for name, cell in (("main", self.main), ("fast", self.fast)):
            if cell is None:
                continue
            own = cell.state_tensors()
            got = state[name]
            if not isinstance(got, dict) or set(got) != set(own):
                raise CheckpointError(f"{where}: the device state of the {name} array does not "
                                      "match this model's unit cell and device model; build the "
                                      "model with the same config")
            for k, v in own.items():
                g = got[k]
                if not isinstance(g, Tensor) or tuple(g.shape) != tuple(v.shape):
                    raise CheckpointError(f"{where}: {name}.{k} has shape "
                                          f"{tuple(getattr(g, 'shape', ()))} in the checkpoint, "
                                          f"expected {tuple(v.shape)}; build the same architecture")

    def set_extra_state(self, state: Any) -> None:
        self.check_extra_state(state)
        self._known_initialized = False  # re-read the loaded ``initialized`` buffer
        dev = self.accumulator.device
        self.main.load_state_tensors({k: v.to(dev) for k, v in state["main"].items()})
        self.main.counter, self.main.pulses = (int(v) for v in state["cell_counters"])
        if self.fast is not None:
            self.fast.load_state_tensors({k: v.to(dev) for k, v in state["fast"].items()})
            self.fast.counter, self.fast.pulses = (int(v) for v in state["fast_counters"])
        rng = state["rng"]
        try:
            self.generator.set_state(rng.cpu())
        except RuntimeError:
            # saved on another device type (CPU ↔ CUDA generator states differ): reseed
            # deterministically from the saved state so the run stays reproducible
            seed = int.from_bytes(bytes(rng.cpu().to(torch.uint8).tolist()[:8]), "little")
            self.generator.manual_seed(seed % 2**62)
        self.counters = {k: int(state["counters"].get(k, 0)) for k in COUNTERS}
        self.transfer_column = int(state["transfer_column"])
        # checkpoints written before weight_scaling_omega existed carry no factor: the
        # config's weight_scale was the only one then
        self.weight_scale = float(state.get("weight_scale", self.cfg.weight_scale))
        self._records.clear()

    def extra_repr(self) -> str:
        alg = type(self.cfg.algorithm).__name__
        cell = type(self.cfg.cell).__name__
        dev = type(self.cfg.cell.device).__name__
        return f"{alg}, {cell}({dev}), shape={self.shape}"


def _conv_padding(g: ConvGeometry) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(left, right) padding per spatial dim for int or 'same'/'valid' padding."""
    if isinstance(g.padding, str):
        if g.padding == "valid":
            z = (0,) * g.spatial
            return z, z
        total = tuple(d * (k - 1) for d, k in zip(g.dilation, g.kernel_size, strict=True))
        left = tuple(t // 2 for t in total)
        return left, tuple(t - lft for t, lft in zip(total, left, strict=True))
    return tuple(g.padding), tuple(g.padding)


def _as_2d(x: Tensor, g: ConvGeometry) -> tuple[Tensor, tuple[int, int], tuple[int, int],
                                               tuple[int, int], tuple[int, int]]:
    """x as a 2-d image with explicit symmetric padding, and the 2-d conv parameters."""
    left, right = _conv_padding(g)
    if g.spatial == 1:
        x = x.unsqueeze(2)
        left, right = (0, *left), (0, *right)
        kernel = (1, g.kernel_size[0])
        stride, dilation = (1, g.stride[0]), (1, g.dilation[0])
    else:
        kernel = tuple(g.kernel_size)  # type: ignore[assignment]
        stride, dilation = tuple(g.stride), tuple(g.dilation)  # type: ignore[assignment]
    if left != right:
        x = F.pad(x, (left[1], right[1], left[0], right[0]))
        pad = (0, 0)
    else:
        pad = (left[0], left[1])
    return x, pad, kernel, stride, dilation  # type: ignore[return-value]


def _fold(col: Tensor, x_shape: torch.Size, g: ConvGeometry) -> Tensor:
    """col2im: the input gradient (x_shape) from per-position columns."""
    left, right = _conv_padding(g)
    if g.spatial == 1:
        size = (1, x_shape[2])
        left, right = (0, *left), (0, *right)
        kernel, stride, dilation = (1, g.kernel_size[0]), (1, g.stride[0]), (1, g.dilation[0])
    else:
        size = (x_shape[2], x_shape[3])
        kernel, stride, dilation = g.kernel_size, g.stride, g.dilation  # type: ignore[assignment]
    full = (size[0] + left[0] + right[0], size[1] + left[1] + right[1])
    out = F.fold(col, full, kernel, dilation=dilation, stride=stride)
    out = out[:, :, left[0]:left[0] + size[0], left[1]:left[1] + size[1]]
    if g.spatial == 1:
        out = out.squeeze(2)
    if out.shape != x_shape:
        raise StateError(f"internal: conv input gradient has shape {tuple(out.shape)}, "
                         f"expected {tuple(x_shape)}")
    return out.contiguous()


@torch.compiler.disable
def _on_chip_mvm(x: Tensor, weight: Tensor, bias: Tensor | None, tiles: TileArray) -> Tensor:
    return OnChipMVM.apply(x, weight, bias, tiles)
