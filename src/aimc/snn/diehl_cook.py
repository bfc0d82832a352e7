"""The Diehl & Cook (2015) network: unsupervised digit learning by STDP (physics.md §4.3).

Diehl & Cook, "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99 (2015); constants from the reference code
``[3rd peter-u-diehl/stdp-mnist Diehl&Cook_spiking_MNIST.py]`` where physics.md §4.3 lists
them. Values taken from that code but not listed in physics.md are marked (ref. code).

Network: n_input Poisson inputs → n excitatory conductance-based LIF neurons with adaptive
thresholds (input weights W ∈ [0, 1], learned) → n inhibitory neurons one-to-one (weight
``w_exc_inh`` = 10.4, ref. code) → every excitatory neuron but its own (weight ``w_inh_exc`` =
17.0, ref. code): lateral inhibition, so neurons compete. Before each training image every
excitatory neuron's input weights are rescaled to sum to ``norm`` (78).

Presentation of one image (all samples of a batch in parallel): ``t_present`` ms of Poisson
input at rate pixel·255/8·intensity Hz (pixels in [0, 1]; intensity starts at 2, so at most
63.75 Hz), then ``t_rest`` ms without input so the state relaxes. A sample whose excitatory
layer emitted fewer than ``min_spikes`` spikes is presented again with intensity + 1.

Time stepping: spikes emitted in step k reach their targets at the start of step k + 1 (the
input's Poisson spikes of step k act in step k, a fixed one-step shift of the input). Input
delays (0–10 ms in the reference code) are not modelled. The default simulation is
event-driven (:mod:`aimc.snn._presentation`): the same equations with fewer operations, and
the rest period simulated only until no neuron can spike again, the rest of it in closed form
(θ's exact decay; every other state variable is reset at the next image). ``present(...,
reference=True)`` runs the plain step-by-step loop instead.

Synapses: a :class:`aimc.snn.synapses.SynapseArray` (default :class:`IdealSynapses`, the
reference code's clipped weights); the STDP rule requests changes, the array applies them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from aimc.config.snn import DiehlCookSTDP, LIFNeuron, diehl_cook_excitatory, diehl_cook_inhibitory
from aimc.errors import ConfigError, ShapeError
from aimc.snn._presentation import present_fast, spike_probability
from aimc.snn.encoders import poisson_events
from aimc.snn.monitors import SpikeMonitor, StateMonitor
from aimc.snn.neurons import lif_init, lif_step
from aimc.snn.stdp import apply_ideal, stdp_init, stdp_step
from aimc.snn.synapses import IdealSynapses, SynapseArray

__all__ = ["DiehlCookSettings", "DiehlCookNetwork", "assign_labels", "predict"]


@dataclass(frozen=True)
class DiehlCookSettings:
    """Network and protocol constants (module docstring; physics.md §4.3)."""

    n_input: int = 784
    n_neurons: int = 100
    dt: float = 0.5
    t_present: float = 350.0
    t_rest: float = 150.0
    intensity: float = 2.0
    min_spikes: int = 5
    max_intensity: float = 32.0
    norm: float = 78.0
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0
    init_scale: float = 0.3
    exc: LIFNeuron = field(default_factory=diehl_cook_excitatory)
    inh: LIFNeuron = field(default_factory=diehl_cook_inhibitory)
    stdp: DiehlCookSTDP = field(default_factory=DiehlCookSTDP)

    def __post_init__(self) -> None:
        for name in ("n_input", "n_neurons", "min_spikes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "min_spikes"
                                                                      else 1):
                raise ConfigError(f"DiehlCookSettings.{name} must be a positive integer, "
                                  f"got {v!r}")
        for name in ("dt", "t_present", "intensity", "max_intensity", "norm", "init_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v <= 0:
                raise ConfigError(f"DiehlCookSettings.{name} must be a finite number > 0, "
                                  f"got {v!r}")
        if self.t_rest < 0:
            raise ConfigError(f"DiehlCookSettings.t_rest must be >= 0 ms, got {self.t_rest!r}")
        if self.dt > min(self.exc.max_dt, self.inh.max_dt):
            raise ConfigError(f"DiehlCookSettings.dt = {self.dt} ms exceeds the neurons' "
                              f"shortest time constant; use dt <= "
                              f"{min(self.exc.max_dt, self.inh.max_dt)}")

    @property
    def present_steps(self) -> int:
        return max(1, round(self.t_present / self.dt))

    @property
    def rest_steps(self) -> int:
        return round(self.t_rest / self.dt)


class DiehlCookNetwork:
    """Input weights and adaptive thresholds of a Diehl & Cook network (plain, ideal
    synapses); :meth:`present` runs images through it, learning or not.

    Args:
        settings: the constants.
        generator: draws the initial weights (uniform (U + 0.01)·init_scale, ref. code) and,
            unless :meth:`present` gets its own, the Poisson input.
        device, dtype: where the state lives.
    """

    def __init__(self, settings: DiehlCookSettings | None = None, *,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 synapses: SynapseArray | None = None):
        self.settings = s = settings or DiehlCookSettings()
        self.generator = generator
        where = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(s.n_input, s.n_neurons, generator=generator, dtype=dtype, device=where)
        init = ((u + 0.01) * s.init_scale).clamp_(0.0, s.stdp.w_max).to(device)
        if synapses is None:
            synapses = IdealSynapses(init, s.stdp.w_max)
        elif not isinstance(synapses, SynapseArray):
            raise ConfigError(f"synapses must be a SynapseArray such as IdealSynapses or "
                              f"DeviceSynapses, got {type(synapses).__name__}")
        elif (synapses.n_in, synapses.n_out) != (s.n_input, s.n_neurons):
            raise ShapeError(f"synapses are {synapses.n_in}×{synapses.n_out}, the network "
                             f"needs n_input × n_neurons = {s.n_input}×{s.n_neurons}")
        self.synapses = synapses
        self.theta = torch.full((s.n_neurons,), s.exc.theta_init, dtype=dtype, device=device)
        lateral = torch.full((s.n_neurons, s.n_neurons), s.w_inh_exc, dtype=dtype,
                             device=device)
        self._inh_exc = lateral.fill_diagonal_(0.0)

    @property
    def weights(self) -> Tensor:
        """The input → excitatory weights now (n_input, n_neurons)."""
        return self.synapses.weights()

    def normalize(self) -> None:
        """Rescale each neuron's input weights to sum to ``norm`` (before each training
        image, ref. code), then clip to [0, w_max] (as the synapse array can)."""
        self.synapses.normalize(self.settings.norm)

    def _check_images(self, images: Tensor) -> Tensor:
        s = self.settings
        if not isinstance(images, Tensor) or not images.dtype.is_floating_point:
            raise ShapeError("images must be a floating-point tensor of pixels in [0, 1]")
        x = images.reshape(images.shape[0], -1) if images.dim() > 1 else images.view(1, -1)
        if x.shape[1] != s.n_input:
            raise ShapeError(f"images have {x.shape[1]} pixels, the network {s.n_input} "
                             f"inputs")
        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise ConfigError("pixel intensities must lie in [0, 1]; divide 8-bit images "
                              "by 255")
        return x.to(device=self.weights.device, dtype=self.weights.dtype)

    def present(self, images: Tensor, *, learn: bool,
                generator: torch.Generator | None = None, reference: bool = False,
                spikes: SpikeMonitor | None = None,
                voltages: StateMonitor | None = None) -> Tensor:
        """Present a batch of images; returns the excitatory spike counts (batch, n).

        With ``learn`` the input weights change by STDP during the presentation (summed
        over the batch; Diehl & Cook use batch 1), the thresholds adapt, and the weights are
        normalised first. Samples with fewer than ``min_spikes`` spikes are presented again
        at a higher intensity (up to ``max_intensity``); their last counts are returned.

        The event-driven simulation of :mod:`aimc.snn._presentation` runs by default;
        ``reference=True`` runs the plain step-by-step version built from
        :func:`aimc.snn.lif_step` and :func:`aimc.snn.stdp.stdp_step` (slow; ideal synapses
        only), which the tests compare it with.

        ``spikes`` / ``voltages``: monitors that record the excitatory layer's spikes
        (batch, n) and membrane potentials (mV) at every simulated step of every
        presentation (repeats included); with a monitor the whole rest period is simulated,
        so the record has every step.
        """
        record = None
        if spikes is not None or voltages is not None:
            for mon, cls in ((spikes, SpikeMonitor), (voltages, StateMonitor)):
                if mon is not None and not isinstance(mon, cls):
                    raise ConfigError(f"expected a {cls.__name__}, got {type(mon).__name__}")

            def record(spk: Tensor, v: Tensor) -> None:
                if spikes is not None:
                    spikes.record(spk)
                if voltages is not None:
                    voltages.record(v)
        if reference and not isinstance(self.synapses, IdealSynapses):
            raise ConfigError("reference=True simulates ideal synapses only; use the "
                              "default event-driven path for device synapses")
        s = self.settings
        x = self._check_images(images)
        gen = generator if generator is not None else self.generator
        if learn:
            self.normalize()
        counts = torch.zeros(x.shape[0], s.n_neurons, dtype=torch.long, device=x.device)
        todo = torch.arange(x.shape[0], device=x.device)
        intensity = s.intensity
        while todo.numel():
            c = (self._run(x[todo], intensity, learn, gen, record) if reference else
                 present_fast(self, x[todo], intensity, learn, gen, record=record))
            counts[todo] = c
            intensity += 1.0
            low = c.sum(dim=1) < s.min_spikes
            if intensity > s.max_intensity or not bool(low.any()):
                break
            todo = todo[low]
        return counts

    def _run(self, x: Tensor, intensity: float, learn: bool,
             generator: torch.Generator | None, record: Any = None) -> Tensor:
        s = self.settings
        b, n = x.shape[0], s.n_neurons
        exc = lif_init((b, n), s.exc, dtype=x.dtype, device=x.device)
        exc = exc._replace(theta=self.theta.expand(b, n).clone())
        inh = lif_init((b, n), s.inh, dtype=x.dtype, device=x.device)
        traces = stdp_init(b, s.n_input, n, dtype=x.dtype, device=x.device)
        exc_spikes = torch.zeros(b, n, dtype=torch.bool, device=x.device)
        inh_spikes = torch.zeros_like(exc_spikes)
        counts = torch.zeros(b, n, dtype=torch.long, device=x.device)
        p = spike_probability(x, intensity, s.dt)
        ev_step, ev_unit = poisson_events(p, s.present_steps, generator)
        bounds = torch.searchsorted(ev_step, torch.arange(s.present_steps + 1,
                                                          device=x.device)).tolist()
        for step in range(s.present_steps + s.rest_steps):
            resting = step >= s.present_steps
            drive = exc_spikes.to(x.dtype) * s.w_exc_inh
            lateral = inh_spikes.to(x.dtype) @ self._inh_exc
            inp = None
            if not resting:
                inp = torch.zeros(b * s.n_input, dtype=torch.bool, device=x.device)
                inp[ev_unit[bounds[step]:bounds[step + 1]]] = True
                inp = inp.view(b, s.n_input)
            g_in = None if inp is None else inp.to(x.dtype) @ self.weights
            new_exc, exc = lif_step(exc, s.exc, s.dt, exc=g_in, inh=lateral,
                                    adapt=learn)
            new_inh, inh = lif_step(inh, s.inh, s.dt, exc=drive)
            if learn and inp is not None:
                dep, pot, traces = stdp_step(inp, new_exc, traces, s.stdp, s.dt)
                apply_ideal(self.weights, dep, pot, s.stdp)
            if not resting:
                counts += new_exc
            if record is not None:
                record(new_exc, exc.v)
            exc_spikes, inh_spikes = new_exc, new_inh
        if learn:  # θ persists across images (mean over the batch for batch > 1)
            self.theta = exc.theta.mean(dim=0)
        return counts

    def state_dict(self) -> dict[str, Tensor | str]:
        """θ and the synapse array's state (cloned); ``synapses`` names its kind."""
        return {"theta": self.theta.clone(), "synapses": self.synapses.kind,
                **self.synapses.state_dict()}

    def load_state_dict(self, state: dict[str, Tensor | str]) -> None:
        """Restore :meth:`state_dict`; a checkpoint of another network (other sizes or
        synapse model) raises and leaves this one unchanged."""
        theta = state.get("theta") if isinstance(state, dict) else None
        if not isinstance(theta, Tensor) or theta.shape != self.theta.shape:
            raise ShapeError(f"checkpoint theta has shape "
                             f"{tuple(theta.shape) if isinstance(theta, Tensor) else None}, "
                             f"this network {tuple(self.theta.shape)}: it is from another "
                             f"network")
        self.synapses.load_state_dict({**state, "kind": state.get("synapses")})
        self.theta = theta.to(self.theta).clone()


def assign_labels(counts: Tensor, labels: Tensor, n_classes: int = 10) -> Tensor:
    """Each neuron's class: the one with the highest mean response over the training
    presentations (counts (samples, n), labels (samples,)) → (n,) long."""
    if counts.dim() != 2 or labels.shape != (counts.shape[0],):
        raise ShapeError(f"counts (samples, neurons) and labels (samples,) must match, got "
                         f"{tuple(counts.shape)} and {tuple(labels.shape)}")
    per_class = torch.zeros(n_classes, counts.shape[1], dtype=torch.float64)
    for c in range(n_classes):
        mask = labels == c
        if bool(mask.any()):
            per_class[c] = counts[mask].double().mean(dim=0)
    return per_class.argmax(dim=0)


def predict(counts: Tensor, assignment: Tensor, n_classes: int = 10) -> Tensor:
    """All-activity vote: the class whose assigned neurons have the highest mean count."""
    votes = torch.zeros(counts.shape[0], n_classes, dtype=torch.float64)
    for c in range(n_classes):
        mask = assignment == c
        if bool(mask.any()):
            votes[:, c] = counts[:, mask].double().mean(dim=1)
    return votes.argmax(dim=1)



