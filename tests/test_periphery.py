"""Crossbar periphery vs physics.md §1.3 and §7.2: converters, STE, noise and bound
management, IR drop and the composed crossbar MVM (read noise + output noise statistics)."""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc import presets
from aimc.config import (
    AbsMaxNoiseManagement,
    ConstantNoiseManagement,
    Converter,
    IOConfig,
    IRDrop,
    IterativeBoundManagement,
    NoBoundManagement,
    NoNoiseManagement,
)
from aimc.errors import ConfigError
from aimc.physics.geometry import LinearGeometry
from aimc.physics.mvm import analog_mvm, crossbar_mvm
from aimc.physics.periphery import (
    adc,
    apply_noise_management,
    dac,
    ir_drop_coefficient,
    ir_drop_row_factor,
    noise_management_scale,
    quantize,
)

F64 = torch.float64
INF = math.inf
DAC = Converter(steps=254, bound=1.0)
ADC = Converter(steps=254, bound=10.0)
IDEAL_CONV = Converter(steps=None, bound=INF)


def _gen(seed: int = 0) -> torch.Generator:
    return seeded(seed)


def _io(**kw) -> IOConfig:
    """An ideal periphery (no noise, no quantisation, no IR drop) with overrides."""
    base = {"dac": IDEAL_CONV, "adc": IDEAL_CONV, "inp_noise": 0.0, "out_noise": 0.0,
            "read_noise": 0.0, "ir_drop": None, "noise_management": NoNoiseManagement(),
            "bound_management": NoBoundManagement()}
    base.update(kw)
    return IOConfig(**base)


# --------------------------------------------------------------------- converters
def test_converter_steps_of_standard_preset():
    """DAC LSB 2/254 ≈ 0.00787, ADC LSB 20/254 ≈ 0.0787 (§7.2), exact to 1e-15."""
    assert DAC.step_size == pytest.approx(2 / 254, rel=1e-15)
    assert ADC.step_size == pytest.approx(20 / 254, rel=1e-15)
    fwd = presets.rasch2023().forward
    assert fwd.dac.step_size == pytest.approx(2 / 254, rel=1e-15)
    assert fwd.adc.step_size == pytest.approx(20 / 254, rel=1e-15)
    assert fwd.adc.bound == 10.0 and fwd.dac.bound == 1.0
    assert IDEAL_CONV.step_size == 0.0


def test_dac_levels_and_clipping():
    """DAC outputs are integer multiples of 2/254 (1e-9), within Δ/2 of the input inside the
    range, clipped to ±1 outside, and hit specific levels."""
    x = torch.linspace(-1.5, 1.5, 30_001, dtype=F64)
    y = dac(x, DAC)
    step = 2 / 254
    k = y / step
    assert torch.allclose(k, k.round(), atol=1e-9, rtol=0)
    inside = x.abs() <= 1
    assert float((y[inside] - x[inside]).abs().max()) <= step / 2 + 1e-12
    assert float(y.max()) == 1.0 and float(y.min()) == -1.0
    assert torch.equal(y[x > 1], torch.ones_like(y[x > 1]))
    assert torch.equal(y[x < -1], -torch.ones_like(y[x < -1]))
    # 0.004 = 0.508 LSB rounds to 1 LSB, 0.003 = 0.381 LSB rounds to 0
    pts = dac(torch.tensor([0.003, 0.004, -0.004, 0.5, 5.0], dtype=F64), DAC)
    torch.testing.assert_close(pts, torch.tensor([0.0, 1 / 127, -1 / 127, 64 / 127, 1.0],
                                                 dtype=F64), rtol=0, atol=1e-15)
    # 255 levels in total
    assert y.unique().numel() == 255


def test_adc_levels_and_clipping():
    """ADC: multiples of 20/254, clipped at ±10 (§7.2); quantise-then-clip."""
    step = 20 / 254
    y = adc(torch.tensor([0.05, -0.05, 0.03, 3.0, 9.99, 10.0, 25.0, -25.0], dtype=F64), ADC)
    expected = torch.tensor([step, -step, 0.0, round(3.0 / step) * step, 10.0, 10.0, 10.0,
                             -10.0], dtype=F64)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    big = adc(torch.linspace(-100, 100, 10_001, dtype=F64), ADC)
    assert float(big.abs().max()) == 10.0


def test_unsigned_converter_levels_and_clipping():
    """Unsigned b-bit: 2^b − 1 steps of bound/steps on [0, bound]; negatives read as 0."""
    conv = Converter(steps=15, bound=1.0, signed=False)
    assert conv.step_size == pytest.approx(1 / 15, rel=1e-15) and conv.low == 0.0
    # 0.04 = 0.6 LSB → 1; 0.5 = 7.5 LSB → 8 (round half to even); 1.2 clips to 15 LSB
    pts = torch.tensor([-0.3, 0.0, 0.03, 0.04, 0.5, 1.2], dtype=F64)
    expect = torch.tensor([0.0, 0.0, 0.0, 1 / 15, 8 / 15, 1.0], dtype=F64)
    torch.testing.assert_close(dac(pts, conv), expect, rtol=0, atol=1e-15)
    torch.testing.assert_close(adc(pts, conv), expect, rtol=0, atol=1e-15)
    assert dac(torch.linspace(-2, 2, 10_001, dtype=F64), conv).unique().numel() == 16
    # no top bound: only the negatives go
    x = torch.linspace(-30, 30, 1001, dtype=F64)
    assert torch.equal(adc(x, Converter(steps=None, bound=math.inf, signed=False)),
                       x.clamp(min=0))
    with pytest.raises(ConfigError, match="signed"):
        Converter(steps=15, signed=1)  # type: ignore[arg-type]


