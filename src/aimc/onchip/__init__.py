"""On-chip training: pulsed device updates, mixed precision and Tiki-Taka.

* :mod:`aimc.onchip.pulses` — stochastic pulse trains → per-device pulse counts
  (``exact`` and ``fast`` modes);
* :mod:`aimc.onchip.cells` — unit cells (single device, differential pair with refresh,
  multi-device synapses);
* :mod:`aimc.onchip.state` — the per-weight-matrix state and update rules;
* :mod:`aimc.onchip.autograd` — the noisy forward/backward MVMs and the (x, δ) record.

Use it through a config with ``on_chip`` set (e.g. :func:`aimc.presets.onchip_sgd`) and
:class:`aimc.optim.AnalogSGD`.
"""
