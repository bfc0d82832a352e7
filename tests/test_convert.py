"""``convert_to_analog`` / ``convert_to_digital`` over whole models."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from float_bounds import assert_close_sum_order
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import TileSplit
from aimc.errors import ConfigError, ConversionWarning
from aimc.nn import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogGRU,
    AnalogLinear,
    AnalogMultiheadAttention,
    AnalogTransformerEncoderLayer,
)
from aimc.nn.base import AnalogLayerMixin
from aimc.tile import TileArray

IDEAL = aimc.presets.ideal()
RASCH = aimc.presets.rasch2023()


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.conv(x)))


class Net(nn.Module):
    """Sequential inside a custom module inside a custom module, plus an RNN."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(Block(), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 5))
        self.norm = nn.LayerNorm(5)
        self.rnn = nn.GRU(5, 3)
        self.conv1 = nn.Conv1d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.head(self.features(x)))
        out, _ = self.rnn(y.unsqueeze(0))
        return self.conv1(out.view(-1, 1, 3).expand(-1, 2, 3)).flatten(1)


def _assert_state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


# ----------------------------------------------------------------------------- walking
def test_nested_model_converts_every_layer_and_keeps_the_rest() -> None:
    model = Net()
    analog = aimc.convert_to_analog(model, IDEAL)
    assert type(analog) is Net
    assert isinstance(analog.features[0].conv, AnalogConv2d)
    assert isinstance(analog.head[0], AnalogLinear)
    assert isinstance(analog.head[2], AnalogLinear)
    assert isinstance(analog.rnn, AnalogGRU)
    assert isinstance(analog.conv1, AnalogConv1d)
    assert type(analog.norm) is nn.LayerNorm
    assert type(analog.features[0].act) is nn.ReLU
    assert type(analog.features) is nn.Sequential
    names = [n for n, _ in aimc.analog_layers(analog)]
    assert names == ["features.0.conv", "head.0", "head.2", "rnn", "conv1"]
    # digital weights copied
    torch.testing.assert_close(analog.head[0].weight, model.head[0].weight, rtol=0, atol=0)
    x = torch.randn(2, 3, 4, 4)
    # summation-order bound (tests/float_bounds.py): longest sum 3·9 conv taps, 5 stages
    # (conv, two linears, layer norm, one GRU step)
    assert_close_sum_order(analog(x), model(x), terms=27, stages=5, what="Net output")


def test_root_module_is_a_linear() -> None:
    lin = nn.Linear(4, 3)
    analog = aimc.convert_to_analog(lin, IDEAL)
    assert isinstance(analog, AnalogLinear)
    assert type(lin) is nn.Linear  # original untouched
    assert aimc.analog_layers(analog) == [("", analog)]
    torch.testing.assert_close(analog.weight, lin.weight, rtol=0, atol=0)


@pytest.mark.parametrize("root", [nn.Conv1d(2, 3, 3), nn.LSTM(3, 4), nn.GRU(3, 4),
                                  nn.Conv2d(2, 3, 3)])
def test_root_module_other_layers(root: nn.Module) -> None:
    analog = aimc.convert_to_analog(root, IDEAL)
    assert isinstance(analog, AnalogLayerMixin)
    assert isinstance(analog, type(root))


def test_filter_fn_excludes_by_name() -> None:
    seen: list[tuple[str, str]] = []

    def keep(module: nn.Module, name: str) -> bool:
        seen.append((type(module).__name__, name))
        return not name.startswith("head.2")

    analog = aimc.convert_to_analog(Net(), IDEAL, filter_fn=keep)
    assert isinstance(analog.head[0], AnalogLinear)
    assert type(analog.head[2]) is nn.Linear
    assert isinstance(analog.features[0].conv, AnalogConv2d)
    # called with (module, dotted name) for convertible layers
    assert ("Linear", "head.2") in seen and ("Conv2d", "features.0.conv") in seen


def test_filter_fn_by_type() -> None:
    analog = aimc.convert_to_analog(Net(), IDEAL,
                                    filter_fn=lambda m, n: not isinstance(m, nn.GRU))
    assert type(analog.rnn) is nn.GRU
    assert isinstance(analog.head[0], AnalogLinear)


def test_overrides_by_module_name() -> None:
    other = RASCH.replace(mapping=RASCH.mapping.replace(tiles=TileSplit(max_rows=4)))
    analog = aimc.convert_to_analog(Net(), RASCH, overrides={"head.2": other, "rnn": IDEAL})
    assert analog.head[2].analog_config == other
    assert analog.head[2].tiles.config == other
    assert analog.head[2].tiles.geometry.num_tiles == 2  # 8 inputs over 4-row tiles
    assert analog.rnn.analog_config == IDEAL
    assert all(t.config == IDEAL for t in analog.rnn.tile_arrays.values())
    assert analog.head[0].analog_config == RASCH
    assert analog.features[0].conv.analog_config == RASCH


