"""PCM inference device model vs the closed-form targets of physics.md §1.4, §1.5 and §7.1.

Golden values are the printed (rounded) table entries; each test states its tolerance,
normally half a unit in the last printed digit plus a small margin. Statistical tests use
a fixed ``torch.Generator`` and tolerances of many standard errors, so they are
deterministic and still fail on a wrong model (wrong scale, wrong σ, wrong conductance).
"""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc import units
from aimc.config import GaussianNoiseModel, IdealDevice, PCMNoiseModel
from aimc.errors import ConfigError
from aimc.physics.devices import (
    conductances_at,
    drift,
    drift_exponents,
    pcm_drift_moments,
    pcm_programming_std,
    pcm_read_noise_std,
    program_conductances,
    programming_noise,
    read_noise,
)

PCM = PCMNoiseModel()
F64 = torch.float64
T0 = 20.0
T_READ = 250e-9

# physics.md §7.1: ĝ_T | σ_prog (µS) | σ_prog/g_max | μ_ν | σ_ν | Q_s (ĝ_prog = ĝ_T)
TABLE_71 = [
    (0.00, 0.2635, 0.0105, 0.1, 0.045, 0.2),
    (0.01, 0.2830, 0.0113, 0.0958, 0.045, 0.1756),
    (0.05, 0.3588, 0.0144, 0.0708, 0.0315, 0.0617),
    (0.10, 0.4482, 0.0179, 0.0601, 0.0229, 0.0393),
    (0.20, 0.6096, 0.0244, 0.0493, 0.0142, 0.0251),
    (0.25, 0.6814, 0.0273, 0.049, 0.0114, 0.0217),
    (0.50, 0.9527, 0.0381, 0.049, 0.008, 0.0138),
    (0.75, 1.0774, 0.0431, 0.049, 0.008, 0.0106),
    (1.00, 1.0554, 0.0422, 0.049, 0.008, 0.0088),
]
# four printed decimals: half a unit in the last digit (5e-5) plus margin
TOL4 = 6e-5

# physics.md §1.5: t_inference | sqrt-log factor | σ_read/g at ĝ=1 | drift ν=0.049 | ν=0.06
DAY = 86400.0
TABLE_15 = [
    (0.0, 4.184, 0.0368, 1.0, 1.0),
    (1.0, 4.190, 0.0369, 0.9976, 0.9971),
    (3600.0, 4.765, 0.0419, 0.7751, 0.7320),
    (DAY, 5.087, 0.0448, 0.6635, 0.6052),
    (30 * DAY, 5.411, 0.0476, 0.5617, 0.4935),
    (365 * DAY, 5.637, 0.0496, 0.4969, 0.4247),
    (3650 * DAY, 5.838, 0.0514, 0.4439, 0.3699),
]


def _gen(seed: int = 0) -> torch.Generator:
    return seeded(seed)


def _sqrt_log(t_inference: float) -> float:
    t = t_inference + T0
    return math.sqrt(math.log((t + T_READ) / (2.0 * T_READ)))


def _scalar(value: float) -> torch.Tensor:
    return torch.tensor([value], dtype=F64)


# --------------------------------------------------------------------- programming σ
@pytest.mark.parametrize("g, sigma_us, sigma_rel, _mu, _sd, _q", TABLE_71)
def test_programming_std_matches_table(g, sigma_us, sigma_rel, _mu, _sd, _q):
    """σ_prog/g_max and σ_prog in µS (= ·25) vs §7.1, tolerance 6e-5 absolute."""
    rel = float(pcm_programming_std(_scalar(g), PCM))
    assert rel == pytest.approx(sigma_rel, abs=TOL4)
    assert rel * 25.0 == pytest.approx(sigma_us, abs=TOL4)


