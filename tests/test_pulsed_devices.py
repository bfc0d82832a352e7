"""Pulsed device models for on-chip training (aimc.config.pulsed, aimc.physics.pulsed).

Statistical tests use a fixed ``torch.Generator`` and tolerances of several standard errors
(SE), so they are deterministic and still fail on a wrong model. Expected values come from
the equations in the config docstrings, re-implemented here as plain scalar Python loops
(independent of the vectorised code), from physics.md §3.2/§3.3/§7.5, or from closed forms.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from seeding import seeded

from aimc.config.base import config_from_dict
from aimc.config.pulsed import (
    ConstantStepDevice,
    ExpStepDevice,
    LinearStepDevice,
    PCMPulseDevice,
    PiecewiseStepDevice,
    PowStepDevice,
    PulsedDevice,
    SoftBoundsDevice,
    StepDevice,
    pcm_preset_device,
)
from aimc.errors import CheckpointError, ConfigError, ShapeError
from aimc.physics.pulsed import PulsedDeviceArray, make_device_array, mean_response

F64 = torch.float64
NO_D2D = dict(dw_min_dtod=0.0, up_down_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0,
              reset_dtod=0.0)
PCM_LOW_NOISE = PCMPulseDevice(m2=0.0, c2=0.02, A2=0.02, g_reset_std=0.0)

# one config per model, with non-trivial parameters (larger steps keep the tests short)
DEVICES = {
    "constant": ConstantStepDevice(dw_min=0.004, up_down=0.1),
    "linear": LinearStepDevice(dw_min=0.004, gamma_up=0.5, gamma_down=0.8),
    "softbounds": SoftBoundsDevice(dw_min=0.004, up_down=-0.1),
    "exp": ExpStepDevice(dw_min=0.004),
    "pow": PowStepDevice(dw_min=0.004, pow_gamma=2.0, pow_up_down=0.2),
    "piecewise": PiecewiseStepDevice(dw_min=0.004, piecewise_up=(1.0, 0.5, 0.2),
                                     piecewise_down=(0.2, 0.6, 1.2, 1.0)),
    "pcm": PCMPulseDevice(),
    "pcm_preset": pcm_preset_device(),
}


def gen(seed: int = 0) -> torch.Generator:
    return seeded(seed)


def _no_c2c(cfg: PulsedDevice) -> PulsedDevice:
    if isinstance(cfg, PCMPulseDevice):
        return cfg.replace(m2=0.0, c2=0.0, A2=0.0, g_reset_std=0.0)
    extra = {"dw_min_std_add": 0.0, "dw_min_std_slope": 0.0} if isinstance(
        cfg, ExpStepDevice) else {}
    return cfg.replace(dw_min_std=0.0, write_noise_std=0.0, **extra)


def _no_d2d(cfg: PulsedDevice) -> PulsedDevice:
    if isinstance(cfg, PCMPulseDevice):
        return cfg.replace(g_max_dtod=0.0)
    extra = {}
    if isinstance(cfg, LinearStepDevice):
        extra = {"gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0}
    if isinstance(cfg, PowStepDevice):
        extra = {"pow_gamma_dtod": 0.0, "pow_up_down_dtod": 0.0}
    return cfg.replace(**NO_D2D, **extra)


# ------------------------------------------------------------- scalar reference models
def _ref_step(cfg: PulsedDevice, w: float, sign: int, count: int = 0) -> float:
    """Noise-free signed step of one pulse of a nominal device (spec equations)."""
    if isinstance(cfg, PCMPulseDevice):
        g = w * cfg.g_max
        p = math.exp(-(count + 1) / cfg.a)
        return (cfg.m1 * g + cfg.c1 + cfg.A1 * p) / cfg.g_max
    assert isinstance(cfg, StepDevice)
    up = cfg.dw_min * (1 + cfg.up_down)
    down = cfg.dw_min * (1 - cfg.up_down)
    lo, hi = cfg.w_min, cfg.w_max
    if isinstance(cfg, ConstantStepDevice):
        return up if sign > 0 else -down
    if isinstance(cfg, LinearStepDevice):
        return up * (1 - cfg.gamma_up * w / hi) if sign > 0 else \
            -down * (1 - cfg.gamma_down * w / lo)
    if isinstance(cfg, SoftBoundsDevice):
        return up * (1 - w / hi) if sign > 0 else -down * (1 - w / lo)
    if isinstance(cfg, ExpStepDevice):
        z = 2 * cfg.a * w / (hi - lo) + cfg.b
        if sign > 0:
            return up * max(1 - cfg.A_up * math.exp(cfg.gamma_up * z), 0.0)
        return -down * max(1 - cfg.A_down * math.exp(-cfg.gamma_down * z), 0.0)
    if isinstance(cfg, PowStepDevice):
        g_up = cfg.pow_gamma * (1 + cfg.pow_up_down)
        g_down = cfg.pow_gamma * (1 - cfg.pow_up_down)
        if sign > 0:
            return up * ((hi - w) / (hi - lo)) ** g_up
        return -down * ((w - lo) / (hi - lo)) ** g_down
    if isinstance(cfg, PiecewiseStepDevice):
        nodes = cfg.piecewise_up if sign > 0 else cfg.piecewise_down
        pos = (w - lo) / (hi - lo) * (len(nodes) - 1)
        i = min(int(math.floor(pos)), len(nodes) - 2)
        t = pos - i
        f = nodes[i] * (1 - t) + nodes[i + 1] * t
        return up * f if sign > 0 else -down * f
    raise AssertionError(cfg)


def _ref_response(cfg: PulsedDevice, w0: float, n: int, sign: int, count: int = 0) -> float:
    lo, hi = cfg.nominal_bounds
    w = w0
    for k in range(n):
        w = min(max(w + _ref_step(cfg, w, sign, count + k), lo), hi)
    return w


# ------------------------------------------------------------------------ configs
ALL_CONFIGS = list(DEVICES.values()) + [
    ConstantStepDevice(), LinearStepDevice(), SoftBoundsDevice(), ExpStepDevice(),
    PowStepDevice(), PiecewiseStepDevice(), PCMPulseDevice(g_max_dtod=0.05, epsilon=0.5),
    SoftBoundsDevice(write_noise_std=2.0),
]


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: type(c).__name__)
def test_config_json_round_trip(cfg):
    text = cfg.to_json()
    back = type(cfg).from_json(text)
    assert back == cfg and type(back) is type(cfg)
    assert config_from_dict(json.loads(text)) == cfg
    assert PulsedDevice.from_dict(cfg.to_dict()) == cfg
    assert back.one_sided == cfg.one_sided


def test_pcm_preset_fields_match_aihwkit():
    """physics.md §3.2 / aihwkit PCMPresetDevice defaults."""
    p = pcm_preset_device()
    assert (p.dw_min, p.A_up, p.A_down, p.gamma_up, p.gamma_down, p.a, p.b) == \
        (0.01, -27.235, -2.235, 2.5, 2.5, -1.0, 0.0)
    assert (p.w_min, p.w_max, p.dw_min_dtod, p.dw_min_std, p.dw_min_std_add,
            p.dw_min_std_slope) == (0.0, 2.0, 0.2, 0.6, 0.042, 0.108)
    assert (p.w_max_dtod, p.w_min_dtod, p.up_down_dtod, p.reset, p.reset_dtod,
            p.reset_std) == (0.1, 0.0, 0.05, 0.01, 0.02, 0.01)


def test_one_sided_and_nominal_properties():
    assert not ConstantStepDevice().one_sided
    assert ConstantStepDevice(w_min=0.0, w_max=1.0).one_sided
    assert pcm_preset_device().one_sided
    assert PCMPulseDevice().one_sided
    assert PCMPulseDevice().nominal_bounds == pytest.approx((0.1 / 12, 1.0))
    assert PCMPulseDevice().granularity == pytest.approx(0.75 / 12)
    assert ExpStepDevice(dw_min=0.02).granularity == 0.02
    arr = make_device_array(pcm_preset_device(), (3,), generator=gen())
    assert arr.one_sided and arr.nominal_bounds == (0.0, 2.0) and arr.granularity == 0.01


@pytest.mark.parametrize("make, fix", [
    (lambda: ConstantStepDevice(w_min=0.5, w_max=-0.5), "swap them"),
    (lambda: ConstantStepDevice(w_min=0.2, w_max=0.2), "swap them"),
    (lambda: SoftBoundsDevice(dw_min=0.0), "> 0"),
    (lambda: ExpStepDevice(dw_min=-1e-3), "> 0"),
    (lambda: ConstantStepDevice(up_down=1.0), "(-1, 1)"),
    (lambda: LinearStepDevice(up_down=-1.5), "(-1, 1)"),
    (lambda: ConstantStepDevice(dw_min_std=-0.1), ">= 0"),
    (lambda: SoftBoundsDevice(w_max_dtod=-0.1), ">= 0"),
    (lambda: ExpStepDevice(dw_min_std_add=-0.1), ">= 0"),
    (lambda: LinearStepDevice(gamma_up=-0.5), ">= 0"),
    (lambda: ConstantStepDevice(w_min=0.1, w_max=0.5), "must contain 0"),
    (lambda: PowStepDevice(pow_up_down=1.0), "(-1, 1)"),
    (lambda: PiecewiseStepDevice(piecewise_up=()), "non-empty"),
    (lambda: PiecewiseStepDevice(piecewise_down=(1.0, -0.5)), ">= 0"),
    (lambda: PCMPulseDevice(g_max=12e-6), "µS"),
    (lambda: PCMPulseDevice(g_min=13.0), "swap them"),
    (lambda: PCMPulseDevice(c2=-1.0), ">= 0"),
    (lambda: PCMPulseDevice(a=0.0), "> 0"),
    (lambda: StepDevice(), "ConstantStepDevice()"),
    (lambda: ConstantStepDevice(dw_min=float("nan")), "finite"),
])
def test_bad_config_raises_naming_the_fix(make, fix):
    with pytest.raises(ConfigError) as info:
        make()
    assert fix in str(info.value)


# --------------------------------------------------------------- mean response
def test_mean_response_matches_scalar_reference():
    """mean_response (closed forms and vectorised loops) vs the scalar spec equations."""
    for name, cfg in DEVICES.items():
        lo, hi = cfg.nominal_bounds
        starts = [lo + 0.1 * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.9 * (hi - lo)]
        for sign in (1, -1):
            if sign < 0 and cfg.one_sided:
                continue
            w0 = torch.tensor(starts, dtype=F64)
            n = torch.tensor([0, 7, 150])
            got = mean_response(cfg, w0.unsqueeze(1), n, sign)  # (3, 3)
            for i, s in enumerate(starts):
                for j, k in enumerate(n.tolist()):
                    count = 0
                    if isinstance(cfg, PCMPulseDevice):  # counter: nearest noise-free SET
                        train = [cfg.g_reset / cfg.g_max]  # train from RESET
                        for c in range(60):
                            train.append(_ref_response(cfg, train[-1], 1, 1, c))
                        count = min(range(61), key=lambda c: abs(train[c] - s))
                    want = _ref_response(cfg, s, k, sign, count)
                    assert float(got[i, j]) == pytest.approx(want, rel=1e-6, abs=1e-9), \
                        (name, sign, s, k)


def test_soft_bounds_closed_form_values():
    """SoftBounds: w_n = w_max − (w_max − w0)·(1 − dw/w_max)ⁿ exactly (noise-free)."""
    cfg = SoftBoundsDevice(dw_min=0.01)
    w0, n = -0.3, torch.arange(0, 400, 37)
    want = 0.6 - (0.6 + 0.3) * (1 - 0.01 / 0.6) ** n.to(F64)
    got = mean_response(cfg, torch.tensor(w0, dtype=F64), n, +1)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    down = mean_response(cfg, torch.tensor(0.3, dtype=F64), n, -1)
    assert torch.allclose(down, -0.6 + 0.9 * (1 - 0.01 / 0.6) ** n.to(F64), atol=1e-12)


@pytest.mark.parametrize("name", [k for k in DEVICES if k != "pcm_preset"])
def test_ensemble_mean_matches_mean_response(name):
    """Nominal devices (no d2d), c2c noise on: the ensemble mean after n pulses (mixed n,
    both directions) equals the noise-free response within 5 SE. PCM uses reduced SET noise
    so the g_min/g_max clips (which bias the mean, see the PCM tests) are not reached;
    μ(G) is linear in G, so without clipping the noise-free iteration is the exact mean."""
    cfg = _no_d2d(PCM_LOW_NOISE if name == "pcm" else DEVICES[name])
    m = 12_000
    g = gen(1)
    lo, hi = cfg.nominal_bounds
    for sign in (1, -1):
        if sign < 0 and cfg.one_sided:
            continue
        arr = make_device_array(cfg, (m,), generator=g, dtype=F64)
        w0 = torch.full((m,), lo + 0.3 * (hi - lo) if sign > 0 else lo + 0.7 * (hi - lo),
                        dtype=F64)
        arr.set_value(w0)
        n = torch.randint(0, 120, (m,), generator=g)
        arr.pulse(n, sign, g)
        diff = arr.value - mean_response(cfg, w0, n, sign)
        se = float(diff.std()) / math.sqrt(m)
        assert abs(float(diff.mean())) < 5 * se + 1e-9, (name, sign)
        assert float(diff.std()) > 0  # the noise is really on


@pytest.mark.parametrize("name", list(DEVICES))
def test_ensemble_mean_with_d2d_matches_per_device_law(name):
    """d2d and c2c on: mean over devices of (noisy − per-device noise-free) response ≈ 0.

    The noise-free twin has identical d2d parameters (d2d draws do not depend on the noise
    fields). PCM and the preset: start mid-range with few pulses so the clips stay rare."""
    cfg = DEVICES[name]
    if name == "pcm":
        cfg = PCM_LOW_NOISE.replace(g_max_dtod=0.1)
    m, seed = 12_000, 3
    arr = make_device_array(cfg, (m,), generator=gen(seed), dtype=F64)
    twin = make_device_array(_no_c2c(cfg), (m,), generator=gen(seed), dtype=F64)
    for key, v in twin.state_tensors().items():
        if key not in ("value", "hidden", "pulse_count"):
            assert torch.equal(v, arr.state_tensors()[key]), key
    lo, hi = cfg.nominal_bounds
    start = lo + 0.4 * (hi - lo)
    npulse = 3 if name == "pcm_preset" else 80
    for a in (arr, twin):
        a.set_value(torch.full((m,), start, dtype=F64))
    g = gen(4)
    n = torch.randint(0, npulse + 1, (m,), generator=g)
    arr.pulse(n, +1, g)
    twin.pulse(n, +1, g)
    diff = arr.value - twin.value
    se = float(diff.std()) / math.sqrt(m)
    assert abs(float(diff.mean())) < 5 * se, name
    # and d2d really spreads the noise-free responses
    assert float(twin.value[n == npulse].std()) > 0


@pytest.mark.parametrize("name", ["constant", "softbounds", "linear"])
def test_closed_form_equals_iterated_single_pulses(name):
    """One pulse() call with n pulses vs n calls of one pulse: same mean and std."""
    cfg = DEVICES[name].replace(dw_min=0.01, dw_min_std=0.5)
    if name == "linear":
        cfg = cfg.replace(gamma_up=2.0)
    m, n = 20_000, 150
    a = make_device_array(cfg, (m,), generator=gen(5), dtype=F64)
    b = make_device_array(cfg, (m,), generator=gen(5), dtype=F64)
    for arr in (a, b):
        arr.set_value(torch.full((m,), -0.5, dtype=F64))
    a.pulse(torch.full((m,), n), +1, gen(6))
    g = gen(7)
    ones = torch.ones(m, dtype=torch.int32)
    for _ in range(n):
        b.pulse(ones, +1, g)
    sa, sb = float(a.value.std()), float(b.value.std())
    se = math.hypot(sa, sb) / math.sqrt(m)
    assert abs(float(a.value.mean() - b.value.mean())) < 5 * se
    assert sa == pytest.approx(sb, rel=0.05)
    # exact-variance check on a device without d2d (soft bounds: product of Gaussians)
    if name == "softbounds":
        cfg0 = _no_d2d(cfg)
        c = make_device_array(cfg0, (m,), generator=gen(8), dtype=F64)
        c.set_value(torch.full((m,), -0.5, dtype=F64))
        c.pulse(torch.full((m,), n), +1, gen(9))
        k, sig, d0 = -0.01 * (1 + cfg.up_down) / 0.6, 0.5, -0.5 - 0.6
        var = d0 ** 2 * (((1 + k) ** 2 + (k * sig) ** 2) ** n - (1 + k) ** (2 * n))
        assert float(c.value.std()) == pytest.approx(math.sqrt(var), rel=0.03)
        assert float(c.value.mean()) == pytest.approx(0.6 + d0 * (1 + k) ** n, abs=5e-4)


# --------------------------------------------------------------- c2c and d2d statistics
def test_c2c_std_of_one_pulse_is_dw_min_std_times_step():
    cfg = ConstantStepDevice(**NO_D2D, dw_min=0.01, dw_min_std=0.3)
    m = 40_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.zeros(m, dtype=F64))
    arr.pulse(1, +1, gen(1))
    assert float(arr.value.mean()) == pytest.approx(0.01, rel=0.005)
    assert float(arr.value.std()) == pytest.approx(0.3 * 0.01, rel=0.02)


def test_exp_step_additive_c2c_noise():
    """ExpStep σ = dw_min_std·(|Δw| + dw_min_std_add + dw_min_std_slope·|w|) (aihwkit)."""
    cfg = ExpStepDevice(**NO_D2D, dw_min=0.01, dw_min_std=0.5, dw_min_std_add=0.004,
                        dw_min_std_slope=0.02)
    m, w0 = 40_000, 0.2
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.full((m,), w0, dtype=F64))
    dw = _ref_step(cfg, w0, +1)
    arr.pulse(1, +1, gen(2))
    step = arr.value - w0
    assert float(step.mean()) == pytest.approx(dw, rel=0.01)
    assert float(step.std()) == pytest.approx(0.5 * (abs(dw) + 0.004 + 0.02 * w0), rel=0.02)


def test_d2d_spread_of_steps_and_bounds():
    cfg = ConstantStepDevice(dw_min_std=0.0, dw_min_dtod=0.3, w_max_dtod=0.2, w_min_dtod=0.1,
                             up_down_dtod=0.0)
    m = 40_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.zeros(m, dtype=F64))
    arr.pulse(1, +1, gen(1))
    step = arr.value
    assert float(step.std() / step.mean()) == pytest.approx(0.3, rel=0.03)
    st = arr.state_tensors()
    assert float(st["w_max"].std()) == pytest.approx(0.2 * 0.6, rel=0.03)
    assert float(st["w_min"].std()) == pytest.approx(0.1 * 0.6, rel=0.03)
    assert bool((st["w_min"] <= 0).all() and (st["w_max"] >= 0).all())
    assert torch.equal(st["scale_up"], st["scale_down"])  # up_down_dtod = 0


def test_asymmetry_up_down_ratio():
    cfg = ConstantStepDevice(**NO_D2D, up_down=0.2, dw_min=0.01)
    arr = make_device_array(cfg, (20_000,), generator=gen(), dtype=F64)
    up, down = arr.mean_step(+1), arr.mean_step(-1)
    assert torch.allclose(up / -down, torch.full_like(up, 1.5))
    assert float(up[0]) == pytest.approx(0.012)
    # and in the noisy pulses
    arr.set_value(torch.zeros(20_000, dtype=F64))
    arr.pulse(1, +1, gen(1))
    mean_up = float(arr.value.mean())
    arr.set_value(torch.zeros(20_000, dtype=F64))
    arr.pulse(1, -1, gen(2))
    # each mean of n = 20000 steps Δ·(1 + 0.3ξ) has relative SE 0.3/√n = 0.21 %; their ratio
    # √2·0.21 % = 0.30 %: 5σ = 1.5 %
    assert mean_up / -float(arr.value.mean()) == pytest.approx(1.5, rel=5 * 0.3 * (2 / 20_000)
                                                               ** 0.5)


def _alternate(cfg: SoftBoundsDevice, m: int, cycles: int) -> tuple[PulsedDeviceArray,
                                                                   torch.Tensor, torch.Tensor]:
    """``cycles`` (+1, −1) pulse pairs from w = −0.5; returns the array, w after the last up
    pulse (w_u) and after the last down pulse (w_f)."""
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.full((m,), -0.5, dtype=F64))
    ones = torch.ones(m, dtype=torch.int64)
    for _ in range(cycles):
        arr.pulse(ones, +1, None)
        w_u = arr.value.clone()
        arr.pulse(ones, -1, None)
    return arr, w_u, arr.value.clone()


def test_soft_bounds_alternating_pulses_converge_to_symmetry_point():
    """Up step U(w) = s_up·(1 − w/b_max) falls with w, down step D(w) = s_dn·(1 − w/b_min)
    (b_min < 0) rises with w; they are equal at w* = (s_up − s_dn)/(s_up/b_max − s_dn/b_min).

    Alternating pulses end in a 2-cycle w_f → w_u → w_f with U(w_f) = D(w_u) = w_u − w_f,
    checked exactly per device. Monotonicity of U and D then puts w* inside [w_f, w_u]
    (w* < w_f would give U(w_f) < U(w*) = D(w*) < D(w_u), w* > w_u the reverse), so the
    cycle's midpoint is within half of the device's own last step of w*: a deterministic
    consequence of the update rule, whatever the device-to-device draw (d2d on, c2c off)."""
    cfg = SoftBoundsDevice(dw_min=0.01, up_down=0.2, dw_min_std=0.0, up_down_dtod=0.1)
    m, cycles = 2000, 1500
    arr, w_u, w_f = _alternate(cfg, m, cycles)
    st = arr.state_tensors()
    su, sd, lo, hi = st["scale_up"], st["scale_down"], st["w_min"], st["w_max"]
    r_u, r_d = 1 - su / hi, 1 + sd / lo
    fixed = (r_d * su - sd) / (1 - r_u * r_d)  # w_f = r_d·(r_u·w_f + su) − sd
    # converged: (r_u·r_d)^cycles < e^-30 (excludes near-zero steps), and not a stuck-at-0
    # bound (d2d factor clipped)
    ok = ((1 - r_u * r_d) * cycles > 30) & (hi > 0.05) & (lo < -0.05)
    # the excluded ~10 %: d2d-scaled steps too small to converge in 1500 cycles, or a bound
    # clipped near 0 by the d2d factor
    assert int(ok.sum()) > 0.85 * m
    assert torch.allclose(w_f[ok], fixed[ok], atol=1e-9)
    w_star = (su - sd) / (su / hi - sd / lo)
    eps = 1e-12  # float64 round-off of the 3000-pulse recurrence is ~1e-14
    assert bool(((w_f - eps <= w_star) & (w_star <= w_u + eps))[ok].all())
    mid, half_step = (w_u + w_f) / 2, (w_u - w_f) / 2
    assert bool(((mid - w_star).abs() <= half_step + eps)[ok].all())
    # nominal devices (no d2d): one w* for all, the paper-style closed form
    nominal = (0.012 - 0.008) / (0.012 / 0.6 + 0.008 / 0.6)
    assert nominal == pytest.approx(0.12)
    arr0, w_u0, w_f0 = _alternate(cfg.replace(**NO_D2D), 100, cycles)
    assert torch.allclose(w_u0, w_u0[:1].expand(100)) and torch.allclose(w_f0, w_f0[:1].expand(100))
    assert float(w_f0[0]) <= nominal <= float(w_u0[0])


# --------------------------------------------------------------- bounds
@pytest.mark.parametrize("name", list(DEVICES))
def test_bounds_never_exceeded(name):
    cfg = DEVICES[name]
    if isinstance(cfg, StepDevice):
        cfg = cfg.replace(dw_min=0.05, dw_min_std=1.0, write_noise_std=1.0)
    m = 3000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=torch.float32)
    st = arr.state_tensors()
    if isinstance(cfg, PCMPulseDevice):
        lo_b, hi_b = torch.full((m,), cfg.g_min / cfg.g_max), st["g_max"] / cfg.g_max
        key = "value"
    else:
        lo_b, hi_b, key = st["w_min"], st["w_max"], "hidden"
    g = gen(1)
    for step in range(12):
        n = torch.randint(0, 60, (m,), generator=g)
        sign = -1 if (step % 2 and not cfg.one_sided) else 1
        arr.pulse(n, sign, g)
        v = arr.state_tensors()[key]
        assert bool((v >= lo_b).all() and (v <= hi_b).all()), (name, step)
        if step == 6:
            arr.reset(torch.rand(m, generator=g) < 0.5, g)


# --------------------------------------------------------------- PCM pulse model
def _censored_moments(mu: float, s: float, c: float) -> tuple[float, float]:
    """Mean and std of max(X, c), X ~ N(mu, s²)."""
    a = (c - mu) / s
    cdf = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    m1 = c * cdf + mu * (1 - cdf) + s * pdf
    m2 = c * c * cdf + (mu * mu + s * s) * (1 - cdf) + s * (mu + c) * pdf
    return m1, math.sqrt(m2 - m1 * m1)


def test_pcm_first_set_from_reset():
    """physics.md §7.5: μ_ΔG ≈ 1.825 µS, σ ≈ 1.73 µS for the first SET after RESET.

    About 15 % of the draws fall below g_min = 0.1 µS and are clipped there, which raises
    the ensemble mean (to ≈ 2.05 µS) and lowers its std; the ensemble is therefore checked
    against the censored-normal moments of max(G₀ + N(μ, σ²), g_min), which carry the
    unclipped μ and σ."""
    cfg = PCMPulseDevice(g_reset_std=0.0)
    p = math.exp(-1 / 2.6)
    mu = -0.084 * 0.1 + 0.880 + 1.40 * p
    sig = 0.091 * 0.1 + 0.260 + 2.15 * p
    assert mu == pytest.approx(1.825, abs=1e-3) and sig == pytest.approx(1.73, abs=1e-2)
    m = 100_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    assert float(arr.mean_step(+1)[0]) * 12 == pytest.approx(mu, rel=1e-9)
    arr.pulse(1, +1, gen(1))
    g = arr.value * 12
    mean_c, std_c = _censored_moments(0.1 + mu, sig, 0.1)
    assert float(g.mean()) == pytest.approx(mean_c, abs=5 * std_c / math.sqrt(m))
    assert float(g.std()) == pytest.approx(std_c, rel=0.01)
    frac = float((g <= 0.1 + 1e-12).double().mean())
    assert frac == pytest.approx(0.5 * (1 + math.erf(-mu / sig / math.sqrt(2))), abs=0.005)
    assert bool((arr.state_tensors()["pulse_count"] == 1).all())


def test_pcm_saturation():
    """Noise-free: the mean step vanishes at G = c1/|m1| ≈ 10.48 µS (physics.md §7.5).
    Noisy ensemble: saturates too (means after 150 and 300 pulses agree) but lower, because
    the stationary spread (≈ 3 µS) is clipped at g_max = 12 µS from above."""
    cfg = PCMPulseDevice()
    sat = 0.880 / 0.084
    assert sat == pytest.approx(10.476, abs=1e-3)
    g_nf = float(mean_response(cfg, torch.tensor(0.1 / 12, dtype=F64), 300, +1)) * 12
    assert g_nf == pytest.approx(sat, abs=1e-3)
    m = 20_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    g = gen(1)
    arr.pulse(150, +1, g)
    m150 = float(arr.value.mean()) * 12
    assert float(arr.mean_step(+1, torch.full((m,), sat / 12, dtype=F64)).abs().max()) < 1e-12
    arr.pulse(150, +1, g)
    m300, s300 = float(arr.value.mean()) * 12, float(arr.value.std()) * 12
    assert m300 == pytest.approx(m150, abs=5 * s300 / math.sqrt(m) * 1.5)
    assert 8.0 < m300 < sat
    assert bool((arr.value <= 1.0).all())


def test_pcm_reset_program_read_and_counters():
    cfg = PCMPulseDevice()
    m = 40_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    g = gen(1)
    arr.pulse(5, +1, g)
    mask = torch.zeros(m, dtype=torch.bool)
    mask[: m // 2] = True
    arr.reset(mask, g)
    st = arr.state_tensors()
    assert bool((st["pulse_count"][mask] == 0).all() and (st["pulse_count"][~mask] == 5).all())
    g_reset = arr.value[mask] * 12
    assert float(g_reset.min()) >= 0.1 and float(g_reset.max()) < 0.2
    # closed-loop programming: target ± c2 (µS); counter = noise-free pulses to reach it
    target = torch.full((m,), 6.0 / 12, dtype=F64)
    arr.program(target, mask, g)
    got = arr.value[mask] * 12
    assert float(got.mean()) == pytest.approx(6.0, abs=0.01)
    assert float(got.std()) == pytest.approx(0.26, rel=0.03)
    counts = arr.state_tensors()["pulse_count"][mask]
    # paper fit P(6 µS) = 0.027·216 − 0.15·36 + 0.81·6 ≈ 5.3 pulses (physics.md §3.3)
    assert int(counts.median()) == 5
    # set_value at the points of the noise-free SET train from RESET: counter = pulse index
    train = [cfg.g_reset / cfg.g_max]
    for c in range(12):
        train.append(_ref_response(cfg, train[-1], 1, 1, c))
    small = make_device_array(cfg, (13,), generator=gen())
    small.set_value(torch.tensor(train, dtype=torch.float32))
    assert small.state_tensors()["pulse_count"].tolist() == list(range(13))
    # read noise σ = 0.03·G + 0.13 µS
    arr.set_value(torch.full((m,), 6.0 / 12, dtype=F64))
    r = arr.read(gen(2)) * 12
    assert float(r.std()) == pytest.approx(0.03 * 6 + 0.13, rel=0.02)
    assert float(r.mean()) == pytest.approx(6.0, abs=0.01)
    assert torch.equal(arr.value * 12, torch.full((m,), 6.0, dtype=F64))  # read is not a write


# --------------------------------------------------------------- fitted PCM preset
def test_pcm_preset_mean_step_and_noise():
    """Δw = 0.01·(1 + 27.235·e^(−2.5·w)): 0.282 at w = 0, 0.032 at w = 1 (physics.md §3.2);
    near w = 2 the step (0.0118 by the formula) is cut by the hard bound."""
    cfg = _no_d2d(pcm_preset_device()).replace(w_max_dtod=0.0)
    arr = make_device_array(cfg, (4,), generator=gen(), dtype=F64)
    w = torch.tensor([0.0, 1.0, 1.5, 2.0], dtype=F64)
    step = arr.mean_step(+1, w)
    assert float(step[0]) == pytest.approx(0.2824, abs=5e-5)
    assert float(step[1]) == pytest.approx(0.0324, abs=5e-5)
    assert float(step[2]) == pytest.approx(0.01 * (1 + 27.235 * math.exp(-3.75)), rel=1e-9)
    assert float(step[3]) == 0.0
    assert 0.01 * (1 + 27.235 * math.exp(-5)) == pytest.approx(0.0118, abs=1e-4)
    # c2c σ = 0.6·(|Δw| + 0.042 + 0.108·|w|) at w = 0.5
    m, w0 = 50_000, 0.5
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.full((m,), w0, dtype=F64))
    dw = 0.01 * (1 + 27.235 * math.exp(-2.5 * w0))
    arr.pulse(1, +1, gen(1))
    assert float((arr.value - w0).mean()) == pytest.approx(dw, abs=5 * 0.11 / math.sqrt(m))
    assert float(arr.value.std()) == pytest.approx(0.6 * (dw + 0.042 + 0.108 * w0), rel=0.02)


# --------------------------------------------------------------- writes and noise
def test_generic_reset_program_set_value():
    cfg = ConstantStepDevice(reset=0.1, reset_std=0.02, reset_dtod=0.0, dw_min=0.01,
                             w_min_dtod=0.1, w_max_dtod=0.1)  # no device clips 0.05 or 0.1
    m = 40_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    st = arr.state_tensors()
    assert torch.equal(arr.value, torch.clamp(st["reset_bias"], st["w_min"], st["w_max"]))
    arr.set_value(torch.full((m,), 5.0, dtype=F64))
    assert torch.equal(arr.value, st["w_max"])  # clipped to each device's own bound
    arr.reset(None, gen(1))
    assert float(arr.value.mean()) == pytest.approx(0.1, abs=1e-3)
    assert float(arr.value.std()) == pytest.approx(0.02, rel=0.03)
    arr.program(torch.full((m,), 0.05, dtype=F64), None, gen(2))
    assert float(arr.value.mean()) == pytest.approx(0.05, abs=1e-4)
    assert float(arr.value.std()) == pytest.approx(0.3 * 0.01, rel=0.03)
    mask = torch.zeros(m, dtype=torch.bool)
    mask[:10] = True
    before = arr.value.clone()
    arr.set_value(torch.zeros(m, dtype=F64), mask=mask)
    assert bool((arr.value[:10] == 0).all()) and torch.equal(arr.value[10:], before[10:])


def test_write_noise_readable_vs_hidden():
    cfg = ConstantStepDevice(**NO_D2D, dw_min=0.01, dw_min_std=0.0, write_noise_std=2.0)
    m = 40_000
    arr = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.zeros(m, dtype=F64))
    n = torch.zeros(m, dtype=torch.int64)
    n[: m // 2] = 3
    arr.pulse(n, +1, gen(1))
    st = arr.state_tensors()
    hit = slice(0, m // 2)
    assert torch.allclose(st["hidden"][hit], torch.full((m // 2,), 0.03, dtype=F64))
    noise = st["value"][hit] - st["hidden"][hit]
    assert float(noise.std()) == pytest.approx(2.0 * 0.01, rel=0.03)
    assert bool((st["value"][m // 2:] == 0).all())  # untouched devices keep their value


@pytest.mark.parametrize("cfg", [
    ConstantStepDevice(**NO_D2D, dw_min=0.01, dw_min_std=0.0, write_noise_std=2.0),
    ExpStepDevice(**NO_D2D, dw_min=0.01, dw_min_std=0.0, write_noise_std=2.0)],
    ids=lambda c: type(c).__name__)
def test_write_noise_sparse_path(cfg):
    m = 40_000
    arr = make_device_array(cfg, (2 * m,), generator=gen(), dtype=F64)
    arr.set_value(torch.zeros(2 * m, dtype=F64))
    index = torch.arange(0, 2 * m, 2)
    arr.pulse(torch.full((m,), 2, dtype=torch.int32), +1, gen(1), index=index)
    st = arr.state_tensors()
    noise = (st["value"] - st["hidden"])[index]
    assert float(noise.std()) == pytest.approx(2.0 * 0.01, rel=0.03)
    assert float(st["hidden"][index].mean()) > 0.015
    assert bool((st["value"][1::2] == 0).all())


def test_sparse_index_only_touches_listed_devices():
    for cfg in (DEVICES["constant"], DEVICES["exp"], DEVICES["pcm"], DEVICES["softbounds"]):
        arr = make_device_array(cfg, (40, 50), generator=gen())
        before = arr.value.clone()
        index = torch.tensor([3, 17, 1999, 500])
        arr.pulse(torch.tensor([2, 1, 4, 3], dtype=torch.int32), +1, gen(1), index=index)
        changed = (arr.value != before).reshape(-1).nonzero().squeeze(1)
        assert set(changed.tolist()) <= set(index.tolist())
        # a listed device may keep its value only where the pulse's step was clipped by a
        # bound: a PCM SET step is N(μ, σ²) with P(ΔG < 0) ≈ 15 % at G = g_min, clipped back
        # to g_min; a step device's positive step is clipped only at its own w_max
        st = arr.state_tensors()
        flat = before.reshape(-1)
        lo = st["w_min"].reshape(-1) if "w_min" in st else torch.full_like(
            flat, cfg.nominal_bounds[0])
        hi = st["w_max"].reshape(-1) if "w_max" in st else torch.full_like(flat, 1.0)
        for i in set(index.tolist()) - set(changed.tolist()):
            assert torch.isclose(flat[i], lo[i]) or torch.isclose(flat[i], hi[i]), (cfg, i)


def test_generic_read_is_value():
    arr = make_device_array(ConstantStepDevice(), (5,), generator=gen())
    assert torch.equal(arr.read(gen()), arr.value)


# --------------------------------------------------------------- state
@pytest.mark.parametrize("cfg", list(DEVICES.values()) + [
    ExpStepDevice(write_noise_std=1.0), LinearStepDevice(write_noise_std=0.5)],
    ids=lambda c: type(c).__name__)
def test_state_round_trip_is_bit_exact(cfg):
    shape = (30, 40)
    arr = make_device_array(cfg, shape, generator=gen(0))
    g = gen(1)
    arr.pulse(torch.randint(0, 5, shape, generator=g), +1, g)
    state = arr.state_tensors()
    rng = g.get_state()

    def more(a: PulsedDeviceArray, gg: torch.Generator) -> torch.Tensor:
        for k in range(3):
            idx = torch.randperm(1200, generator=gg)[:300]
            a.pulse(torch.randint(1, 4, (300,), generator=gg), +1, gg, index=idx)
            if not a.one_sided and k == 1:
                a.pulse(torch.randint(0, 4, shape, generator=gg), -1, gg)
        a.reset(torch.rand(shape, generator=gg) < 0.1, gg)
        return a.value.clone()

    first = more(arr, g)
    other = make_device_array(cfg, shape, generator=gen(99))
    other.load_state_tensors(state)
    g.set_state(rng)
    assert torch.equal(more(other, g), first)
    assert all(torch.equal(v, other.state_tensors()[k]) for k, v in arr.state_tensors().items())


def test_load_state_adopts_dtype_and_rejects_mismatch():
    arr = make_device_array(PCMPulseDevice(), (4, 5), generator=gen())
    state = arr.state_tensors()
    arr.load_state_tensors({k: v.double() if v.is_floating_point() else v
                            for k, v in state.items()})
    assert arr.value.dtype == F64 and arr.state_tensors()["pulse_count"].dtype == torch.int32
    arr.pulse(2, +1, gen())
    with pytest.raises(CheckpointError, match="shape"):
        arr.load_state_tensors({k: v[:2] for k, v in state.items()})
    with pytest.raises(CheckpointError, match="missing"):
        arr.load_state_tensors({k: v for k, v in state.items() if k != "g_max"})
    gen_arr = make_device_array(SoftBoundsDevice(), (4, 5), generator=gen())
    with pytest.raises(CheckpointError, match="unexpected"):
        gen_arr.load_state_tensors({**gen_arr.state_tensors(), "hidden": state["value"]})


# --------------------------------------------------------------- bad input
def test_bad_pulse_input_raises():
    two = make_device_array(ConstantStepDevice(), (3, 4), generator=gen())
    one = make_device_array(pcm_preset_device(), (3, 4), generator=gen())
    pcm = make_device_array(PCMPulseDevice(), (3, 4), generator=gen())
    for arr in (one, pcm):
        with pytest.raises(ConfigError, match="differential pair"):
            arr.pulse(1, -1, gen())
    with pytest.raises(ConfigError, match="direction"):
        two.pulse(1, 0, gen())
    with pytest.raises(ConfigError, match=">= 0"):
        two.pulse(torch.full((3, 4), -1), +1, gen())
    with pytest.raises(ConfigError, match="whole numbers"):
        two.pulse(torch.full((3, 4), 0.5), +1, gen())
    with pytest.raises(ConfigError, match=">= 0"):
        two.pulse(torch.tensor([-2]), +1, gen(), index=torch.tensor([0]))
    with pytest.raises(ShapeError, match="shape"):
        two.pulse(torch.ones(4, 3), +1, gen())
    with pytest.raises(ShapeError, match="outside"):
        two.pulse(torch.ones(1), +1, gen(), index=torch.tensor([12]))
    with pytest.raises(ShapeError, match="same length"):
        two.pulse(torch.ones(2), +1, gen(), index=torch.tensor([1]))
    with pytest.raises(ShapeError, match="mask"):
        two.reset(torch.ones(12, dtype=torch.bool), gen())
    with pytest.raises(ShapeError, match="target"):
        two.set_value(torch.zeros(2, 2))
    with pytest.raises(ConfigError, match="differential pair"):
        one.mean_step(-1)
    with pytest.raises(ConfigError, match="differential pair"):
        mean_response(pcm_preset_device(), 0.0, 1, -1)
    with pytest.raises(ConfigError, match=">= 0"):
        mean_response(ConstantStepDevice(), 0.0, -3, 1)
    with pytest.raises(ConfigError, match="pulsed device config"):
        make_device_array("ConstantStepDevice", (2,), generator=None)  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        make_device_array(ConstantStepDevice(), (2, -1), generator=None)


def test_pcm_pulse_read_noise_floor_terms_and_generator():
    """Read noise σ = m·G + c (µS), then max(·, 0) (physics.md §3.3).

    * at RESET (G = 0.1 µS, σ = 0.133 µS) the floor holds Φ(−0.1/0.133) = 0.226 of 10⁵ reads
      exactly at 0 (binomial SE 0.0013; tolerance 0.01) and none below;
    * each term alone still gives noise: m = 0, c = 0.2 → σ = 0.2 µS and m = 0.05, c = 0 →
      σ = 0.3 µS at 6 µS (sample-std SE 0.22 %, tolerance 2 %);
    * the draw comes from the given generator only (the global RNG does not matter)."""
    m = 100_000
    arr = make_device_array(_no_d2d(PCMPulseDevice()), (m,), generator=gen(), dtype=F64)
    arr.set_value(torch.full((m,), 0.1 / 12, dtype=F64))
    r = arr.read(gen(3)) * 12
    assert float(r.min()) == 0.0
    p0 = 0.5 * math.erfc((0.1 / (0.03 * 0.1 + 0.13)) / math.sqrt(2))
    assert float((r == 0).double().mean()) == pytest.approx(p0, abs=0.01)
    for m_coef, c_coef, sigma in ((0.0, 0.2, 0.2), (0.05, 0.0, 0.3)):
        cfg = _no_d2d(PCMPulseDevice(read_noise_m=m_coef, read_noise_c=c_coef))
        one = make_device_array(cfg, (m,), generator=gen(), dtype=F64)
        one.set_value(torch.full((m,), 6.0 / 12, dtype=F64))
        assert float((one.read(gen(4)) * 12).std()) == pytest.approx(sigma, rel=0.02)
    torch.manual_seed(1)
    first = arr.read(gen(5))
    torch.manual_seed(2)
    assert torch.equal(arr.read(gen(5)), first)
