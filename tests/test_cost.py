"""The cost model (aimc.cost): counters against hand counts, energy formulas, laws, schedule.

Float tolerances: counts of exact dyadic inputs (multiples of 1/127 with small integer
weights) are sums of a few hundred float32 products; relative error ≤ n·2⁻²⁴ ≈ 1e-5, so
rel=1e-5 holds on every CPU (float64 accumulation of float32 per-call sums).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aimc
from aimc import cost
from aimc.config import (
    AnalogConfig,
    Converter,
    IdealDevice,
    IOConfig,
    Mapping,
    NoBoundManagement,
    NoCompensation,
    NoNoiseManagement,
    PerColumnScaling,
    TileSplit,
)
from aimc.config.accelerator import LayerSerialAccelerator
from aimc.config.cost import SARADC, CostTable, CountingADC, DigitalCosts, SRAMCosts
from aimc.errors import ConfigError, StateError
from aimc.physics.periphery import noise_management_scale

G_MAX = 25e-6


def _reference_dac_input(tiles: Any, x_tiles: torch.Tensor, learned_range: bool = False
                         ) -> torch.Tensor:
    """Plain reference: the DAC output x̂ in full-scale units, step by step (no noise).

    ``learned_range``: training with a learned input range r clips x to ±r first.
    """
    io = tiles.config.forward
    g = tiles.geometry
    x = x_tiles.detach()
    if tiles.input_range is not None:
        r = g.per_tile_in(tiles.input_range.detach())
        x = (x.clamp(-r, r) if learned_range else x) / r
    scale = noise_management_scale(x, io.noise_management, g.in_vector_dims)
    if not isinstance(scale, float) or scale != 1.0:
        x = x / scale
    d = io.dac
    if d.clips:
        x = x.clamp(d.low, d.bound)
    if d.steps is not None:
        u = d.step_size
        x = torch.round(x / u) * u
    return x


def _config(max_rows: int = 2, dac_steps: int | None = 254, adc_steps: int = 254
            ) -> AnalogConfig:
    """Exact devices, 8-bit converters, no noise: the counts are fully predictable."""
    return AnalogConfig(
        device=IdealDevice(g_max=G_MAX),
        forward=IOConfig(dac=Converter(steps=dac_steps, bound=1.0),
                         adc=Converter(steps=adc_steps, bound=1000.0),
                         inp_noise=0.0, out_noise=0.0, read_noise=0.0, ir_drop=None,
                         noise_management=NoNoiseManagement(),
                         bound_management=NoBoundManagement()),
        mapping=Mapping(weight_scaling=PerColumnScaling(), tiles=TileSplit(max_rows=max_rows)),
        input_range=None, drift_compensation=NoCompensation())


def _two_layer_model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    with torch.no_grad():  # small integer weights: exact normalisation
        m[0].weight.copy_(torch.tensor([[1., -2., 0., 4.], [3., 1., -1., 0.], [0., 0., 2., -2.]]))
        m[1].weight.copy_(torch.tensor([[1., 2., -1.], [-2., 0., 1.]]))
    return m


def _hand_counts(x: torch.Tensor, w: torch.Tensor, max_rows: int) -> dict[str, float]:
    """Per-tile loops over an (N, in) input and (out, in) weight, no geometry code."""
    n_in = w.shape[1]
    tiles = math.ceil(n_in / max_rows)
    rows = math.ceil(n_in / tiles)
    u = 2.0 / 254
    xq = torch.round(x.clamp(-1, 1) / u) * u
    counts = {"input_abs": 0.0, "active_rows": 0.0, "charge": 0.0}
    for t in range(tiles):
        cols = slice(t * rows, min((t + 1) * rows, n_in))
        wt = w[:, cols]
        scale = wt.abs().amax(dim=1, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        gsum = (wt / scale).abs().sum(dim=0)  # Σ over columns of ĝ⁺ + ĝ⁻ per row
        xt = xq[:, cols]
        counts["input_abs"] += float(xt.abs().sum())
        counts["active_rows"] += float((xt != 0).sum())
        counts["charge"] += float((xt.abs() * gsum).sum())
    return counts


def test_counters_equal_hand_counts_two_layers_two_tiles():
    model = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=2))
    aimc.program(model, generator=torch.Generator().manual_seed(1))
    x = torch.tensor([[10., -20., 0., 127.], [0., 5., 64., -1.], [3., 0., 0., 0.]]) / 127
    seen = {}
    model[1].register_forward_pre_hook(lambda mod, args: seen.update(x1=args[0].detach()))
    with cost.count_costs(model) as counts:
        model(x)
    layers = counts.layers()
    assert [ly.name for ly in layers] == ["0", "1"]
    for layer, inp, w in ((layers[0], x, model[0].weight), (layers[1], seen["x1"],
                                                              model[1].weight)):
        assert layer.tiles == 2 and layer.vectors == 3 and layer.samples == 3
        hand = _hand_counts(inp, w.detach(), 2)
        assert layer.input_abs == pytest.approx(hand["input_abs"], rel=1e-5)
        assert layer.active_rows == hand["active_rows"]
        assert layer.charge == pytest.approx(hand["charge"], rel=1e-5)
        assert layer.conversions == 3 * 2 * w.shape[0]
        assert layer.partial_sums == 3 * 1 * w.shape[0]
        assert layer.macs == 3 * w.numel()


def test_conv_counters_equal_unfolded_hand_counts():
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=2, bias=False)
    model = aimc.convert_to_analog(nn.Sequential(conv), _config(max_rows=18))  # 2 tiles
    aimc.program(model)
    x = torch.randint(-127, 128, (2, 3, 7, 7)).float() / 127
    with cost.count_costs(model) as counts:
        model(x)
    (layer,) = counts.layers()
    assert layer.tiles == 2 and layer.rows == 18  # channels split 2 + 1 (padded)
    cols = F.unfold(x, 3, padding=1, stride=2)  # (B, 27, L), rows ordered (c, kh, kw)
    positions = cols.shape[-1]
    assert layer.vectors == 2 * positions
    w = conv.weight.detach().reshape(4, 27)
    charge = 0.0
    for ch in ((0, 1), (2,)):  # the tiles' input channels
        idx = [c * 9 + k for c in ch for k in range(9)]
        wt = w[:, idx]
        gsum = (wt / wt.abs().amax(dim=1, keepdim=True)).abs().sum(0)
        charge += float((cols[:, idx].abs() * gsum[None, :, None]).sum())
    assert layer.input_abs == pytest.approx(float(cols.abs().sum()), rel=1e-5)
    assert layer.active_rows == float((cols != 0).sum())
    assert layer.charge == pytest.approx(charge, rel=1e-5)
    assert layer.macs == 2 * positions * 27 * 4


def test_array_energy_equals_v2_t_sum_x_sum_g():
    """One tile: E = V²·t_LSB·Σ_i |x_i| (LSB) · Σ_j (G⁺+G⁻)_ij in siemens."""
    w = torch.tensor([[1., -0.5, 0.25], [0.5, 1., -1.]])
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    model = aimc.convert_to_analog(nn.Sequential(lin), _config(max_rows=8))
    aimc.program(model)
    x = torch.tensor([[127., -64., 0.]]) / 127
    report = cost.measure(model, x)
    gsum = (w / w.abs().amax(1, keepdim=True)).abs().sum(0) * G_MAX  # S per row
    lsb = torch.tensor([127., 64., 0.])
    a = CostTable().array
    expected = a.v_read**2 * a.t_lsb * float((lsb * gsum).sum())
    assert report.breakdown["array"] == pytest.approx(expected, rel=1e-6)
    assert report.breakdown["wordlines"] == pytest.approx(2 * a.c_wordline * a.v_dd**2)


def test_drift_lowers_array_energy():
    torch.manual_seed(3)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(64, 32)), aimc.presets.rasch2023())
    x = torch.rand(16, 64)
    aimc.calibrate_input_ranges(model, [x])
    aimc.program(model, generator=torch.Generator().manual_seed(4))
    energies = []
    for t in (1.0, 86400.0 * 30):
        with aimc.at_time(model, t, generator=torch.Generator().manual_seed(5)):
            energies.append(cost.measure(model, x).breakdown["array"])
    # PCM drift ν ≈ 0.05 on average: ((2.6e6 + 20)/(21))^-0.05 ≈ 0.56 of the conductance;
    # read noise (~1 % per device, averaged over 2·64·32 devices) cannot undo that
    assert energies[1] < 0.8 * energies[0]


def test_adc_laws_scale_with_bits():
    b = CountingADC()
    assert b.energy(4) / b.energy(8) == pytest.approx(1 / 16)
    assert b.time(8) == pytest.approx(256 * 0.3e-9)
    # anchor: 10.5 TOPS/W on 256 rows = 2·256/10.5 pJ per 8-bit column conversion
    assert b.energy(8) == pytest.approx(2 * 256 / 10.5e12)
    a = SARADC()
    assert a.energy(8) == pytest.approx(0.362e-12)
    assert a.energy(8) / a.energy(4) == pytest.approx(0.362 / 0.195)
    assert a.energy(4) < a.energy(5) < a.energy(6) < a.energy(7) < a.energy(8)
    assert a.time(6) == pytest.approx(6e-9)
    d = DigitalCosts()
    assert d.add(16) == pytest.approx(0.05e-12 * 0.15)
    assert d.mult(8) == pytest.approx(0.2e-12 * 0.15)
    assert SRAMCosts().per_bit(32 * 1024) == pytest.approx(20e-12 * 0.15 / 64)


def test_layer_serial_latency_is_sum_of_layer_mvm_times():
    model = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=2))
    aimc.program(model)
    x = torch.full((5, 4), 0.5)
    acc = LayerSerialAccelerator(phases=2)
    report = cost.measure(model, x, accelerator=acc)
    t_mvm = 2 * (127 * 1e-9 + 256 * 0.3e-9)  # P·(n_LSB·t_LSB + 2^8·0.3 ns)
    assert [ly.latency for ly in report.layers] == pytest.approx([t_mvm, t_mvm])
    assert report.latency == pytest.approx(2 * t_mvm)
    assert report.control == pytest.approx(2 * t_mvm * 1e9 * 0.5e-12)
    # column-multiplexed ADCs: layer 0's two 2x3 tiles share one array (6 columns); with 2
    # ADCs a one-phase MVM takes 3 conversion steps
    muxed = cost.measure(model, x, accelerator=LayerSerialAccelerator(adcs_per_array=2))
    assert muxed.layers[0].latency == pytest.approx(3 * t_mvm / 2)
    # an unsigned 8-bit DAC (255 steps on [0, 1]): 8 bits, a full-scale PWM of 255 slots
    cfg = _config(max_rows=2)
    cfg = cfg.replace(forward=cfg.forward.replace(dac=Converter(steps=255, bound=1.0,
                                                                signed=False)))
    unsigned = aimc.convert_to_analog(_two_layer_model(), cfg)
    aimc.program(unsigned)
    r = cost.measure(unsigned, x, accelerator=acc)
    assert r.layers[0].dac_bits == 8
    assert r.layers[0].latency == pytest.approx(2 * (255 * 1e-9 + 256 * 0.3e-9))


def test_packing_and_totals():
    model = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=2))
    aimc.program(model)
    report = cost.measure(model, torch.rand(2, 4),
                          accelerator=LayerSerialAccelerator(array_rows=4, array_cols=4))
    # layer 0: 2 tiles of 2x3 on 4x4 arrays, min(4//2, 4//3) = 1 per array -> 2 arrays;
    # layer 1: 2 tiles of 2x2, min(2, 2) = 2 per array -> 1 array
    assert [ly.arrays for ly in report.layers] == [2, 1]
    assert report.n_arrays == 3
    b = report.breakdown
    assert report.system_energy == pytest.approx(sum(b.values()))
    assert report.macro_tops_per_w == pytest.approx(2 * 18 / report.macro_energy / 1e12)
    assert report.system_tops_per_w < report.macro_tops_per_w
    d = report.to_dict()
    assert d["macs"] == 18 and len(d["layers"]) == 2
    assert "TOPS/W" in report.to_markdown()


def test_counting_is_off_outside_the_context_and_changes_nothing():
    model = aimc.convert_to_analog(_two_layer_model(), _config())
    aimc.program(model)
    x = torch.rand(3, 4)
    y0 = model(x)
    with cost.count_costs(model):
        y1 = model(x)
    assert torch.equal(y0, y1)
    assert all(t.counters is None for t in model.modules() if hasattr(t, "counters"))


def test_resumed_counts_add_up_to_one_block():
    model = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=2))
    aimc.program(model)
    gen = torch.Generator().manual_seed(3)
    x1, x2 = torch.rand(3, 4, generator=gen), torch.rand(5, 4, generator=gen)
    with cost.count_costs(model) as both:
        model(x1)
        model(x2)
    with cost.count_costs(model) as split:
        model(x1)
    model(x2)  # not counted: between the blocks
    with cost.count_costs(model, resume=split) as again:
        model(x2)
    assert again is split
    for a, b in zip(both.layers(), split.layers(), strict=True):
        assert (a.vectors, a.samples, a.calls) == (b.vectors, b.samples, b.calls)
        assert a.input_abs == pytest.approx(b.input_abs, rel=1e-12)
        assert a.charge == pytest.approx(b.charge, rel=1e-12)
        assert a.active_rows == b.active_rows
    other = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=2))
    aimc.program(other)
    with pytest.raises(ConfigError, match="another model"):
        with cost.count_costs(other, resume=split):
            pass
    with pytest.raises(ConfigError, match="CostCounts"):
        with cost.count_costs(model, resume={}):  # type: ignore[arg-type]
            pass


# ----------------------------------------------------------------------------- bad input
def test_bad_input_errors_name_the_fix():
    with pytest.raises(StateError, match="convert it first"):
        with cost.count_costs(nn.Linear(2, 2)):
            pass
    model = aimc.convert_to_analog(_two_layer_model(), _config())
    with pytest.raises(StateError, match="aimc.program"):
        with cost.count_costs(model):
            pass
    aimc.program(model)
    with pytest.raises(StateError, match="no analog layer ran"):
        with cost.count_costs(model) as counts:
            pass
        cost.estimate(counts)
    with pytest.raises(ConfigError, match="max_rows=2"):  # tiles taller than the arrays
        big = aimc.convert_to_analog(_two_layer_model(), _config(max_rows=8))
        aimc.program(big)
        cost.measure(big, torch.rand(1, 4),
                     accelerator=LayerSerialAccelerator(array_rows=2))
    with pytest.raises(ConfigError, match="n_arrays=2"):
        cost.measure(model, torch.rand(1, 4), accelerator=LayerSerialAccelerator(n_arrays=1))
    with pytest.raises(ConfigError, match="sram_bytes="):
        cost.measure(model, torch.rand(1, 4), accelerator=LayerSerialAccelerator(sram_bytes=1))
    ideal_dac = aimc.convert_to_analog(_two_layer_model(), _config(dac_steps=None))
    aimc.program(ideal_dac)
    with pytest.raises(ConfigError, match="Converter\\(steps=254\\)"):
        cost.measure(ideal_dac, torch.rand(1, 4))
    wide = aimc.convert_to_analog(_two_layer_model(), _config(adc_steps=2**14))
    aimc.program(wide)
    with pytest.raises(ConfigError, match="outside the supported"):
        cost.measure(wide, torch.rand(1, 4))
    with pytest.raises(ConfigError, match="> 0"):
        SARADC(energy_points=((4, 0.2e-12), (8, -1e-12)))
    with pytest.raises(ConfigError, match="> 0"):
        DigitalCosts(add_45nm=((8, 0.0), (16, 1e-12)))
    with pytest.raises(ConfigError):
        CostTable(program_pulse=-1e-12)
    with pytest.raises(ConfigError, match="increasing"):
        SRAMCosts(access_64b_45nm=((1024, 1e-12), (512, 2e-12)))
    with pytest.raises(ConfigError, match="anchor_share"):
        CountingADC(anchor_share=0.0)
    with pytest.raises(ConfigError, match="phases"):
        LayerSerialAccelerator(phases=3)
    with pytest.raises(ConfigError, match="inferences"):
        with cost.count_costs(model) as counts:
            model(torch.rand(1, 4))
        cost.estimate(counts, inferences=0)
    with pytest.raises(ConfigError, match="batch tensor"):
        cost.measure(model, [])


def test_cost_configs_round_trip_json():
    for cfg in (CostTable(), CostTable(adc=SARADC()), LayerSerialAccelerator(n_arrays=4)):
        assert type(cfg).from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("path", ["programmed", "training"])
@pytest.mark.parametrize("nm", ["none", "constant", "absmax", "unsigned"])
def test_counts_equal_the_reference_dac_input(nm, path):
    """The counts the MVM hands over equal those of a step-by-step DAC, on every MVM path.

    Programmed without management runs the prepared in-place path, with management the
    general in-place one; training runs the autograd path.
    """
    from aimc.config import AbsMaxNoiseManagement, ConstantNoiseManagement, InputRange

    management = {"none": NoNoiseManagement(), "constant": ConstantNoiseManagement(value=2.0),
                  "absmax": AbsMaxNoiseManagement(), "unsigned": NoNoiseManagement()}[nm]
    cfg = _config(max_rows=3)
    cfg = cfg.replace(forward=cfg.forward.replace(noise_management=management),
                      input_range=InputRange(init_value=1.5, init_from_data=0))
    if nm == "unsigned":  # negative inputs read as 0: neither |x̂| nor a driven row
        cfg = cfg.replace(forward=cfg.forward.replace(
            dac=Converter(steps=255, bound=1.0, signed=False)))
    model = aimc.convert_to_analog(_two_layer_model(), cfg)
    if path != "training":
        aimc.program(model)
    model.train(path == "training")
    tiles = model[0].tiles
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(6))
    with cost.count_costs(model, require_programmed=False) as counts:
        model(x)
    lc = counts.layers()[0]
    # both round the same products, but 1/(r·u) and /r then /u may put a tie on either side:
    # one LSB (u = 1/127) at an element moves Σ|x̂| by u at most, so allow a few u
    ref = _reference_dac_input(tiles, tiles.geometry.to_tiles(x), path == "training").abs()
    u = cfg.forward.dac.step_size
    assert lc.input_abs == pytest.approx(float(ref.sum()), abs=3 * u)
    assert lc.active_rows == pytest.approx(float((ref > 0).sum()), abs=2)
    gsum = tiles.row_conductance_sums(model[0].weight)
    assert lc.charge == pytest.approx(float((ref * gsum.unsqueeze(1)).sum()),
                                      abs=3 * u * float(gsum.max()))


def test_analognets_preset_bits_and_fixed_gain():
    from aimc.config import NoNoiseManagement as NoNM
    from aimc.cost import converter_bits

    for bits in (8, 6, 4):
        cfg = aimc.presets.analognets(bits)
        assert cfg.forward.dac.steps == cfg.forward.adc.steps == 2**bits - 2
        assert converter_bits(cfg.forward.adc, "ADC") == bits
        assert isinstance(cfg.forward.noise_management, NoNM)
        assert isinstance(cfg.forward.bound_management, NoBoundManagement)
        assert cfg.mapping.tiles.max_rows == 256
    with pytest.raises(ConfigError, match="bits"):
        aimc.presets.analognets(1)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kind", ["conv1d_same_even", "conv2d_dilated", "depthwise",
                                  "pointwise_strided", "asymmetric", "same_even_2d"])
def test_conv_counters_match_the_geometry_convolution(kind):
    """The unfold-based row sums equal the same sums through the layer's own convolution."""
    torch.manual_seed(7)
    if kind == "conv1d_same_even":
        layer, x = nn.Conv1d(3, 5, 4, padding="same", bias=False), torch.rand(2, 3, 11)
    elif kind == "conv2d_dilated":
        layer = nn.Conv2d(2, 3, 3, stride=2, padding=2, dilation=2, bias=False)
        x = torch.rand(2, 2, 9, 8)
    elif kind == "depthwise":
        layer, x = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), torch.rand(3, 4, 6, 6)
    elif kind == "pointwise_strided":
        layer, x = nn.Conv2d(5, 3, 1, stride=2, bias=False), torch.rand(2, 5, 7, 6)
    elif kind == "asymmetric":
        layer = nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(1, 0), bias=False)
        x = torch.rand(2, 2, 5, 7)
    else:
        layer, x = nn.Conv2d(2, 3, (4, 2), padding="same", bias=False), torch.rand(2, 2, 6, 5)
    model = aimc.convert_to_analog(nn.Sequential(layer), _config(max_rows=18))
    aimc.program(model)
    tiles = model[0].tiles
    with cost.count_costs(model) as counts:
        model(x)
    (lc,) = counts.layers()
    xa = _reference_dac_input(tiles, tiles.geometry.to_tiles(x)).abs()
    gsum = tiles.row_conductance_sums(layer.weight)
    ones = torch.ones_like(gsum)
    y = tiles.geometry.mvm(xa, torch.stack((gsum, ones), dim=1))
    assert lc.charge == pytest.approx(float(y[:, :, 0].sum()), rel=1e-5)
    assert lc.input_abs == pytest.approx(float(y[:, :, 1].sum()), rel=1e-5)
    nz = tiles.geometry.mvm((xa != 0).float(), ones.unsqueeze(1))
    assert lc.active_rows == pytest.approx(float(nz.sum()), rel=1e-6)
