"""Leaky integrate-and-fire kernels: ``lif_step(inputs, state, params, dt) → (spikes, state)``.

Functional first (the Norse way): the state is an explicit :class:`LIFState` of tensors, the
parameters a frozen :class:`aimc.config.snn.LIFNeuron`; nothing is hidden in a module. Every
tensor has shape ``(batch, neurons)`` (any leading shape works), so all neurons of all samples
advance one time step per tensor op. Units: mV, ms.

Integration over one step of length ``dt`` (synaptic inputs arriving at the step start):

* current synapses, exact for any ``dt``: with a = e^(−dt/τ_m), v_∞ = v_rest + I_ext and a
  synaptic drive s(t) = s₀·e^(−t/τ_s),

      v(dt) = v_∞ + (v₀ − v_∞)·a + Σ_s ± s₀·K_s,   K_s = τ_s/(τ_s − τ_m)·(e^(−dt/τ_s) − a)

  (K_s = (dt/τ_m)·a when τ_s = τ_m; K_s = 1 − a when τ_s = ∞);
* conductance synapses, exponential integrator: the mean conductance of the step,
  ḡ = s₀·τ_s/dt·(1 − e^(−dt/τ_s)), is held, G = 1 + ḡ_e + ḡ_i, v_∞ = (v_rest + ḡ_e·E_e +
  ḡ_i·E_i + I_ext)/G and v(dt) = v_∞ + (v₀ − v_∞)·e^(−dt·G/τ_m) — exact for conductances held
  over the step (τ_s = ∞), second order in dt otherwise;
* s and θ decay exactly (s·e^(−dt/τ_s), θ·e^(−dt/τ_θ)).

Then a neuron outside its lockout spikes if v > v_threshold + θ: v ← v_reset, θ ←
θ + theta_plus (when ``adapt``), it holds v_reset for the next ⌈refractory/dt⌉ steps and
cannot spike in the next ⌈lockout/dt⌉ steps (one counter: set to the lockout steps on a spike,
v held while it exceeds lockout − refractory steps, no spike while it is > 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from aimc.config.snn import LIFNeuron
from aimc.errors import ConfigError, ShapeError
from aimc.snn._checks import check_time_step

__all__ = ["LIFState", "lif_init", "lif_step", "refractory_steps", "lockout_steps",
           "check_dt"]


class LIFState(NamedTuple):
    """The state of a population (every field shaped like the population).

    Attributes:
        v: membrane potential (mV).
        exc, inh: excitatory / inhibitory synaptic variables (mV drive for current
            synapses; multiples of the leak conductance for conductance synapses).
        refractory: steps left before the neuron may spike again (int32; v is held at
            v_reset while more than lockout − refractory steps are left).
        theta: adaptive threshold offset θ (mV).
    """

    v: Tensor
    exc: Tensor
    inh: Tensor
    refractory: Tensor
    theta: Tensor


def check_dt(dt: float, params: LIFNeuron) -> float:
    """``dt`` as a float (ms); rejects dt ≤ 0, non-finite or above ``params.max_dt``."""
    dt = check_time_step(dt)
    if dt > params.max_dt:
        raise ConfigError(f"dt = {dt} ms exceeds the shortest time constant of the neuron "
                          f"({params.max_dt} ms): a spike's effect would decay within one "
                          f"step; use dt <= {params.max_dt}")
    return dt


def refractory_steps(params: LIFNeuron, dt: float) -> int:
    """⌈refractory/dt⌉ steps held at v_reset after a spike (1e-9 guards exact multiples)."""
    return max(0, math.ceil(params.refractory / dt - 1e-9))


def lockout_steps(params: LIFNeuron, dt: float) -> int:
    """⌈lockout/dt⌉ steps without a spike after a spike (at least :func:`refractory_steps`)."""
    n_ref = refractory_steps(params, dt)
    if params.lockout is None:
        return n_ref
    return max(n_ref, math.ceil(params.lockout / dt - 1e-9))


def lif_init(shape: tuple[int, ...] | torch.Size, params: LIFNeuron, *,
             dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> LIFState:
    """A population at rest: v = v_rest, no synaptic input, not refractory, θ = theta_init."""
    if not dtype.is_floating_point:
        raise ShapeError(f"LIF state must be floating point, got {dtype}")
    z = torch.zeros(shape, dtype=dtype, device=device)
    return LIFState(v=torch.full_like(z, params.v_rest), exc=z, inh=z.clone(),
                    refractory=torch.zeros(shape, dtype=torch.int32, device=device),
                    theta=torch.full_like(z, params.theta_init))


def _check_input(name: str, t: Tensor | None, like: Tensor) -> Tensor | None:
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise ShapeError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.shape != like.shape:
        raise ShapeError(f"{name} has shape {tuple(t.shape)}, the population {tuple(like.shape)}"
                         f"; pass one value per neuron and sample")
    if t.device != like.device:
        raise ShapeError(f"{name} is on {t.device}, the state on {like.device}; move it with "
                         f".to({str(like.device)!r})")
    if t.dtype == torch.bool:
        return t.to(like.dtype)
    if t.dtype != like.dtype:
        raise ShapeError(f"{name} is {t.dtype}, the state {like.dtype}; cast it with "
                         f".to({like.dtype})")
    return t


def _kernel(tau_s: float, tau_m: float, dt: float) -> float:
    """K_s of the module docstring: the step's membrane response to a unit synaptic drive."""
    a = math.exp(-dt / tau_m)
    if math.isinf(tau_s):
        return 1.0 - a
    if math.isclose(tau_s, tau_m, rel_tol=1e-12):
        return dt / tau_m * a
    return tau_s / (tau_s - tau_m) * (math.exp(-dt / tau_s) - a)


