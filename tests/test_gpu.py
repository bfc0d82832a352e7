"""GPU tier (``pytest -m gpu``; skipped without CUDA): the ideal limit holds on CUDA within
the summation-order bound, and CUDA draws follow the same distributions as the CPU ones.

TF32 is switched off for these tests: with it, cuBLAS/cuDNN round the factors to 10-bit
mantissas, a different arithmetic than the float32 one the bound of ``float_bounds`` assumes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import pytest
import torch
from float_bounds import assert_close_sum_order
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc import presets
from aimc.config import Converter
from aimc.config.device import PCMNoiseModel
from aimc.nn import AnalogConv2d, AnalogLinear, AnalogLSTM
from aimc.optim import AnalogSGD
from aimc.physics.devices import programming_noise
from aimc.physics.geometry import LinearGeometry
from aimc.physics.mvm import crossbar_mvm

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _no_tf32() -> Iterator[None]:
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    seed_everything(0)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _forward_and_grads(module: nn.Module, x: torch.Tensor, grad_seed: int
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    x = x.detach().clone().requires_grad_(True)
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    g = torch.randn(out.shape, generator=seeded(grad_seed, x.device), device=x.device)
    (out * g).sum().backward()
    assert x.grad is not None
    return out.detach(), x.grad, {n: p.grad for n, p in module.named_parameters()
                                  if p.grad is not None}


@pytest.mark.parametrize("kind", ["linear", "conv2d", "lstm"])
def test_ideal_limit_on_cuda(kind: str) -> None:
    """Noise off → the torch layer's forward and gradients on the same GPU. N: the longest
    sum (linear fan-in 600; conv 8·3·3 = 72 per output, weight grads over 2·10·10 = 200
    positions; LSTM 20 inputs + 16 hidden, 6 recurrent steps as stages)."""
    if kind == "linear":
        ref, cls, x, terms, stages = nn.Linear(600, 7), AnalogLinear, torch.randn(5, 600), 600, 1
    elif kind == "conv2d":
        ref, cls, x = nn.Conv2d(8, 4, 3, padding=1), AnalogConv2d, torch.randn(2, 8, 10, 10)
        terms, stages = 200, 1
    else:
        ref, cls, x = nn.LSTM(20, 16), AnalogLSTM, torch.randn(6, 3, 20)
        terms, stages = 36 * 3, 6
    ref = ref.to(CUDA)
    analog = cls.from_float(copy.deepcopy(ref), presets.ideal()).to(CUDA)
    x = x.to(CUDA)
    out_r, gx_r, gp_r = _forward_and_grads(ref, x, 1)
    out_a, gx_a, gp_a = _forward_and_grads(analog, x, 1)
    assert out_a.device.type == "cuda"
    assert_close_sum_order(out_a, out_r, terms, stages, "output")
    assert_close_sum_order(gx_a, gx_r, terms, stages, "input grad")
    assert gp_r.keys() == gp_a.keys()
    for name, g in gp_r.items():
        assert_close_sum_order(gp_a[name], g, terms, stages, f"grad {name}")


def test_programming_noise_statistics_on_cuda() -> None:
    """10⁶ devices at ĝ_T = 0.5 on CUDA: sample std = σ_prog/g_max = 0.9527/25 (physics.md
    §7.1) within 1 % (standard error 0.07 %), as on the CPU (test_pcm_model)."""
    g = torch.full((1_000_000,), 0.5, dtype=torch.float64, device=CUDA)
    g_prog = programming_noise(g, PCMNoiseModel(), generator=seeded(2, CUDA))
    assert g_prog.device.type == "cuda"
    assert float(g_prog.std()) == pytest.approx(0.9527 / 25, rel=0.01)
    assert float(g_prog.mean()) == pytest.approx(0.5, abs=2.5e-4)


def test_crossbar_noise_variance_on_cuda() -> None:
    """The rasch2023 periphery with open converters on CUDA: Var(y − W·x) =
    0.0175²·Σ|w|x² + 0.04² within 5 % per column (40 000 draws: SE 0.7 %)."""
    inf = Converter(steps=None, bound=math.inf)
    io = presets.rasch2023().forward.replace(dac=inf, adc=inf, ir_drop=None)
    rows, out, n = 64, 6, 40_000
    g = seeded(11, CUDA)
    w = torch.rand(1, out, rows, generator=g, dtype=torch.float64, device=CUDA) * 2 - 1
    x = torch.rand(rows, generator=g, dtype=torch.float64, device=CUDA) * 2 - 1
    y = crossbar_mvm(x.expand(1, n, -1).contiguous(), w, io,
                     LinearGeometry(in_features=rows, out_features=out, max_rows=rows),
                     generator=seeded(12, CUDA))
    var = (y[0] - x @ w[0].t()).var(dim=0)
    expected = 0.0175**2 * (w[0].abs() * x**2).sum(dim=1) + 0.04**2
    torch.testing.assert_close(var, expected, rtol=0.05, atol=0)


def test_programmed_weights_agree_between_cpu_and_cuda() -> None:
    """The same layer programmed on CPU and on CUDA (independent streams): the relative
    weight errors have the same spread. 200×300 weights; the std of a sample std is
    σ/√(2N) ≈ 0.3 % of σ per device, so the two differ by < 5·√2·0.3 % ≈ 2 %."""
    ref = nn.Linear(300, 200)
    errors = []
    for device in ("cpu", "cuda"):
        layer = AnalogLinear.from_float(copy.deepcopy(ref), presets.rasch2023()).to(device)
        layer.eval()
        aimc.program(layer, generator=seeded(3, device))
        with torch.no_grad():
            w = layer.read_weights()
        scale = ref.weight.detach().abs().amax(dim=1, keepdim=True).to(device)
        errors.append(((w - ref.weight.detach().to(device)) / scale).cpu())
    cpu, cuda = errors
    assert float(cuda.std()) == pytest.approx(float(cpu.std()), rel=0.02)
    assert abs(float(cuda.mean()) - float(cpu.mean())) < 5 * float(cpu.std()) / math.sqrt(
        cpu.numel() / 2)


def test_onchip_training_step_on_cuda() -> None:
    """Mixed precision on the PCM pair trains on the GPU: 20 steps on a teacher's outputs
    cut the loss below 0.5 of its start, and pulses were counted."""
    cfg = presets.onchip_mixed_precision()
    teacher = nn.Linear(8, 3).to(CUDA)
    x = torch.randn(64, 8, device=CUDA)
    with torch.no_grad():
        y = teacher(x)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(8, 3)), cfg).to(CUDA).train()
    opt = AnalogSGD(model.parameters(), lr=0.1)
    with torch.no_grad():
        first = float((model(x) - y).pow(2).mean())
    for _ in range(20):
        opt.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        opt.step()
    with torch.no_grad():
        last = float((model(x) - y).pow(2).mean())
    assert last < 0.5 * first, (first, last)
    state = next(iter(model[0].tile_weights()))[1].onchip
    assert state.counters["pulses"] > 0


def test_diehl_cook_fast_path_equals_the_reference_on_cuda() -> None:
    """The event-driven Diehl & Cook simulation on CUDA (torch code path) against the plain
    step-by-step reference on CUDA, same CUDA generator: the same counts, weights and
    thresholds bit for bit (as on CPU, tests/test_diehl_cook_fast.py); a batched evaluation
    on CUDA equals the reference too."""
    from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings

    s = DiehlCookSettings(n_neurons=16, dt=1.0, t_present=120.0, t_rest=0.0)

    def gen(seed: int) -> torch.Generator:
        return torch.Generator(device="cuda").manual_seed(seed)

    ref = DiehlCookNetwork(s, generator=gen(0), device=CUDA)
    fast = DiehlCookNetwork(s, generator=gen(0), device=CUDA)
    g = seeded(1)
    x = (torch.rand(8, 784, generator=g) * (torch.rand(8, 784, generator=g) < 0.2)).to(CUDA)
    g_ref, g_fast = gen(3), gen(3)
    for i in range(5):
        c_ref = ref.present(x[i:i + 1], learn=True, generator=g_ref, reference=True)
        c_fast = fast.present(x[i:i + 1], learn=True, generator=g_fast)
        assert torch.equal(c_ref, c_fast), i
    assert torch.equal(ref.weights, fast.weights) and torch.equal(ref.theta, fast.theta)
    assert fast.weights.device.type == "cuda"
    e_ref = ref.present(x, learn=False, generator=gen(4), reference=True)
    e_fast = fast.present(x, learn=False, generator=gen(4))
    assert torch.equal(e_ref, e_fast) and int(e_fast.sum()) > 8 * s.min_spikes


@pytest.mark.parametrize("explicit", [True, False])
def test_programming_record_redraws_on_cuda_bit_for_bit(explicit: bool) -> None:
    """The recipe of a CUDA-programmed layer (CUDA generator state) redraws its devices
    exactly; a CPU-programmed layer moved to CUDA redraws on the CPU and moves them."""
    from aimc.physics.mapping import conductances_to_weights

    layer = AnalogLinear(300, 20, config=presets.rasch2023()).to(CUDA).eval()
    gen = torch.Generator(device=CUDA).manual_seed(3) if explicit else None
    if not explicit:
        torch.cuda.manual_seed(3)
    layer.program(generator=gen)
    # right after programming, weight_now is the first draw read out without noise
    g, nu = layer.tiles.programmed_devices()
    assert g.device.type == "cuda" and nu.dtype == torch.float16
    assert torch.equal(layer.tiles.weight_now, conductances_to_weights(g))
    cpu = AnalogLinear(300, 20, config=presets.rasch2023()).eval()
    cpu.program(generator=torch.Generator().manual_seed(4))
    g_cpu, nu_cpu = cpu.tiles.programmed_devices()
    cpu.to(CUDA)
    g_moved, nu_moved = cpu.tiles.programmed_devices()
    assert g_moved.device.type == "cuda"
    assert torch.equal(g_moved.cpu(), g_cpu) and torch.equal(nu_moved.cpu(), nu_cpu)
    cpu.set_time(3600.0)  # drift and read noise on CUDA from the moved devices
    assert cpu.tiles.weight_now.device.type == "cuda"
