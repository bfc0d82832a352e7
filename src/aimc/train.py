"""Hardware-aware (HWA) training helpers (layer 5): constraints after each step, distillation.

HWA training itself needs nothing special: an analog model in ``train()`` mode runs the noisy
crossbar forward pass (with the config's weight-noise and output-noise injection) and an ideal
backward pass, so any ``torch.optim`` optimizer trains its digital weights, learned input
ranges and output scales. After each optimizer step the weights are clipped and remapped per
the config's :class:`~aimc.config.HWATraining`; :func:`attach_hwa_constraints` does that
automatically::

    model = aimc.convert_to_analog(fp_model, aimc.presets.rasch2023_hwa())
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    aimc.train.attach_hwa_constraints(opt, model)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()     # constraints run after step()
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aimc.config.training import FixedClip, GaussianClip
from aimc.convert import analog_layers
from aimc.errors import ConfigError, StateError

__all__ = ["apply_hwa_constraints", "attach_hwa_constraints", "distillation_loss"]


@torch.no_grad()
def apply_hwa_constraints(model: nn.Module) -> nn.Module:
    """Clip and remap the digital weights of every analog layer (physics.md §1.2).

    * clip: :class:`~aimc.config.GaussianClip` clamps each output channel (row of the
      weight matrix) to ±sigma·std of its weights; :class:`~aimc.config.FixedClip` clamps
      every weight to ±value.
    * remap (with learnable output scales): each tile column is rescaled to abs-max 1 and
      its output scale takes the factor, so the layer's function is unchanged.
    """
    layers = analog_layers(model)
    if not layers:
        raise StateError("apply_hwa_constraints: the model has no analog layers; convert it "
                         "with aimc.convert_to_analog first")
    for _, layer in layers:
        for _, tiles, weight in layer.tile_weights():
            cfg = tiles.config.training
            _clip(weight, cfg.clip)
            if cfg.remap and tiles.out_scales is not None:
                g = tiles.geometry
                w_tiles = g.weight_to_tiles(weight)
                peak = w_tiles.abs().amax(dim=2)
                peak = torch.where(peak > 0, peak, torch.ones_like(peak))
                weight.copy_(g.weight_from_tiles(w_tiles / peak.unsqueeze(-1)))
                tiles.out_scales.mul_(peak)
    return model


def _clip(weight: Tensor, clip: Any) -> None:
    if isinstance(clip, FixedClip):
        weight.clamp_(-clip.value, clip.value)
    elif isinstance(clip, GaussianClip):
        rows = weight.reshape(weight.shape[0], -1)
        # two-pass std (an order of magnitude faster than Tensor.std on CPU, same value)
        centred = rows - rows.mean(dim=1, keepdim=True)
        std = torch.linalg.vector_norm(centred, dim=1, keepdim=True) / max(
            rows.shape[1] - 1, 1) ** 0.5
        bound = clip.sigma * std
        bound = torch.where(bound > 0, bound, rows.abs().amax(dim=1, keepdim=True))
        rows.clamp_(-bound, bound)


def attach_hwa_constraints(optimizer: torch.optim.Optimizer, model: nn.Module) -> Any:
    """Run :func:`apply_hwa_constraints` after every ``optimizer.step()``.

    Returns the hook handle (``handle.remove()`` detaches it).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(f"expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not analog_layers(model):
        raise StateError("attach_hwa_constraints: the model has no analog layers; convert it "
                         "with aimc.convert_to_analog first")
    return optimizer.register_step_post_hook(lambda *_: apply_hwa_constraints(model))


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, *,
                      temperature: float = 2.0) -> Tensor:
    """Knowledge-distillation loss from the FP teacher: T²·KL(softmax(t/T) ‖ softmax(s/T)).

    Hinton et al. 2015 (arXiv:1503.02531); the T² factor keeps gradient magnitudes
    comparable across temperatures. Shapes: (N, C) or (N, L, C) logits.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise ConfigError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                          f"{tuple(teacher_logits.shape)} must have the same shape")
    c = student_logits.shape[-1]
    s = F.log_softmax(student_logits.reshape(-1, c) / temperature, dim=-1)
    t = F.softmax(teacher_logits.detach().reshape(-1, c) / temperature, dim=-1)
    return F.kl_div(s, t, reduction="batchmean") * temperature**2
