"""The Cu/SiO2/W memristor model: drives against closed forms, STDP window sign and
threshold, state dependence, bounds, cycle-to-cycle statistics, the fit helper recovering
known parameters, and bad input (arXiv:2001.09299; model family of snn.md §2)."""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc.config.snn import CuSiO2WMemristor, SpikeWaveform
from aimc.errors import ConfigError, ShapeError
from aimc.physics.memristor import (
    fit_memristor,
    mean_update,
    memristor_update,
    sample_memristors,
    stdp_drives,
)

F64 = torch.float64
CFG = CuSiO2WMemristor()
TAU = CFG.waveform.tau_neg
#: beyond this |Δt| the post pulse on the pre tail (0.25 + 0.15·e^(−(Δt−1)/20)) stays under
#: the 0.3 V threshold: 1 + 20·ln 3 ≈ 22.97 ms
REACH = 1 + TAU * math.log(3)


def _closed_form_drive(d: float) -> float:
    """D⁺(Δt ≥ 1 ms) = ∫ ((0.15·e^(−s/τ) − 0.05)/0.3)² ds over s ∈ [Δt − 1, min(Δt, τ ln 3)]."""
    a, b = 0.15, 0.05
    s0, s1 = d - 1, min(d, TAU * math.log(3))
    if s1 <= s0:
        return 0.0
    integral = (a * a * TAU / 2 * (math.exp(-2 * s0 / TAU) - math.exp(-2 * s1 / TAU))
                - 2 * a * b * TAU * (math.exp(-s0 / TAU) - math.exp(-s1 / TAU))
                + b * b * (s1 - s0))
    return integral / 0.09


def test_drives_match_the_closed_form_and_mirror() -> None:
    """Gauss–Legendre between the pulse edges: D⁺ equals the closed form to 1e-10 relative;
    with equal thresholds the depression window mirrors it, D⁻(−Δt) = D⁺(Δt)."""
    dts = [1.0, 2.0, 5.0, 10.0, 20.0, 22.0]
    dp, dm = stdp_drives(torch.tensor(dts, dtype=F64), CFG)
    for got, d in zip(dp.tolist(), dts, strict=True):
        assert got == pytest.approx(_closed_form_drive(d), rel=1e-10)
    assert not dm.any()
    dp_neg, dm_neg = stdp_drives(-torch.tensor(dts, dtype=F64), CFG)
    torch.testing.assert_close(dm_neg, dp, rtol=1e-12, atol=0)
    assert not dp_neg.any()


def test_no_change_outside_the_threshold_reach() -> None:
    """|Δt| past 1 + τ·ln 3 ≈ 22.97 ms, or coincident spikes (Δt = 0: the pulses cancel):
    the device voltage never crosses a threshold, so G does not move, noise or not."""
    dts = torch.tensor([REACH + 0.01, 30.0, 100.0, -REACH - 0.01, -60.0, 0.0], dtype=F64)
    dp, dm = stdp_drives(dts, CFG)
    assert not dp.any() and not dm.any()
    g = torch.full((6,), 4.0, dtype=F64)
    assert torch.equal(memristor_update(g, dts, CFG, generator=seeded(0)), g)


def test_window_sign_and_state_dependence() -> None:
    """Pre before post potentiates, post before pre depresses; potentiation shrinks as G
    approaches g_max and depression as G approaches g_min (soft bounds)."""
    g = torch.tensor([0.5, 3.0, 6.0, 9.5], dtype=F64)
    up = mean_update(g, torch.full_like(g, 8.0), CFG)
    down = mean_update(g, torch.full_like(g, -8.0), CFG)
    assert bool((up > 0).all()) and bool((down < 0).all())
    assert bool((torch.diff(up) < 0).all())  # weaker near g_max
    assert bool((torch.diff(down.abs()) > 0).all())  # weaker near g_min
    # the ratio is the state-dependence law: e^(−β·Δĝ) between neighbours
    g_hat = (g - CFG.g_min) / (CFG.g_max - CFG.g_min)
    torch.testing.assert_close(up[1:] / up[:-1], torch.exp(-CFG.beta_pos * torch.diff(g_hat)),
                               rtol=1e-12, atol=0)


def test_bounds_hold_under_noisy_updates() -> None:
    """10⁴ devices with d2d variation, 200 random pairs each (|Δt| ≤ 25 ms): every G stays in
    its own [g_min, g_max]."""
    params = sample_memristors((10_000,), CFG, generator=seeded(1))
    g = params.g_min + (params.g_max - params.g_min) * torch.rand(10_000, generator=seeded(2),
                                                                   dtype=F64)
    gen = seeded(3)
    for _ in range(200):
        dts = (torch.rand(10_000, generator=gen, dtype=F64) * 2 - 1) * 25
        g = memristor_update(g, dts, CFG, params=params, generator=gen)
        assert bool((g >= params.g_min).all()) and bool((g <= params.g_max).all())


