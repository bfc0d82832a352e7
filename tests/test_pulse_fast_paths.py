"""The trainers' fast paths: combined up/down and signed pulses, 32-bit Bernoulli trains,
and the index/arithmetic helpers they use. Each must equal the validated reference path
(bit-exactly where no random numbers are involved, in distribution otherwise)."""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc.config.onchip import PulseUpdate
from aimc.config.pulsed import (
    ConstantStepDevice,
    ExpStepDevice,
    LinearStepDevice,
    PCMPulseDevice,
    SoftBoundsDevice,
)
from aimc.onchip.pulses import (
    DenseCounts,
    bernoulli_threshold,
    exact_coincidences,
    exact_counts,
    pulse_probabilities,
    split_by_sign,
    uniform32,
)
from aimc.physics._indexing import flat_nonzero
from aimc.physics.pulsed import _choose, _sqrt0, make_device_array

NOISE_FREE = {
    "constant": ConstantStepDevice(dw_min=0.01, up_down=0.2, dw_min_std=0.0),
    "linear": LinearStepDevice(dw_min=0.01, gamma_up=0.5, gamma_down=0.8, dw_min_std=0.0),
    "softbounds": SoftBoundsDevice(dw_min=0.01, up_down=-0.1, dw_min_std=0.0),
    "exp": ExpStepDevice(dw_min=0.01, dw_min_std=0.0, dw_min_std_add=0.0,
                         dw_min_std_slope=0.0),
}


def _pair(cfg, shape=(40, 50), seed=3):  # noqa: ANN001, ANN202
    """Two identical device arrays (same d2d draws) with the same start values."""
    arrays = [make_device_array(cfg, shape, generator=seeded(seed),
                                dtype=torch.float64) for _ in range(2)]
    start = torch.rand(shape, generator=seeded(9),
                       dtype=torch.float64) * 1.2 - 0.6
    for a in arrays:
        a.set_value(start)
    return arrays


def _counts(shape, seed, high=4):  # noqa: ANN001, ANN202
    g = seeded(seed)
    n = torch.randint(0, high, shape, generator=g, dtype=torch.int32)
    n[torch.rand(shape, generator=g) < 0.5] = 0  # many zero counts, as in training
    return n


@pytest.mark.parametrize("name", list(NOISE_FREE))
@pytest.mark.parametrize("sparse", [False, True])
def test_pulse_up_down_equals_up_then_down(name: str, sparse: bool) -> None:
    shape = (40, 50)
    ref, fast = _pair(NOISE_FREE[name], shape)
    up, down = _counts(shape, 1), _counts(shape, 2)
    if sparse:
        index = flat_nonzero((up + down).reshape(-1) > 0)
        fast.pulse_up_down(up.reshape(-1)[index], down.reshape(-1)[index], index=index)
    else:
        fast.pulse_up_down(up.reshape(-1), down.reshape(-1))
    ref.pulse(up, +1)
    ref.pulse(down, -1)
    torch.testing.assert_close(fast.value, ref.value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(NOISE_FREE))
def test_pulse_signed_equals_both_directions(name: str) -> None:
    shape = (30, 20)
    ref, fast = _pair(NOISE_FREE[name], shape)
    n = _counts(shape, 4, high=6) - _counts(shape, 5, high=6)
    index = flat_nonzero(n.reshape(-1) != 0)
    fast.pulse_signed(n.reshape(-1)[index], index=index)
    ref.pulse(n.clamp(min=0), +1)
    ref.pulse((-n).clamp(min=0), -1)
    torch.testing.assert_close(fast.value, ref.value, rtol=1e-12, atol=1e-12)


def test_pulse_up_down_on_one_sided_pcm_up_only() -> None:
    cfg = PCMPulseDevice(m2=0.0, c2=0.0, A2=0.0, g_reset_std=0.0)
    ref, fast = _pair(cfg, (10, 10))
    n = _counts((10, 10), 6)
    fast.pulse_up_down(n.reshape(-1), None)
    ref.pulse(n, +1)
    torch.testing.assert_close(fast.value, ref.value)


