"""Spiking-network parameters: neurons and synaptic traces (units: mV, ms).

Frozen, validated configs like the rest of :mod:`aimc.config`; the kernels that use them are in
:mod:`aimc.snn`. Defaults are the excitatory neuron of the Diehl & Cook (2015) reference code
``[3rd peter-u-diehl/stdp-mnist Diehl&Cook_spiking_MNIST.py]`` (``../shared/reference/
physics.md`` §4.3), where that code states them.
"""

from __future__ import annotations

import math

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["LIFNeuron", "Trace", "DiehlCookSTDP", "diehl_cook_excitatory",
           "diehl_cook_inhibitory"]

_SYNAPSES = ("current", "conductance")
_TRACE_MODES = ("reset", "additive")


@config
class LIFNeuron(ConfigBase):
    """Leaky integrate-and-fire neuron with exponential synapses and an adaptive threshold.

    Membrane (``synapse="current"``):
        τ_m·dv/dt = (v_rest − v) + s_e − s_i + I_ext            (s in mV: drive R·I)
    Membrane (``synapse="conductance"``, s in units of the leak conductance):
        τ_m·dv/dt = (v_rest − v) + s_e·(E_e − v) + s_i·(E_i − v)
    Synapses: τ_e·ds_e/dt = −s_e (likewise s_i); an arriving spike of weight w adds w.
    Threshold: a spike when v > v_threshold + θ outside the refractory period; then
    v ← v_reset, the neuron holds v_reset for ``refractory`` ms, and θ ← θ + theta_plus.
    θ decays as τ_θ·dθ/dt = −θ (starts at ``theta_init``).

    Integration (:func:`aimc.snn.lif_step`) is exact for any ``dt`` where a closed form
    exists: current-based membrane and synapses, θ, traces. Conductance-based membranes use
    the exponential integrator with the step's mean conductances (exact for conductances held
    constant over the step); see :func:`aimc.snn.lif_step`.

    Attributes:
        tau_mem: membrane time constant τ_m (ms); Diehl & Cook excitatory 100 ms.
        v_rest, v_reset: rest and reset potentials (mV); −65 / −65.
        v_threshold: base threshold (mV). Diehl & Cook spike when v > −52 mV + θ − 20 mV with
            θ starting at 20 mV: here v_threshold = −72 mV and ``theta_init`` = 20 mV.
        refractory: absolute refractory period (ms); 5 ms.
        synapse: ``"current"`` or ``"conductance"`` (Diehl & Cook: conductance).
        tau_exc, tau_inh: synaptic decay τ_e, τ_i (ms); 1 and 2 ms.
        e_exc, e_inh: reversal potentials E_e, E_i (mV, conductance synapses); 0 and −100 mV.
        theta_plus: threshold increment per spike (mV); 0.05 mV (0 = no adaptation).
        tau_theta: θ decay (ms); 10⁷ ms (``math.inf``: no decay).
        theta_init: θ of a fresh state (mV); 20 mV.
    """

    tau_mem: float = 100.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_threshold: float = -72.0
    refractory: float = 5.0
    synapse: str = "conductance"
    tau_exc: float = 1.0
    tau_inh: float = 2.0
    e_exc: float = 0.0
    e_inh: float = -100.0
    theta_plus: float = 0.05
    tau_theta: float = 1e7
    theta_init: float = 20.0

    def _validate(self) -> None:
        n = "LIFNeuron"
        for f in ("tau_mem", "tau_exc", "tau_inh", "tau_theta"):
            check_positive(n, f, getattr(self, f))
        for f in ("v_rest", "v_reset", "v_threshold", "e_exc", "e_inh", "theta_init"):
            check_type(n, f, getattr(self, f), (int, float))
            if not math.isfinite(getattr(self, f)):
                raise ConfigError(f"{n}.{f} must be finite (mV), got {getattr(self, f)!r}")
        if math.isinf(self.tau_mem):
            raise ConfigError(f"{n}.tau_mem must be finite (ms), got {self.tau_mem!r}")
        check_nonnegative(n, "refractory", self.refractory)
        check_nonnegative(n, "theta_plus", self.theta_plus)
        if self.synapse not in _SYNAPSES:
            raise ConfigError(f"{n}.synapse must be one of {_SYNAPSES}, got {self.synapse!r}")
        if self.v_threshold + self.theta_init <= self.v_reset:
            raise ConfigError(
                f"{n}: the threshold v_threshold + theta_init = "
                f"{self.v_threshold + self.theta_init} mV must lie above v_reset = "
                f"{self.v_reset} mV, or every reset neuron fires again at once; raise "
                f"v_threshold or lower v_reset")
        if self.synapse == "conductance" and self.e_inh >= self.e_exc:
            raise ConfigError(f"{n}: e_inh ({self.e_inh} mV) must lie below e_exc "
                              f"({self.e_exc} mV); swap them")

    @property
    def max_dt(self) -> float:
        """The largest time step (ms) allowed: the shortest synaptic or membrane time
        constant (a spike's effect must not vanish inside one step)."""
        return min(self.tau_mem, self.tau_exc, self.tau_inh)


@config
class Trace(ConfigBase):
    """A synaptic eligibility trace: τ·dx/dt = −x; on a spike x ← 1 (``mode="reset"``, the
    Diehl & Cook reference code) or x ← x + amplitude (``"additive"``).

    Attributes:
        tau: decay time constant (ms).
        mode: ``"reset"`` or ``"additive"``.
        amplitude: the value set (reset) or added (additive) on a spike.
    """

    tau: float = 20.0
    mode: str = "reset"
    amplitude: float = 1.0

    def _validate(self) -> None:
        check_positive("Trace", "tau", self.tau)
        check_positive("Trace", "amplitude", self.amplitude)
        if self.mode not in _TRACE_MODES:
            raise ConfigError(f"Trace.mode must be one of {_TRACE_MODES}, got {self.mode!r}")


@config
class DiehlCookSTDP(ConfigBase):
    """Parameters of the Diehl & Cook trace STDP rule (:mod:`aimc.snn.stdp`; physics.md
    §4.3 and §7.4).

    Attributes:
        nu_pre: depression rate on pre spikes (1e-4).
        nu_post: potentiation rate on post spikes (1e-2).
        tau_pre, tau_post1, tau_post2: trace time constants (ms): 20, 20, 40.
        w_max: upper weight bound (1.0; the lower bound is 0).
    """

    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre: float = 20.0
    tau_post1: float = 20.0
    tau_post2: float = 40.0
    w_max: float = 1.0

    def _validate(self) -> None:
        for f in ("nu_pre", "nu_post", "tau_pre", "tau_post1", "tau_post2", "w_max"):
            check_positive("DiehlCookSTDP", f, getattr(self, f))
        if math.isinf(self.w_max):
            raise ConfigError("DiehlCookSTDP.w_max must be finite")


def diehl_cook_excitatory() -> LIFNeuron:
    """The excitatory neuron of the Diehl & Cook reference code (physics.md §4.3)."""
    return LIFNeuron()


def diehl_cook_inhibitory() -> LIFNeuron:
    """The inhibitory neuron of the Diehl & Cook reference code (physics.md §4.3): rest −60 mV,
    reset −45 mV, threshold −40 mV, τ_m 10 ms, refractory 2 ms, E_i −85 mV, no adaptation."""
    return LIFNeuron(tau_mem=10.0, v_rest=-60.0, v_reset=-45.0, v_threshold=-40.0,
                     refractory=2.0, e_inh=-85.0, theta_plus=0.0, theta_init=0.0,
                     tau_theta=math.inf)
