"""Parameters of the NormAD spiking layer (:mod:`aimc.snn.normad`).

NormAD is Anwani & Rajendran, IJCNN 2015; its form here is RECONSTRUCTED from the NormAD
literature (``../shared/reference/physics.md`` §5.3): the paper text was not available, and
neither were the neuron constants of arXiv:1905.11929. Every default below is therefore an
ASSUMPTION, chosen so that a 1 ms grid resolves the kernels (τ ≥ 1.25 ms) and a ±25 ms
tolerance is a meaningful target: the kernel constants τ₁ = 5 ms, τ₂ = 1.25 ms are the usual
choice of the ReSuMe/SPAN/NormAD line of work, τ_m = 10 ms and the 20 mV threshold-to-rest
gap are textbook LIF values.
"""

from __future__ import annotations

import math

from aimc.config.base import ConfigBase, check_nonnegative, check_positive, check_type, config
from aimc.errors import ConfigError

__all__ = ["NormADNeuron"]


@config
class NormADNeuron(ConfigBase):
    """Current-based LIF output neuron with a double-exponential synaptic kernel.

    Membrane and input current (w in mV: the jump one input spike would cause without leak):

        dV/dt = −(V − v_rest)/τ_m + Σ_i w_i·c_i(t),   c_i(t) = Σ_k κ(t − t_i^k),
        κ(t) = (e^(−t/τ₁) − e^(−t/τ₂))/(τ₁ − τ₂)   (1/ms, unit area),

    a spike when V ≥ v_threshold outside the refractory period, then V ← v_reset held for
    ``refractory`` ms. NormAD's filtered input d̂_i = ĥ ∗ c_i uses ĥ(t) = e^(−t/τ′)
    (``tau_eff``: τ′ approximates the reset-including impulse response; None: τ′ = τ_m).

    Attributes:
        dt: grid step (ms); input spikes sit on the grid, the kernels are sampled on it.
        tau_mem: τ_m (ms).
        tau_syn1, tau_syn2: κ's decay and rise times τ₁ > τ₂ (ms).
        tau_eff: τ′ of NormAD's filter (ms), None for τ_m.
        v_rest, v_reset, v_threshold: mV.
        refractory: ms held at v_reset after a spike.
        kernel_tol: the kernels are cut where they fall below this fraction of their peak.
    """

    dt: float = 1.0
    tau_mem: float = 10.0
    tau_syn1: float = 5.0
    tau_syn2: float = 1.25
    tau_eff: float | None = None
    v_rest: float = -70.0
    v_reset: float = -70.0
    v_threshold: float = -50.0
    refractory: float = 2.0
    kernel_tol: float = 1e-7

    def _validate(self) -> None:
        n = "NormADNeuron"
        for f in ("dt", "tau_mem", "tau_syn1", "tau_syn2", "kernel_tol"):
            check_positive(n, f, getattr(self, f))
            if not math.isfinite(getattr(self, f)):
                raise ConfigError(f"{n}.{f} must be finite, got {getattr(self, f)!r}")
        if self.tau_eff is not None:
            check_positive(n, "tau_eff", self.tau_eff)
        if not self.tau_syn1 > self.tau_syn2:
            raise ConfigError(f"{n}: tau_syn1 ({self.tau_syn1} ms, the decay) must exceed "
                              f"tau_syn2 ({self.tau_syn2} ms, the rise); swap them")
        shortest = min(self.tau_mem, self.tau_syn2, self.tau_eff or math.inf)
        if self.dt > shortest:
            raise ConfigError(f"{n}: dt = {self.dt} ms exceeds the shortest time constant "
                              f"({shortest} ms), which the grid would not resolve; use "
                              f"dt <= {shortest}")
        for f in ("v_rest", "v_reset", "v_threshold"):
            check_type(n, f, getattr(self, f), (int, float))
            if not math.isfinite(getattr(self, f)):
                raise ConfigError(f"{n}.{f} must be finite (mV), got {getattr(self, f)!r}")
        if self.v_threshold <= max(self.v_reset, self.v_rest):
            raise ConfigError(f"{n}: v_threshold ({self.v_threshold} mV) must lie above "
                              f"v_reset and v_rest, or the neuron fires at rest; raise it")
        check_nonnegative(n, "refractory", self.refractory)
        if not self.kernel_tol < 1:
            raise ConfigError(f"{n}.kernel_tol must be < 1 (a fraction of the peak), got "
                              f"{self.kernel_tol}")

    @property
    def filter_tau(self) -> float:
        """τ′ of NormAD's filter ĥ (ms)."""
        return self.tau_mem if self.tau_eff is None else self.tau_eff

    @property
    def refractory_steps(self) -> int:
        return max(0, math.ceil(self.refractory / self.dt - 1e-9))