def test_overrides_unknown_name_raises() -> None:
    model = Net()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ConfigError, match="head.7.*not in the model"):
        aimc.convert_to_analog(model, IDEAL, overrides={"head.7": IDEAL})
    with pytest.raises(ConfigError):
        aimc.convert_to_analog(model, IDEAL, overrides={"head.0": "ideal"}, inplace=True)
    assert not aimc.analog_layers(model)
    _assert_state_equal(model.state_dict(), before)


def test_inplace_false_leaves_original_untouched() -> None:
    model = Net()
    before = copy.deepcopy(model.state_dict())
    analog = aimc.convert_to_analog(model, IDEAL)
    assert analog is not model
    assert not aimc.analog_layers(model)
    assert type(model.head[0]) is nn.Linear
    _assert_state_equal(model.state_dict(), before)
    with torch.no_grad():  # no shared parameters
        analog.head[0].weight.add_(1.0)
    _assert_state_equal(model.state_dict(), before)


def test_inplace_true_modifies_model() -> None:
    model = Net()
    out = aimc.convert_to_analog(model, IDEAL, inplace=True)
    assert out is model
    assert isinstance(model.head[0], AnalogLinear)
    assert isinstance(model.rnn, AnalogGRU)


def test_nothing_to_convert_warns() -> None:
    model = nn.Sequential(nn.ReLU(), nn.LayerNorm(3))
    with pytest.warns(ConversionWarning, match="converted no layer"):
        out = aimc.convert_to_analog(model, IDEAL)
    assert not aimc.analog_layers(out)
    with pytest.warns(ConversionWarning):
        aimc.convert_to_analog(Net(), IDEAL, filter_fn=lambda m, n: False)


def test_converting_something_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConversionWarning)
        aimc.convert_to_analog(Net(), IDEAL)


def test_already_analog_layers_are_not_converted_twice() -> None:
    once = aimc.convert_to_analog(Net(), IDEAL, filter_fn=lambda m, n: n != "rnn")
    first = dict(aimc.analog_layers(once))
    twice = aimc.convert_to_analog(once, RASCH, inplace=True)
    assert twice is once
    layers = dict(aimc.analog_layers(twice))
    assert set(layers) == set(first) | {"rnn"}
    for name, layer in first.items():
        assert layers[name] is layer  # the same object, not re-wrapped
        assert layer.analog_config == IDEAL
    assert layers["rnn"].analog_config == RASCH
    # no analog layer nested inside another
    for _, layer in aimc.analog_layers(twice):
        assert len([m for m in layer.modules() if isinstance(m, AnalogLayerMixin)]) == 1
    # fully analog model: nothing left to convert
    with pytest.warns(ConversionWarning):
        again = aimc.convert_to_analog(twice, RASCH)
    assert [type(m) for _, m in aimc.analog_layers(again)] == \
        [type(m) for _, m in aimc.analog_layers(twice)]
    assert all(m.analog_config == layers[n].analog_config for n, m in aimc.analog_layers(again))


def test_mha_out_proj_becomes_analog_linear() -> None:
    model = nn.Sequential(nn.MultiheadAttention(8, 2))
    analog = aimc.convert_to_analog(model, IDEAL)
    assert isinstance(analog[0], AnalogMultiheadAttention)
    assert isinstance(analog[0].out_proj, AnalogLinear)
    names = [n for n, _ in aimc.analog_layers(analog)]
    assert names == ["0", "0.out_proj"]
    # filter out the out_proj only
    partial = aimc.convert_to_analog(model, IDEAL, filter_fn=lambda m, n: n != "0.out_proj")
    assert isinstance(partial[0], AnalogMultiheadAttention)
    assert not isinstance(partial[0].out_proj, AnalogLayerMixin)


def _encoder() -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=24, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2)


def test_transformer_encoder_layer_conversion() -> None:
    model = _encoder()
    analog = aimc.convert_to_analog(model, IDEAL)
    assert analog.use_nested_tensor is False
    for layer in analog.layers:
        assert type(layer) is AnalogTransformerEncoderLayer
        assert isinstance(layer.self_attn, AnalogMultiheadAttention)
        assert isinstance(layer.self_attn.out_proj, AnalogLinear)
        assert isinstance(layer.linear1, AnalogLinear)
        assert isinstance(layer.linear2, AnalogLinear)
    assert all(type(m) is nn.TransformerEncoderLayer for m in model.layers)  # original kept
    assert len(aimc.analog_layers(analog)) == 2 * 4


def test_transformer_encoder_layer_root() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8, dropout=0.0)
    analog = aimc.convert_to_analog(layer, IDEAL)
    assert type(analog) is AnalogTransformerEncoderLayer
    assert type(layer) is nn.TransformerEncoderLayer


# ----------------------------------------------------------------------------- to digital
def _digital_types_only(model: nn.Module) -> None:
    for name, m in model.named_modules():
        assert not isinstance(m, (AnalogLayerMixin, TileArray, AnalogTransformerEncoderLayer)), name
        assert type(m).__module__.startswith("torch.") or type(m) in (Net, Block), (
            name, type(m))