def test_infinite_resolution_and_unbounded_converters():
    """steps=None keeps only the clipping; bound=inf makes the converter the identity."""
    x = torch.linspace(-30, 30, 1001, dtype=F64)
    assert torch.equal(dac(x, IDEAL_CONV), x)
    assert torch.equal(adc(x, IDEAL_CONV), x)
    clip_only = Converter(steps=None, bound=10.0)
    assert torch.equal(adc(x, clip_only), x.clamp(-10, 10))
    assert torch.equal(dac(x, Converter(steps=None, bound=1.0)), x.clamp(-1, 1))


def test_quantize_straight_through_gradient():
    """quantize: forward rounds, backward passes gradient 1 everywhere (STE)."""
    x = torch.linspace(-0.95, 0.95, 257, dtype=F64).requires_grad_(True)
    y = quantize(x, 2 / 254)
    k = y.detach() * 127
    assert torch.allclose(k, k.round(), atol=1e-9, rtol=0)
    assert not torch.equal(y.detach(), x.detach())  # it really rounds
    (y * torch.arange(257, dtype=F64)).sum().backward()
    # (1/Δ)·Δ is 1 up to one float rounding
    torch.testing.assert_close(x.grad, torch.arange(257, dtype=F64), rtol=1e-14, atol=0)
    # step <= 0 is the identity, also for the gradient
    x2 = x.detach().clone().requires_grad_(True)
    y2 = quantize(x2, 0.0)
    assert torch.equal(y2, x2)


def test_converter_gradient_is_one_inside_zero_outside():
    """dac/adc: gradient 1 inside the range (straight-through rounding), 0 where clipped."""
    x = torch.tensor([-3.0, -0.5, 0.123, 0.77, 3.0], dtype=F64, requires_grad=True)
    dac(x, DAC).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1, 1, 1, 0], dtype=F64))
    y = torch.tensor([-30.0, -2.0, 0.3, 9.5, 30.0], dtype=F64, requires_grad=True)
    adc(y, ADC).sum().backward()
    torch.testing.assert_close(y.grad, torch.tensor([0.0, 1, 1, 1, 0], dtype=F64))


# --------------------------------------------------------------------- noise management
def test_noise_management_modes():
    """NONE passes x through (scale 1); CONSTANT divides by value; ABS_MAX divides each vector
    by its abs-max (zero vectors keep scale 1) with a detached scale."""
    x = torch.tensor([[0.5, -4.0, 2.0], [0.0, 0.0, 0.0], [0.1, 0.2, -0.05]], dtype=F64)
    out, scale = apply_noise_management(x, NoNoiseManagement(), (1,))
    assert out is x and scale == 1.0
    out, scale = apply_noise_management(x, ConstantNoiseManagement(value=1.0), (1,))
    assert torch.equal(out, x) and scale == 1.0
    out, scale = apply_noise_management(x, ConstantNoiseManagement(value=4.0), (1,))
    torch.testing.assert_close(out, x / 4.0, rtol=1e-15, atol=0)
    assert scale == 4.0
    xg = x.clone().requires_grad_(True)
    out, scale = apply_noise_management(xg, AbsMaxNoiseManagement(), (1,))
    torch.testing.assert_close(scale, torch.tensor([[4.0], [1.0], [0.2]], dtype=F64))
    assert not scale.requires_grad
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.detach().abs().amax(dim=1),
                               torch.tensor([1.0, 0.0, 1.0], dtype=F64))
    torch.testing.assert_close(out.detach() * scale, x, rtol=1e-15, atol=0)
    out.sum().backward()  # gradient of x/scale with a constant scale
    torch.testing.assert_close(xg.grad, (1.0 / scale).expand_as(x))


