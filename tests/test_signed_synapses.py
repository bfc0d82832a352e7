"""Signed synapse arrays for NormAD: pulses from requested updates (χ accumulator), SET-only
differential PCM with N devices per sign, drift and array-level scaling, the bipolar
memristor, checkpoints and bad input."""

from __future__ import annotations

import pytest
import torch

from aimc.config.pulsed import PCMPulseDevice, SoftBoundsDevice
from aimc.errors import CheckpointError, ConfigError, ShapeError
from aimc.snn.signed_synapses import (
    PCM_DRIFT_NU,
    PCM_DRIFT_T0,
    IdealSignedSynapses,
    MemristorSignedSynapses,
    PCMSignedSynapses,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pcm(n: int = 1, **kw) -> PCMSignedSynapses:
    return PCMSignedSynapses(6, 5, devices_per_sign=n, generator=_gen(), **kw)


def test_ideal_synapses_apply_the_update_exactly() -> None:
    s = IdealSignedSynapses(3, 2, w_max=5.0, dtype=torch.float64)
    dw = torch.tensor([[1.0, -2.0], [0.25, 0.0], [9.0, -9.0]], dtype=torch.float64)
    assert s.program(dw) == 0
    torch.testing.assert_close(s.read(), dw.clamp(-5.0, 5.0), rtol=0, atol=0)


def test_pcm_starts_near_zero_and_sets_only_the_side_of_the_update_sign() -> None:
    s = _pcm(read_noise=False, drift=False)
    assert float(s.read().abs().max()) < 0.2  # both sides RESET: G⁺ ≈ G⁻ ≈ 0.1 µS
    minus_before = s.cells.minus[0].value.clone()
    plus_before = s.cells.plus[0].value.clone()
    dw = torch.zeros(6, 5)
    dw[0, 0] = 3.5 * s.epsilon_w
    sent = s.program(dw)
    assert sent == 3  # trunc(3.5) pulses, 0.5·ε_w left in χ
    assert float(s.chi[0, 0]) == pytest.approx(0.5 * s.epsilon_w, rel=1e-9)
    assert torch.equal(s.cells.minus[0].value, minus_before)
    changed = s.cells.plus[0].value != plus_before
    assert changed.sum() == 1 and bool(changed[0, 0])
    dw[0, 0] = -2.0 * s.epsilon_w
    s.program(dw)  # χ = 0.5 − 2 = −1.5 ε → one SET on G⁻
    assert int((s.cells.minus[0].value != minus_before).sum()) == 1
    assert s.pulses == 4


def test_rounding_mode_drops_the_remainder() -> None:
    s = _pcm(accumulate=False, read_noise=False, drift=False)
    dw = torch.full((6, 5), 0.4 * s.epsilon_w)
    assert s.program(dw) == 0 and s.program(dw) == 0  # never reaches a pulse
    s2 = _pcm(read_noise=False, drift=False)
    assert s2.program(dw) == 0 and s2.program(dw) == 0 and s2.program(dw) == 30


def test_programming_never_exceeds_the_device_bounds() -> None:
    s = _pcm(read_noise=False, drift=False, refresh_every=0)
    for _ in range(40):
        s.program(torch.full((6, 5), 5 * s.epsilon_w))
    for d in s.cells.devices:
        assert float(d.value.max()) <= 1.0 and float(d.value.min()) >= 0.1 / 12.0 - 1e-7
    assert float(s.read().max()) <= s.w_max


def test_multi_device_synapses_take_the_devices_in_turn() -> None:
    s = _pcm(n=4, read_noise=False, drift=False, refresh_every=0)
    before = [d.value.clone() for d in s.cells.plus]
    dw = torch.zeros(6, 5)
    dw[1, 2] = s.epsilon_w
    for k in range(4):
        s.program(dw)
        hit = [bool((d.value != b)[1, 2]) for d, b in zip(s.cells.plus, before, strict=True)]
        assert hit == [i <= k for i in range(4)]
    assert s.epsilon_w == pytest.approx(s.w_max * 0.75 / 12.0 / 4)


def test_drift_follows_the_power_law_and_scaling_restores_the_mean() -> None:
    s = _pcm(n=2, read_noise=False)
    g = _gen(5)
    for _ in range(5):
        s.program(torch.randn(6, 5, generator=g) * 4 * s.epsilon_w, t_s=0.0)
    w0 = s.read(PCM_DRIFT_T0)  # first read: the reference of the drift model
    s.calibrate(PCM_DRIFT_T0)
    t = 86400.0
    factor = (t / PCM_DRIFT_T0) ** -PCM_DRIFT_NU
    # every device was RESET or programmed at t = 0, so drift is one common factor
    # (float32 products: a few ulp of |w| ≤ 20 mV)
    torch.testing.assert_close(s.read(t), w0 * factor, rtol=0, atol=1e-5)
    torch.testing.assert_close(s.read(t, scaled=True), w0, rtol=0, atol=1e-5)
    assert s.read(1.0).equal(s.read(PCM_DRIFT_T0))  # no drift before T₀
    # a device programmed later drifts from its own programming time
    before = [d.value.clone() for d in s.cells.devices]
    s.program(torch.full((6, 5), 2 * s.epsilon_w), t_s=1000.0)
    for d, b, tp in zip(s.cells.devices, before, s.t_prog, strict=True):
        assert torch.equal(tp == 1000.0, d.value != b)


def test_read_noise_has_the_model_spread() -> None:
    """σ = m₃·G + c₃ per device; at G⁺ = G⁻ = G_reset the weight's σ is
    w_max·√2·(0.03·0.1 + 0.13)/12 µS-normalised. 4000 draws: the sample σ is within 5 %
    (5σ of its own standard error, 1/√(2·4000) = 1.1 %)."""
    s = PCMSignedSynapses(40, 100, generator=_gen(1), drift=False)
    clean = PCMSignedSynapses(40, 100, generator=_gen(1), drift=False, read_noise=False)
    noise = s.read() - clean.read()
    g = clean.cells.plus[0].value
    expected = (s.w_max * (2 ** 0.5) * (0.03 * g * 12.0 + 0.13) / 12.0).mean()
    assert float(noise.std()) == pytest.approx(float(expected), rel=0.05)


def test_memristor_synapses_move_both_ways_within_bounds() -> None:
    s = MemristorSignedSynapses(4, 3, generator=_gen(2))
    w0 = s.read().clone()
    up = torch.zeros(4, 3)
    up[0] = 3 * s.epsilon_w
    up[1] = -3 * s.epsilon_w
    assert s.program(up) == 18
    w1 = s.read()
    assert bool((w1[0] > w0[0]).all()) and bool((w1[1] < w0[1]).all())
    assert torch.equal(w1[2:], w0[2:])
    for _ in range(100):
        s.program(torch.full((4, 3), 10 * s.epsilon_w))
    assert bool((s.g <= s.params.g_max).all())


@pytest.mark.parametrize("make", [lambda: _pcm(n=2), lambda: MemristorSignedSynapses(
    6, 5, generator=_gen(3)), lambda: IdealSignedSynapses(6, 5)])
def test_checkpoint_resume_is_bit_exact(make) -> None:  # noqa: ANN001
    a = make()
    g = _gen(7)
    steps = [torch.randn(6, 5, generator=g) * 3.0 for _ in range(6)]
    for dw in steps[:3]:
        a.program(dw, t_s=1.0)
    b = make()
    b.load_state_dict(a.state_dict())
    for dw in steps[3:]:
        a.program(dw, t_s=2.0)
        b.program(dw, t_s=2.0)
    assert torch.equal(a.read(100.0, generator=_gen(9)), b.read(100.0, generator=_gen(9)))


def test_signed_synapses_bad_input() -> None:
    s = _pcm()
    with pytest.raises(ShapeError, match=r"\(6, 5\)"):
        s.program(torch.zeros(5, 6))
    with pytest.raises(ShapeError, match="finite"):
        s.program(torch.full((6, 5), float("nan")))
    with pytest.raises(ConfigError, match="seconds"):
        s.read(-1.0)
    with pytest.raises(ConfigError, match="calibrate"):
        s.read(5.0, scaled=True)
    with pytest.raises(ConfigError, match="PCMPulseDevice"):
        PCMSignedSynapses(2, 2, device=SoftBoundsDevice())
    with pytest.raises(CheckpointError, match="another network"):
        s.load_state_dict(IdealSignedSynapses(6, 5).state_dict())
    with pytest.raises(CheckpointError, match="another network"):
        s.load_state_dict(_pcm(n=2).state_dict())
    with pytest.raises(CheckpointError, match="another network"):
        IdealSignedSynapses(6, 4).load_state_dict(IdealSignedSynapses(6, 5).state_dict())
    with pytest.raises(ConfigError, match="pulse_dt"):
        MemristorSignedSynapses(2, 2, pulse_dt=500.0)
    with pytest.raises(ConfigError, match="w_max"):
        PCMSignedSynapses(2, 2, w_max=0.0, device=PCMPulseDevice())
