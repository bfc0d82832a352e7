"""TileArray through aimc.nn.AnalogLinear: tiling (§1.3, §7.2), the ideal limit, global drift
compensation on an ideal tile (§7.1), conductance read-out and lifecycle errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from float_bounds import assert_close_sum_order
from seeding import seed_everything, seeded

from aimc import presets
from aimc.config import (
    AnalogConfig,
    Converter,
    GlobalCompensation,
    IdealDevice,
    InputRange,
    IOConfig,
    Mapping,
    NoBoundManagement,
    NoCompensation,
    NoNoiseManagement,
    NoScaling,
    PCMNoiseModel,
    PerColumnCompensation,
    PerColumnScaling,
    PerTileScaling,
    TileSplit,
)
from aimc.errors import ConfigError, StateError
from aimc.nn import AnalogLinear

F64 = torch.float64
INF = math.inf
G_MAX = 25e-6


def _gen(seed: int = 0) -> torch.Generator:
    return seeded(seed)


def _ideal_io(**kw) -> IOConfig:
    base = {"dac": Converter(steps=None, bound=INF), "adc": Converter(steps=None, bound=INF),
            "inp_noise": 0.0, "out_noise": 0.0, "read_noise": 0.0, "ir_drop": None,
            "noise_management": NoNoiseManagement(), "bound_management": NoBoundManagement()}
    base.update(kw)
    return IOConfig(**base)


def _cfg(*, device=None, forward=None, scaling=None, input_range=None,
         compensation=None, max_rows: int = 512) -> AnalogConfig:
    return AnalogConfig(
        device=device if device is not None else IdealDevice(),
        forward=forward if forward is not None else _ideal_io(),
        mapping=Mapping(weight_scaling=scaling if scaling is not None else PerColumnScaling(),
                        tiles=TileSplit(max_rows=max_rows)),
        input_range=input_range,
        drift_compensation=compensation if compensation is not None else NoCompensation(),
    )


def _layer(n_in: int, n_out: int, cfg: AnalogConfig, seed: int = 0, dtype=F64,
           bias: bool = True) -> AnalogLinear:
    seed_everything(seed)
    layer = AnalogLinear(n_in, n_out, bias=bias, dtype=dtype, config=cfg)
    return layer.eval()


# --------------------------------------------------------------------- tiling
@pytest.mark.parametrize("n_in, tiles, rows", [(512, 1, 512), (1024, 2, 512), (1000, 2, 500),
                                               (1025, 3, 342), (100, 1, 100)])
def test_tile_count_and_rows(n_in, tiles, rows):
    """512-row tiles: a 1024-input layer is 2 tiles of 512 rows (§7.2); near-equal blocks."""
    layer = AnalogLinear(n_in, 4, config=presets.rasch2023())
    g = layer.tiles.geometry
    assert (g.num_tiles, g.rows, g.out) == (tiles, rows, 4)
    assert layer.tiles.input_range.shape == (tiles,)


def test_1024_inputs_programmed_state_shapes_and_row_blocks():
    """After programming a 1024-input layer: (2, K=2, out, 512) conductances; tile k holds
    inputs [512k, 512k + 512) (checked with an ideal device and per-tile read-out)."""
    layer = _layer(1024, 3, _cfg())
    layer.program()
    t = layer.tiles
    assert t.programmed_devices()[0].shape == (2, 2, 3, 512)
    assert t.programmed_devices()[1].shape == (2, 2, 3, 512)
    assert t.weight_scales.shape == (2, 3)
    w = layer.weight.detach()
    tiles_w = t.read_weights()
    torch.testing.assert_close(tiles_w[0], w[:, :512], rtol=1e-12, atol=0)
    torch.testing.assert_close(tiles_w[1], w[:, 512:], rtol=1e-12, atol=0)
    # per-column scales are the abs-max of each tile's column
    torch.testing.assert_close(t.weight_scales[0], w[:, :512].abs().amax(dim=1))
    torch.testing.assert_close(t.weight_scales[1], w[:, 512:].abs().amax(dim=1))


def test_tiles_are_quantised_independently():
    """Each 512-row tile has its own ADC (step 1.0 here): partial sums 0.3 + 0.3 quantise to
    0 + 0 = 0 (one ADC on the full sum would give round(0.6) = 1), and 0.7 + 0.7 to 1 + 1 = 2
    (not round(1.4) = 1). Exact."""
    cfg = _cfg(forward=_ideal_io(adc=Converter(steps=20, bound=10.0)))
    layer = _layer(1024, 1, cfg, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0] = 1.0
        layer.weight[0, 512] = 1.0
    for v, per_tile, once in ((0.3, 0.0, 1.0), (0.7, 2.0, 1.0)):
        x = torch.zeros(1, 1024, dtype=F64)
        x[0, 0] = x[0, 512] = v
        y = layer(x).detach()
        assert float(y) == per_tile
        assert float(F.linear(x, layer.weight.detach()).round()) == once  # single-ADC answer
    # a 512-input layer with the same total has one ADC and rounds the sum once
    single = _layer(512, 1, cfg, bias=False)
    with torch.no_grad():
        single.weight.zero_()
        single.weight[0, :2] = 1.0
    x = torch.zeros(1, 512, dtype=F64)
    x[0, :2] = 0.3
    assert float(single(x).detach()) == 1.0


def test_tiles_are_noised_independently():
    """Output noise σ = 0.04 is drawn per tile and the partial sums are added: Var(y) is
    2·0.04² for a 1024-input layer and 0.04² for a 512-input one (unit column scales,
    20 000 samples, tolerance 5 %; relative SE of a variance 1 %)."""
    cfg = _cfg(forward=_ideal_io(out_noise=0.04))
    n = 20_000
    for n_in, tiles in ((512, 1), (1024, 2)):
        layer = _layer(n_in, 2, cfg, bias=False)
        with torch.no_grad():
            layer.weight.zero_()
            layer.weight[:, ::512] = 1.0  # every tile column has abs-max 1 → scale 1
        x = torch.zeros(n, n_in, dtype=F64)
        seed_everything(1)
        y = layer(x)
        torch.testing.assert_close(y.var(dim=0), torch.full((2,), tiles * 0.04**2, dtype=F64),
                                   rtol=0.05, atol=0)


# --------------------------------------------------------------------- ideal limit
@pytest.mark.parametrize("scaling", [PerColumnScaling(), PerTileScaling()])
@pytest.mark.parametrize("n_in", [300, 1024, 1000])
def test_ideal_tile_equals_linear_with_input_range(scaling, n_in):
    """All σ = 0, no IR drop, infinite resolution ⇒ y = W·x + b exactly (rtol 1e-12, float64),
    including the input range r = 2.5 (DAC clipping at ±1 would bite without it) and the
    digital weight scales, before and after programming an ideal device."""
    cfg = _cfg(forward=_ideal_io(dac=Converter(steps=None, bound=1.0)), scaling=scaling,
               input_range=InputRange(init_value=2.5, init_from_data=0))
    layer = _layer(n_in, 7, cfg)
    with torch.no_grad():
        layer.weight.mul_(torch.linspace(0.1, 3.0, 7, dtype=F64).unsqueeze(1))
    x = (torch.rand(9, n_in, generator=_gen(1), dtype=F64) * 2 - 1) * 2.5
    expected = F.linear(x, layer.weight, layer.bias)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    layer.program()
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    # without the input range the same inputs clip in the DAC: the test is sensitive to r
    no_r = _layer(n_in, 7, _cfg(forward=_ideal_io(dac=Converter(steps=None, bound=1.0)),
                                scaling=scaling))
    with torch.no_grad():
        no_r.weight.copy_(layer.weight)
        no_r.bias.copy_(layer.bias)
    assert not torch.allclose(no_r(x), expected, atol=1e-3)


def test_ideal_tile_no_scaling():
    """NoScaling with weights in [−1, 1]: exact as well (rtol 1e-12)."""
    layer = _layer(600, 5, _cfg(scaling=NoScaling()))
    with torch.no_grad():
        layer.weight.uniform_(-1, 1, generator=_gen(2))
    x = torch.randn(4, 600, generator=_gen(3), dtype=F64)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias),
                               rtol=1e-12, atol=1e-12)


def test_ideal_preset_matches_torch_linear_forward_and_gradient():
    """presets.ideal(): forward and gradients equal nn.Linear within the summation-order bound
    of tests/float_bounds.py (1024-term fan-in split over two 512-row tiles; the loss
    y² feeds the forward error into the gradients: one more stage)."""
    seed_everything(4)
    ref = torch.nn.Linear(1024, 6)
    layer = AnalogLinear.from_float(ref, config=presets.ideal())
    x = torch.randn(5, 1024, generator=_gen(5))
    y_ref, y = ref(x), layer(x)
    assert_close_sum_order(y, y_ref, terms=1024, what="output")
    y_ref.square().sum().backward()
    y.square().sum().backward()
    assert_close_sum_order(layer.weight.grad, ref.weight.grad, terms=1024, stages=2,
                           what="weight grad")
    assert_close_sum_order(layer.bias.grad, ref.bias.grad, terms=1024, stages=2,
                           what="bias grad")


# --------------------------------------------------------------------- drift compensation
NU = 0.06
COMMON_NU_PCM = PCMNoiseModel(read_noise_scale=0.0, prog_noise_scale=0.0,
                              nu_mean_bounds=(NU, NU), nu_std_bounds=(0.0, 0.0))


def _stored_common_nu(tiles) -> float:
    """The one ν every device holds; equal to 0.06 up to the storage precision of drift_nu
    (TileArray may keep ν in a reduced-precision dtype: float16 rounds 0.06 by 4e-5 relative).
    """
    nu = tiles.programmed_devices()[1]
    assert torch.equal(nu, torch.full_like(nu, float(nu.flatten()[0])))
    stored = float(nu.flatten()[0])
    assert stored == pytest.approx(NU, rel=2.0**-11)
    return stored


def _check_alpha(alpha: torch.Tensor, t: float, nu_stored: float) -> None:
    """α = ((t + 20)/20)^ν: rtol 1e-5 against the stored ν, and against ν = 0.06 with rtol
    1e-5 widened only by the storage rounding of ν (|Δν|·ln((t + 20)/20))."""
    ratio = (t + 20.0) / 20.0
    torch.testing.assert_close(alpha, torch.full_like(alpha, ratio**nu_stored),
                               rtol=1e-5, atol=0)
    rtol = 1e-5 + abs(nu_stored - NU) * math.log(ratio)
    torch.testing.assert_close(alpha, torch.full_like(alpha, ratio**NU), rtol=rtol, atol=0)


@pytest.mark.parametrize("t", [1.0, 3600.0, 86400.0, 365 * 86400.0])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_gdc_on_ideal_tile_is_exact(t, dtype):
    """Ideal tile with one common ν = 0.06: α = ((t + 20)/20)^0.06 (rtol 1e-5, see
    _check_alpha) for each of the 2 tiles; the compensated output equals the output right
    after programming (rtol 1e-5), while the uncompensated weights drift by 1/α."""
    cfg = _cfg(device=COMMON_NU_PCM, compensation=GlobalCompensation())
    layer = _layer(1024, 5, cfg, dtype=dtype)
    x = torch.randn(8, 1024, generator=_gen(6), dtype=dtype)
    layer.program(generator=_gen(7))
    tiles = layer.tiles
    nu = _stored_common_nu(tiles)
    assert torch.equal(tiles.gdc_alpha, torch.ones(2, dtype=dtype))
    y0 = layer(x)
    torch.testing.assert_close(y0, F.linear(x, layer.weight, layer.bias))
    layer.set_time(t, generator=_gen(8))
    assert tiles.gdc_alpha.shape == (2,)
    _check_alpha(tiles.gdc_alpha, t, nu)
    torch.testing.assert_close(layer(x), y0, rtol=1e-5, atol=1e-5)
    raw = layer.read_weights(compensated=False)
    alpha = ((t + 20.0) / 20.0) ** nu
    torch.testing.assert_close(raw, layer.weight.detach() / alpha, rtol=1e-5, atol=1e-7)
    assert float(tiles.t_inference) == t
    # the drift is real: without compensation the output shrinks by 1/α
    drifted = F.linear(x, raw, layer.bias)
    assert not torch.allclose(drifted, y0, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("rows_per_probe", [1, 32])
def test_gdc_probes_through_a_fixed_gain_4_bit_adc(rows_per_probe):
    """A 4-bit ADC on ±10 (Δ = 20/14 ≈ 1.43): a one-hot probe reads one weight |w| ≤ 1,
    mostly 0 after rounding, so GDC's α is meaningless; a 32-row probe (|Σ w| ≈ √32·0.4 ≈ 2
    steps) gives α within 10 % of the true ((t + 20)/20)^ν (quantisation of mean|Y| over
    4·256 readings). α equals the same arithmetic done by hand on the tile's normalised
    weights (float64: rtol 1e-12)."""
    cfg = _cfg(device=COMMON_NU_PCM, compensation=GlobalCompensation(
        rows_per_probe=rows_per_probe), forward=_ideal_io(adc=Converter(steps=14, bound=10.0)))
    layer = _layer(256, 128, cfg)
    layer.program(generator=_gen(7))
    tiles = layer.tiles
    w0 = tiles.weight_now.clone()
    t = 86400.0
    layer.set_time(t, generator=_gen(8))
    eye = torch.eye(256, dtype=F64)
    probes = eye.reshape(-1, rows_per_probe, 256).sum(1)  # (probes, rows)

    def reading(w):  # mean |ADC(P·wᵀ)| of the one tile
        y = probes @ w[0].T
        return (torch.round(y / (20.0 / 14)) * (20.0 / 14)).clamp(-10, 10).abs().mean()

    hand = reading(w0) / reading(tiles.weight_now).clamp(min=1e-4)
    torch.testing.assert_close(tiles.gdc_alpha, hand.reshape(1), rtol=1e-12, atol=0)
    true = ((t + 20.0) / 20.0) ** _stored_common_nu(tiles)
    error = abs(float(tiles.gdc_alpha[0]) / true - 1)
    if rows_per_probe == 1:
        assert error > 0.5
    else:
        assert error < 0.1
    with pytest.raises(ConfigError, match="rows_per_probe"):
        GlobalCompensation(rows_per_probe=0)


def test_per_column_gdc_on_ideal_tile():
    """PerColumnCompensation: one α per tile column, all ((t + 20)/20)^0.06 (_check_alpha)."""
    cfg = _cfg(device=COMMON_NU_PCM, compensation=PerColumnCompensation())
    layer = _layer(700, 4, cfg)
    layer.program()
    layer.set_time(86400.0)
    alpha = layer.tiles.gdc_alpha
    assert alpha.shape == (2, 4)
    _check_alpha(alpha, 86400.0, _stored_common_nu(layer.tiles))


def test_gdc_alpha_with_per_device_nu():
    """Per-device ν (default PCM spread, no read or programming noise, ideal periphery):
    α = mean|W_prog| / mean|W_drift| per tile (one-hot probes read the weights; rtol 1e-10)."""
    cfg = _cfg(device=PCMNoiseModel(read_noise_scale=0.0, prog_noise_scale=0.0),
               compensation=GlobalCompensation())
    layer = _layer(1024, 6, cfg)
    layer.program(generator=_gen(9))
    w_prog = layer.tiles.weight_now.clone()
    layer.set_time(3600.0)
    w_t = layer.tiles.weight_now
    expected = w_prog.abs().mean(dim=(1, 2)) / w_t.abs().mean(dim=(1, 2))
    torch.testing.assert_close(layer.tiles.gdc_alpha, expected, rtol=1e-10, atol=0)
    assert bool((expected > 1.2).all())  # ν ≥ 0.049 over 1 h: ≥ 1/0.7751


# --------------------------------------------------------------------- conductances
def test_conductances_in_siemens_within_range():
    """rasch2023 device: programmed conductances are in S, within [0, g_max·(1 + 6σ_max)]
    (σ_max = max σ_prog/g_max ≈ 0.0435); the devices holding each column's abs-max weight sit
    within 6σ (σ = 0.0422·g_max) of 25 µS."""
    layer = AnalogLinear(256, 8, config=presets.rasch2023())
    layer.program(generator=_gen(10))
    g = layer.tiles.conductances()
    assert g.shape == (2, 1, 8, 256)
    assert float(g.min()) >= 0.0
    assert float(g.max()) <= G_MAX * (1 + 6 * 0.0435)
    w = layer.weight.detach()
    idx = w.abs().argmax(dim=1)
    sign = w[torch.arange(8), idx] > 0
    g_top = torch.where(sign, g[0, 0, torch.arange(8), idx], g[1, 0, torch.arange(8), idx])
    assert bool(((g_top - G_MAX).abs() <= 6 * 0.0422 * G_MAX).all())
    # the idle device of each pair started at 0: its programmed value is small
    g_idle = torch.where(sign, g[1, 0, torch.arange(8), idx], g[0, 0, torch.arange(8), idx])
    assert bool((g_idle <= 6 * 0.0105 * G_MAX).all())


def test_conductances_ideal_device_exact():
    """IdealDevice, g_max = 10 µS: G⁺ = clip(w/s, 0, 1)·g_max, G⁻ = clip(−w/s, 0, 1)·g_max."""
    cfg = _cfg(device=IdealDevice(g_max=10e-6))
    layer = _layer(64, 3, cfg)
    layer.program()
    g = layer.tiles.conductances()
    w = layer.weight.detach()
    wn = w / w.abs().amax(dim=1, keepdim=True)
    torch.testing.assert_close(g[0, 0], wn.clamp(min=0) * 10e-6, rtol=1e-12, atol=0)
    torch.testing.assert_close(g[1, 0], (-wn).clamp(min=0) * 10e-6, rtol=1e-12, atol=0)
    torch.testing.assert_close(layer.tiles.conductances_now()[0], wn * 10e-6,
                               rtol=1e-12, atol=1e-20)


# --------------------------------------------------------------------- lifecycle
def test_set_time_before_program_raises():
    layer = AnalogLinear(16, 2, config=presets.rasch2023())
    with pytest.raises(StateError):
        layer.set_time(3600.0)
    with pytest.raises(StateError):
        layer.tiles.conductances()
    with pytest.raises(StateError):
        layer.read_weights()
    assert not layer.is_programmed


@pytest.mark.parametrize("t_bad", [-1.0, float("nan"), float("inf"), "1h"])
def test_set_time_invalid_raises(t_bad):
    layer = AnalogLinear(16, 2, config=presets.rasch2023())
    layer.program(generator=_gen(11))
    with pytest.raises(ConfigError):
        layer.set_time(t_bad)


def test_program_once_then_fresh_read_noise():
    """set_time redraws read noise from the stored programmed state (weights differ between
    two calls at the same t, g_programmed and ν do not change); equal seeds reproduce."""
    layer = AnalogLinear(64, 4, config=presets.rasch2023())
    layer.program(generator=_gen(12))
    g_prog = layer.tiles.programmed_devices()[0].clone()
    nu = layer.tiles.programmed_devices()[1].clone()
    layer.set_time(86400.0, generator=_gen(13))
    w1 = layer.tiles.weight_now.clone()
    layer.set_time(86400.0, generator=_gen(14))
    w2 = layer.tiles.weight_now.clone()
    layer.set_time(86400.0, generator=_gen(13))
    w3 = layer.tiles.weight_now.clone()
    assert not torch.equal(w1, w2)
    assert torch.equal(w1, w3)
    assert torch.equal(layer.tiles.programmed_devices()[0], g_prog)
    assert torch.equal(layer.tiles.programmed_devices()[1], nu)
    # re-programming with another seed draws new programming noise
    layer.program(generator=_gen(15))
    assert not torch.equal(layer.tiles.programmed_devices()[0], g_prog)
    assert float(layer.tiles.t_inference) == 0.0