def test_noise_management_in_mvm_avoids_dac_clipping():
    """Inputs beyond the DAC range: without management they clip; ABS_MAX and CONSTANT(5)
    scale them in and the output (× scale) equals W·x (rtol 1e-12, ideal resolution)."""
    geom = LinearGeometry(in_features=6, out_features=3, max_rows=8)
    w = torch.rand(1, 3, 6, generator=_gen(1), dtype=F64) * 2 - 1
    x = torch.tensor([[4.0, -3.0, 2.5, 0.5, -1.5, 1.0], [0.2, 0.1, -0.3, 0.0, 0.4, -0.1]],
                     dtype=F64)
    ideal = x @ w[0].t()
    ones = torch.ones(1, 3, dtype=F64)
    dac_clip = Converter(steps=None, bound=1.0)
    for nm in (AbsMaxNoiseManagement(), ConstantNoiseManagement(value=5.0)):
        y = analog_mvm(geom.to_tiles(x), w, _io(dac=dac_clip, noise_management=nm), geom,
                       out_scale=ones)
        torch.testing.assert_close(y, ideal, rtol=1e-12, atol=1e-12)
    y_none = analog_mvm(geom.to_tiles(x), w, _io(dac=dac_clip), geom, out_scale=ones)
    assert not torch.allclose(y_none[0], ideal[0], atol=1e-3)
    torch.testing.assert_close(y_none[1], ideal[1], rtol=1e-12, atol=1e-12)  # in range


# --------------------------------------------------------------------- IR drop closed form
def test_ir_drop_closed_form_all_ones_512():
    """All-ones W and x, n = 512 (§7.2): a ≈ 0.4588, c ≈ 0.1921, Σ f_j ≈ 340.83,
    Δy ≈ −65.48 (tolerances: half a unit in the last printed digit + margin)."""
    n = 512
    cfg = IRDrop()
    assert cfg.g_ratio == pytest.approx(1 / (0.35 * 5e-6), rel=1e-12)
    assert n * n / cfg.g_ratio == pytest.approx(0.4588, abs=6e-5)
    c = ir_drop_coefficient(torch.tensor([float(n)], dtype=F64), n, cfg)
    assert float(c) == pytest.approx(0.1921, abs=6e-5)
    f = ir_drop_row_factor(n, dtype=F64)
    assert f.shape == (n,)
    assert float(f.sum()) == pytest.approx(340.83, abs=6e-3)
    assert float(-c * f.sum()) == pytest.approx(-65.48, abs=6e-3)


def test_ir_drop_row_factor_orientation_and_coefficient_scale():
    """f_j = 1 − (1 − j/n)²: row 0 (farthest) is 0, increasing, f_{n−1} = 1 − 1/n²;
    c is linear in IRDrop.scale and 0 for scale 0."""
    f = ir_drop_row_factor(8, dtype=F64)
    j = torch.arange(8, dtype=F64)
    torch.testing.assert_close(f, 1 - (1 - j / 8) ** 2, rtol=0, atol=1e-15)
    assert float(f[0]) == 0.0 and float(f[-1]) == pytest.approx(1 - 1 / 64, abs=1e-15)
    assert bool((f.diff() > 0).all())
    s = torch.tensor([3.0, 100.0, 512.0], dtype=F64)
    c1 = ir_drop_coefficient(s, 64, IRDrop(scale=1.0))
    torch.testing.assert_close(ir_drop_coefficient(s, 64, IRDrop(scale=0.3)), 0.3 * c1,
                               rtol=1e-14, atol=0)
    assert torch.equal(ir_drop_coefficient(s, 64, IRDrop(scale=0.0)), torch.zeros_like(s))
    # a = n·Σ/g_ratio with a small custom ratio: a = 64·3/100 = 1.92
    a = 1.92
    c = ir_drop_coefficient(torch.tensor([3.0], dtype=F64), 64, IRDrop(g_ratio=100.0))
    assert float(c) == pytest.approx(a * (a * (0.05 * a - 0.2) + 0.5), rel=1e-14)


def test_ir_drop_end_to_end_all_ones_unclipped():
    """crossbar_mvm with all-ones W and x, n = 512 and unbounded converters reproduces the
    §7.2 pre-clipping numbers: y = 512 − 65.48 (abs 6e-3)."""
    n = 512
    geom = LinearGeometry(in_features=n, out_features=2, max_rows=n)
    w = torch.ones(1, 2, n, dtype=F64)
    x = torch.ones(1, 1, n, dtype=F64)
    y = crossbar_mvm(x, w, _io(ir_drop=IRDrop()), geom)
    torch.testing.assert_close(y, torch.full((1, 1, 2), 512 - 65.4783, dtype=F64),
                               rtol=0, atol=6e-3)
    # with the standard ADC the same MVM saturates at +10
    y_clip = crossbar_mvm(x, w, _io(ir_drop=IRDrop(), adc=ADC), geom)
    assert torch.equal(y_clip, torch.full_like(y_clip, 10.0))