def test_programming_std_independent_of_gmax_and_float32():
    """σ_prog/g_max does not depend on g_max (σ_prog scales with g_max/25 µS); float32 agrees.

    Tolerance: rtol 1e-6 between g_max values, rtol 1e-5 float32 vs float64.
    """
    g = torch.linspace(0, 1, 101, dtype=F64)
    ref = pcm_programming_std(g, PCM)
    other = pcm_programming_std(g, PCMNoiseModel(g_max=10.35 * units.uS))
    torch.testing.assert_close(other, ref, rtol=1e-6, atol=0)
    f32 = pcm_programming_std(g.float(), PCM)
    torch.testing.assert_close(f32.double(), ref, rtol=1e-5, atol=1e-9)


def test_programming_std_peak():
    """Peak at ĝ = 1.965/(2·1.1731) ≈ 0.8375 with σ_prog ≈ 1.086 µS (tolerance 1e-3 in ĝ, µS)."""
    g = torch.linspace(0, 1, 100_001, dtype=F64)
    sigma_us = pcm_programming_std(g, PCM) * 25.0
    i = int(sigma_us.argmax())
    assert float(g[i]) == pytest.approx(0.8375, abs=1e-3)
    assert float(sigma_us[i]) == pytest.approx(1.086, abs=1e-3)
    # the peak is interior: higher than both ends of the range
    assert float(sigma_us[i]) > float(sigma_us[-1]) + 0.02
    assert float(sigma_us[i]) > float(sigma_us[0]) + 0.8


def test_programming_std_scale_knob():
    """prog_noise_scale multiplies σ_prog (rtol 1e-12); 0 switches programming noise off."""
    g = torch.linspace(0, 1, 11, dtype=F64)
    base = pcm_programming_std(g, PCM)
    torch.testing.assert_close(pcm_programming_std(g, PCMNoiseModel(prog_noise_scale=2.5)),
                               2.5 * base, rtol=1e-12, atol=0)
    off = PCMNoiseModel(prog_noise_scale=0.0)
    assert torch.equal(programming_noise(g, off, generator=_gen()), g)


# --------------------------------------------------------------------- drift exponent moments
@pytest.mark.parametrize("g, _s_us, _s_rel, mu, sd, _q", TABLE_71)
def test_drift_moments_match_table(g, _s_us, _s_rel, mu, sd, _q):
    """(μ_ν, σ_ν) vs §7.1 including the clamps, tolerance 6e-5 absolute."""
    m, s = pcm_drift_moments(_scalar(g), PCM)
    assert float(m) == pytest.approx(mu, abs=TOL4)
    assert float(s) == pytest.approx(sd, abs=TOL4)


@pytest.mark.parametrize(
    "crossover, which, bound, side",
    [
        (0.2045, "mu", 0.049, "above"),  # μ_ν floor for ĝ above ≈ 0.2045
        (0.0076, "mu", 0.1, "below"),  # μ_ν cap for ĝ below ≈ 0.0076
        (0.329, "sd", 0.008, "above"),  # σ_ν floor for ĝ above ≈ 0.329
        (0.0170, "sd", 0.045, "below"),  # σ_ν cap for ĝ below ≈ 0.0170
    ],
)
def test_drift_moment_clamp_crossovers(crossover, which, bound, side):
    """Clamp crossovers of §7.1: 2 % past the crossover the bound holds exactly; 2 % before it
    the value is strictly inside (by more than 1e-5) and within 5e-4 of the bound."""
    inside = crossover * (0.98 if side == "above" else 1.02)
    clamped = crossover * (1.02 if side == "above" else 0.98)
    idx = 0 if which == "mu" else 1
    v_in = float(pcm_drift_moments(_scalar(inside), PCM)[idx])
    v_cl = float(pcm_drift_moments(_scalar(clamped), PCM)[idx])
    assert v_cl == pytest.approx(bound, abs=1e-12)
    assert abs(v_in - bound) > 1e-5
    assert abs(v_in - bound) < 5e-4
    if side == "above":  # the floor is approached from above as ĝ grows
        assert v_in > bound
    else:  # the cap is approached from below as ĝ shrinks
        assert v_in < bound


