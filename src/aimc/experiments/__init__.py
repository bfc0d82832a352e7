"""Experiments: compose data, model, conversion, training, programming and evaluation.

No physics lives here. The main job is :func:`run_demo` (``aimc demo``).
"""

from aimc.experiments.demo import DemoSettings, run_demo
from aimc.experiments.progress import progress

__all__ = ["DemoSettings", "run_demo", "progress"]
