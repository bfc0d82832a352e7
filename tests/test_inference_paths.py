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


def _off_dac_ties(model: nn.Module, x: torch.Tensor, unit: float) -> torch.Tensor:
    """``x`` with every element at least 1e-3 DAC levels away from a rounding tie.

    For each tile's input range r, v = x/(r·u) is checked; an element with |frac(v) − ½| <
    1e-3 under any tile's range is moved by 1e-2 levels of the smallest range (a change far
    below a DAC step, so the function under test is the same; 1e-3 levels is ~100 ulp of
    |v| ≤ 127, well beyond the ~1 ulp by which the two paths' quotients differ).
    """
    ranges = [float(r.detach()) for m in model.modules()
              if getattr(m, "input_range", None) is not None for r in m.input_range]
    assert ranges, "the model has no input ranges: nothing to move off"
    x = x.clone()
    for _ in range(20):
        tie = torch.zeros_like(x, dtype=torch.bool)
        for r in ranges:
            v = x / (r * unit)
            tie |= (v - v.floor() - 0.5).abs() < 1e-3
        if not tie.any():
            return x
        x[tie] += 1e-2 * min(ranges) * unit
    raise AssertionError("could not move the inputs off the DAC rounding ties")


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("programmed", [False, True])
@pytest.mark.parametrize("adc_steps", [None, 254])
def test_no_grad_path_equals_autograd_path(kind: str, programmed: bool,
                                           adc_steps: int | None) -> None:
    """Same noise draws, same function.

    The DAC rounds x/(r·u) to an integer (r: the tile's input range, u: the DAC step). The
    fast path computes that quotient as x·(1/(r·u)), the autograd path as (x/r)/u: the two
    differ by ~1 ulp, so an input within an ulp of a half-integer may round to neighbouring
    levels in the two paths, which moves its outputs by w·r·u ≈ 1e-3 (seen for 3 of 50
    seeds). That is a legitimate rounding tie, not a different function, so the inputs are
    first moved off the ties (:func:`_off_dac_ties`). Then, without ADC quantisation, the two
    paths differ only by float32 rounding of the scale arithmetic (a few ulp of outputs of
    size ~1: 1e-5). With the 254-step ADC such a rounding difference can move a value across
    a rounding boundary of the converter, which changes that output by one ADC level
    Δ = 2·bound/steps of its tile (times the tile's output scale): rare (the chance is about
    the rounding error over Δ, ~1e-6/0.08 per output and tile), so at most 1 % of the outputs
    may differ, each by at most one level of the largest tile output scale, bounded here by
    max|y|·2/steps·2."""
    base = aimc.presets.rasch2023()
    cfg = base.replace(runtime=Runtime(perturbation_precision="native"),
                       forward=base.forward.replace(
                           adc=base.forward.adc.replace(steps=adc_steps)))
    model, x = _model(kind, cfg)
    x = _off_dac_ties(model, x, cfg.forward.dac.step_size)
    if programmed:
        aimc.program(model, generator=seeded(1))
        aimc.set_time(model, 3600.0, generator=seeded(2))
    seed_everything(3)
    with torch.no_grad():
        y_fast = model(x)
    seed_everything(3)
    y_grad = model(x.clone().requires_grad_())
    diff = (y_fast - y_grad.detach()).abs()
    if adc_steps is None:
        torch.testing.assert_close(y_fast, y_grad.detach(), rtol=1e-5, atol=1e-5)
    else:
        flipped = diff > 1e-5 + 1e-5 * y_grad.detach().abs()
        assert float(flipped.float().mean()) <= 0.01
        level = float(y_grad.detach().abs().max()) * 2 / adc_steps * 2
        assert float(diff.max()) <= level


@pytest.mark.parametrize("which", ["dac", "adc"])
def test_no_grad_path_equals_autograd_path_with_unsigned_converters(which: str) -> None:
    """Unsigned DAC (inputs after a ReLU) or ADC: both paths clip at 0 and use Δ = bound/steps.

    No output quantisation on the DAC case and inputs off the DAC ties, so the paths agree
    to float32 rounding of the scale arithmetic (see the test above); for the ADC case, the
    ideal DAC leaves no ties, and an unsigned ADC of 254 steps either agrees to that rounding
    or differs by one level at a rounding boundary (at most 1 % of outputs)."""
    base = aimc.presets.rasch2023()
    fwd = base.forward
    if which == "dac":
        fwd = fwd.replace(dac=fwd.dac.replace(steps=255, signed=False),
                          adc=fwd.adc.replace(steps=None))
    else:
        fwd = fwd.replace(dac=fwd.dac.replace(steps=None),
                          adc=fwd.adc.replace(signed=False))
    cfg = base.replace(runtime=Runtime(perturbation_precision="native"), forward=fwd)
    model, x = _model("linear", cfg)
    x = x.abs() if which == "dac" else x
    if which == "dac":
        x = _off_dac_ties(model, x, cfg.forward.dac.step_size)
    aimc.program(model, generator=seeded(1))
    seed_everything(3)
    with torch.no_grad():
        y_fast = model(x)
    seed_everything(3)
    y_grad = model(x.clone().requires_grad_()).detach()
    if which == "dac":
        torch.testing.assert_close(y_fast, y_grad, rtol=1e-5, atol=1e-5)
    else:
        diff = (y_fast - y_grad).abs()
        assert float((diff > 1e-5 + 1e-5 * y_grad.abs()).float().mean()) <= 0.01
        assert float(diff.max()) <= float(y_grad.abs().max()) * 1 / 254 * 2


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
    # bfloat16 keeps 8 significant bits of σ and IR-drop terms: an output moves by that
    # rounding times the perturbation (small) and, where it crosses an ADC rounding
    # boundary, by one ADC level. One level of the largest tile scale bounds every change:
    level = float(outs["native"].abs().max()) * 2 / base.forward.adc.steps * 2
    assert float(diff.max()) <= level
    # and most outputs are unchanged: a change needs an ADC level crossing (measured
    # 0.04-1.5 % of outputs over seeds; 5 % would mean the bfloat16 path moves outputs broadly)
    assert float((diff > 0).float().mean()) < 0.05


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