def _mean_factor(tau_s: float, dt: float) -> float:
    """ḡ/s₀ = τ_s/dt·(1 − e^(−dt/τ_s)): the mean of an exponential decay over the step."""
    return 1.0 if math.isinf(tau_s) else tau_s / dt * -math.expm1(-dt / tau_s)


def lif_step(state: LIFState, params: LIFNeuron, dt: float, *, exc: Tensor | None = None,
             inh: Tensor | None = None, current: Tensor | None = None,
             adapt: bool = True) -> tuple[Tensor, LIFState]:
    """Advance a LIF population by one step of ``dt`` ms (equations: module docstring).

    Args:
        state: the population's :class:`LIFState`.
        params: the neuron parameters.
        dt: time step (ms), 0 < dt ≤ ``params.max_dt``.
        exc, inh: synaptic input arriving at the step start (summed weights of the spikes
            that reached each neuron), shaped like the population; bool spikes count as 1.
        current: constant external drive I_ext (mV) over the step.
        adapt: apply the threshold increment θ_plus on spikes (off during evaluation, as in
            Diehl & Cook).

    Returns:
        ``(spikes, new_state)``; ``spikes`` is bool, shaped like the population.
    """
    dt = check_dt(dt, params)
    v0 = state.v
    exc = _check_input("exc", exc, v0)
    inh = _check_input("inh", inh, v0)
    current = _check_input("current", current, v0)
    s_e = state.exc if exc is None else state.exc + exc
    s_i = state.inh if inh is None else state.inh + inh
    tau_m = params.tau_mem
    if params.synapse == "current":
        a = math.exp(-dt / tau_m)
        v_inf = params.v_rest if current is None else current + params.v_rest
        v = v_inf + (v0 - v_inf) * a
        v = v + _kernel(params.tau_exc, tau_m, dt) * s_e - _kernel(params.tau_inh, tau_m, dt) * s_i
    else:
        g_e = s_e * _mean_factor(params.tau_exc, dt)
        g_i = s_i * _mean_factor(params.tau_inh, dt)
        g = 1.0 + g_e + g_i
        drive = params.v_rest + g_e * params.e_exc + g_i * params.e_inh
        if current is not None:
            drive = drive + current
        v_inf = drive / g
        v = v_inf + (v0 - v_inf) * torch.exp(g * (-dt / tau_m))
    n_ref = refractory_steps(params, dt)
    n_lock = lockout_steps(params, dt)
    refractory = state.refractory > 0
    held = refractory if n_lock == n_ref else state.refractory > n_lock - n_ref
    v = torch.where(held, torch.full_like(v, params.v_reset), v)
    theta = state.theta if math.isinf(params.tau_theta) else \
        state.theta * math.exp(-dt / params.tau_theta)
    spikes = (v > params.v_threshold + theta) & ~refractory
    v = torch.where(spikes, torch.full_like(v, params.v_reset), v)
    if adapt and params.theta_plus > 0:
        theta = theta + spikes.to(theta.dtype) * params.theta_plus
    counter = torch.where(spikes, torch.full_like(state.refractory, n_lock),
                          (state.refractory - 1).clamp_(min=0))
    s_e = s_e if math.isinf(params.tau_exc) else s_e * math.exp(-dt / params.tau_exc)
    s_i = s_i if math.isinf(params.tau_inh) else s_i * math.exp(-dt / params.tau_inh)
    return spikes, LIFState(v=v, exc=s_e, inh=s_i, refractory=counter, theta=theta)
