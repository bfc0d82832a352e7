"""Spiking-network parameters: neurons and synaptic traces (units: mV, ms).

Frozen, validated configs like the rest of :mod:`aimc.config`; the kernels that use them are in
:mod:`aimc.snn`. Defaults are the excitatory neuron of the Diehl & Cook (2015) reference code
``[3rd peter-u-diehl/stdp-mnist Diehl&Cook_spiking_MNIST.py]`` (``../shared/reference/
physics.md`` §4.3), where that code states them, except the firing lockout, which only
:func:`diehl_cook_excitatory` sets.
"""

from __future__ import annotations

import math

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["LIFNeuron", "Trace", "DiehlCookSTDP", "SpikeWaveform", "CuSiO2WMemristor",
           "diehl_cook_excitatory", "diehl_cook_inhibitory", "DIEHL_COOK_LOCKOUT"]

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
    Threshold: a spike when v > v_threshold + θ outside the lockout; then v ← v_reset, the
    neuron holds v_reset for ``refractory`` ms, cannot spike again for ``lockout`` ms
    (≥ refractory; default = refractory), and θ ← θ + theta_plus.
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
        refractory: absolute refractory period (ms): v is held at v_reset; 5 ms.
        lockout: time after a spike before the neuron can spike again (ms, ≥ refractory;
            None = ``refractory``). The Diehl & Cook reference code's excitatory threshold
            also needs ``timer > refrac_e`` with ``dtimer/dt = 0.1``, so its neurons cannot
            fire within 50 ms of a spike although v integrates again after 5 ms
            (:func:`diehl_cook_excitatory`).
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
    lockout: float | None = None
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
        if self.lockout is not None:
            check_type(n, "lockout", self.lockout, (int, float))
            if not math.isfinite(self.lockout) or self.lockout < 0:
                raise ConfigError(f"{n}.lockout must be a finite number of ms >= refractory "
                                  f"({self.refractory} ms), or None for no lockout beyond "
                                  f"the refractory period; got {self.lockout!r}")
            if self.lockout < self.refractory:
                raise ConfigError(f"{n}.lockout ({self.lockout} ms) must be >= refractory "
                                  f"({self.refractory} ms): a neuron cannot spike while its "
                                  f"membrane is held; raise lockout or pass None")
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


#: the reference code's excitatory firing lockout (ms): its threshold needs ``timer > 5 ms``
#: with ``dtimer/dt = 0.1`` and ``timer = 0`` at reset, i.e. 50 ms after a spike
DIEHL_COOK_LOCKOUT = 50.0


def diehl_cook_excitatory(lockout: float | None = DIEHL_COOK_LOCKOUT) -> LIFNeuron:
    """The excitatory neuron of the Diehl & Cook reference code (physics.md §4.3): the
    :class:`LIFNeuron` defaults plus the reference code's 50 ms firing lockout (v integrates
    again 5 ms after a spike, but the neuron cannot fire for 50 ms; ``lockout=None``: the
    5 ms refractory period alone, as the paper's text and physics.md §4.3 state it)."""
    return LIFNeuron(lockout=lockout)


def diehl_cook_inhibitory() -> LIFNeuron:
    """The inhibitory neuron of the Diehl & Cook reference code (physics.md §4.3): rest −60 mV,
    reset −45 mV, threshold −40 mV, τ_m 10 ms, refractory 2 ms, E_i −85 mV, no adaptation."""
    return LIFNeuron(tau_mem=10.0, v_rest=-60.0, v_reset=-45.0, v_threshold=-40.0,
                     refractory=2.0, e_inh=-85.0, theta_plus=0.0, theta_init=0.0,
                     tau_theta=math.inf)


@config
class SpikeWaveform(ConfigBase):
    """The voltage a neuron applies to its synapses when it spikes (volts, ms), after
    Serrano-Gotarredona et al., Front. Neurosci. 7:2 (2013): a short positive pulse, then a
    slowly decaying negative tail,

        V(t) = amplitude_pos                                 for 0 ≤ t < width_pos
        V(t) = −amplitude_neg·e^(−(t − width_pos)/tau_neg)    for t ≥ width_pos (0 before 0).

    A pre spike applies V_pre(t) to the device's top electrode and a post spike V_post to
    the bottom one, so the device sees V_pre(t) − V_post(t − Δt), Δt = t_post − t_pre.
    Defaults are ASSUMED (the paper's waveforms are not in our sources, snn.md §2): each
    spike alone (0.25 V, −0.15 V) stays below the 0.3 V set and reset thresholds of
    :class:`CuSiO2WMemristor`, their overlap reaches at most 0.4 V, under the paper's 500 mV.
    """

    amplitude_pos: float = 0.25
    width_pos: float = 1.0
    amplitude_neg: float = 0.15
    tau_neg: float = 20.0

    def _validate(self) -> None:
        for f in ("amplitude_pos", "width_pos", "amplitude_neg", "tau_neg"):
            check_positive("SpikeWaveform", f, getattr(self, f))
            if math.isinf(getattr(self, f)):
                raise ConfigError(f"SpikeWaveform.{f} must be finite")


