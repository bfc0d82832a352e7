"""The spiking core against closed forms: LIF sub-threshold response, firing period with a
refractory period, exponential synapses, conductance membranes, adaptive threshold, traces,
encoders, and bad input (physics.md §4.3, §7.4)."""

from __future__ import annotations

import math

import pytest
import torch
from seeding import seeded

from aimc.config.snn import LIFNeuron, Trace, diehl_cook_excitatory, diehl_cook_inhibitory
from aimc.errors import ConfigError, ShapeError
from aimc.snn import (
    latency_spikes,
    lif_init,
    lif_step,
    lockout_steps,
    poisson_spikes,
    poisson_step,
    refractory_steps,
    regular_spikes,
    trace_step,
)

F64 = torch.float64
EPS = torch.finfo(F64).eps
CURRENT = LIFNeuron(synapse="current", tau_mem=20.0, v_rest=-65.0, v_reset=-70.0,
                    v_threshold=-50.0, refractory=2.0, tau_exc=5.0, tau_inh=10.0,
                    theta_plus=0.0, theta_init=0.0, tau_theta=math.inf)


def _run(params: LIFNeuron, dt: float, steps: int, *, current: float | torch.Tensor = 0.0,
         exc0: float = 0.0, shape: tuple[int, ...] = (1,)):
    state = lif_init(shape, params, dtype=F64)
    i_ext = torch.as_tensor(current, dtype=F64).expand(shape).contiguous()
    vs, spikes = [], []
    for k in range(steps):
        exc = torch.full(shape, exc0, dtype=F64) if k == 0 and exc0 else None
        s, state = lif_step(state, params, dt, exc=exc, current=i_ext)
        vs.append(state.v.clone())
        spikes.append(s)
    return torch.stack(vs), torch.stack(spikes), state


def _atol(steps: int, scale: float) -> float:
    """Each exact step rounds a few times (≤ 4 ulp of |v| ≤ scale); k steps add up to k·4 ulp."""
    return 4 * steps * EPS * scale


# ------------------------------------------------------------------ membrane, closed forms
@pytest.mark.parametrize("dt", [0.1, 0.5, 1.0, 3.0])
def test_subthreshold_response_to_a_constant_current_is_exact(dt: float) -> None:
    """v(t) = v_∞ + (v_rest − v_∞)·e^(−t/τ_m), v_∞ = v_rest + I (I = 10 mV stays below the
    15 mV to threshold), at every step end for any dt."""
    steps = int(round(60.0 / dt))
    v, s, _ = _run(CURRENT, dt, steps, current=10.0)
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    expected = -55.0 + (-65.0 + 55.0) * torch.exp(-t / 20.0)
    torch.testing.assert_close(v[:, 0], expected, rtol=0, atol=_atol(steps, 70.0))
    assert not s.any()


@pytest.mark.parametrize("dt,current", [(0.1, 20.0), (0.5, 20.0), (0.25, 40.0), (1.0, 30.0)])
def test_firing_period_with_refractory_is_exact_in_steps(dt: float, current: float) -> None:
    """From v_reset the membrane crosses v_th after T_s = τ·ln((v_∞ − v_reset)/(v_∞ − v_th));
    a spike is detected at the first step end past it, then ⌈t_ref/dt⌉ steps are held:
    every interspike interval is exactly (⌈t_ref/dt⌉ + ⌊T_s/dt⌋ + 1) steps (the first spike
    starts from v_rest, so intervals are counted from the first spike on)."""
    v_inf = -65.0 + current
    t_s = 20.0 * math.log((v_inf + 70.0) / (v_inf + 50.0))
    _, s, _ = _run(CURRENT, dt, int(200 / dt), current=current)
    times = torch.nonzero(s[:, 0]).flatten()
    isi = torch.diff(times)
    expected = refractory_steps(CURRENT, dt) + math.floor(t_s / dt) + 1
    assert len(isi) >= 3 and bool((isi == expected).all()), (isi.tolist(), expected)