def test_pulse_up_down_noise_of_both_directions_is_independent() -> None:
    """A device pulsed 3× up then 2× down: variance s_up²σ²·3 + s_down²σ²·2 (c2c noise
    of the two groups independent), mean w0 + 3·s_up − 2·s_down."""
    sigma, dw, ud = 0.3, 0.01, 0.2
    cfg = ConstantStepDevice(dw_min=dw, up_down=ud, dw_min_std=sigma, dw_min_dtod=0.0,
                             up_down_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0)
    n_dev = 200_000
    arr = make_device_array(cfg, (n_dev,), generator=seeded(0),
                            dtype=torch.float64)
    arr.set_value(0.0)
    up = torch.full((n_dev,), 3, dtype=torch.int32)
    down = torch.full((n_dev,), 2, dtype=torch.int32)
    arr.pulse_up_down(up, down, seeded(1))
    s_up, s_down = dw * (1 + ud), dw * (1 - ud)
    v = arr.value
    mean, var = 3 * s_up - 2 * s_down, sigma ** 2 * (3 * s_up ** 2 + 2 * s_down ** 2)
    assert abs(float(v.mean()) - mean) < 5 * math.sqrt(var / n_dev)
    assert float(v.var()) == pytest.approx(var, rel=0.02)


def test_uniform32_covers_all_bits_uniformly() -> None:
    u = uniform32(400_001, seeded(0), torch.device("cpu"))
    assert u.dtype == torch.int32 and u.numel() == 400_001
    lanes = u[:400_000].view(-1, 2).to(torch.float64) / 2**31
    # each 32-bit half of the 64-bit draw: uniform on [−1, 1) (std 1/√3), sign bit fair
    assert torch.all(lanes.mean(0).abs() < 5 / math.sqrt(3 * 200_000))
    assert torch.all(((lanes < 0).double().mean(0) - 0.5).abs() < 0.005)


@pytest.mark.parametrize("p", [0.0, 1e-9, 3e-6, 0.3, 0.999, 1.0])
def test_bernoulli_threshold_probability(p: float) -> None:
    t = bernoulli_threshold(torch.tensor([p], dtype=torch.float64))
    exact = round(p * 2**32) / 2**32  # P(u < t) for u uniform on the 2³² int32 values
    assert (int(t) + 2**31) / 2**32 == exact
    assert abs(exact - p) <= 0.5 / 2**32
    if p in (0.0, 1.0):  # never / always, whatever the draw
        u = torch.tensor([-2**31, -1, 0, 2**31 - 1], dtype=torch.int32)
        assert bool(((u < t) == bool(p)).all())
    u = uniform32(200_000, seeded(1), torch.device("cpu"))
    freq = float((u < t).double().mean())
    assert abs(freq - exact) < 5 * math.sqrt(max(exact * (1 - exact), 1e-12) / 200_000) + 1e-9


def test_small_pulse_probabilities_are_not_rounded_away() -> None:
    """A per-line probability of 2·10⁻⁶ (a tiny update) fires at that rate, not never."""
    t = bernoulli_threshold(torch.full((1,), 2e-6))
    u = uniform32(4_000_000, seeded(2), torch.device("cpu"))
    hits = int((u < t).sum())
    assert abs(hits - 8.0) < 5 * math.sqrt(8.0)  # expected 8


def test_exact_coincidences_total_net_split_matches_up_down() -> None:
    x, d = torch.randn(16, 30), torch.randn(16, 20) * 0.05
    p = pulse_probabilities(x, d, 0.01, 0.001, PulseUpdate())
    c = exact_coincidences(p, seeded(4))
    assert isinstance(c, DenseCounts)
    up, down = exact_counts(p, seeded(4))
    assert torch.equal(c.total, up + down) and torch.equal(c.net, down - up)
    assert torch.equal(torch.stack(split_by_sign(c.total.clone(), c.net)), torch.stack((up, down)))
    assert bool((up >= 0).all()) and bool((down >= 0).all())