@pytest.mark.parametrize("make", [Net, _encoder, lambda: nn.LSTM(3, 4, 2, bidirectional=True),
                                  lambda: nn.MultiheadAttention(8, 2, kdim=3, vdim=5)])
def test_convert_to_digital_roundtrip(make) -> None:
    model = make()
    analog = aimc.convert_to_analog(model, RASCH)
    digital = aimc.convert_to_digital(analog)
    _digital_types_only(digital)
    assert aimc.analog_layers(analog)  # not inplace: analog model untouched
    _assert_state_equal(digital.state_dict(), model.state_dict())
    for (n1, m1), (n2, m2) in zip(model.named_modules(), digital.named_modules(), strict=True):
        assert n1 == n2
        assert isinstance(m2, type(m1)) or isinstance(m1, type(m2)), n1


def test_convert_to_digital_types() -> None:
    digital = aimc.convert_to_digital(aimc.convert_to_analog(Net(), RASCH))
    assert type(digital.head[0]) is nn.Linear
    assert type(digital.features[0].conv) is nn.Conv2d
    assert type(digital.conv1) is nn.Conv1d
    assert type(digital.rnn) is nn.GRU
    enc = aimc.convert_to_digital(aimc.convert_to_analog(_encoder(), RASCH))
    assert all(type(m) is nn.TransformerEncoderLayer for m in enc.layers)
    assert type(enc.layers[0].self_attn) is nn.MultiheadAttention


def test_convert_to_digital_inplace() -> None:
    analog = aimc.convert_to_analog(Net(), IDEAL)
    out = aimc.convert_to_digital(analog, inplace=True)
    assert out is analog
    assert not aimc.analog_layers(analog)


def test_convert_to_digital_state_dict_loads_into_fresh_torch_model() -> None:
    """The converted-back model no longer validates against analog checkpoints."""
    model = Net()
    digital = aimc.convert_to_digital(aimc.convert_to_analog(model, RASCH))
    fresh = Net()
    fresh.load_state_dict(digital.state_dict())
    digital.load_state_dict(fresh.state_dict())
    _assert_state_equal(fresh.state_dict(), model.state_dict())


def test_convert_to_digital_realistic_uses_programmed_weights() -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(8, 3),
                          nn.LSTM(3, 4, bidirectional=True),
                          nn.MultiheadAttention(8, 2, kdim=3, vdim=5))
    analog = aimc.convert_to_analog(model, RASCH).eval()
    aimc.program(analog, generator=seeded(0))
    aimc.set_time(analog, 3600.0, generator=seeded(1))
    digital = aimc.convert_to_digital(analog, realistic=True)
    _digital_types_only(digital)
    conv, lin, lstm, mha = analog[0], analog[2], analog[3], analog[4]
    torch.testing.assert_close(digital[0].weight, conv.read_weights(), rtol=0, atol=0)
    torch.testing.assert_close(digital[2].weight, lin.read_weights(), rtol=0, atol=0)
    for name, w in lstm.read_weights().items():
        torch.testing.assert_close(getattr(digital[3], name), w, rtol=0, atol=0)
    for name, w in mha.read_weights().items():
        torch.testing.assert_close(getattr(digital[4], name), w, rtol=0, atol=0)
    torch.testing.assert_close(digital[4].out_proj.weight, mha.out_proj.read_weights(),
                               rtol=0, atol=0)
    # biases stay digital
    torch.testing.assert_close(digital[2].bias, lin.bias, rtol=0, atol=0)
    # and they really differ from the digital weights (noise and drift)
    assert not torch.equal(digital[2].weight, lin.weight)


def test_convert_to_digital_realistic_same_embed_dim_mha() -> None:
    analog = aimc.convert_to_analog(nn.MultiheadAttention(8, 2), RASCH).eval()
    aimc.program(analog, generator=seeded(0))
    digital = aimc.convert_to_digital(analog, realistic=True)
    w = analog.read_weights()
    torch.testing.assert_close(digital.in_proj_weight, torch.cat([w["q_proj_weight"],
                                                                 w["k_proj_weight"],
                                                                 w["v_proj_weight"]]),
                               rtol=0, atol=0)
    torch.testing.assert_close(digital.out_proj.weight, analog.out_proj.read_weights(),
                               rtol=0, atol=0)


def test_convert_to_digital_realistic_before_program_raises() -> None:
    analog = aimc.convert_to_analog(nn.Linear(3, 2), RASCH)
    with pytest.raises(aimc.StateError, match="aimc.program"):
        aimc.convert_to_digital(analog, realistic=True)


def test_convert_preserves_train_eval_mode_and_requires_grad() -> None:
    model = Net().eval()
    model.head[0].weight.requires_grad_(False)
    analog = aimc.convert_to_analog(model, IDEAL)
    assert not any(m.training for m in analog.modules())
    assert not analog.head[0].weight.requires_grad
    assert analog.head[2].weight.requires_grad
