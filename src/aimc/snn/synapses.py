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
* arrays with ``needs_timing`` (spike-triggered devices) also get, with each request, the
  steps since the last spike of the other side (``since_post`` (n_out,) with a depression,
  ``since_pre`` (n_in,) with a potentiation; ≥ ``never`` for no spike yet) and the step
  length ``dt``: their change follows the spike pair, not the rule's amount;

plus ``begin(xp)`` / ``end()`` around a presentation, ``weights()`` (a torch tensor, the
weights now) and ``state_dict()`` / ``load_state_dict()``.

:class:`IdealSynapses` applies each request exactly (clipped to [0, w_max], the reference code
of Diehl & Cook): the ideal limit of every device array (tested bit-exact against the plain
weights of the step-by-step reference network).

Device arrays (:class:`PulsedSynapses`, :class:`MemristorSynapses`) keep the device state,
and normalise with a per-neuron digital read gain g_j (w_ij = g_j·ŵ_ij, g_j = norm / Σ_i ŵ_ij
before each image) instead of rewriting every device before every image: the same drive as
rewriting, no programming. Read noise and drift are not applied to SNN reads (the training
runs last minutes of device time; the PCM inference models of :mod:`aimc.physics` are for
programmed arrays).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aimc.errors import CheckpointError, ConfigError, ShapeError
from aimc.snn._backend import view

__all__ = ["SynapseArray", "IdealSynapses", "PulsedSynapses", "MemristorSynapses",
           "make_synapses", "synapse_names", "SYNAPSE_MODELS", "ABLATIONS"]


class SynapseArray:
    """Base class: shape bookkeeping and the checkpoint checks (module docstring)."""

    kind = "synapses"
    needs_timing = False
    #: ``since_*`` value of "no spike yet" (set by the simulation loop)
    never = 1 << 40

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