@pytest.mark.parametrize("shape,density", [((0,), 0.5), ((7,), 0.0), ((300, 200), 0.1),
                                           ((300, 200), 1.0)])
def test_flat_nonzero_matches_torch(shape: tuple[int, ...], density: float) -> None:
    mask = torch.rand(shape, generator=seeded(2)) < density
    got = flat_nonzero(mask)
    assert got.dtype == torch.int64
    assert torch.equal(got, mask.reshape(-1).nonzero().squeeze(1))
    strided = mask.t() if mask.dim() == 2 else mask
    assert torch.equal(flat_nonzero(strided), strided.reshape(-1).nonzero().squeeze(1))


def test_flat_nonzero_rejects_non_bool() -> None:
    with pytest.raises(TypeError, match="bool mask"):
        flat_nonzero(torch.ones(3))


def test_choose_and_sqrt0_are_exact() -> None:
    a, b = torch.randn(1000, dtype=torch.float64), torch.randn(1000, dtype=torch.float64)
    m = torch.rand(1000) < 0.5
    assert torch.equal(_choose(m, a, b), torch.where(m, a, b))
    t = torch.tensor([0.0, 1.0, 2.0, 9.0, 1e-30, 3.5])
    assert torch.equal(_sqrt0(t)[0], torch.tensor(0.0))
    torch.testing.assert_close(_sqrt0(t), t.sqrt(), rtol=1e-6, atol=0.0)


def test_line_counts_match_general_pulse_counting() -> None:
    """One input line (the Tiki-Taka transfer): the direct counts have the distribution of
    ``count_pulses(x=[[1]], d=−vᵀ)`` (mean and variance per device, and the sign)."""
    from aimc.onchip.pulses import count_pulses, line_counts

    v = torch.tensor([0.5, -0.2, 0.0, 0.05, -0.9, 0.3])
    cfg = PulseUpdate(desired_bl=31)
    lr, eps = 0.05, 0.002
    g1, g2 = seeded(0), seeded(1)
    direct = torch.stack([line_counts(v, lr, eps, cfg, g1) for _ in range(4000)]).double()
    general = []
    for _ in range(4000):
        c = count_pulses(torch.ones(1, 1), -v.unsqueeze(0), lr, eps, cfg, g2)
        general.append(-c.net[:, 0])
    general = torch.stack(general).double()
    assert torch.equal(direct[:, 2], torch.zeros(4000, dtype=torch.float64))
    assert bool((direct * v.sign() >= 0).all())  # pulses only in the direction of v
    torch.testing.assert_close(direct.mean(0), general.mean(0), atol=0.15, rtol=0.03)
    torch.testing.assert_close(direct.var(0), general.var(0), atol=0.3, rtol=0.1)
    # expected change lr·v/ε pulses (BL management keeps every probability ≤ 1 here)
    torch.testing.assert_close(direct.mean(0), lr * v.double() / eps, atol=0.15, rtol=0.03)


@pytest.mark.parametrize("update_management", [True, False])
def test_line_counts_when_the_input_line_saturates(update_management: bool) -> None:
    """lr·max|v|/ε above the bit length (or no update management) drives the input line
    with p_x = 1: it must fire in every slot (regression: an int16 threshold of 2¹⁵ wrapped
    around and the transfer wrote nothing)."""
    from aimc.onchip.pulses import count_pulses, line_counts

    v = torch.tensor([0.5, -0.3, 0.2, 0.05])
    cfg = PulseUpdate(desired_bl=8, update_management=update_management)
    lr, eps = 0.1, 1e-3
    g1, g2 = seeded(0), seeded(1)
    direct = torch.stack([line_counts(v, lr, eps, cfg, g1) for _ in range(2000)]).double()
    general = torch.stack([-count_pulses(torch.ones(1, 1), -v.unsqueeze(0), lr, eps, cfg,
                                         g2).net[:, 0] for _ in range(2000)]).double()
    torch.testing.assert_close(direct.mean(0), general.mean(0), atol=0.2, rtol=0.03)
    assert float(direct[:, 0].mean()) == 8.0  # saturated: every slot of the 8


