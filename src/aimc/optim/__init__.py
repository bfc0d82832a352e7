"""Optimizers for analog models: :class:`AnalogSGD` (on-chip pulsed updates)."""

from aimc.optim.analog_sgd import AnalogSGD

__all__ = ["AnalogSGD"]