def test_ir_drop_small_input_matches_hand_computation():
    """Non-saturating IR drop vs the closed form computed here (float64, abs 1e-12), for the
    standard g_ratio (all-ones W, x = 0.01) and for random signed W, x with a small g_ratio
    that makes the effect large."""
    n = 512
    geom = LinearGeometry(in_features=n, out_features=1, max_rows=n)
    w = torch.ones(1, 1, n, dtype=F64)
    x = torch.full((1, 1, n), 0.01, dtype=F64)
    y = crossbar_mvm(x, w, _io(ir_drop=IRDrop(), adc=Converter(steps=None, bound=10.0)), geom)
    a = n * (n * 0.01) / (1 / (0.35 * 5e-6))
    c = a * (a * (0.05 * a - 0.2) + 0.5)
    f_sum = sum(1 - (1 - j / n) ** 2 for j in range(n))
    expected = n * 0.01 - c * 0.01 * f_sum
    assert float(y) == pytest.approx(expected, abs=1e-12)
    assert n * 0.01 - float(y) > 5e-3  # the drop is really applied (≈ 7.8e-3)

    rows, out = 48, 5
    geom = LinearGeometry(in_features=rows, out_features=out, max_rows=64)
    g = _gen(2)
    w = torch.rand(1, out, rows, generator=g, dtype=F64) * 2 - 1
    x = torch.rand(1, 3, rows, generator=g, dtype=F64) - 0.5
    cfg = IRDrop(scale=0.7, g_ratio=400.0)
    y = crossbar_mvm(x, w, _io(ir_drop=cfg), geom)
    expected = torch.empty(3, out, dtype=F64)
    for b in range(3):
        for i in range(out):
            s_abs = sum(abs(float(w[0, i, j])) * abs(float(x[0, b, j])) for j in range(rows))
            s = sum(float(w[0, i, j]) * float(x[0, b, j]) for j in range(rows))
            s_f = sum(float(w[0, i, j]) * float(x[0, b, j]) * (1 - (1 - j / rows) ** 2)
                      for j in range(rows))
            a = rows * s_abs / 400.0
            c = a * (a * (0.05 * a - 0.2) + 0.5)
            expected[b, i] = s - 0.7 * c * s_f
    torch.testing.assert_close(y[0], expected, rtol=0, atol=1e-12)
    assert float((y[0] - x[0] @ w[0].t()).abs().max()) > 1e-2


def test_ir_drop_depends_on_row_position():
    """One active row: at row 0 (farthest, f = 0) the output is unchanged, at the last row it
    drops by c·w·x·(1 − 1/n²)."""
    n = 64
    geom = LinearGeometry(in_features=n, out_features=1, max_rows=n)
    w = torch.ones(1, 1, n, dtype=F64)
    cfg = IRDrop(g_ratio=50.0)
    io = _io(ir_drop=cfg)
    x0 = torch.zeros(1, 1, n, dtype=F64)
    x0[..., 0] = 0.5
    xl = torch.zeros(1, 1, n, dtype=F64)
    xl[..., -1] = 0.5
    assert float(crossbar_mvm(x0, w, io, geom)) == pytest.approx(0.5, abs=1e-15)
    a = n * 0.5 / 50.0
    c = a * (a * (0.05 * a - 0.2) + 0.5)
    assert float(crossbar_mvm(xl, w, io, geom)) == pytest.approx(
        0.5 - c * 0.5 * (1 - 1 / n**2), abs=1e-14)


# --------------------------------------------------------------------- MVM noise statistics
def _noise_setup(rows: int = 64, out: int = 6):
    geom = LinearGeometry(in_features=rows, out_features=out, max_rows=rows)
    g = _gen(3)
    w = torch.rand(1, out, rows, generator=g, dtype=F64) * 2 - 1
    w[0, 0] = 0.25  # |w| = 0.25: Σ|w|x² = 4·Σw²x², separates the two variance formulas
    w[0, 1] = 0.0  # only output noise
    x = torch.rand(rows, generator=g, dtype=F64) * 2 - 1
    return geom, w, x


def test_read_and_output_noise_variance():
    """Read + output noise only: Var(y_i − y_ideal,i) = 0.0175²·Σ_j|w_ij|·x_j² + 0.04² (§7.2).

    40 000 independent draws (one batch of identical inputs, fixed generator); the relative
    standard error of a variance is sqrt(2/N) = 0.7 %, tolerance 5 %. Means are 0 within 5 SE.
    """
    geom, w, x = _noise_setup()
    n = 40_000
    xb = x.expand(1, n, -1).contiguous()
    io = _io(read_noise=0.0175, out_noise=0.04)
    y = crossbar_mvm(xb, w, io, geom, generator=_gen(4))
    diff = (y - (x @ w[0].t()))[0]
    var = diff.var(dim=0)
    expected = 0.0175**2 * (w[0].abs() * x**2).sum(dim=1) + 0.04**2
    torch.testing.assert_close(var, expected, rtol=0.05, atol=0)
    assert bool((diff.mean(dim=0).abs() < 5 * expected.sqrt() / math.sqrt(n)).all())
    # different outputs are independent
    corr = torch.corrcoef(diff.t())
    off = corr - torch.diag(torch.diagonal(corr))
    assert float(off.abs().max()) < 0.03
    # the columns really differ in variance (the test would catch a constant σ)
    assert float(expected.max() / expected.min()) > 2.5