def test_firing_rate_approaches_the_formula_as_dt_shrinks() -> None:
    """r = 1/(t_ref + τ·ln((v_∞ − v_reset)/(v_∞ − v_th))): with dt = 0.01 ms the period is
    quantised up by less than 2·dt (one step for the crossing, one for the refractory)."""
    current = 25.0
    v_inf = -65.0 + current
    period = 2.0 + 20.0 * math.log((v_inf + 70.0) / (v_inf + 50.0))
    dt = 0.01
    _, s, _ = _run(CURRENT, dt, int(100 / dt), current=current)
    times = torch.nonzero(s[:, 0]).flatten().double() * dt
    measured = float(torch.diff(times).mean())
    assert period <= measured < period + 2 * dt, (measured, period)


@pytest.mark.parametrize("tau_s", [5.0, 20.0, math.inf])
@pytest.mark.parametrize("dt", [0.25, 1.0])
def test_exponential_synapse_response_is_exact(tau_s: float, dt: float) -> None:
    """One input s₀ = 8 mV at t = 0: v(t) − v_rest = s₀·τ_s/(τ_s − τ_m)·(e^(−t/τ_s) −
    e^(−t/τ_m)); (s₀·t/τ_m)·e^(−t/τ_m) when τ_s = τ_m; s₀·(1 − e^(−t/τ_m)) when τ_s = ∞."""
    params = CURRENT.replace(tau_exc=tau_s)
    steps = int(40 / dt)
    v, _, _ = _run(params, dt, steps, exc0=8.0)
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    tm = 20.0
    if math.isinf(tau_s):
        psp = 8.0 * (1 - torch.exp(-t / tm))
    elif tau_s == tm:
        psp = 8.0 * t / tm * torch.exp(-t / tm)
    else:
        psp = 8.0 * tau_s / (tau_s - tm) * (torch.exp(-t / tau_s) - torch.exp(-t / tm))
    torch.testing.assert_close(v[:, 0] + 65.0, psp, rtol=0, atol=_atol(steps, 70.0))


def test_same_trajectory_for_any_dt() -> None:
    """Exact integration: dt = 0.5 and dt = 2.5 agree at their common times (sub-threshold,
    constant current, one synaptic input)."""
    v_fine, _, _ = _run(CURRENT, 0.5, 100, current=8.0, exc0=3.0)
    v_coarse, _, _ = _run(CURRENT, 2.5, 20, current=8.0, exc0=3.0)
    torch.testing.assert_close(v_fine[4::5, 0], v_coarse[:, 0], rtol=0, atol=_atol(100, 70.0))


def test_conductance_membrane_with_held_conductance_is_exact() -> None:
    """g_e held (τ_e = ∞): v → v_∞ = (v_rest + g·E_e)/(1 + g) with τ_eff = τ_m/(1 + g)."""
    params = diehl_cook_excitatory().replace(tau_exc=math.inf, theta_init=100.0,
                                             theta_plus=0.0)
    g = 0.2
    dt, steps = 0.5, 200
    v, s, _ = _run(params, dt, steps, exc0=g)
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    v_inf = (-65.0 + g * 0.0) / (1 + g)
    expected = v_inf + (-65.0 - v_inf) * torch.exp(-t * (1 + g) / 100.0)
    torch.testing.assert_close(v[:, 0], expected, rtol=0, atol=_atol(steps, 70.0))
    assert not s.any()


def test_conductance_membrane_converges_at_second_order() -> None:
    """A decaying conductance (τ_e = 1 ms, g₀ = 2) against a dt = 1e-3 ms reference at t = 2 ms:
    halving dt from 0.5 to 0.25 ms cuts the error by ≈ 4 (between 3 and 5)."""
    params = diehl_cook_excitatory().replace(theta_init=100.0, theta_plus=0.0)

    def v_at_2ms(dt: float) -> float:
        v, _, _ = _run(params, dt, int(round(2.0 / dt)), exc0=2.0)
        return float(v[-1, 0])

    ref = v_at_2ms(1e-3)
    e1, e2 = abs(v_at_2ms(0.5) - ref), abs(v_at_2ms(0.25) - ref)
    assert 3.0 < e1 / e2 < 5.0, (e1, e2)


def test_refractory_holds_reset_for_whole_steps() -> None:
    """After a spike v stays at v_reset for ⌈t_ref/dt⌉ steps whatever the input; 5 ms at
    dt 0.1 ms is 50 steps (no float drift from repeated subtraction)."""
    assert refractory_steps(CURRENT.replace(refractory=5.0), 0.1) == 50
    assert refractory_steps(CURRENT.replace(refractory=5.0), 0.3) == 17
    assert refractory_steps(CURRENT.replace(refractory=0.0), 0.5) == 0
    v, s, _ = _run(CURRENT, 0.5, 40, current=500.0)  # fires in the first steps
    first = int(torch.nonzero(s[:, 0])[0])
    held = v[first + 1:first + 1 + refractory_steps(CURRENT, 0.5), 0]
    assert bool((held == -70.0).all())
    assert float(v[first + 1 + refractory_steps(CURRENT, 0.5), 0]) > -70.0  # integrates again