class _GainedSynapses(SynapseArray):
    """Shared part of the device arrays: w = g_j·scale·(device weight), cached for reads.

    Subclasses keep the device state and implement ``_device_weights()`` (the whole array,
    device units ∈ [0, 1]), ``_device_weights_at(flat)`` and the two updates."""

    def __init__(self, n_in: int, n_out: int, w_max: float, like: Tensor,
                 generator: torch.Generator | None) -> None:
        super().__init__(n_in, n_out, w_max)
        self.generator = generator
        self.gain = torch.ones(n_out, dtype=like.dtype, device=like.device)
        self.updates = 0  # device writes requested (pulses or spike pairs)
        self._w = torch.zeros(n_in, n_out, dtype=like.dtype, device=like.device)
        self._a: Any = self._w

    def _rng_state(self) -> dict[str, Any]:
        """The generator of the rounding and c2c draws (so a resume is bit-exact)."""
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def _load_rng(self, state: dict[str, Any]) -> None:
        if self.generator is not None and isinstance(state.get("generator"), Tensor):
            self.generator.set_state(state["generator"])

    def _device_weights(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _device_weights_at(self, flat: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _refresh_cache(self) -> None:
        self._w.copy_(self._device_weights() * (self.w_max * self.gain))

    def _refresh_at(self, flat: Tensor) -> None:
        cols = flat % self.n_out
        vals = self._device_weights_at(flat) * (self.w_max * self.gain[cols])
        self._w.view(-1).index_copy_(0, flat, vals.to(self._w.dtype))

    def begin(self, xp: ModuleType) -> None:
        super().begin(xp)
        self._a = view(self._w, xp)

    def weights(self) -> Tensor:
        return self._w

    def read_rows(self, idx: Any) -> Any:
        return self._a[idx]

    def read_all(self) -> Any:
        return self._a

    def normalize(self, norm: float) -> None:
        sums = self._device_weights().sum(dim=0).clamp_min(1e-12) * self.w_max
        self.gain = (norm / sums).to(self._w.dtype)
        self._refresh_cache()

    @staticmethod
    def _tensor(a: Any, like: Tensor) -> Tensor:
        return torch.from_numpy(np.asarray(a)).to(like.device) if not isinstance(a, Tensor) \
            else a

    def _flat(self, rows: Tensor, cols: Tensor) -> Tensor:
        """Flat indices of the block rows × cols (row-major)."""
        return (rows.view(-1, 1) * self.n_out + cols.view(1, -1)).reshape(-1)


class PulsedSynapses(_GainedSynapses):
    """Synapses made of pulsed devices in unit cells (:mod:`aimc.onchip.cells`: one device,
    a differential pair with refresh, or several devices per sign), the same device physics
    as on-chip DNN training (:mod:`aimc.physics.pulsed`).

    The cell's nominal weight range [lo, hi] (a single device: its bounds; a differential
    cell: ±its largest weight) maps affinely onto [0, w_max]: ŵ = (w_cell − lo)/(hi − lo).
    A requested change Δw of weight (i, j) becomes n = Δw/(g_j·w_max·ε) pulses (ε = the
    cell's nominal step / (hi − lo)), rounded stochastically (⌊n⌋ + Bernoulli(n − ⌊n⌋), so
    E[pulses] = n), up for a potentiation, down for a depression; what each pulse does is
    the device's (state-dependent step, bounds, c2c and d2d variation). The differential
    cell's refresh runs once per image (with the normalisation).

    Args:
        cell: a :class:`aimc.config.onchip.PulsedCell` (e.g. ``SingleDeviceCell(device=
            SoftBoundsDevice(w_min=0.0, w_max=1.0))`` or ``DifferentialCell(device=
            PCMPulseDevice())``).
        weights: the initial weights (n_in, n_out) in [0, w_max], written exactly.
        w_max: the rule's weight bound (device units are scaled to it).
        generator: d2d draws (at construction), rounding and c2c noise.
        kind: the name in checkpoints and reports.
    """

    def __init__(self, cell: Any, weights: Tensor, w_max: float, *,
                 generator: torch.Generator | None = None, kind: str = "pulsed") -> None:
        from aimc.config.onchip import PulsedCell
        from aimc.onchip.cells import make_cell_array

        if not isinstance(cell, PulsedCell):
            raise ConfigError(f"PulsedSynapses needs a unit-cell config such as "
                              f"SingleDeviceCell(device=SoftBoundsDevice()), got {cell!r}")
        n_in, n_out = weights.shape
        super().__init__(n_in, n_out, w_max, weights, generator)
        self.kind = kind
        self.cells = make_cell_array(cell, (n_in, n_out), generator=generator,
                                     device=weights.device, dtype=weights.dtype)
        if self.cells.n_per_sign == 0:
            lo, hi = (float(b) for b in self.cells.devices[0].nominal_bounds)
        else:
            lo, hi = -float(self.cells.w_ref), float(self.cells.w_ref)
        if not hi > lo:
            raise ConfigError(f"the cell's nominal weight range [{lo}, {hi}] is empty; give "
                              f"the device w_max > w_min")
        self.lo, self.range = lo, hi - lo
        self.epsilon = float(self.cells.granularity) / self.range  # in units of the range
        self.cells.set_weight(lo + weights / w_max * self.range, generator)
        self._image = 0
        self._refresh_cache()

    def _device_weights(self) -> Tensor:
        return ((self.cells.weight() - self.lo) / self.range).clamp_min(0.0)

    def _device_weights_at(self, flat: Tensor) -> Tensor:
        return ((self.cells.weight_at(flat) - self.lo) / self.range).clamp_min(0.0)

    def _pulses(self, amount: Any, gain: Any) -> Any:
        """⌊n⌋ + Bernoulli(n − ⌊n⌋) pulses, n = amount/(gain·w_max·ε), flat int64, in the
        library of ``amount`` (NumPy on the CPU batch-1 path: most requests round to no
        pulse at all, and NumPy decides that without torch's per-op cost). The uniforms
        come from the torch generator either way, so both give the same pulses."""
        n = amount / (gain * (self.w_max * self.epsilon))
        u = torch.rand(tuple(n.shape), dtype=self._w.dtype, device=self._w.device,
                       generator=self.generator)
        if isinstance(n, np.ndarray):
            base = np.floor(n)
            return (base + (u.numpy() < n - base)).astype(np.int64).reshape(-1)
        base = torch.floor(n)
        return (base + (u < n - base).to(n.dtype)).to(torch.int64).reshape(-1)

    def _apply(self, rows: Any, cols: Any, n: Any, up: bool) -> None:
        """Apply the pulse counts ``n`` of the block rows × cols (row-major, flat)."""
        if isinstance(n, np.ndarray):
            hit = np.flatnonzero(n)
            if hit.size == 0:
                return
            flat_np = (np.asarray(rows).reshape(-1, 1) * self.n_out
                       + np.asarray(cols).reshape(1, -1)).reshape(-1)[hit]
            flat = torch.from_numpy(flat_np).to(self._w.device)
            n = torch.from_numpy(n[hit]).to(self._w.device)
        else:
            flat = self._flat(self._tensor(rows, self._w), self._tensor(cols, self._w))
            hit = n > 0
            if not bool(hit.any()):
                return
            flat, n = flat[hit], n[hit]
        zero = torch.zeros_like(n)
        self.cells.apply_counts_at(flat, n if up else zero, zero if up else n, self.generator)
        self.updates += int(n.sum())
        self._refresh_at(flat)

    def _gain(self, like: Any) -> Any:
        return self.gain.numpy() if isinstance(like, np.ndarray) else self.gain

    def depress(self, idx: Any, rows: Any, amount: Any, **_: Any) -> None:
        xp = np if isinstance(amount, np.ndarray) else torch
        if xp is np:
            amt = np.broadcast_to(amount, (len(idx), self.n_out))
            cols: Any = np.arange(self.n_out)
        else:
            idx = self._tensor(idx, self._w)
            amt = self._tensor(amount, self._w).expand(idx.numel(), self.n_out)
            cols = torch.arange(self.n_out, device=self._w.device)
        self._apply(idx, cols, self._pulses(amt, self._gain(amt)), up=False)

    def potentiate(self, cols: Any, amount: Any, **_: Any) -> None:
        if isinstance(amount, np.ndarray):
            rows: Any = np.arange(self.n_in)
            gain = self._gain(amount)[np.asarray(cols)]
        else:
            cols = self._tensor(cols, self._w)
            amount = self._tensor(amount, self._w)
            rows = torch.arange(self.n_in, device=self._w.device)
            gain = self.gain[cols]
        self._apply(rows, cols, self._pulses(amount, gain), up=True)

    def normalize(self, norm: float) -> None:
        self._image += 1
        self.cells.end_step(self._image, self.generator)  # differential refresh, if due
        super().normalize(norm)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self._w.clone(), "gain": self.gain.clone(),
                "image": self._image, "updates": self.updates, **self._rng_state(),
                "devices": [d.state_tensors() for d in self.cells.devices],
                "cell_counter": self.cells.counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state, {"weights": self._w, "gain": self.gain})
        devices = state.get("devices")
        if not isinstance(devices, list) or len(devices) != len(self.cells.devices):
            raise CheckpointError("checkpoint holds another cell layout (number of devices "
                                  "per synapse): it is from another network")
        for dev, st in zip(self.cells.devices, devices, strict=True):
            dev.load_state_tensors(st)
        self.cells.counter = int(state.get("cell_counter", 0))
        self._load_rng(state)
        self.gain = state["gain"].to(self.gain).clone()
        self._image = int(state.get("image", 0))
        self.updates = int(state.get("updates", 0))
        self._refresh_cache()


class MemristorSynapses(_GainedSynapses):
    """Cu/SiO2/W memristors with spike-triggered STDP (arXiv:2001.09299;
    :mod:`aimc.physics.memristor`): the device changes by what the overlap of the pre and
    post spike waveforms drives through it, not by the rule's amount.

    On a post spike of neuron j, every input i pairs with its last spike, Δt = t_post −
    t_pre ≥ 0 (potentiation); on a pre spike of input i, every neuron j pairs with its last
    spike, Δt < 0 (depression): nearest-neighbour pairs. ΔG from
    :func:`aimc.physics.memristor.memristor_update` (state dependence, c2c noise, the
    device's own bounds, d2d-varied parameters drawn at construction). Weight: ŵ = (G −
    g_min)/(g_max − g_min) of the nominal range, w = g_j·w_max·ŵ.
    """

    needs_timing = True

    def __init__(self, cfg: Any, weights: Tensor, w_max: float, *,
                 generator: torch.Generator | None = None) -> None:
        from aimc.config.snn import CuSiO2WMemristor
        from aimc.physics.memristor import sample_memristors, table_drives

        if not isinstance(cfg, CuSiO2WMemristor):
            raise ConfigError(f"MemristorSynapses needs a CuSiO2WMemristor(), got {cfg!r}")
        n_in, n_out = weights.shape
        super().__init__(n_in, n_out, w_max, weights, generator)
        self.kind = "cu-sio2-w"
        self.cfg = cfg
        self.params = sample_memristors((n_in, n_out), cfg, generator=generator,
                                        dtype=weights.dtype, device=weights.device)
        span = cfg.g_max - cfg.g_min
        self.g = (cfg.g_min + weights / w_max * span).clamp(self.params.g_min,
                                                            self.params.g_max)
        # the window: pairs farther apart than this drive nothing (zero table entries)
        probe = torch.linspace(0.0, 200.0, 2001, dtype=torch.float64)
        dp, _ = table_drives(probe, cfg)
        _, dm = table_drives(-probe, cfg)
        live = (dp > 0) | (dm > 0)
        self.window_ms = float(probe[live].max()) if bool(live.any()) else 0.0
        self._stacked = torch.stack([p.reshape(-1) for p in self.params])  # (6, n_in·n_out)
        self._drive_dt: float | None = None
        self._drive: tuple[Tensor, ...] = ()
        self._refresh_cache()

    def _device_weights(self) -> Tensor:
        span = self.cfg.g_max - self.cfg.g_min
        return ((self.g - self.cfg.g_min) / span).clamp_min(0.0)

    def _device_weights_at(self, flat: Tensor) -> Tensor:
        span = self.cfg.g_max - self.cfg.g_min
        return ((self.g.view(-1).index_select(0, flat) - self.cfg.g_min) / span).clamp_min(0.0)

    def _tables(self, dt: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Drives at Δt = +k·dt and −k·dt for k = 0 … window/dt (cached per dt): spikes
        fall on the step grid, so each pair's drive is a table entry."""
        if self._drive_dt != dt:
            from aimc.physics.memristor import table_drives

            k = torch.arange(int(self.window_ms / dt) + 2, dtype=torch.float64) * dt
            pos_p, pos_m = table_drives(k, self.cfg)
            neg_p, neg_m = table_drives(-k, self.cfg)
            dev, dtype = self.g.device, self.g.dtype
            self._drive = tuple(t.to(device=dev, dtype=dtype)
                                for t in (pos_p, pos_m, neg_p, neg_m))
            self._drive_dt = dt
        return self._drive

    def _pair(self, flat: Tensor, steps: Tensor, sign: int, dt: float) -> None:
        """Pairs at ``flat`` with the partner ``steps`` steps away (Δt = sign·steps·dt)."""
        from aimc.physics.memristor import MemristorParams, update_from_drives

        pos_p, pos_m, neg_p, neg_m = self._tables(dt)
        d_pos, d_neg = (pos_p[steps], pos_m[steps]) if sign > 0 else \
            (neg_p[steps], neg_m[steps])
        sub = MemristorParams(*self._stacked.index_select(1, flat).unbind(0))
        g = self.g.view(-1).index_select(0, flat)
        new = update_from_drives(g, d_pos, d_neg, self.cfg, params=sub,
                                 generator=self.generator)
        self.g.view(-1).index_copy_(0, flat, new)
        self.updates += int(flat.numel())
        self._refresh_at(flat)

    def _recent(self, since: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        """Positions and step distances of the partners whose last spike is inside the
        window."""
        keep = torch.nonzero(since * dt <= self.window_ms).flatten()
        return keep, since[keep].to(torch.int64)

    def depress(self, idx: Any, rows: Any, amount: Any, *, since_post: Any = None,
                dt: float = 1.0) -> None:
        if since_post is None:
            raise ConfigError("MemristorSynapses needs spike times (since_post); run it in "
                              "a DiehlCookNetwork, which passes them")
        idx_t = self._tensor(idx, self._w)
        cols, k = self._recent(self._tensor(since_post, self._w).reshape(-1), dt)
        if cols.numel() and idx_t.numel():
            self._pair(self._flat(idx_t, cols), k.repeat(idx_t.numel()), -1, dt)

    def potentiate(self, cols: Any, amount: Any, *, since_pre: Any = None,
                   dt: float = 1.0) -> None:
        if since_pre is None:
            raise ConfigError("MemristorSynapses needs spike times (since_pre); run it in "
                              "a DiehlCookNetwork, which passes them")
        cols_t = self._tensor(cols, self._w)
        rows, k = self._recent(self._tensor(since_pre, self._w).reshape(-1), dt)
        if rows.numel() and cols_t.numel():
            self._pair(self._flat(rows, cols_t), k.repeat_interleave(cols_t.numel()), 1, dt)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self._w.clone(), "gain": self.gain.clone(),
                "conductance": self.g.clone(), "updates": self.updates, **self._rng_state(),
                "params": [p.clone() for p in self.params]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from aimc.physics.memristor import MemristorParams

        self._check_state(state, {"weights": self._w, "gain": self.gain,
                                  "conductance": self.g})
        self.g = state["conductance"].to(self.g).clone()
        self.gain = state["gain"].to(self.gain).clone()
        self.params = MemristorParams(*(p.to(self.g).clone() for p in state["params"]))
        self._stacked = torch.stack([p.reshape(-1) for p in self.params])
        self._load_rng(state)
        self.updates = int(state.get("updates", 0))
        self._refresh_cache()


def _soft_bounds() -> Any:
    from aimc.config.onchip import SingleDeviceCell
    from aimc.config.pulsed import SoftBoundsDevice

    return SingleDeviceCell(device=SoftBoundsDevice(w_min=-1.0, w_max=1.0, dw_min=0.002))


def _pcm() -> Any:
    from aimc.config.onchip import DifferentialCell
    from aimc.config.pulsed import PCMPulseDevice

    return DifferentialCell(device=PCMPulseDevice())


#: the synapse models of ``aimc reproduce diehlcook2015 --synapse``
SYNAPSE_MODELS = ("ideal", "soft-bounds", "pcm", "cu-sio2-w")

#: one-at-a-time ablations of each device model: ``"<model>/<variant>"`` switches one
#: property off (the config changes it makes)
ABLATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "soft-bounds": {
        # ConstantStep: the same step everywhere, hard bounds (no state dependence)
        "no-state": {"_device": "ConstantStepDevice"},
        "no-noise": {"dw_min_std": 0.0, "dw_min_dtod": 0.0, "w_min_dtod": 0.0,
                     "w_max_dtod": 0.0, "up_down_dtod": 0.0},
    },
    "pcm": {
        # σ of the SET step = max(m2·G + c2 + A2·P, 0) = 0; RESET exact
        "no-noise": {"g_max_dtod": 0.0, "m2": 0.0, "c2": 0.0, "A2": 0.0,
                     "g_reset_std": 0.0},
    },
    "cu-sio2-w": {
        "no-state": {"beta_pos": 0.0, "beta_neg": 0.0},
        "no-noise": {"c2c_std": 0.0, "d2d_std": 0.0},
    },
}


def synapse_names(*, ablation: bool = False) -> tuple[str, ...]:
    """Every name :func:`make_synapses` accepts (with the ablation variants when asked)."""
    names = list(SYNAPSE_MODELS)
    if ablation:
        names += [f"{k}/{v}" for k, vs in ABLATIONS.items() for v in vs]
    return tuple(names)


def _cell(base: Any, changes: dict[str, Any]) -> Any:
    changes = dict(changes)
    device_name = changes.pop("_device", None)
    device = base.device
    if device_name is not None:
        from aimc.config import pulsed

        keep = {f: getattr(device, f) for f in ("dw_min", "w_min", "w_max", "dw_min_std",
                                                  "dw_min_dtod", "w_min_dtod", "w_max_dtod",
                                                  "up_down_dtod")}
        device = getattr(pulsed, device_name)(**keep)
    return base.replace(device=device.replace(**changes) if changes else device)


def make_synapses(kind: str, weights: Tensor, w_max: float, *,
                  generator: torch.Generator | None = None, **changes: Any) -> SynapseArray:
    """A synapse array of model ``kind`` holding ``weights`` (n_in, n_out) as its initial
    state:

    * ``"ideal"``: :class:`IdealSynapses`;
    * ``"soft-bounds"``: one aihwkit-style soft-bounds device per synapse (range [−1, 1]
      mapped onto [0, w_max], dw_min 0.002 = 1/1000 of the range, aihwkit's c2c 0.3 and d2d
      0.3 spreads);
    * ``"pcm"``: a differential pair of PCM devices (Nandakumar 2018 pulse model, SET-only,
      refreshed once per image), :class:`PulsedSynapses`;
    * ``"cu-sio2-w"``: :class:`MemristorSynapses` with :class:`aimc.config.snn.CuSiO2WMemristor`;
    * ``"<model>/<variant>"``: the model with one property switched off (:data:`ABLATIONS`:
      ``no-state`` = no state dependence, ``no-noise`` = no cycle-to-cycle and
      device-to-device variation).

    ``changes`` set further fields of the device config.
    """
    model, _, variant = kind.partition("/")
    if variant:
        if variant not in ABLATIONS.get(model, {}):
            raise ConfigError(f"unknown synapse model {kind!r}; choose from "
                              f"{', '.join(synapse_names(ablation=True))}")
        changes = {**ABLATIONS[model][variant], **changes}
    if model == "ideal" and not variant:
        return IdealSynapses(weights.clone(), w_max)
    if model in ("soft-bounds", "pcm"):
        cell = _cell(_soft_bounds() if model == "soft-bounds" else _pcm(), changes)
        return PulsedSynapses(cell, weights, w_max, generator=generator, kind=kind)
    if model == "cu-sio2-w":
        from aimc.config.snn import CuSiO2WMemristor

        syn = MemristorSynapses(CuSiO2WMemristor(**changes), weights, w_max,
                                generator=generator)
        syn.kind = kind
        return syn
    raise ConfigError(f"unknown synapse model {kind!r}; choose from "
                      f"{', '.join(synapse_names(ablation=True))}")
