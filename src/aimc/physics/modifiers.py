"""Training-time weight-noise injection on normalised tile weights (physics.md §1.3).

The noise is drawn once per forward pass and added straight-through: the forward pass and
the input gradient use the noisy weights, the weight gradient flows to the clean weights
(aihwkit weight modifiers: "forward/backward see it, the update hits the clean weight").
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.config.compensation import (
    DriftCompensation,
    GlobalCompensation,
    NoCompensation,
    PerColumnCompensation,
)
from aimc.config.device import DeviceModel
from aimc.config.training import (
    DeviceStateWeightNoise,
    DropConnect,
    GaussianWeightNoise,
    NoWeightNoise,
    ProgrammingWeightNoise,
    WeightNoise,
)
from aimc.errors import ConfigError
from aimc.physics._random import randn_like
from aimc.physics.devices import conductances_at, program_conductances
from aimc.physics.mapping import conductances_to_weights, weights_to_conductances

__all__ = ["apply_weight_noise", "device_state_weights", "device_state_forward"]


def apply_weight_noise(w: Tensor, cfg: WeightNoise, *,
                       generator: torch.Generator | None = None,
                       device: DeviceModel | None = None,
                       compensation: DriftCompensation | None = None) -> Tensor:
    """Noisy copy of normalised weights ``w`` (K, out, rows), straight-through.

    * :class:`GaussianWeightNoise`: w + std·ξ
    * :class:`ProgrammingWeightNoise`: w + scale·max(c0 + c1|w| + c2 w², 0)/25·ξ
    * :class:`DeviceStateWeightNoise`: α·w_t, the weights ``device`` reads at t after one
      programming, compensated as ``compensation`` does (:func:`device_state_weights`;
      a tile's training forward uses :func:`device_state_forward` instead, which leaves α
      to the output scale)
    * :class:`DropConnect`: w·m, m ~ Bernoulli(1 − p)
    """
    if isinstance(cfg, NoWeightNoise):
        return w
    with torch.no_grad():
        wd = w.detach()
        if isinstance(cfg, GaussianWeightNoise):
            if cfg.std == 0:
                return w
            delta = cfg.std * randn_like(wd, generator)
        elif isinstance(cfg, ProgrammingWeightNoise):
            c0, c1, c2 = cfg.coeffs
            a = wd.abs()
            std = ((c2 * a + c1) * a + c0).clamp_(min=0.0).mul_(cfg.scale / 25.0)
            delta = std.mul_(randn_like(wd, generator))
        elif isinstance(cfg, DeviceStateWeightNoise):
            if device is None:
                raise ConfigError("DeviceStateWeightNoise needs the layer's device model "
                                  "(apply_weight_noise(..., device=config.device))")
            w_t, alpha = device_state_weights(wd, device, cfg.t_inference, compensation,
                                              generator=generator)
            delta = w_t.mul_(alpha.unsqueeze(-1)).sub_(wd)
        elif isinstance(cfg, DropConnect):
            if cfg.p == 0:
                return w
            keep = torch.rand(wd.shape, dtype=wd.dtype, device=wd.device,
                              generator=generator) >= cfg.p
            delta = torch.where(keep, torch.zeros_like(wd), -wd)
        else:
            raise TypeError(f"unknown weight noise {cfg!r}")
    return w + delta


def device_state_weights(w: Tensor, device: DeviceModel, t_inference: float,
                         compensation: DriftCompensation | None = None, *,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Normalised weights (K, out, rows) as programmed devices read them at ``t_inference``,
    and the drift-compensation factor a tile would apply to its outputs.

    [ĝ⁺, ĝ⁻] = [max(w, 0), max(−w, 0)] programmed once (programming noise, then ν, the
    order of :meth:`aimc.tile.TileArray.program`), drifted to t with fresh read noise:
    w_t = ĝ⁺_t − ĝ⁻_t (uncompensated: what the crossbar and its ADC see). α with ideal probes:
    Σ|w_programmed| / Σ|w_t| per tile, shape (K, 1) (:class:`GlobalCompensation`), per tile
    and output column, (K, out) (:class:`PerColumnCompensation`), ones (K, 1)
    (:class:`NoCompensation` or ``None``). The compensated weights are α·w_t.
    """
    g_prog, nu = program_conductances(weights_to_conductances(w), device, generator=generator)
    w_t = conductances_to_weights(conductances_at(g_prog, nu, t_inference, device,
                                                  generator=generator))
    k = w.shape[0]
    if compensation is None or isinstance(compensation, NoCompensation):
        return w_t, torch.ones(k, 1, dtype=w.dtype, device=w.device)
    if isinstance(compensation, GlobalCompensation):
        ref = conductances_to_weights(g_prog).abs().reshape(k, -1).sum(1, keepdim=True)
        now = w_t.abs().reshape(k, -1).sum(1, keepdim=True)
    elif isinstance(compensation, PerColumnCompensation):
        ref = conductances_to_weights(g_prog).abs().sum(-1)
        now = w_t.abs().sum(-1)
    else:
        raise ConfigError(f"no drift-compensation model for {type(compensation).__name__}")
    alpha = torch.where(now > 0, ref / now.clamp(min=torch.finfo(w.dtype).tiny),
                        torch.ones_like(now))
    return w_t, alpha


def device_state_forward(w: Tensor, cfg: DeviceStateWeightNoise, device: DeviceModel,
                         compensation: DriftCompensation | None, *,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Straight-through drifted weights for a training forward pass, and α.

    Returns ``(w + (w_t − w).detach(), α)``: the crossbar computes with the drifted,
    uncompensated weights w_t (so its ADC sees the shrunken outputs of a drifted array, as
    at inference), the caller multiplies α into the digital output scale (as
    :meth:`aimc.tile.TileArray.set_time` folds ``gdc_alpha`` into it), and the weight
    gradient reaches the clean weights.
    """
    with torch.no_grad():
        w_t, alpha = device_state_weights(w.detach(), device, cfg.t_inference, compensation,
                                          generator=generator)
    return w + (w_t - w.detach()), alpha