def test_lockout_blocks_spikes_but_not_the_membrane() -> None:
    """lockout 5 ms, refractory 2 ms at dt 0.5 ms under a drive that takes v from reset
    across threshold in two steps: v is held for 4 steps, then integrates (rises above
    v_reset) but cannot spike for 10 steps after the spike: spikes every 11 steps, in the
    first step the counter frees. Without a lockout the same neuron fires every 6 steps
    (4 held + 2 rising), so a counter that forgot the lockout, or held v for the whole
    lockout (then 10 + 2 = 12), fails."""
    params = CURRENT.replace(lockout=5.0)
    assert lockout_steps(params, 0.5) == 10 and refractory_steps(params, 0.5) == 4
    assert lockout_steps(CURRENT, 0.5) == refractory_steps(CURRENT, 0.5)
    v, s, _ = _run(params, 0.5, 60, current=500.0)
    times = torch.nonzero(s[:, 0]).flatten().tolist()
    assert [b - a for a, b in zip(times[:-1], times[1:], strict=True)] == [11] * (len(times) - 1)
    first = times[0]
    assert bool((v[first + 1:first + 5, 0] == -70.0).all())      # held: refractory
    assert bool((v[first + 5:first + 11, 0] > -70.0).all())       # integrates, blocked
    _, s_free, _ = _run(CURRENT, 0.5, 60, current=500.0)
    t_free = torch.nonzero(s_free[:, 0]).flatten().tolist()
    assert t_free[1] - t_free[0] == 6


def test_adaptive_threshold_grows_per_spike_and_decays_exactly() -> None:
    """θ ← θ·e^(−dt/τ_θ) + θ_plus per spike; ``adapt=False`` keeps it from growing."""
    params = CURRENT.replace(theta_plus=0.5, tau_theta=100.0)
    state = lif_init((1,), params, dtype=F64)
    drive = torch.full((1,), 500.0, dtype=F64)
    spikes, state = lif_step(state, params, 1.0, current=drive)
    assert bool(spikes[0]) and float(state.theta[0]) == pytest.approx(0.5, abs=1e-15)
    _, state = lif_step(state, params, 1.0)  # refractory, no spike
    assert float(state.theta[0]) == pytest.approx(0.5 * math.exp(-0.01), rel=1e-14)
    frozen = lif_init((1,), params, dtype=F64)
    spikes, frozen = lif_step(frozen, params, 1.0, current=drive, adapt=False)
    assert bool(spikes[0]) and float(frozen.theta[0]) == 0.0


def test_batch_advances_independently() -> None:
    """A batch of three drives gives each sample's own single-sample trajectory, bit for bit."""
    drives = torch.tensor([[5.0, 20.0, 35.0]], dtype=F64)
    v_batch, s_batch, _ = _run(CURRENT, 0.5, 100, current=drives, shape=(1, 3))
    for j in range(3):
        v_one, s_one, _ = _run(CURRENT, 0.5, 100, current=float(drives[0, j]), shape=(1, 1))
        assert torch.equal(v_batch[:, 0, j], v_one[:, 0, 0])
        assert torch.equal(s_batch[:, 0, j], s_one[:, 0, 0])


def test_diehl_cook_neuron_constants() -> None:
    """physics.md §4.3: excitatory τ 100 ms, rest = reset −65 mV, effective threshold −52 mV
    (−72 + θ₀ 20), refractory 5 ms, τ_e 1 ms, τ_i 2 ms, E_i −100 mV, θ_plus 0.05 mV,
    τ_θ 10⁷ ms; inhibitory rest −60, reset −45, threshold −40 mV, τ 10 ms, refractory 2 ms,
    E_i −85 mV."""
    e = diehl_cook_excitatory()
    assert (e.tau_mem, e.v_rest, e.v_reset, e.v_threshold + e.theta_init, e.refractory,
            e.tau_exc, e.tau_inh, e.e_exc, e.e_inh, e.theta_plus, e.tau_theta) == (
        100.0, -65.0, -65.0, -52.0, 5.0, 1.0, 2.0, 0.0, -100.0, 0.05, 1e7)
    i = diehl_cook_inhibitory()
    assert (i.v_rest, i.v_reset, i.v_threshold, i.tau_mem, i.refractory, i.e_inh,
            i.theta_plus) == (-60.0, -45.0, -40.0, 10.0, 2.0, -85.0, 0.0)


