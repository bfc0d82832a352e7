"""Spiking networks (layer 4): neuron and trace kernels, encoders, the Diehl & Cook STDP
rule and network, synapse arrays whose weights are device states, the software cochlea and
NormAD supervised spike timing.

Functional first: ``lif_step(state, params, dt, exc=..., inh=...) → (spikes, state)`` with the
state an explicit :class:`LIFState` and the parameters a frozen :class:`aimc.config.snn.LIFNeuron`.
All neurons of all samples advance one time step per tensor op (batch first); the time loop is
the caller's. Units: mV, ms, Hz.
"""

from aimc.config.audio import Cochlea
from aimc.config.normad import NormADNeuron
from aimc.config.snn import (
           DiehlCookSTDP,
           LIFNeuron,
           Trace,
           diehl_cook_excitatory,
           diehl_cook_inhibitory,
)
from aimc.snn.cochlea import cochlea_events, cochlea_spikes
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings, assign_labels, predict
from aimc.snn.encoders import (
           latency_spikes,
           poisson_events,
           poisson_spikes,
           poisson_step,
           regular_spikes,
)
from aimc.snn.monitors import SpikeMonitor, StateMonitor
from aimc.snn.neurons import LIFState, lif_init, lif_step, lockout_steps, refractory_steps
from aimc.snn.normad import (
           MatchCounts,
           filter_spikes,
           match_spikes,
           normad_update,
           psp_kernel,
           simulate,
           simulate_stepped,
)
from aimc.snn.signed_synapses import (
           IdealSignedSynapses,
           MemristorSignedSynapses,
           PCMSignedSynapses,
           SignedSynapses,
)
from aimc.snn.stdp import STDPTraces, apply_ideal, stdp_init, stdp_step
from aimc.snn.synapses import (
           IdealSynapses,
           MemristorSynapses,
           PulsedSynapses,
           SynapseArray,
           make_synapses,
)
from aimc.snn.traces import trace_decay, trace_spike, trace_step

__all__ = ["LIFNeuron", "Trace", "diehl_cook_excitatory", "diehl_cook_inhibitory",
           "LIFState", "lif_init", "lif_step", "refractory_steps", "lockout_steps",
           "trace_decay", "trace_spike", "trace_step",
           "poisson_step", "poisson_spikes", "poisson_events", "regular_spikes",
           "latency_spikes",
           "DiehlCookSTDP", "STDPTraces", "stdp_init", "stdp_step", "apply_ideal",
           "DiehlCookNetwork", "DiehlCookSettings", "assign_labels", "predict",
           "SpikeMonitor", "StateMonitor",
           "SynapseArray", "IdealSynapses", "PulsedSynapses", "MemristorSynapses",
           "make_synapses",
           "Cochlea", "cochlea_events", "cochlea_spikes",
           "NormADNeuron", "psp_kernel", "filter_spikes", "simulate", "simulate_stepped",
           "normad_update", "match_spikes", "MatchCounts",
           "SignedSynapses", "IdealSignedSynapses", "PCMSignedSynapses",
           "MemristorSignedSynapses"]
