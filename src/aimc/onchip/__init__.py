"""On-chip training: pulsed device updates, mixed precision and Tiki-Taka.

* :mod:`aimc.onchip.pulses` — stochastic pulse trains → per-device pulse counts
  (``exact`` and ``fast`` modes);
* :mod:`aimc.onchip.cells` — unit cells (single device, differential pair with refresh,
  multi-device synapses);
* :mod:`aimc.onchip.state` — the per-weight-matrix state and update rules;
* :mod:`aimc.onchip.autograd` — the noisy forward/backward MVMs and the (x, δ) record;
* :mod:`aimc.onchip.energy` — training energy from the operation counters vs 32-bit digital.

Use it through a config with ``on_chip`` set (e.g. :func:`aimc.presets.onchip_sgd`) and
:class:`aimc.optim.AnalogSGD`.
"""

from aimc.onchip.energy import EnergyModel, EnergyReport, estimate_training_energy

__all__ = ["EnergyModel", "EnergyReport", "estimate_training_energy"]
