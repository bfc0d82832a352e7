"""Pure physics functions (layer 2): device models, mapping, periphery, composed MVM.

Every function takes tensors, a config and an optional ``torch.Generator``; none holds
state or touches the global RNG when a generator is given.
"""

from aimc.physics.devices import (
    conductances_at,
    drift,
    drift_exponents,
    pcm_programming_std,
    pcm_read_noise_std,
    program_conductances,
    programming_noise,
    read_noise,
)
from aimc.physics.mapping import conductances_to_weights, weights_to_conductances
from aimc.physics.mvm import analog_mvm
from aimc.physics.periphery import (
    adc,
    apply_noise_management,
    dac,
    ir_drop_coefficient,
    ir_drop_row_factor,
    quantize,
)

__all__ = [
    "conductances_at", "drift", "drift_exponents", "pcm_programming_std",
    "pcm_read_noise_std", "program_conductances", "programming_noise", "read_noise",
    "conductances_to_weights", "weights_to_conductances", "analog_mvm",
    "apply_noise_management", "dac", "adc", "ir_drop_coefficient", "ir_drop_row_factor",
    "quantize",
]
