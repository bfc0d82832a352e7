"""Simulation runtime settings: how the simulator computes, not what the hardware is."""

from __future__ import annotations

from aimc.config.base import ConfigBase, config
from aimc.errors import ConfigError

__all__ = ["Runtime"]

_PRECISIONS = ("auto", "bfloat16", "native")


@config
class Runtime(ConfigBase):
    """Numerical settings of the simulation.

    Attributes:
        perturbation_precision: dtype of the MVMs that only feed the *perturbations* — the
            IR-drop terms Σ|w||x| and Σ w·x·f and the read-noise variance Σ|w|·x². The signal
            MVM Σ w·x always runs in the layer's dtype. ``"bfloat16"`` computes them in
            bfloat16 with fp32 accumulation (relative error ≈ 0.4 % on a noise σ or an
            IR-drop correction, i.e. ~1e-4 of the output — well below one ADC step);
            ``"native"`` uses the layer's dtype; ``"auto"`` (default) picks bfloat16 for
            float32 layers on hardware with fast bfloat16 matmuls (CPUs with AVX512-BF16 or
            AMX, CUDA GPUs with bf16 support) and native otherwise.
    """

    perturbation_precision: str = "auto"

    def _validate(self) -> None:
        if self.perturbation_precision not in _PRECISIONS:
            raise ConfigError(f"Runtime.perturbation_precision must be one of {_PRECISIONS}, got "
                              f"{self.perturbation_precision!r}")