def test_drift_moments_log_floor_at_zero():
    """ĝ_T = 0 is floored at 1e-7 before the log: finite, capped moments (no NaN/inf)."""
    m, s = pcm_drift_moments(torch.zeros(3, dtype=F64), PCM)
    assert torch.isfinite(m).all() and torch.isfinite(s).all()
    assert torch.equal(m, torch.full((3,), 0.1, dtype=F64))
    assert torch.equal(s, torch.full((3,), 0.045, dtype=F64))


# --------------------------------------------------------------------- read noise
@pytest.mark.parametrize("g, _s_us, _s_rel, _mu, _sd, q", TABLE_71)
@pytest.mark.parametrize("t_inf", [0.0, DAY])
def test_read_noise_qs_matches_table(g, _s_us, _s_rel, _mu, _sd, q, t_inf):
    """Q_s = pcm_read_noise_std / sqrt(ln((t + t_read)/(2 t_read))) vs §7.1, abs 6e-5."""
    sigma = float(pcm_read_noise_std(_scalar(g), t_inf, PCM))
    assert sigma / _sqrt_log(t_inf) == pytest.approx(q, abs=TOL4)


@pytest.mark.parametrize("t_inf, factor, rel_1, _d049, _d06", TABLE_15)
def test_read_noise_time_factor_matches_table(t_inf, factor, rel_1, _d049, _d06):
    """sqrt-log factors (3 decimals, abs 6e-4) and σ_read/g at ĝ = 1 (abs 6e-5) vs §1.5."""
    assert _sqrt_log(t_inf) == pytest.approx(factor, abs=6e-4)
    sigma = float(pcm_read_noise_std(_scalar(1.0), t_inf, PCM))
    assert sigma / 0.0088 == pytest.approx(factor, abs=6e-4)
    assert sigma == pytest.approx(rel_1, abs=TOL4)


def test_relative_read_noise_after_one_day():
    """The headline number of §7.1: relative read-noise std at ĝ = 1 after 1 day = 0.0448."""
    assert float(pcm_read_noise_std(_scalar(1.0), DAY, PCM)) == pytest.approx(0.0448, abs=TOL4)


def test_read_noise_uses_programmed_conductance():
    """σ_read depends on ĝ_prog (not on the drifted conductance): with g_drift = 0.5 and
    g_prog = 1 the relative std is that of ĝ = 1 (0.0448 at 1 day), not that of ĝ = 0.5.

    n = 10^6, tolerance 1 % relative (the standard error is 0.07 %).
    """
    n = 1_000_000
    g_drift = torch.full((n,), 0.5, dtype=F64)
    g_prog = torch.ones(n, dtype=F64)
    g = read_noise(g_drift, g_prog, DAY, PCM, generator=_gen(1))
    rel = float(g.std()) / 0.5
    assert rel == pytest.approx(0.04476, rel=0.01)
    wrong = float(pcm_read_noise_std(_scalar(0.5), DAY, PCM))
    assert abs(rel - wrong) > 0.1 * wrong


# --------------------------------------------------------------------- drift factors
@pytest.mark.parametrize("t_inf, _f, _r, d049, d06", TABLE_15)
def test_drift_factors_match_table(t_inf, _f, _r, d049, d06):
    """(t/t0)^-ν with t = t_inf + 20 s at ν = 0.049 and 0.06 vs §1.5, abs 6e-5."""
    g = torch.ones(2, dtype=F64)
    nu = torch.tensor([0.049, 0.06], dtype=F64)
    out = drift(g, nu, t_inf, T0)
    assert float(out[0]) == pytest.approx(d049, abs=TOL4)
    assert float(out[1]) == pytest.approx(d06, abs=TOL4)


