"""pytest plugin for ``scripts/check_seed_robustness.py``: applies one deliberate bug.

``AIMC_TEST_MUTATION=<name>`` selects a mutation from :data:`MUTATIONS`; each breaks the
physics or learning rule that one statistical test is meant to guard, by a margin a
correct test must detect. Never loaded by the normal test run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch


def _pulse_bias() -> None:
    """The pulse trains' coincidence probability 10 % too high: E[ΔW] = 1.1·(−η·δᵀx)."""
    from aimc.onchip import pulses

    original = pulses.pulse_probabilities

    def biased(*args: Any, **kwargs: Any) -> Any:
        p = original(*args, **kwargs)
        p.px.mul_(1.1).clamp_(max=1.0)
        return p

    pulses.pulse_probabilities = biased


def _soft_bounds_slope() -> None:
    """SoftBounds up steps fall with w 20 % faster than s_up·(1 − w/b_max)."""
    from aimc.physics import pulsed

    original = pulsed.AffineStepArray._slope

    def steeper(self: Any, sign: Any, rows: Any) -> tuple[torch.Tensor, torch.Tensor]:
        a, k = original(self, sign, rows)
        if not isinstance(sign, torch.Tensor) and sign > 0:
            k = k * 1.2
        return a, k

    pulsed.AffineStepArray._slope = steeper


def _up_step_bias() -> None:
    """Constant-step devices' noisy up pulses 3 % larger than their nominal step."""
    from aimc.physics import pulsed

    original = pulsed.ConstantStepArray._advance

    def bigger(self: Any, w: torch.Tensor, n: Any, sign: Any, *args: Any, **kw: Any) -> Any:
        new = original(self, w, n, sign, *args, **kw)
        if not isinstance(sign, torch.Tensor) and sign > 0:
            new = w + (new - w) * 1.03
        return new

    pulsed.ConstantStepArray._advance = bigger


def _pulse_outside_index() -> None:
    """A sparse pulse also lands on the device after each listed one."""
    from aimc.physics import pulsed

    original = pulsed.PulsedDeviceArray.pulse

    def leaky(self: Any, n: Any, direction: int, generator: Any = None, index: Any = None,
              **kw: Any) -> Any:
        if index is not None:
            index = torch.cat([index, (index + 1) % self.value.numel()])
            if isinstance(n, torch.Tensor) and n.dim() and n.numel() * 2 == index.numel():
                n = torch.cat([n, n])
        return original(self, n, direction, generator, index=index, **kw)

    pulsed.PulsedDeviceArray.pulse = leaky


def _adam_ascends() -> None:
    """Optimiser steps go uphill (the sign of every gradient flipped before the step)."""
    original = torch.optim.Adam.step

    def uphill(self: Any, *args: Any, **kw: Any) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.neg_()
        return original(self, *args, **kw)

    torch.optim.Adam.step = uphill


MUTATIONS: dict[str, Callable[[], None]] = {
    "pulse_bias": _pulse_bias,
    "soft_bounds_slope": _soft_bounds_slope,
    "up_step_bias": _up_step_bias,
    "pulse_outside_index": _pulse_outside_index,
    "adam_ascends": _adam_ascends,
}


def pytest_configure(config: Any) -> None:  # noqa: ARG001
    name = os.environ.get("AIMC_TEST_MUTATION")
    if name:
        MUTATIONS[name]()