# ------------------------------------------------------------------ traces
def test_trace_reset_and_additive_by_hand() -> None:
    """τ = 20 ms, dt = 1 ms, spikes in steps 0, 3, 4: reset mode 1, d, d², 1, 1, d (d =
    e^(−1/20)); additive 1, d, d², d³ + 1, d⁴ + d + 1, d⁵ + d² + d."""
    d = math.exp(-1 / 20)
    spikes = [True, False, False, True, True, False]
    for mode, expected in (("reset", [1, d, d**2, 1, 1, d]),
                           ("additive", [1, d, d**2, d**3 + 1, d**4 + d + 1,
                                         d**5 + d**2 + d])):
        x = torch.zeros(1, dtype=F64)
        got = []
        for s in spikes:
            x = trace_step(x, torch.tensor([s]), Trace(tau=20.0, mode=mode), 1.0)
            got.append(float(x[0]))
        assert got == pytest.approx(expected, rel=1e-14), mode


# ------------------------------------------------------------------ encoders
def test_poisson_counts_follow_the_binomial() -> None:
    """20 000 inputs at 40 Hz for 250 steps of 1 ms: count ~ Binomial(250, 0.04): mean 10
    within 5 SE (SE = sqrt(9.6/20000) = 0.022), variance 9.6 within 5 % (SE of a variance
    √(2/N) ≈ 1 % plus excess kurtosis ≈ 1.3 %); seeded draws repeat exactly."""
    rates = torch.full((20_000,), 40.0, dtype=F64)
    spikes = poisson_spikes(rates, 250, 1.0, generator=seeded(1))
    assert spikes.shape == (250, 20_000) and spikes.dtype == torch.bool
    counts = spikes.sum(0).double()
    assert float(counts.mean()) == pytest.approx(10.0, abs=5 * math.sqrt(9.6 / 20_000))
    assert float(counts.var()) == pytest.approx(9.6, rel=0.05)
    assert torch.equal(spikes, poisson_spikes(rates, 250, 1.0, generator=seeded(1)))
    assert not poisson_step(torch.zeros(10, dtype=F64), 1.0, generator=seeded(2)).any()