def test_drift_scales_with_programmed_conductance():
    """drift is multiplicative in g_prog and leaves g_prog untouched at t_inf <= 0 (exact)."""
    g = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=F64)
    nu = torch.full_like(g, 0.06)
    out = drift(g, nu, DAY, T0)
    torch.testing.assert_close(out, g * (1 + DAY / T0) ** -0.06, rtol=1e-12, atol=0)
    same = drift(g, nu, 0.0, T0)
    assert torch.equal(same, g) and same is not g


# --------------------------------------------------------------------- statistics
@pytest.mark.parametrize("g_t, sigma_rel", [(0.2, 0.6096 / 25), (0.5, 0.9527 / 25),
                                            (1.0, 1.0554 / 25)])
def test_programming_noise_sample_std(g_t, sigma_rel):
    """10^6 devices at fixed ĝ_T >= 0.2 (g_T >= 5 µS, the 0-clamp is > 8σ away): sample std
    of g_prog vs σ_prog/g_max within 1 % (standard error 0.07 %); mean within 2.5e-4 (≥ 6 SE)."""
    g = torch.full((1_000_000,), g_t, dtype=F64)
    g_prog = programming_noise(g, PCM, generator=_gen(2))
    assert float(g_prog.std()) == pytest.approx(sigma_rel, rel=0.01)
    assert float(g_prog.mean()) == pytest.approx(g_t, abs=2.5e-4)


def test_programming_noise_clamps_at_zero():
    """g_prog = max(g_T + σξ, 0): at ĝ_T = 0 about half the devices sit exactly at 0 and none
    is negative (fraction 0.5 ± 0.01 of 10^5)."""
    g_prog = programming_noise(torch.zeros(100_000, dtype=F64), PCM, generator=_gen(3))
    assert float(g_prog.min()) == 0.0
    assert float((g_prog == 0).double().mean()) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("g_t, mu, sd", [(1.0, 0.049, 0.008), (0.5, 0.049, 0.008),
                                         (0.25, 0.049, 0.011429)])
def test_drift_exponent_sample_moments(g_t, mu, sd):
    """ν samples at ĝ where μ_ν/σ_ν > 4 (the |N| fold is < 1e-4): sample mean within 1e-4
    (standard error 1e-5) and std within 1 % of (μ_ν, σ_ν); n = 10^6."""
    nu = drift_exponents(torch.full((1_000_000,), g_t, dtype=F64), PCM, generator=_gen(4))
    assert float(nu.min()) >= 0.0
    assert float(nu.mean()) == pytest.approx(mu, abs=1e-4)
    assert float(nu.std()) == pytest.approx(sd, rel=0.01)


def test_drift_exponent_fold_and_scale():
    """ν = |μ + σξ|·drift_scale: at ĝ = 0 (μ = 0.1, σ = 0.045, μ/σ = 2.2) the fold matters.

    The sample mean of 10^6 draws matches the folded-normal mean
    E|X| = σ·sqrt(2/π)·exp(−μ²/2σ²) + μ·(1 − 2Φ(−μ/σ)) ≈ 0.10041 within 1.5e-4 (SE 4.5e-5);
    drift_scale multiplies the samples of the same draw exactly.
    """
    g = torch.zeros(1_000_000, dtype=F64)
    nu = drift_exponents(g, PCM, generator=_gen(5))
    assert float(nu.min()) >= 0.0
    mu, sd = 0.1, 0.045
    phi = 0.5 * math.erfc(mu / sd / math.sqrt(2.0))  # Φ(−μ/σ)
    folded = sd * math.sqrt(2.0 / math.pi) * math.exp(-0.5 * (mu / sd) ** 2) + mu * (1 - 2 * phi)
    assert float(nu.mean()) == pytest.approx(folded, abs=1.5e-4)
    nu2 = drift_exponents(g, PCMNoiseModel(drift_scale=2.0), generator=_gen(5))
    torch.testing.assert_close(nu2, 2.0 * nu, rtol=1e-15, atol=0)


