"""Programmed devices kept as a recipe (aimc.tile.programming): bit-identical redraws,
refusal of changed weights, checkpoints, dtype moves and the memory this saves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aimc
from aimc import presets
from aimc.errors import StateError
from aimc.physics.devices import program_conductances
from aimc.physics.mapping import conductances_to_weights, weights_to_conductances


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    digital = nn.Sequential(nn.Linear(40, 24), nn.ReLU(), nn.Linear(24, 6))
    model = aimc.convert_to_analog(digital, presets.rasch2023()).eval()
    aimc.calibrate_input_ranges(model, [torch.randn(16, 40, generator=_gen(99))])
    return model


def _expected_devices(tiles, weight: torch.Tensor, generator: torch.Generator):
    """ĝ and float16 ν as the first draw makes them (scales, mapping, programming draws)."""
    w_tiles = tiles.geometry.weight_to_tiles(weight.detach())
    scales = tiles._scales(w_tiles)
    g_target = weights_to_conductances(w_tiles / scales.unsqueeze(-1))
    g, nu = program_conductances(g_target, tiles.config.device, generator=generator)
    return g, nu.to(torch.float16)


@pytest.mark.parametrize("explicit", [True, False])
def test_redrawn_devices_equal_the_first_draw_bit_for_bit(explicit: bool) -> None:
    model = _model()
    if explicit:
        aimc.program(model, generator=_gen(5))
    else:
        torch.manual_seed(5)
        aimc.program(model)
    for layer in (model[0], model[2]):
        tiles = layer.tiles
        assert tiles.g_programmed.numel() == 0 and tiles.drift_nu.numel() == 0  # a recipe
    # the first layer's draws start from seed 5 in both cases (global or explicit RNG)
    tiles = model[0].tiles
    g_exp, nu_exp = _expected_devices(tiles, model[0].weight, _gen(5))
    g, nu = tiles.programmed_devices()
    assert torch.equal(g, g_exp) and torch.equal(nu, nu_exp)
    assert nu.dtype == torch.float16
    # programming read out exactly these devices (no read noise at programming time)
    assert torch.equal(tiles.weight_now, conductances_to_weights(g_exp))
    # redrawing consumes nothing from the global RNG
    before = torch.get_rng_state()
    model[2].tiles.programmed_devices()
    assert torch.equal(torch.get_rng_state(), before)


def test_set_time_and_outputs_equal_the_stored_tensor_path() -> None:
    recipe, stored = _model(), _model()
    aimc.program(recipe, generator=_gen(3))
    aimc.program(stored, generator=_gen(3))
    aimc.store_programmed_state(stored)
    assert stored[0].tiles.g_programmed.numel() > 0
    x = torch.randn(8, 40, generator=_gen(4))
    for t in (1.0, 3600.0, 3.15e7):
        aimc.set_time(recipe, t, generator=_gen(6))
        aimc.set_time(stored, t, generator=_gen(6))
        for a, b in zip(aimc.tile_arrays(recipe), aimc.tile_arrays(stored), strict=True):
            assert torch.equal(a.weight_now, b.weight_now)
            assert torch.equal(a.gdc_alpha, b.gdc_alpha)
        aimc.set_noise_generator(recipe, _gen(7))
        aimc.set_noise_generator(stored, _gen(7))
        with torch.no_grad():
            assert torch.equal(recipe(x), stored(x))


def test_changed_weights_are_refused_with_the_fix() -> None:
    model = _model()
    aimc.program(model, generator=_gen(1))
    with torch.no_grad():
        model[0].weight.mul_(1.5)  # tracked by the version counter
    with pytest.raises(StateError, match="program again"):
        aimc.set_time(model, 60.0)
    aimc.program(model, generator=_gen(1))
    model[2].weight.data.copy_(torch.zeros_like(model[2].weight))  # untracked: fingerprint
    with pytest.raises(StateError, match="store_programmed_state"):
        aimc.set_time(model, 60.0)


def test_store_programmed_state_keeps_the_devices_through_a_weight_change() -> None:
    a, b = _model(), _model()
    aimc.program(a, generator=_gen(2))
    aimc.program(b, generator=_gen(2))
    aimc.store_programmed_state(b)
    with torch.no_grad():
        b[0].weight.zero_()  # the chip keeps what was programmed
    aimc.set_time(a, 86400.0, generator=_gen(8))
    aimc.set_time(b, 86400.0, generator=_gen(8))
    assert torch.equal(a[0].tiles.weight_now, b[0].tiles.weight_now)


def test_checkpoint_carries_the_devices_and_loads_them_as_tensors() -> None:
    model = _model()
    aimc.program(model, generator=_gen(9))
    aimc.set_time(model, 3600.0, generator=_gen(10))
    state = model.state_dict()
    g, nu = model[0].tiles.programmed_devices()
    assert torch.equal(state["0.tiles.g_programmed"], g)
    assert torch.equal(state["0.tiles.drift_nu"], nu)
    fresh = _model(seed=1)
    fresh.load_state_dict(state)
    assert torch.equal(fresh[0].tiles.g_programmed, g)  # stored, no recipe after a load
    aimc.set_time(model, 86400.0, generator=_gen(11))
    aimc.set_time(fresh, 86400.0, generator=_gen(11))
    for x, y in zip(aimc.tile_arrays(model), aimc.tile_arrays(fresh), strict=True):
        assert torch.equal(x.weight_now, y.weight_now)


def test_redraw_follows_a_dtype_move_after_programming() -> None:
    model = _model()
    aimc.program(model, generator=_gen(12))
    g32, nu32 = model[0].tiles.programmed_devices()
    model.double()  # the source weight of the recipe stays the float32 tensor programmed
    g64, nu64 = model[0].tiles.programmed_devices()
    assert g64.dtype == torch.float64 and torch.equal(g64, g32.double())
    assert torch.equal(nu64, nu32)
    aimc.set_time(model, 3600.0, generator=_gen(13))
    assert model[0].tiles.weight_now.dtype == torch.float64


def test_programmed_devices_before_programming_names_the_fix() -> None:
    with pytest.raises(StateError, match="aimc.program"):
        _model()[0].tiles.programmed_devices()


def _bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size()
               for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("precision", ["native", "bfloat16"])
def test_programmed_drifted_model_holds_about_2x_its_fp32_bytes(precision: str) -> None:
    """Issue 16 §3 (target ≤ 2.5×): weight + weight_now = 2× the FP32 weight bytes, in
    either perturbation dtype (no |w| or bfloat16 cache, no stored devices); the bound
    adds 0.05 for the per-column scales, ranges, α and biases of this 512-256-10 MLP
    (1.1 % of its weights: ≤ 0.03 in bytes)."""
    bound = 2.05
    torch.manual_seed(0)
    digital = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    fp_bytes = _bytes(digital)
    cfg = presets.rasch2023()
    cfg = cfg.replace(runtime=cfg.runtime.replace(perturbation_precision=precision))
    model = aimc.convert_to_analog(digital, cfg).eval()
    aimc.calibrate_input_ranges(model, [torch.randn(32, 512, generator=_gen(0))])
    aimc.program(model, generator=_gen(1))
    aimc.set_time(model, 86400.0, generator=_gen(2))
    assert _bytes(model) / fp_bytes <= bound
    with torch.no_grad():  # a forward pass builds no further caches
        model(torch.randn(64, 512, generator=_gen(3)))
    assert _bytes(model) / fp_bytes <= bound


def test_replacing_the_device_model_keeps_the_programmed_devices() -> None:
    """replace_config keeps the programmed state (re-program to apply a new device model):
    the recipe would redraw with the new model, so the devices are stored first."""
    model = _model()
    aimc.program(model, generator=_gen(14))
    g_before = [a.programmed_devices()[0].clone() for a in aimc.tile_arrays(model)]
    noisier = lambda c: c.replace(device=c.device.replace(prog_noise_scale=3.0))  # noqa: E731
    aimc.replace_config(model, noisier)
    for a, g in zip(aimc.tile_arrays(model), g_before, strict=True):
        assert a.g_programmed.numel() > 0  # stored before the switch
        assert torch.equal(a.programmed_devices()[0], g)
    aimc.program(model, generator=_gen(14))  # re-programming applies the new model
    g_after = model[0].tiles.programmed_devices()[0]
    assert model[0].tiles.g_programmed.numel() == 0 and not torch.equal(g_after, g_before[0])
