"""The inference fast paths compute the same function as the general (autograd) path."""

from __future__ import annotations

import warnings

import pytest
import torch
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import Runtime
from aimc.errors import ConfigError
from aimc.physics.mvm import perturbation_dtype


def _model(kind: str, cfg: aimc.AnalogConfig) -> tuple[nn.Module, torch.Tensor]:
    seed_everything(0)
    if kind == "linear":
        mod, x = nn.Linear(1000, 30), torch.randn(16, 1000)
    else:
        mod, x = nn.Conv2d(70, 16, 3, padding=1), torch.randn(4, 70, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = aimc.convert_to_analog(mod, cfg)
    aimc.calibrate_input_ranges(model, [x])
    return model.eval(), x


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("programmed", [False, True])
def test_no_grad_path_equals_autograd_path(kind: str, programmed: bool) -> None:
    cfg = aimc.presets.rasch2023().replace(runtime=Runtime(perturbation_precision="native"))
    model, x = _model(kind, cfg)
    if programmed:
        aimc.program(model, generator=seeded(1))
        aimc.set_time(model, 3600.0, generator=seeded(2))
    seed_everything(3)
    with torch.no_grad():
        y_fast = model(x)
    seed_everything(3)
    y_grad = model(x.clone().requires_grad_())
    # same noise draws; rounding may differ only by float error in the scale arithmetic
    torch.testing.assert_close(y_fast, y_grad.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_bfloat16_perturbations_match_native_within_an_adc_step(kind: str) -> None:
    base = aimc.presets.rasch2023()
    outs = {}
    for precision in ("native", "bfloat16"):
        cfg = base.replace(runtime=Runtime(perturbation_precision=precision))
        model, x = _model(kind, cfg)
        aimc.program(model, generator=seeded(1))
        aimc.set_time(model, 3600.0, generator=seeded(2))
        aimc.set_noise_generator(model, seeded(5))
        with torch.no_grad():
            outs[precision] = model(x)
    diff = (outs["bfloat16"] - outs["native"]).abs()
    ref = outs["native"].abs().mean()
    # σ and IR-drop terms change by ~0.4 %: outputs move by far less than their size
    assert float(diff.mean()) < 2e-3 * float(ref)
    assert float((diff > 0).float().mean()) < 1.0  # most outputs are bit-identical or close


def test_auto_precision_rules() -> None:
    cpu = torch.device("cpu")
    assert perturbation_dtype(torch.float64, cpu, "bfloat16") == torch.float64
    assert perturbation_dtype(torch.float32, cpu, "native") == torch.float32
    assert perturbation_dtype(torch.float32, cpu, "bfloat16") == torch.bfloat16
    assert perturbation_dtype(torch.float32, cpu, "auto", macs=1000) == torch.float32
    with pytest.raises(ConfigError, match="perturbation_precision"):
        Runtime(perturbation_precision="fp8")


def test_reprogramming_refreshes_cached_scales() -> None:
    """Regression: the eval-scale cache once matched freed tensors by id() after reprogramming."""
    model, x = _model("linear", aimc.presets.rasch2023())
    outs = []
    for seed in range(6):
        aimc.program(model, generator=seeded(seed))
        aimc.set_time(model, 86400.0, generator=seeded(100 + seed))
        tiles = model.tiles
        expected = tiles.weight_scales * tiles.gdc_alpha.view(-1, 1)
        torch.testing.assert_close(tiles._eval_scales()[0], expected, rtol=0, atol=0)
        with torch.no_grad():
            outs.append(model(x))
    assert all(not torch.equal(outs[0], o) for o in outs[1:])


def test_noise_generator_makes_forward_reproducible() -> None:
    model, x = _model("linear", aimc.presets.rasch2023())
    aimc.program(model, generator=seeded(1))
    with torch.no_grad():
        aimc.set_noise_generator(model, seeded(7))
        y1 = model(x)
        seed_everything(123)  # the global RNG no longer matters
        aimc.set_noise_generator(model, seeded(7))
        y2 = model(x)
        y3 = model(x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    assert not torch.equal(y2, y3)
    with pytest.raises(ConfigError, match="torch.Generator"):
        aimc.set_noise_generator(model, 7)  # type: ignore[arg-type]