def test_read_noise_only_and_output_noise_only():
    """Each term alone: Var = 0.0175²·Σ|w|x² (read) and 0.04² (output), tolerance 5 %."""
    geom, w, x = _noise_setup()
    n = 40_000
    xb = x.expand(1, n, -1).contiguous()
    ideal = x @ w[0].t()
    y = crossbar_mvm(xb, w, _io(read_noise=0.0175), geom, generator=_gen(5))
    var = (y[0] - ideal).var(dim=0)
    expected = 0.0175**2 * (w[0].abs() * x**2).sum(dim=1)
    torch.testing.assert_close(var[2:], expected[2:], rtol=0.05, atol=0)
    torch.testing.assert_close(var[0], expected[0], rtol=0.05, atol=0)
    assert float(var[1]) == 0.0  # a zero column has no read noise
    y = crossbar_mvm(xb, w, _io(out_noise=0.04), geom, generator=_gen(6))
    var = (y[0] - ideal).var(dim=0)
    torch.testing.assert_close(var, torch.full_like(var, 0.04**2), rtol=0.05, atol=0)


def test_mvm_noise_is_redrawn_and_reproducible():
    """Noise is fresh on every call and identical for the same seed."""
    geom, w, x = _noise_setup()
    xb = x.expand(1, 4, -1).contiguous()
    io = _io(read_noise=0.0175, out_noise=0.04)
    g = _gen(7)
    a = crossbar_mvm(xb, w, io, geom, generator=g)
    b = crossbar_mvm(xb, w, io, geom, generator=g)
    assert not torch.equal(a, b)
    assert torch.equal(a, crossbar_mvm(xb, w, io, geom, generator=_gen(7)))


def test_noiseless_mvm_has_straight_through_gradient():
    """Quantised but noise-free forward: d(Σy)/dx = Σ_i w_ij and d(Σy)/dw_ij = Σ_n xq_nj with
    xq the DAC output (STE through DAC and ADC; values stay inside the converter ranges)."""
    geom, w, x = _noise_setup()
    wr = (w * 0.1).requires_grad_(True)
    xr = (x * 0.5).expand(1, 3, -1).contiguous().requires_grad_(True)
    y = crossbar_mvm(xr, wr, _io(dac=DAC, adc=ADC), geom)
    y.sum().backward()
    torch.testing.assert_close(xr.grad[0], wr.detach()[0].sum(dim=0).expand(3, -1),
                               rtol=1e-12, atol=0)
    xq = dac(xr.detach()[0], DAC)
    torch.testing.assert_close(wr.grad[0], xq.sum(dim=0).expand(6, -1), rtol=1e-12, atol=0)


def test_noisy_mvm_has_ideal_gradient():
    """Noisy forward, ideal backward (module docstring of aimc.physics.mvm): with read noise,
    output noise and IR drop on, d(Σy)/dx = Σ_i w_ij and d(Σy)/dw = Σ_n x_n exactly.

    Regression test: at commit d41e8eb the clean MVM was computed inside torch.no_grad()
    whenever a perturbation was on, so the output had no gradient at all."""
    geom, w, x = _noise_setup()
    wr = w.clone().requires_grad_(True)
    xr = x.clone().expand(1, 3, -1).contiguous().requires_grad_(True)
    io = _io(read_noise=0.0175, out_noise=0.04, ir_drop=IRDrop(g_ratio=100.0))
    y = crossbar_mvm(xr, wr, io, geom, generator=_gen(8))
    assert y.requires_grad
    y.sum().backward()
    torch.testing.assert_close(xr.grad[0], w[0].sum(dim=0).expand(3, -1), rtol=1e-12, atol=0)
    torch.testing.assert_close(wr.grad[0], xr.detach()[0].sum(dim=0).expand(6, -1),
                               rtol=1e-12, atol=0)


def test_noise_management_scale_is_the_scale_of_apply() -> None:
    """noise_management_scale gives the scale alone (detached, ABS_MAX keepdim with 1 for
    zero vectors); the analog MVM divides by it in its DAC pass."""
    x = torch.tensor([[0.5, -4.0, 2.0], [0.0, 0.0, 0.0], [0.1, 0.2, -0.05]], dtype=F64,
                     requires_grad=True)
    for cfg in (NoNoiseManagement(), ConstantNoiseManagement(value=4.0),
                AbsMaxNoiseManagement()):
        out, scale = apply_noise_management(x, cfg, (1,))
        alone = noise_management_scale(x, cfg, (1,))
        if isinstance(scale, float):
            assert alone == scale
        else:
            assert torch.equal(alone, scale) and not alone.requires_grad
            torch.testing.assert_close(x * alone.reciprocal(), out, rtol=1e-15, atol=0)


