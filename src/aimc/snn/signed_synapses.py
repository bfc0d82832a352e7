"""Signed synapse arrays for supervised spike timing (NormAD): weights in mV that *are*
device states, programmed by pulses and read with drift and read noise.

* :class:`IdealSignedSynapses` — the rule's Δw applied exactly (the ideal limit);
* :class:`PCMSignedSynapses` — N PCM devices per sign in a differential cell
  (:class:`aimc.config.DifferentialCell` over :class:`aimc.config.PCMPulseDevice`: SET-only
  pulses, one device per sign chosen in turn by a global counter, refresh), the pulse model of
  Nandakumar et al. 2018 (physics.md §3.3) — the DNN on-chip physics, not a second copy;
* :class:`MemristorSignedSynapses` — one bipolar Cu/SiO2/W memristor per synapse against a
  fixed mid-range reference conductance (:mod:`aimc.physics.memristor`).

**Weights.** PCM: w = w_max·(Σᵢ g⁺ᵢ − Σᵢ g⁻ᵢ)/N with g = G/G_max, so the weight range is
±w_max for every N and one pulse moves w by about ε_w = w_max·(ε/G_max)/N (ε = 0.75 µS).
Memristor: w = w_max·(G − G_ref)/(½(G_max − G_min)), G_ref = ½(G_min + G_max).

**Programming** (:meth:`program`, once per training pattern): the requested Δw goes into a
digital accumulator χ (``accumulate=True``, the mixed-precision scheme of physics.md §3.2,
default) and n = trunc(χ/ε_w) pulses are sent, χ ← χ − n·ε_w; or (``accumulate=False``)
n = round(Δw/ε_w) and the rest is dropped. What each pulse does is the device's.

**Reading at time t** (s, the experiment's clock; :meth:`read`): PCM conductance drift
G(t) = G_p·max((t − t_p)/T₀, 1)^(−ν) from each device's last programming time t_p
(ν = 0.04, T₀ = 38.6 s: physics.md §3.3, the first read after the pulse is the reference),
then read noise σ = m₃·G + c₃ (0.03, 0.13 µS), one draw per read. Array-level scaling
(``scaled=True``): the weights times α(t) = S_ref/S(t), S = Σ of every device's drifted
conductance, S_ref taken by :meth:`calibrate` right after training — a hardware-measurable
global factor (the summed column current for an all-ones input) in the spirit of GDC
(physics.md §1.5) that restores the mean output. The scheme of arXiv:1905.11929 itself is
not in our sources; this one is an assumption.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from aimc.config.onchip import DifferentialCell
from aimc.config.pulsed import PCMPulseDevice
from aimc.config.snn import CuSiO2WMemristor
from aimc.errors import CheckpointError, ConfigError, ShapeError

__all__ = ["SignedSynapses", "IdealSignedSynapses", "PCMSignedSynapses",
           "MemristorSignedSynapses", "PCM_DRIFT_NU", "PCM_DRIFT_T0"]

PCM_DRIFT_NU = 0.04
"""Drift exponent ν of the pulse model's devices (physics.md §3.3)."""
PCM_DRIFT_T0 = 38.6
"""T₀ (s): the first read after a pulse, the drift reference (physics.md §3.3)."""


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class SignedSynapses:
    """Base: an (n_in, n_out) array of signed weights in mV.

    Attributes:
        kind: the name in reports and checkpoints.
        pulses: programming pulses sent so far (0 for ideal synapses).
    """

    kind = "base"

    def __init__(self, n_in: int, n_out: int, w_max: float, dtype: torch.dtype,
                 device: torch.device | str | None) -> None:
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        self.n_in, self.n_out = n_in, n_out
        self.w_max = _check_positive("w_max (mV)", w_max)
        self.dtype, self.device = dtype, torch.device(device or "cpu")
        self.pulses = 0

    def _check_dw(self, dw: Tensor) -> Tensor:
        if not isinstance(dw, Tensor) or tuple(dw.shape) != (self.n_in, self.n_out):
            raise ShapeError(f"the update must be a ({self.n_in}, {self.n_out}) tensor, got "
                             f"{getattr(dw, 'shape', type(dw).__name__)}")
        if not dw.dtype.is_floating_point or not bool(torch.isfinite(dw).all()):
            raise ShapeError("the update must be a finite floating-point tensor (mV)")
        return dw.to(device=self.device, dtype=self.dtype)

    @staticmethod
    def _check_time(t_s: float) -> float:
        if isinstance(t_s, bool) or not isinstance(t_s, (int, float)) or \
                not math.isfinite(t_s) or t_s < 0:
            raise ConfigError(f"the time must be a finite number of seconds >= 0, got {t_s!r}")
        return float(t_s)

    def read(self, t_s: float = 0.0, *, scaled: bool = False,
             generator: torch.Generator | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def program(self, dw: Tensor, t_s: float = 0.0) -> int:  # pragma: no cover
        raise NotImplementedError

    def calibrate(self, t_s: float) -> None:
        """Record the reference of the array-level scaling (no-op without drift)."""

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _check_kind(self, state: dict[str, Any]) -> None:
        kind = state.get("kind") if isinstance(state, dict) else None
        if kind != self.kind:
            raise CheckpointError(f"the checkpoint holds {kind!r} synapses, this array is "
                                  f"{self.kind!r}: it is from another network")
        shape = state.get("shape")
        if tuple(shape or ()) != (self.n_in, self.n_out):
            raise CheckpointError(f"the checkpoint's synapses are {shape}, this array "
                                  f"({self.n_in}, {self.n_out}): it is from another network")


class IdealSignedSynapses(SignedSynapses):
    """Plain weights: :meth:`program` adds Δw exactly (clamped to ±w_max)."""

    kind = "ideal"

    def __init__(self, n_in: int, n_out: int, w_max: float = 20.0, *,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__(n_in, n_out, w_max, dtype, device)
        self.w = torch.zeros(n_in, n_out, dtype=dtype, device=self.device)

    def read(self, t_s: float = 0.0, *, scaled: bool = False,
             generator: torch.Generator | None = None) -> Tensor:
        self._check_time(t_s)
        return self.w

    def program(self, dw: Tensor, t_s: float = 0.0) -> int:
        self.w.add_(self._check_dw(dw)).clamp_(-self.w_max, self.w_max)
        return 0

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": (self.n_in, self.n_out), "w": self.w.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.w.copy_(state["w"])


class _Accumulating(SignedSynapses):
    """Δw → pulse counts through the χ accumulator (or plain rounding)."""

    def __init__(self, n_in: int, n_out: int, w_max: float, dtype: torch.dtype,
                 device: torch.device | str | None, accumulate: bool) -> None:
        super().__init__(n_in, n_out, w_max, dtype, device)
        if not isinstance(accumulate, bool):
            raise ConfigError(f"accumulate must be True or False, got {accumulate!r}")
        self.accumulate = accumulate
        self.chi = torch.zeros(n_in, n_out, dtype=torch.float64, device=self.device)
        self.epsilon_w = 1.0  # set by subclasses

    def _counts(self, dw: Tensor) -> Tensor:
        """Signed pulse counts (int64) for the request ``dw``."""
        if self.accumulate:
            self.chi.add_(dw.to(torch.float64))
            n = torch.trunc(self.chi / self.epsilon_w)
            self.chi.sub_(n * self.epsilon_w)
        else:
            n = torch.round(dw.to(torch.float64) / self.epsilon_w)
        return n.to(torch.int64)


class PCMSignedSynapses(_Accumulating):
    """N PCM devices per sign (module docstring), all RESET at the start (w ≈ 0).

    Args:
        n_in, n_out: the array.
        devices_per_sign: N (1 = one differential pair; 2, 4, 8: multi-device synapses).
        w_max: the weight (mV) of a fully SET positive side.
        device: the PCM pulse model (:class:`aimc.config.PCMPulseDevice`).
        refresh_every: updates between refresh checks (0: never).
        drift, read_noise: model them on reads.
        accumulate: χ accumulator (True) or plain rounding.
        generator: device draws (RESET states, pulse noise, read noise when not given).
    """

    kind = "pcm"

    def __init__(self, n_in: int, n_out: int, *, devices_per_sign: int = 1,
                 w_max: float = 20.0, device: PCMPulseDevice | None = None,
                 refresh_every: int = 1, drift: bool = True, read_noise: bool = True,
                 accumulate: bool = True, drift_nu: float = PCM_DRIFT_NU,
                 drift_t0: float = PCM_DRIFT_T0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32,
                 on: torch.device | str | None = None) -> None:
        from aimc.onchip.cells import make_cell_array

        super().__init__(n_in, n_out, w_max, dtype, on, accumulate)
        dev = PCMPulseDevice() if device is None else device
        if not isinstance(dev, PCMPulseDevice):
            raise ConfigError(f"PCMSignedSynapses programs SET-only PCM pulses: give a "
                              f"PCMPulseDevice(), got {dev!r}; other pulsed devices fit "
                              f"aimc.snn.PulsedSynapses")
        self.cell_cfg = DifferentialCell(device=dev, devices_per_sign=devices_per_sign,
                                         refresh_every=refresh_every)
        self.pcm = dev
        self.generator = generator
        self.cells = make_cell_array(self.cell_cfg, (n_in, n_out), generator=generator,
                                     device=self.device, dtype=dtype)
        self.cells.set_weight(torch.zeros(n_in, n_out, dtype=dtype, device=self.device),
                              generator)
        self.n = devices_per_sign
        self.epsilon_w = self.w_max * float(self.cells.granularity) / self.n
        self.drift, self.read_noise = bool(drift), bool(read_noise)
        self.nu = _check_positive("drift_nu", drift_nu)
        self.t0 = _check_positive("drift_t0 (s)", drift_t0)
        self.t_prog = [torch.zeros(n_in, n_out, dtype=torch.float64, device=self.device)
                       for _ in self.cells.devices]
        self.updates = 0
        self.s_ref: float | None = None

    def _conductances(self, t_s: float) -> list[Tensor]:
        """Each device's normalised conductance g = G/G_max at time t (drift, no noise)."""
        out = []
        for d, tp in zip(self.cells.devices, self.t_prog, strict=True):
            g = d.value
            if self.drift:
                factor = ((t_s - tp) / self.t0).clamp_min(1.0).pow(-self.nu).to(g.dtype)
                g = g * factor
            out.append(g)
        return out

    def _sum(self, t_s: float) -> float:
        return float(sum(g.double().sum() for g in self._conductances(t_s)))

    def read(self, t_s: float = 0.0, *, scaled: bool = False,
             generator: torch.Generator | None = None) -> Tensor:
        t_s = self._check_time(t_s)
        gs = self._conductances(t_s)
        if self.read_noise:
            gen = generator if generator is not None else self.generator
            scale = 1.0 / self.pcm.g_max
            noisy = []
            for g in gs:
                sigma = self.pcm.read_noise_m * g + self.pcm.read_noise_c * scale
                noisy.append(g + sigma * torch.randn(g.shape, dtype=g.dtype, device=g.device,
                                                     generator=gen))
            gs = noisy
        half = self.n
        w = gs[0].clone()
        for g in gs[1:half]:
            w.add_(g)
        for g in gs[half:]:
            w.sub_(g)
        w.mul_(self.w_max / self.n)
        if scaled:
            if self.s_ref is None:
                raise ConfigError("array-level scaling needs a reference: call calibrate(t) "
                                  "right after training")
            w.mul_(self.s_ref / self._sum(t_s))
        return w

    def calibrate(self, t_s: float) -> None:
        self.s_ref = self._sum(self._check_time(t_s))

    def program(self, dw: Tensor, t_s: float = 0.0) -> int:
        """Send the pulses for ``dw`` (SET on G⁺ where > 0, on G⁻ where < 0), advance the
        device counter, refresh if due; returns the number of pulses."""
        t_s = self._check_time(t_s)
        n = self._counts(self._check_dw(dw)).reshape(-1)
        before = [d.value.clone() for d in self.cells.devices]
        index = torch.nonzero(n).flatten()
        sent = 0
        if index.numel():
            counts = n.index_select(0, index)
            up, down = counts.clamp(min=0), (-counts).clamp(min=0)
            self.cells.apply_counts_at(index, up, down, self.generator)
            sent = int(counts.abs().sum())
        self.updates += 1
        self.cells.end_step(self.updates, self.generator)
        for d, tp, b in zip(self.cells.devices, self.t_prog, before, strict=True):
            tp.masked_fill_(d.value != b, t_s)
        self.pulses += sent
        return sent

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": (self.n_in, self.n_out), "n": self.n,
                "devices": self.cells.state_tensors(), "counter": self.cells.counter,
                "chi": self.chi.clone(), "t_prog": [t.clone() for t in self.t_prog],
                "pulses": self.pulses, "updates": self.updates, "s_ref": self.s_ref,
                "generator": None if self.generator is None else self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        if state.get("n") != self.n:
            raise CheckpointError(f"the checkpoint has {state.get('n')} devices per sign, "
                                  f"this array {self.n}: it is from another network")
        self.cells.load_state_tensors(state["devices"])
        self.cells.counter = int(state["counter"])
        self.chi.copy_(state["chi"])
        for t, s in zip(self.t_prog, state["t_prog"], strict=True):
            t.copy_(s)
        self.pulses, self.updates = int(state["pulses"]), int(state["updates"])
        self.s_ref = state["s_ref"]
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])