def test_cycle_to_cycle_noise_is_mean_one_lognormal() -> None:
    """10⁵ updates from G = 5 µS at Δt = 8 ms: mean ΔG = the noise-free ΔG within 5 SE, and
    std(ln ΔG) = σ_c2c = 0.2 within 2 % (SE of a std ≈ 0.22 %)."""
    n = 100_000
    g = torch.full((n,), 5.0, dtype=F64)
    dts = torch.full((n,), 8.0, dtype=F64)
    dg = memristor_update(g, dts, CFG, generator=seeded(4)) - g
    expected = float(mean_update(g[:1], dts[:1], CFG))
    se = float(dg.std()) / math.sqrt(n)
    assert float(dg.mean()) == pytest.approx(expected, abs=5 * se)
    assert float(torch.log(dg).std()) == pytest.approx(0.2, rel=0.02)


def test_fit_recovers_known_parameters() -> None:
    """Synthetic measurements (4 000 pairs, G ∈ [1, 9] µS, 2 ≤ |Δt| ≤ 20 ms) from known
    α± = (30, 50), β± = (2.0, 4.0), σ_c2c = 0.15: the fit recovers each within 4 standard
    errors and σ within 5 %; the standard errors are small (α within 3 %, β within 0.1)."""
    truth = CFG.replace(alpha_pos=30.0, alpha_neg=50.0, beta_pos=2.0, beta_neg=4.0,
                        c2c_std=0.15, d2d_std=0.0)
    n = 4000
    gen = seeded(5)
    g = 1 + 8 * torch.rand(n, generator=gen, dtype=F64)
    mag = 2 + 18 * torch.rand(n, generator=gen, dtype=F64)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(F64)
    dts = sign * mag
    dg = memristor_update(g, dts, truth, generator=gen) - g
    fit = fit_memristor(g, dg, dts, CFG)
    for sign_name, alpha, beta in (("pos", 30.0, 2.0), ("neg", 50.0, 4.0)):
        f = fit[sign_name]
        assert abs(f["alpha"] - alpha) < 4 * f["alpha_se"] and f["alpha_se"] < 0.03 * alpha
        assert abs(f["beta"] - beta) < 4 * f["beta_se"] and f["beta_se"] < 0.1
        assert f["c2c_std"] == pytest.approx(0.15, rel=0.05)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="swap them"):
        CuSiO2WMemristor(g_min=5.0, g_max=1.0)
    with pytest.raises(ConfigError, match="already crosses"):
        CuSiO2WMemristor(waveform=SpikeWaveform(amplitude_pos=0.4))
    with pytest.raises(ConfigError, match="amplitude_neg must be > 0"):
        SpikeWaveform(amplitude_neg=0.0)
    with pytest.raises(ShapeError, match="floating-point"):
        stdp_drives(torch.tensor([1, 2]), CFG)
    with pytest.raises(ConfigError, match="finite"):
        stdp_drives(torch.tensor([math.nan]), CFG)
    with pytest.raises(ShapeError, match="one entry per measured pair"):
        fit_memristor(torch.ones(3), torch.ones(2), torch.ones(3), CFG)
    with pytest.raises(ConfigError, match="at least 3"):
        fit_memristor(torch.ones(3), torch.ones(3), torch.full((3,), 50.0), CFG)


def test_table_drives_match_the_quadrature() -> None:
    """The interpolated table used by memristor_update equals stdp_drives at grid points
    and within 5e-6 of the largest drive (≈ 0.11) between them (first-order error at the
    corner Δt ≈ 0 where the two positive pulses coincide; measured 2e-6)."""
    from aimc.physics.memristor import table_drives

    on_grid = torch.tensor([-20.0, -5.0, 0.5, 3.0, 8.0, 21.5], dtype=F64)
    off_grid = torch.linspace(-24.0, 24.0, 997, dtype=F64)
    for dts, atol in ((on_grid, 1e-12), (off_grid, 5e-6 * 0.11)):
        got = table_drives(dts, CFG)
        ref = stdp_drives(dts, CFG)
        for a, b in zip(got, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=atol)


def test_stdp_window_data_and_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Window data: zero beyond the reach, potentiation for Δt > 0 and depression for Δt < 0
    at every G, the band brackets the noise-free curve where it is non-zero; the CLI writes
    the PNG."""
    from aimc.plotting import stdp_window_data

    data = stdp_window_data(CFG, devices=100, points=61, span=30.0)
    dts, mean = data["delta_t"], data["mean"]
    far = dts.abs() > REACH
    assert not mean[:, far].any()
    assert bool((mean[:, (dts > 1) & ~far] > 0).all())
    assert bool((mean[:, (dts < -1) & ~far] < 0).all())
    active = mean.abs() > 1e-6
    assert bool((data["p10"][active] <= data["p90"][active]).all())
    pytest.importorskip("matplotlib")
    from aimc.cli import main

    out = tmp_path / "w.png"
    assert main(["device-plot", "CuSiO2WMemristor", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