def test_abs_max_managed_zero_input_vector_gives_an_exact_zero() -> None:
    """With abs-max noise management and no input noise, an all-zero input vector gives an
    exact zero output (no MVM issued: aihwkit ``forwardVector`` short-cut), while the other
    vectors of the batch keep their output noise; with input noise the zero vector is
    converted like any other (aihwkit takes the short-cut only without input noise)."""
    rows = 16
    geom = LinearGeometry(in_features=rows, out_features=4, max_rows=rows)
    w = torch.rand(1, 4, rows, dtype=F64, generator=seeded(2)) - 0.5
    x = torch.rand(3, rows, dtype=F64, generator=seeded(3))
    x[1] = 0.0
    ones = torch.ones(1, 4, dtype=F64)
    io = _io(out_noise=0.1, adc=Converter(steps=254, bound=10.0),
             noise_management=AbsMaxNoiseManagement())
    y = analog_mvm(geom.to_tiles(x), w, io, geom, out_scale=ones, generator=seeded(4))
    assert torch.count_nonzero(y[1]) == 0
    ideal = x @ w[0].t()
    assert not torch.equal(y[0], ideal[0])  # noisy elsewhere
    noisy_in = analog_mvm(geom.to_tiles(x), w, io.replace(inp_noise=0.05), geom,
                          out_scale=ones, generator=seeded(4))
    assert torch.count_nonzero(noisy_in[1]) > 0
    # training: the zero vector's forward is still zero, its gradient the straight-through
    # one of an issued vector (ideal converters: Wᵀg exactly, up to float64 rounding)
    io_train = _io(noise_management=AbsMaxNoiseManagement())
    xg = x.clone().requires_grad_(True)
    yg = analog_mvm(geom.to_tiles(xg), w, io_train, geom, out_scale=ones)
    assert torch.count_nonzero(yg.detach()[1]) == 0
    g = torch.rand(3, 4, dtype=F64, generator=seeded(5))
    yg.backward(g)
    assert xg.grad is not None
    torch.testing.assert_close(xg.grad[1], g[1] @ w[0], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- bound management
def test_bound_management_leaves_unsaturated_outputs_bit_identical() -> None:
    """The cheap pre-check skips iterative bound management only when no output is near
    the ADC bound: then the result is bit-identical to no bound management; just at the
    bound it still acts."""
    rows = 64
    geom = LinearGeometry(in_features=rows, out_features=3, max_rows=rows)
    w = torch.rand(1, 3, rows, dtype=F64, generator=seeded(0))
    x = torch.rand(5, rows, dtype=F64, generator=seeded(1))
    xt = geom.to_tiles(x)
    ones = torch.ones(1, 3, dtype=F64)
    top = float((x @ w[0].t()).max())
    for bound, acts in ((top * 1.01, False), (top * 0.99, True)):
        adc_clip = Converter(steps=None, bound=bound)
        dac_clip = Converter(steps=None, bound=1.0)
        y_none = analog_mvm(xt, w, _io(adc=adc_clip, dac=dac_clip), geom, out_scale=ones)
        y_bm = analog_mvm(xt, w, _io(adc=adc_clip, dac=dac_clip,
                                     bound_management=IterativeBoundManagement()),
                          geom, out_scale=ones)
        if acts:
            torch.testing.assert_close(y_bm, x @ w[0].t(), rtol=1e-12, atol=1e-12)
        else:
            assert torch.equal(y_bm, y_none)


def test_iterative_bound_management_reduces_saturation():
    """All-ones W and x (y = 64 ≫ 10): without BM the ADC clips to 10; iterative BM halves the
    input until y < 10 (factor 8) and recovers 64 exactly with ideal resolution. Vectors that
    do not saturate are untouched; max_factor = 2 stops early at 2·10 = 20."""
    rows = 64
    geom = LinearGeometry(in_features=rows, out_features=2, max_rows=rows)
    w = torch.ones(1, 2, rows, dtype=F64)
    x = torch.stack((torch.ones(rows, dtype=F64), torch.full((rows,), 0.05, dtype=F64)))
    xt = geom.to_tiles(x)
    ones = torch.ones(1, 2, dtype=F64)
    adc_clip = Converter(steps=None, bound=10.0)
    dac_clip = Converter(steps=None, bound=1.0)
    y_none = analog_mvm(xt, w, _io(adc=adc_clip, dac=dac_clip), geom, out_scale=ones)
    torch.testing.assert_close(y_none, torch.tensor([[10.0, 10.0], [3.2, 3.2]], dtype=F64))
    bm = IterativeBoundManagement()
    y_bm = analog_mvm(xt, w, _io(adc=adc_clip, dac=dac_clip, bound_management=bm), geom,
                      out_scale=ones)
    torch.testing.assert_close(y_bm, torch.tensor([[64.0, 64.0], [3.2, 3.2]], dtype=F64),
                               rtol=1e-12, atol=1e-12)
    early = IterativeBoundManagement(max_factor=2.0)
    y_early = analog_mvm(xt, w, _io(adc=adc_clip, dac=dac_clip, bound_management=early), geom,
                         out_scale=ones)
    torch.testing.assert_close(y_early, torch.tensor([[20.0, 20.0], [3.2, 3.2]], dtype=F64))


def test_iterative_bound_management_with_standard_converters():
    """With the 8-bit DAC/ADC the BM result is within quantisation error of W·x (2 %), while
    no BM is off by a factor 6.4; BM stops when DAC step × factor > max_res."""
    rows = 64
    geom = LinearGeometry(in_features=rows, out_features=1, max_rows=rows)
    w = torch.ones(1, 1, rows, dtype=F64)
    xt = torch.ones(1, 1, rows, dtype=F64)
    ones = torch.ones(1, 1, dtype=F64)
    y = analog_mvm(xt, w, _io(adc=ADC, dac=DAC, bound_management=IterativeBoundManagement()),
                   geom, out_scale=ones)
    assert float(y) == pytest.approx(64.0, rel=0.02)
    y0 = analog_mvm(xt, w, _io(adc=ADC, dac=DAC), geom, out_scale=ones)
    assert float(y0) == 10.0
    # max_res = 0.02: 2/254·2 = 0.0157 allowed, 2/254·4 = 0.0315 not → factor 2 → 20
    tight = IterativeBoundManagement(max_res=0.02)
    y_t = analog_mvm(xt, w, _io(adc=ADC, dac=DAC, bound_management=tight), geom, out_scale=ones)
    assert float(y_t) == pytest.approx(20.0, abs=1e-9)


def test_iterative_bound_management_is_per_vector_with_quantising_converters():
    """8-bit DAC/ADC, two vectors: x = 1 (y = 64, saturates) and x = 0.05 (y = 3.2, does
    not). Iterative BM halves only the first vector's input until its output fits (factor 8,
    64/8 = 8 < 10), so its result is exactly 8 × the no-BM MVM of x/8, and the second
    vector's result is bit-identical to no BM. A BM that scaled every vector of the batch, or
    halved past the first unsaturated factor, would quantise both differently."""
    rows = 64
    geom = LinearGeometry(in_features=rows, out_features=2, max_rows=rows)
    w = torch.ones(1, 2, rows, dtype=F64)
    x = torch.stack((torch.ones(rows, dtype=F64), torch.full((rows,), 0.05, dtype=F64)))
    ones = torch.ones(1, 2, dtype=F64)
    plain = _io(adc=ADC, dac=DAC)
    y_bm = analog_mvm(geom.to_tiles(x), w,
                      _io(adc=ADC, dac=DAC, bound_management=IterativeBoundManagement()),
                      geom, out_scale=ones)
    y_none = analog_mvm(geom.to_tiles(x), w, plain, geom, out_scale=ones)
    y_eighth = analog_mvm(geom.to_tiles(x / 8), w, plain, geom, out_scale=ones)
    torch.testing.assert_close(y_bm[0], 8 * y_eighth[0], rtol=1e-12, atol=0)
    assert torch.equal(y_bm[1], y_none[1])


def test_iterative_bound_management_draws_from_the_given_generator():
    """With output noise the recomputed MVMs draw from the caller's generator: the same
    generator seed gives the same result whatever the global RNG holds."""
    rows = 64
    geom = LinearGeometry(in_features=rows, out_features=2, max_rows=rows)
    w = torch.ones(1, 2, rows, dtype=F64)
    xt = geom.to_tiles(torch.ones(3, rows, dtype=F64))
    io = _io(adc=ADC, dac=DAC, out_noise=0.04, bound_management=IterativeBoundManagement())
    ones = torch.ones(1, 2, dtype=F64)
    torch.manual_seed(1)
    first = analog_mvm(xt, w, io, geom, out_scale=ones, generator=_gen(8))
    torch.manual_seed(2)
    again = analog_mvm(xt, w, io, geom, out_scale=ones, generator=_gen(8))
    assert torch.equal(first, again)
    assert float((first - 64).abs().max()) < 3.0  # BM acted (no BM: 10)


def test_analog_mvm_digital_affine():
    """analog_mvm multiplies back the input range r and the per-column out_scale, per tile,
    and sums the tiles in digital (ideal periphery: exact up to rounding, rtol 1e-12)."""
    geom = LinearGeometry(in_features=10, out_features=3, max_rows=4)  # 3 tiles of 4 rows
    assert (geom.num_tiles, geom.rows) == (3, 4)
    g = _gen(9)
    w = torch.rand(3, 3, 4, generator=g, dtype=F64) * 2 - 1
    w[:, :, :][2, :, 2:] = 0.0  # padding rows of the last tile carry no weight
    scale = torch.rand(3, 3, generator=g, dtype=F64) + 0.5
    r = torch.tensor([2.0, 3.0, 4.0], dtype=F64)
    x = torch.rand(5, 10, generator=g, dtype=F64) * 4 - 2
    y = analog_mvm(geom.to_tiles(x), w, _io(dac=Converter(steps=None, bound=1.0)), geom,
                   out_scale=scale, input_range=r)
    w_dig = geom.weight_from_tiles(w * scale.unsqueeze(-1))
    torch.testing.assert_close(y, x @ w_dig.t(), rtol=1e-12, atol=1e-12)


def test_grad_and_no_grad_paths_agree():
    """The training (autograd) and inference (no-grad) code paths draw the same noise from the
    same seed: equal outputs (rtol 1e-12) with all nonidealities on, with and without an
    input range, for a 2-tile layer."""
    geom = LinearGeometry(in_features=100, out_features=4, max_rows=64)  # 2 tiles of 50 rows
    g = _gen(10)
    w = torch.rand(2, 4, 50, generator=g, dtype=F64) * 2 - 1
    x = torch.randn(6, 100, generator=g, dtype=F64)
    io = IOConfig(ir_drop=IRDrop(g_ratio=2e3), inp_noise=0.01)  # standard 8-bit periphery
    scale = torch.rand(2, 4, generator=g, dtype=F64) + 0.5
    for r in (None, torch.tensor([2.0, 3.0], dtype=F64)):
        with torch.no_grad():
            y_inf = analog_mvm(geom.to_tiles(x), w, io, geom, out_scale=scale, input_range=r,
                               generator=_gen(11))
        xg = x.clone().requires_grad_(True)
        y_tr = analog_mvm(geom.to_tiles(xg), w, io, geom, out_scale=scale, input_range=r,
                          generator=_gen(11))
        assert y_tr.requires_grad
        torch.testing.assert_close(y_tr.detach(), y_inf, rtol=1e-12, atol=1e-12)
        y_other = analog_mvm(geom.to_tiles(x), w, io, geom, out_scale=scale, input_range=r,
                             generator=_gen(12))
        assert not torch.allclose(y_other, y_inf)


# ------------------------------------------- abs-max management fused into the DAC pass
def _bm_io(**kw) -> IOConfig:
    settings = {"dac": Converter(steps=254, bound=1.0), "adc": Converter(steps=None, bound=1.0),
                "noise_management": AbsMaxNoiseManagement(),
                "bound_management": IterativeBoundManagement()}
    return _io(**{**settings, **kw})


def test_bound_management_halves_the_managed_input_as_before() -> None:
    """Regression (review): with the division by the abs-max scale fused into the DAC pass,
    the halving pass of bound management must still start from x/scale — from x·(1/scale)
    the largest element can land 1 ulp below 1 and its halved value on a DAC tie (63.5
    steps), one DAC step off. Reference: the same MVM on inputs normalised by hand."""
    geom = LinearGeometry(in_features=4, out_features=1, max_rows=4)
    x = torch.tensor([[49.0, 10.0, 3.0, 1.0]], dtype=F64)
    w = torch.ones(1, 1, 4, dtype=F64)
    ones = torch.ones(1, 1, dtype=F64)
    y = analog_mvm(geom.to_tiles(x), w, _bm_io(), geom, out_scale=ones)
    io_ref = _bm_io(noise_management=NoNoiseManagement())
    ref = analog_mvm(geom.to_tiles(x / 49.0), w, io_ref, geom, out_scale=ones) * 49.0
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=0)