@config
class CuSiO2WMemristor(ConfigBase):
    """Phenomenological, state-dependent Cu/SiO2/W memristor for spike-triggered STDP
    (arXiv:2001.09299, physics.md §4; model family of snn.md §2). Conductances in µS,
    voltages in V, times in ms.

    The device integrates the part of its voltage V(t) = V_pre(t) − V_post(t − Δt) above
    the set threshold (potentiation) or below minus the reset threshold (depression),
    VTEAM-style (Kvatinsky et al., IEEE TCAS-II 62:786, 2015):

        D⁺(Δt) = ∫ (max(V − v_set, 0)/v_set)^p dt,   D⁻(Δt) = ∫ (max(−V − v_reset, 0)/v_reset)^p dt

    and changes with soft, state-dependent bounds (Querlioz et al., IEEE Trans. Nanotechnol.
    12:288, 2013), ĝ = (G − g_min)/(g_max − g_min):

        ΔG = α⁺·D⁺·e^(−β⁺·ĝ) − α⁻·D⁻·e^(−β⁻·(1 − ĝ)),

    each term times its own cycle-to-cycle log-normal factor e^(σ_c2c·ξ − σ_c2c²/2) (mean 1),
    then G is clipped to [g_min, g_max]. Device-to-device: α±, β±, g_min, g_max of each device
    scaled by (1 + σ_d2d·ξ) (floored at 0.1 of the nominal).

    Every default is an ASSUMPTION (the paper's fitted values are not in our sources): a
    0.1–10 µS range (Cu/SiO2 ECM cells at sub-0.5 V read), thresholds 0.3 V, p = 2,
    α = 40 so a 10 ms pre→post pair moves a mid-range device by ≈ 2 % of its range.
    Use :func:`aimc.snn.memristor.fit_memristor` to set α, β from measured
    (G, ΔG, Δt) data.

    Attributes:
        g_min, g_max: conductance bounds (µS).
        v_set, v_reset: thresholds (V) for potentiation and depression, both > 0.
        exponent: p of the drive.
        alpha_pos, alpha_neg: rates (µS per unit drive·ms).
        beta_pos, beta_neg: state dependence (0: state-independent).
        c2c_std, d2d_std: log-normal cycle-to-cycle σ and relative device-to-device spread.
        waveform: the spike waveform of pre and post neurons.
    """

    g_min: float = 0.1
    g_max: float = 10.0
    v_set: float = 0.3
    v_reset: float = 0.3
    exponent: float = 2.0
    alpha_pos: float = 40.0
    alpha_neg: float = 40.0
    beta_pos: float = 3.0
    beta_neg: float = 3.0
    c2c_std: float = 0.2
    d2d_std: float = 0.1
    waveform: SpikeWaveform = SpikeWaveform()

    def _validate(self) -> None:
        n = "CuSiO2WMemristor"
        for f in ("g_max", "v_set", "v_reset", "exponent"):
            check_positive(n, f, getattr(self, f))
        for f in ("g_min", "alpha_pos", "alpha_neg", "beta_pos", "beta_neg", "c2c_std",
                  "d2d_std"):
            check_nonnegative(n, f, getattr(self, f))
        for f in ("g_min", "g_max", "alpha_pos", "alpha_neg", "beta_pos", "beta_neg"):
            if math.isinf(getattr(self, f)):
                raise ConfigError(f"{n}.{f} must be finite")
        if not self.g_min < self.g_max:
            raise ConfigError(f"{n}: g_min ({self.g_min} µS) must lie below g_max "
                              f"({self.g_max} µS); swap them")
        if not isinstance(self.waveform, SpikeWaveform):
            raise ConfigError(f"{n}.waveform must be a SpikeWaveform(), got {self.waveform!r}")
        w = self.waveform
        if w.amplitude_pos >= self.v_set or w.amplitude_neg >= self.v_reset:
            raise ConfigError(
                f"{n}: a single spike ({w.amplitude_pos} V / −{w.amplitude_neg} V) already "
                f"crosses the set/reset threshold ({self.v_set} / {self.v_reset} V), so "
                f"every spike would change the device: lower the waveform amplitudes or raise "
                f"the thresholds")
