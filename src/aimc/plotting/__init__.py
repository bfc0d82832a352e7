"""Plots of device and training behaviour (matplotlib is optional: ``pip install "aimc[plots]"``).

Every function imports matplotlib lazily and raises
:class:`~aimc.plotting.device_response.MissingDependencyError` when it is not installed.
"""

from aimc.plotting.device_response import MissingDependencyError, plot_device_response
from aimc.plotting.raster import plot_raster
from aimc.plotting.stdp_window import plot_stdp_window, stdp_window_data

__all__ = ["MissingDependencyError", "plot_device_response", "plot_raster", "plot_stdp_window",
           "stdp_window_data"]