def test_bound_management_with_an_empty_batch() -> None:
    """Regression (review): the saturation pre-check must accept an empty batch."""
    geom = LinearGeometry(in_features=4, out_features=3, max_rows=4)
    x = torch.zeros(0, 4, dtype=F64)
    y = analog_mvm(geom.to_tiles(x), torch.ones(1, 3, 4, dtype=F64), _bm_io(), geom,
                   out_scale=torch.ones(1, 3, dtype=F64))
    assert y.shape == (0, 3)


def test_a_nan_sample_does_not_switch_bound_management_off() -> None:
    """Regression (review): a NaN output in one vector must not make the pre-check skip
    bound management for the others."""
    geom = LinearGeometry(in_features=4, out_features=1, max_rows=4)
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0], [math.nan, 0.0, 0.0, 0.0]], dtype=F64)
    io = _io(adc=Converter(steps=None, bound=2.0), bound_management=IterativeBoundManagement())
    y = analog_mvm(geom.to_tiles(x), torch.ones(1, 1, 4, dtype=F64), io, geom,
                   out_scale=torch.ones(1, 1, dtype=F64))
    assert float(y[0, 0]) == pytest.approx(4.0) and math.isnan(float(y[1, 0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_abs_max_management_of_numerically_zero_vectors(dtype: torch.dtype) -> None:
    """Vectors whose abs-max is 0, NaN or subnormal get scale 1 (their reciprocal scale would
    overflow): the MVM stays finite for subnormal inputs; other vectors are unaffected."""
    tiny = torch.finfo(dtype).tiny
    x = torch.tensor([[tiny / 4, 0.0, -tiny / 8, 0.0], [0.0, 0.0, 0.0, 0.0],
                      [0.5, -2.0, 1.0, 0.25]], dtype=dtype)
    scale = noise_management_scale(x, AbsMaxNoiseManagement(), (1,))
    assert scale.view(-1).tolist() == [1.0, 1.0, 2.0]
    nan_row = torch.tensor([[math.nan, 1.0]], dtype=dtype)
    assert noise_management_scale(nan_row, AbsMaxNoiseManagement(), (1,)).item() == 1.0
    geom = LinearGeometry(in_features=4, out_features=2, max_rows=4)
    y = analog_mvm(geom.to_tiles(x), torch.ones(1, 2, 4, dtype=dtype),
                   _io(noise_management=AbsMaxNoiseManagement()), geom,
                   out_scale=torch.ones(1, 2, dtype=dtype))
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y[2], torch.full((2,), -0.25, dtype=dtype))