def test_read_noise_sample_relative_std_one_day():
    """10^6 reads at ĝ_prog = 1, ν = 0, 1 day: relative std 0.0448 within 1 %."""
    g_prog = torch.ones(1_000_000, dtype=F64)
    g = conductances_at(g_prog, torch.zeros_like(g_prog), DAY, PCM, generator=_gen(6))
    assert float(g.std()) == pytest.approx(0.04476, rel=0.01)
    assert float(g.mean()) == pytest.approx(1.0, abs=2e-4)


@pytest.mark.parametrize("nu, expected", [(0.049, 0.6635), (0.06, 0.6052)])
def test_mean_conductance_over_time_at_fixed_nu(nu, expected):
    """Mean g(t)/g_prog at fixed ν after 1 day = (t/t0)^-ν of §1.5 (read noise is zero-mean;
    SE 4.5e-5 with 10^6 samples, tolerance 3e-4); relative std stays 0.0448 (1 %)."""
    g_prog = torch.ones(1_000_000, dtype=F64)
    g = conductances_at(g_prog, torch.full_like(g_prog, nu), DAY, PCM, generator=_gen(7))
    assert float(g.mean()) == pytest.approx(expected, abs=3e-4)
    assert float(g.std() / g.mean()) == pytest.approx(0.04476, rel=0.01)


# --------------------------------------------------------------------- sampling semantics
def test_conductances_at_same_drift_independent_read_noise():
    """Two evaluations of one programmed state: the same mean drift (means of g/g_drift equal
    1 within 1e-3), different read-noise samples (residual correlation |ρ| < 0.02, SE 0.002)."""
    n = 200_000
    gen = _gen(8)
    g_prog, nu = program_conductances(torch.full((n,), 0.5, dtype=F64), PCM, generator=gen)
    t = 3600.0
    d = drift(g_prog, nu, t, PCM.t0)
    a = conductances_at(g_prog, nu, t, PCM, generator=gen)
    b = conductances_at(g_prog, nu, t, PCM, generator=gen)
    assert not torch.equal(a, b)
    assert float((a / d).mean()) == pytest.approx(1.0, abs=1e-3)
    assert float((b / d).mean()) == pytest.approx(1.0, abs=1e-3)
    ra, rb = a - d, b - d
    rho = float(torch.corrcoef(torch.stack((ra, rb)))[0, 1])
    assert abs(rho) < 0.02
    # the read noise is really there: relative std ≈ σ_read(ĝ_prog) at 1 h (0.0138·4.765)
    assert float((ra / d).std()) == pytest.approx(0.0138 * 4.765, rel=0.05)
    # without read noise both evaluations are the deterministic drift, bit for bit
    quiet = PCMNoiseModel(read_noise_scale=0.0)
    q1 = conductances_at(g_prog, nu, t, quiet, generator=gen)
    q2 = conductances_at(g_prog, nu, t, quiet, generator=gen)
    assert torch.equal(q1, q2)
    torch.testing.assert_close(q1, d, rtol=0, atol=0)


def test_same_seed_reproduces_exactly():
    """Programming + evaluation with equal seeds are bit-identical; another seed differs."""
    g_t = torch.rand(1000, generator=_gen(9), dtype=F64)

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gen = _gen(seed)
        g_prog, nu = program_conductances(g_t, PCM, generator=gen)
        return g_prog, nu, conductances_at(g_prog, nu, DAY, PCM, generator=gen)

    first, again, other = run(11), run(11), run(12)
    for x, y in zip(first, again, strict=True):
        assert torch.equal(x, y)
    for x, y in zip(first, other, strict=True):
        assert not torch.equal(x, y)


def test_explicit_generator_does_not_touch_global_rng():
    """Draws with an explicit generator leave the global RNG state unchanged."""
    state = torch.get_rng_state()
    program_conductances(torch.full((100,), 0.5), PCM, generator=_gen(13))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("t_bad", [-1.0, -1e-9, float("nan")])