def test_update_management_with_an_all_zero_input_row_stays_finite() -> None:
    """A sample whose input row is all zero (and whose δ is huge) contributes nothing, and
    must not turn the probabilities of the whole update into NaN."""
    x, d = torch.randn(4000, 30), torch.randn(4000, 20) * 0.1
    x[0], d[0] = 0.0, 5e8
    p = pulse_probabilities(x, d, 0.01, 0.001, PulseUpdate(mode="fast"))
    assert bool(torch.isfinite(p.px).all()) and bool(torch.isfinite(p.pd).all())
    from aimc.onchip.pulses import count_pulses

    c = count_pulses(x, d, 0.01, 0.001, PulseUpdate(mode="fast"), seeded(0))
    assert int(c.total.sum()) > 0


def test_dense_counts_do_not_unpack_as_up_down() -> None:
    """count_pulses used to return (up, down): its DenseCounts result must not silently
    unpack into (total, net)."""
    from aimc.onchip.pulses import count_pulses

    c = count_pulses(torch.randn(8, 5), torch.randn(8, 4) * 0.1, 0.01, 0.001, PulseUpdate(),
                     seeded(0))
    with pytest.raises(TypeError):
        up, down = c  # noqa: F841
    up, down = c.up_down()
    assert torch.equal(up + down, c.total) and torch.equal(down - up, c.net)


@pytest.mark.parametrize("cfg", [
    ConstantStepDevice(dw_min=0.01, up_down=0.1, dw_min_std=0.3),
    SoftBoundsDevice(dw_min=0.01, up_down=-0.1, dw_min_std=0.3),
])
def test_small_dense_pulse_up_down_is_up_pass_then_down_pass(cfg) -> None:  # noqa: ANN001
    """A small array updated densely takes a full up pass, then a full down pass: with c2c
    noise the result is draw for draw that of pulse(up, +1) followed by pulse(down, −1)."""
    shape = (20, 30)  # ≤ _SMALL devices
    ref, fast = _pair(cfg, shape)
    up, down = _counts(shape, 11), _counts(shape, 12)
    fast.pulse_up_down(up.reshape(-1), down.reshape(-1), seeded(5))
    g = seeded(5)
    ref.pulse(up, +1, g)
    ref.pulse(down, -1, g)
    torch.testing.assert_close(fast.value, ref.value, rtol=0, atol=0)


def test_update_management_factor_for_nan_and_subnormal_rows() -> None:
    """A NaN or subnormal row maximum gets k = 1 (k cancels in p_x·p_δ): a NaN entry keeps
    its NaN to itself, a subnormal row stays finite, and the other samples' probabilities
    are those of the update without the odd rows."""
    g = seeded(4)
    x, d = torch.randn(6, 30, generator=g), torch.randn(6, 20, generator=g) * 0.1
    cfg = PulseUpdate(mode="exact", bl_management=False)
    clean = pulse_probabilities(x.clone(), d.clone(), 0.01, 0.001, cfg)
    x[0, 3] = math.nan
    x[1] = 0.0
    x[1, 0] = torch.finfo(torch.float32).tiny / 4
    p = pulse_probabilities(x, d, 0.01, 0.001, cfg)
    assert math.isnan(float(p.px[0, 3])) and int(torch.isnan(p.px).sum()) == 1
    assert bool(torch.isfinite(p.pd).all()) and bool(torch.isfinite(p.px[1]).all())
    torch.testing.assert_close(p.px[2:], clean.px[2:], rtol=0, atol=0)
    torch.testing.assert_close(p.pd[2:], clean.pd[2:], rtol=0, atol=0)