def test_regular_and_latency_codes() -> None:
    """Regular: ⌊T·r⌋ evenly spaced spikes (50 Hz over 100 ms at dt 1: steps 19, 39, …);
    latency: x = 1 spikes first, x = 0.5 halfway, x = 0 never."""
    reg = regular_spikes(torch.tensor([50.0, 0.0, 1000.0], dtype=F64), 100, 1.0)
    assert reg[:, 0].sum() == 5 and torch.nonzero(reg[:, 0]).flatten().tolist() == [
        19, 39, 59, 79, 99]
    assert not reg[:, 1].any() and bool(reg[:, 2].all())
    lat = latency_spikes(torch.tensor([1.0, 0.5, 0.0], dtype=F64), 11)
    assert lat.sum(0).tolist() == [1, 1, 0]
    assert torch.nonzero(lat[:, 0]).item() == 0 and torch.nonzero(lat[:, 1]).item() == 5


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("make,match", [
    (lambda: LIFNeuron(tau_mem=0.0), "tau_mem must be > 0"),
    (lambda: LIFNeuron(tau_exc=-1.0), "tau_exc must be > 0"),
    (lambda: LIFNeuron(v_threshold=-90.0, theta_init=0.0), "above v_reset"),
    (lambda: LIFNeuron(synapse="voltage"), "synapse must be one of"),
    (lambda: LIFNeuron(e_inh=10.0), "swap them"),
    (lambda: LIFNeuron(refractory=-1.0), "refractory must be >= 0"),
    (lambda: LIFNeuron(lockout=-1.0), "lockout must be a finite number of ms"),
    (lambda: LIFNeuron(lockout=math.inf), "or None for no lockout"),
    (lambda: LIFNeuron(refractory=5.0, lockout=2.0), "must be >= refractory"),
    (lambda: LIFNeuron(v_rest=math.nan), "must be finite"),
    (lambda: Trace(tau=0.0), "tau must be > 0"),
    (lambda: Trace(mode="pair"), "mode must be one of"),
])
def test_bad_parameters(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_step_inputs_leave_the_state_unchanged() -> None:
    state = lif_init((2, 3), CURRENT, dtype=F64)
    snapshot = [t.clone() for t in state]
    for kwargs, error, match in (
            ({"dt": 0.0}, ConfigError, "dt must be a finite time step > 0"),
            ({"dt": math.inf}, ConfigError, "dt must be a finite"),
            ({"dt": 6.0}, ConfigError, "exceeds the shortest time constant"),
            ({"exc": torch.zeros(3, dtype=F64)}, ShapeError, "shape"),
            ({"exc": torch.zeros(2, 3)}, ShapeError, "float32.*cast it"),
            ({"current": [1.0]}, ShapeError, "must be a tensor")):
        dt = kwargs.pop("dt", 0.5)
        with pytest.raises(error, match=match):
            lif_step(state, CURRENT, dt, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(state, snapshot, strict=True))
    with pytest.raises(ShapeError, match="floating point"):
        lif_init((2,), CURRENT, dtype=torch.int64)


def test_bad_encoder_and_trace_inputs() -> None:
    r = torch.full((3,), 10.0)
    with pytest.raises(ConfigError, match="finite and >= 0"):
        poisson_spikes(torch.tensor([-1.0]), 10, 1.0)
    with pytest.raises(ConfigError, match="exceeds one spike per step"):
        poisson_step(torch.tensor([2000.0]), 1.0)
    with pytest.raises(ShapeError, match="floating-point tensor"):
        poisson_step(torch.tensor([1, 2]), 1.0)
    with pytest.raises(ConfigError, match="steps must be an integer"):
        poisson_spikes(r, 0, 1.0)
    with pytest.raises(ConfigError, match="dt must be"):
        regular_spikes(r, 10, -1.0)
    with pytest.raises(ConfigError, match=r"values in \[0, 1\]"):
        latency_spikes(torch.tensor([1.5]), 10)
    with pytest.raises(ShapeError, match="bool tensor"):
        trace_step(torch.zeros(3), torch.ones(3), Trace(), 1.0)
    with pytest.raises(ShapeError, match="one flag per neuron"):
        trace_step(torch.zeros(3), torch.ones(2, dtype=torch.bool), Trace(), 1.0)


# ------------------------------------------------------------------ monitors and raster
def test_monitors_record_what_the_kernel_emits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Spike and state monitors hold exactly the kernel's per-step outputs; counts-only
    keeps the sums; the raster PNG is written."""
    from aimc.errors import StateError
    from aimc.snn import SpikeMonitor, StateMonitor

    params = CURRENT
    state = lif_init((2, 3), params, dtype=F64)
    drive = torch.tensor([[0.0, 20.0, 40.0], [30.0, 0.0, 25.0]], dtype=F64)
    full, counts, volts = SpikeMonitor(), SpikeMonitor(counts_only=True), StateMonitor()
    emitted = []
    for _ in range(200):
        s, state = lif_step(state, params, 0.5, current=drive)
        full.record(s)
        counts.record(s)
        volts.record(state.v)
        emitted.append(s)
    assert torch.equal(full.spikes, torch.stack(emitted))
    assert torch.equal(counts.counts, torch.stack(emitted).sum(0))
    assert volts.values.shape == (200, 2, 3) and float(volts.values.max()) <= -50.0
    assert int(counts.counts[0, 0]) == 0 and int(counts.counts[0, 2]) > 0
    with pytest.raises(StateError, match="counts only"):
        _ = counts.spikes
    with pytest.raises(ShapeError, match="one monitor per population"):
        full.record(torch.zeros(5, dtype=torch.bool))
    with pytest.raises(StateError, match="nothing yet"):
        _ = SpikeMonitor().counts
    pytest.importorskip("matplotlib")
    from aimc.plotting import plot_raster

    out = tmp_path / "raster.png"
    plot_raster(full.spikes[:, 0], 0.5, voltages=volts.values[:, 0], path=out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ShapeError, match="steps, neurons"):
        plot_raster(full.spikes, 0.5)