def test_negative_time_raises(t_bad):
    g = torch.ones(4)
    with pytest.raises(ConfigError):
        conductances_at(g, torch.zeros_like(g), t_bad, PCM, generator=_gen())


def test_time_zero_still_has_read_noise():
    """conductances_at(t=0) is at t = t0 = 20 s: read noise ≈ 0.0368 at ĝ = 1 (1 %), no drift."""
    g_prog = torch.ones(1_000_000, dtype=F64)
    g = conductances_at(g_prog, torch.full_like(g_prog, 0.06), 0.0, PCM, generator=_gen(14))
    assert float(g.std()) == pytest.approx(0.03682, rel=0.01)
    assert float(g.mean()) == pytest.approx(1.0, abs=2e-4)


# --------------------------------------------------------------------- other device models
def test_gaussian_noise_model_statistics():
    """GaussianNoiseModel: σ_prog = prog_std (relative to g_max) independent of ĝ;
    ν ~ |N(nu_mean, nu_std)|; additive read noise read_std. n = 10^6, tolerance 1 %."""
    cfg = GaussianNoiseModel(prog_std=0.03, nu_mean=0.08, nu_std=0.01, read_std=0.02)
    n = 1_000_000
    gen = _gen(15)
    for g_t in (0.4, 1.0):
        g = torch.full((n,), g_t, dtype=F64)
        g_prog = programming_noise(g, cfg, generator=gen)
        assert float(g_prog.std()) == pytest.approx(0.03, rel=0.01)
        assert float(g_prog.mean()) == pytest.approx(g_t, abs=1e-4)
    nu = drift_exponents(torch.full((n,), 0.7, dtype=F64), cfg, generator=gen)
    assert float(nu.mean()) == pytest.approx(0.08, abs=1e-4)
    assert float(nu.std()) == pytest.approx(0.01, rel=0.01)
    # read noise is additive: the same absolute σ at ĝ = 0.5 and ĝ = 1
    for g_val in (0.5, 1.0):
        g = torch.full((n,), g_val, dtype=F64)
        out = conductances_at(g, torch.zeros_like(g), DAY, cfg, generator=gen)
        assert float(out.std()) == pytest.approx(0.02, rel=0.01)
    # drift uses ((t + t0)/t0)^-ν with ν drawn above
    g = torch.ones(4, dtype=F64)
    quiet = GaussianNoiseModel(read_std=0.0)
    out = conductances_at(g, torch.full_like(g, 0.049), DAY, quiet, generator=gen)
    torch.testing.assert_close(out, torch.full_like(g, (1 + DAY / 20) ** -0.049),
                               rtol=1e-12, atol=0)


def test_ideal_device_is_exact():
    """IdealDevice: g_prog = g_T exactly, ν = 0, conductances unchanged at any time."""
    cfg = IdealDevice()
    g_t = torch.rand(2, 8, 16, generator=_gen(16))
    g_prog, nu = program_conductances(g_t, cfg, generator=_gen(17))
    assert torch.equal(g_prog, g_t)
    assert torch.equal(nu, torch.zeros_like(g_t))
    for t in (0.0, 1.0, DAY, 3650 * DAY):
        assert torch.equal(conductances_at(g_prog, nu, t, cfg, generator=_gen(18)), g_t)


def test_unknown_device_model_raises():
    """A DeviceModel without a physics implementation is rejected with ConfigError."""
    from aimc.config import DeviceModel

    class Unknown(DeviceModel):
        g_max = 25e-6
        t0 = 20.0

    g = torch.ones(3)
    with pytest.raises(ConfigError):
        programming_noise(g, Unknown())
    with pytest.raises(ConfigError):
        drift_exponents(g, Unknown())
    with pytest.raises(ConfigError):
        read_noise(g, g, 0.0, Unknown())
