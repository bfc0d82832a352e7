"""aimc: analog in-memory computing simulation for PyTorch.

Quick start::

    import aimc
    analog = aimc.convert_to_analog(model, aimc.presets.rasch2023())
    aimc.program(analog, generator=torch.Generator().manual_seed(0))
    with aimc.at_time(analog, 3600.0):        # one hour after programming
        y = analog(x)
"""

from aimc import distributed, models, onchip, optim, presets, train, units
from aimc.adc_ranges import calibrate_adc_ranges
from aimc.checkpoint import load_checkpoint, save_checkpoint
from aimc.compiled import compile
from aimc.config import AnalogConfig
from aimc.convert import analog_layers, convert_to_analog, convert_to_digital
from aimc.errors import (
    AimcError,
    CheckpointError,
    ConfigError,
    DataError,
    ShapeError,
    StateError,
    TrainingError,
)
from aimc.inference import (
    at_time,
    calibrate_input_ranges,
    program,
    replace_config,
    set_noise_generator,
    set_time,
    store_programmed_state,
    tile_arrays,
)
from aimc.input_signs import nonnegative_input_layers

__version__ = "0.1.0"

__all__ = [
    "presets", "units", "models", "train", "onchip", "optim", "distributed", "AnalogConfig",
    "convert_to_analog", "convert_to_digital", "analog_layers",
    "program", "set_time", "at_time", "calibrate_input_ranges", "tile_arrays",
    "calibrate_adc_ranges", "nonnegative_input_layers",
    "set_noise_generator", "replace_config", "store_programmed_state",
    "save_checkpoint", "load_checkpoint", "compile",
    "AimcError", "ConfigError", "StateError", "ShapeError", "CheckpointError", "DataError",
    "TrainingError",
    "__version__",
]