class MemristorSignedSynapses(_Accumulating):
    """One bipolar Cu/SiO2/W memristor per synapse against a reference G_ref (module
    docstring). A programming pulse is the spike pair of Δt = +``pulse_dt`` (SET) or
    −``pulse_dt`` (RESET) ms of the device's STDP waveform: state-dependent, noisy steps from
    :func:`aimc.physics.memristor.update_from_drives`; ε_w is the mean step of a mid-range
    device. All devices start at G_ref (w = 0, up to device-to-device spread of the bounds).
    """

    kind = "cu-sio2-w"

    def __init__(self, n_in: int, n_out: int, *, w_max: float = 20.0,
                 model: CuSiO2WMemristor | None = None, pulse_dt: float = 5.0,
                 accumulate: bool = True, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32,
                 on: torch.device | str | None = None) -> None:
        from aimc.physics.memristor import mean_update, sample_memristors, table_drives

        super().__init__(n_in, n_out, w_max, dtype, on, accumulate)
        self.model = CuSiO2WMemristor() if model is None else model
        if not isinstance(self.model, CuSiO2WMemristor):
            raise ConfigError(f"model must be a CuSiO2WMemristor(), got {self.model!r}")
        self.pulse_dt = _check_positive("pulse_dt (ms)", pulse_dt)
        m = self.model
        self.generator = generator
        self.params = sample_memristors((n_in, n_out), m, generator=generator,
                                        dtype=torch.float64, device=self.device)
        self.g_ref = 0.5 * (m.g_min + m.g_max)
        self.half = 0.5 * (m.g_max - m.g_min)
        self.g = torch.full((n_in, n_out), self.g_ref, dtype=torch.float64, device=self.device)
        dts = torch.tensor([self.pulse_dt, -self.pulse_dt], dtype=torch.float64)
        d_pos, d_neg = table_drives(dts, m)
        self.set_drives = (float(d_pos[0]), float(d_neg[0]))
        self.reset_drives = (float(d_pos[1]), float(d_neg[1]))
        step_up = float(mean_update(torch.tensor([self.g_ref], dtype=torch.float64),
                                    dts[:1], m))
        step_down = -float(mean_update(torch.tensor([self.g_ref], dtype=torch.float64),
                                       dts[1:], m))
        if not (step_up > 0 and step_down > 0):
            raise ConfigError(f"a ±{self.pulse_dt} ms spike pair does not move the device both "
                              f"ways (mean steps {step_up:+.3g}, {-step_down:+.3g} µS at "
                              f"G_ref); pick pulse_dt inside the STDP window")
        self.epsilon_w = self.w_max * 0.5 * (step_up + step_down) / self.half

    def read(self, t_s: float = 0.0, *, scaled: bool = False,
             generator: torch.Generator | None = None) -> Tensor:
        self._check_time(t_s)
        return ((self.g - self.g_ref) * (self.w_max / self.half)).to(self.dtype)

    def program(self, dw: Tensor, t_s: float = 0.0) -> int:
        from aimc.physics.memristor import MemristorParams, update_from_drives

        self._check_time(t_s)
        n = self._counts(self._check_dw(dw)).reshape(-1)
        flat = self.g.view(-1)
        sent = 0
        for sign, drives in ((1, self.set_drives), (-1, self.reset_drives)):
            left = (n * sign).clamp(min=0)
            k = 0
            while True:
                idx = torch.nonzero(left > k).flatten()
                if idx.numel() == 0:
                    break
                p = MemristorParams(*(t.reshape(-1).index_select(0, idx) for t in self.params))
                d_pos = torch.full((idx.numel(),), drives[0], dtype=flat.dtype,
                                   device=flat.device)
                d_neg = torch.full_like(d_pos, drives[1])
                flat.index_copy_(0, idx, update_from_drives(
                    flat.index_select(0, idx), d_pos, d_neg, self.model, params=p,
                    generator=self.generator))
                sent += idx.numel()
                k += 1
        self.pulses += sent
        return sent

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": (self.n_in, self.n_out), "g": self.g.clone(),
                "chi": self.chi.clone(), "pulses": self.pulses,
                "params": [t.clone() for t in self.params],
                "generator": None if self.generator is None else self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from aimc.physics.memristor import MemristorParams

        self._check_kind(state)
        self.g.copy_(state["g"])
        self.chi.copy_(state["chi"])
        self.pulses = int(state["pulses"])
        self.params = MemristorParams(*(t.clone() for t in state["params"]))
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])
