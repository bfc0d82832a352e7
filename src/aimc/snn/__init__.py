"""Spiking networks (layer 4): neuron and trace kernels, encoders.

Functional first: ``lif_step(state, params, dt, exc=..., inh=...) → (spikes, state)`` with the
state an explicit :class:`LIFState` and the parameters a frozen :class:`aimc.config.snn.LIFNeuron`.
All neurons of all samples advance one time step per tensor op (batch first); the time loop is
the caller's. Units: mV, ms, Hz.
"""

from aimc.config.snn import LIFNeuron, Trace, diehl_cook_excitatory, diehl_cook_inhibitory
from aimc.snn.encoders import latency_spikes, poisson_spikes, poisson_step, regular_spikes
from aimc.snn.neurons import LIFState, lif_init, lif_step, refractory_steps
from aimc.snn.traces import trace_decay, trace_spike, trace_step

__all__ = ["LIFNeuron", "Trace", "diehl_cook_excitatory", "diehl_cook_inhibitory",
           "LIFState", "lif_init", "lif_step", "refractory_steps",
           "trace_decay", "trace_spike", "trace_step",
           "poisson_step", "poisson_spikes", "regular_spikes", "latency_spikes"]
