"""Bad input raises the named aimc error, the message names the fix, the model is unchanged."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import pytest
import torch
from seeding import seed_everything, seeded
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import aimc
from aimc.config import TileSplit
from aimc.errors import AimcError, ConfigError, ShapeError, StateError
from aimc.nn import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogGRU,
    AnalogLinear,
    AnalogLSTM,
    AnalogMultiheadAttention,
)

RASCH = aimc.presets.rasch2023()
IDEAL = aimc.presets.ideal()


def _snapshot(model: nn.Module) -> dict:
    return copy.deepcopy(model.state_dict())


@contextlib.contextmanager
def unchanged(model: nn.Module) -> Iterator[None]:
    """Assert that ``model``'s state_dict (values, shapes, dtypes) is the same afterwards."""
    before = _snapshot(model)
    types = [type(m) for m in model.modules()]
    training = model.training
    yield
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        if isinstance(v, torch.Tensor):
            assert v.dtype == after[k].dtype and v.shape == after[k].shape, k
            assert torch.equal(v, after[k]), k
        else:
            assert v == after[k], k
    assert [type(m) for m in model.modules()] == types
    assert model.training == training


@contextlib.contextmanager
def raises_unchanged(model: nn.Module, error: type[Exception],
                     match: str | None = None) -> Iterator[None]:
    with unchanged(model), pytest.raises(error, match=match) as info:
        yield
    assert isinstance(info.value, AimcError)


def _programmed_mlp() -> nn.Module:
    seed_everything(0)
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)),
                                   RASCH)
    aimc.calibrate_input_ranges(model, [torch.randn(16, 6)])
    aimc.program(model.eval(), generator=seeded(0))
    return model


def _layers() -> dict[str, nn.Module]:
    seed_everything(0)
    return {
        "linear": AnalogLinear(6, 3, config=IDEAL),
        "conv1d": AnalogConv1d(4, 3, 3, config=IDEAL),
        "conv2d": AnalogConv2d(4, 3, 3, config=IDEAL),
        "lstm": AnalogLSTM(6, 3, config=IDEAL),
        "gru": AnalogGRU(6, 3, batch_first=True, config=IDEAL),
    }


# input of the right shape for each layer, then variants
GOOD = {"linear": (2, 6), "conv1d": (2, 4, 9), "conv2d": (2, 4, 5, 5), "lstm": (5, 2, 6),
        "gru": (2, 5, 6)}
WRONG_FEATURES = {"linear": (2, 7), "conv1d": (2, 5, 9), "conv2d": (2, 3, 5, 5),
                  "lstm": (5, 2, 4), "gru": (2, 5, 7)}
WRONG_DIMS = {"linear": (), "conv1d": (2, 4, 9, 9), "conv2d": (4, 5), "lstm": (2, 5, 2, 6),
              "gru": (6,)}


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("name", list(GOOD))
def test_good_input_works(name: str) -> None:
    """The input the error tests vary is valid: under the ideal preset it gives the torch
    layer's output (float32, fan-in ≤ 36, |w| ≤ 0.6 and |x| ≲ 4: a few ulp of outputs ≲ 10,
    so 1e-5 is a 10× margin)."""
    layer = _layers()[name]
    x = torch.randn(GOOD[name], generator=seeded(1))
    ref = aimc.convert_to_digital(copy.deepcopy(layer))
    assert not aimc.analog_layers(ref)
    with torch.no_grad():
        got, want = layer(x), ref(x)
    if isinstance(got, tuple):  # RNNs: (output, state)
        got, want = got[0], want[0]
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(GOOD))
def test_wrong_feature_size(name: str) -> None:
    layer = _layers()[name]
    with raises_unchanged(layer, ShapeError, match="features.*previous layer's output size"):
        layer(torch.randn(WRONG_FEATURES[name]))


@pytest.mark.parametrize("name", list(GOOD))
def test_wrong_dtype(name: str) -> None:
    layer = _layers()[name]
    with raises_unchanged(layer, ShapeError, match=r"float32 weights.*x\.to\(torch\.float32\)"):
        layer(torch.randn(GOOD[name], dtype=torch.float64))


@pytest.mark.parametrize("name", list(GOOD))
def test_integer_input(name: str) -> None:
    layer = _layers()[name]
    with raises_unchanged(layer, ShapeError, match="cast with"):
        layer(torch.ones(GOOD[name], dtype=torch.long))


@pytest.mark.parametrize("name", list(GOOD))
def test_wrong_number_of_dims(name: str) -> None:
    layer = _layers()[name]
    with raises_unchanged(layer, ShapeError, match="dims, got shape"):
        layer(torch.randn(WRONG_DIMS[name]))


@pytest.mark.parametrize("name", list(GOOD))
def test_non_tensor_input(name: str) -> None:
    layer = _layers()[name]
    with raises_unchanged(layer, ShapeError, match="expects a torch.Tensor"):
        layer(torch.randn(GOOD[name]).tolist())


def test_wrong_input_on_programmed_model() -> None:
    model = _programmed_mlp()
    with raises_unchanged(model, ShapeError, match="expects 6 features"):
        model(torch.randn(4, 5))
    with raises_unchanged(model, ShapeError, match="float64"):
        model(torch.randn(4, 6, dtype=torch.float64))


def test_wrong_input_in_train_mode_unchanged() -> None:
    model = aimc.convert_to_analog(nn.Linear(6, 3), RASCH).train()
    with raises_unchanged(model, ShapeError):
        model(torch.randn(4, 5))


@pytest.mark.parametrize("cls", [AnalogLSTM, AnalogGRU])
def test_packed_sequence(cls: type) -> None:
    layer = cls(6, 3, config=IDEAL)
    packed = pack_padded_sequence(torch.randn(4, 2, 6), torch.tensor([4, 2]))
    with raises_unchanged(layer, ShapeError, match="pad_packed_sequence"):
        layer(packed)


def test_lstm_bad_initial_state() -> None:
    layer = AnalogLSTM(6, 3, config=IDEAL)
    x = torch.randn(5, 2, 6)
    with raises_unchanged(layer, ShapeError, match=r"initial states of shape \(1, 2, 3\)"):
        layer(x, (torch.zeros(1, 3, 3), torch.zeros(1, 3, 3)))
    with raises_unchanged(layer, ShapeError, match=r"hx=\(h_0, c_0\)"):
        layer(x, (torch.zeros(1, 2, 3),))


def test_rnn_initial_state_wrong_dtype() -> None:
    layer = AnalogGRU(6, 3, config=IDEAL)
    with raises_unchanged(layer, ShapeError, match="float64"):
        layer(torch.randn(5, 2, 6), torch.zeros(1, 2, 3, dtype=torch.float64))


def test_mha_bad_inputs() -> None:
    mha = AnalogMultiheadAttention(8, 2, kdim=5, vdim=6, batch_first=True, config=IDEAL)
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 3, 5), torch.randn(2, 3, 6)
    mha(q, k, v)
    with raises_unchanged(mha, ShapeError, match="key"):
        mha(q, torch.randn(2, 3, 8), v)
    with raises_unchanged(mha, ShapeError, match="value"):
        mha(q, k, torch.randn(2, 3, 5))
    with raises_unchanged(mha, ShapeError, match="float64"):
        mha(q.double(), k, v)
    with raises_unchanged(mha, ShapeError, match=r"attn_mask must be \(4, 3\)"):
        mha(q, k, v, attn_mask=torch.zeros(3, 4, dtype=torch.bool))
    with raises_unchanged(mha, ShapeError, match=r"key_padding_mask must be \(2, 3\)"):
        mha(q, k, v, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))


# ----------------------------------------------------------------------------- lifecycle
def test_set_time_before_program() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(4, 3)), RASCH)
    with raises_unchanged(model, StateError, match=r"aimc\.program\(model\) first"):
        aimc.set_time(model, 10.0)


def test_at_time_before_program() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(4, 3)), RASCH)
    with raises_unchanged(model, StateError, match=r"aimc\.program\(model\) first"):
        with aimc.at_time(model, 10.0):
            pytest.fail("body must not run")


def test_set_time_partially_programmed() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), RASCH)
    model[0].program(generator=seeded(0))
    with raises_unchanged(model, StateError, match=r"\['1'\]"):
        aimc.set_time(model, 10.0)


def test_layer_set_time_before_program() -> None:
    layer = AnalogLinear(4, 3, config=RASCH)
    with raises_unchanged(layer, StateError, match="aimc.program"):
        layer.set_time(1.0)


BAD_TIMES = [-1.0, -1e-9, float("nan"), float("inf"), float("-inf"), "3600", None, True,
             [1.0], torch.tensor([1.0, 2.0])]


@pytest.mark.parametrize("t", BAD_TIMES, ids=repr)
def test_set_time_bad_time(t: object) -> None:
    model = _programmed_mlp()
    with raises_unchanged(model, ConfigError, match="time must be a"):
        aimc.set_time(model, t)  # type: ignore[arg-type]
    with raises_unchanged(model, ConfigError, match="time must be a"):
        with aimc.at_time(model, t):  # type: ignore[arg-type]
            pytest.fail("body must not run")


@pytest.mark.parametrize("t", [-5.0, float("nan"), "1 h"], ids=repr)
def test_bad_time_before_program_is_config_error(t: object) -> None:
    model = aimc.convert_to_analog(nn.Linear(4, 3), RASCH)
    with raises_unchanged(model, ConfigError):
        aimc.set_time(model, t)  # type: ignore[arg-type]


def test_layer_set_time_bad_time() -> None:
    model = _programmed_mlp()
    with raises_unchanged(model, ConfigError):
        model[0].set_time(float("nan"))


def test_set_time_accepts_int_and_scalar_tensor() -> None:
    model = _programmed_mlp()
    aimc.set_time(model, 3600)
    aimc.set_time(model, torch.tensor(60.0))
    assert float(aimc.tile_arrays(model)[0].t_inference) == 60.0


@pytest.mark.parametrize("fn", [aimc.program, lambda m: aimc.set_time(m, 1.0),
                                lambda m: aimc.at_time(m, 1.0).__enter__()],
                         ids=["program", "set_time", "at_time"])
def test_lifecycle_on_model_without_analog_layers(fn) -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with raises_unchanged(model, StateError, match=r"convert_to_analog"):
        fn(model)


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("config", [aimc.AnalogConfig, aimc.config.PCMNoiseModel],
                         ids=["AnalogConfig", "PCMNoiseModel"])
def test_convert_with_config_class(config: type) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with raises_unchanged(model, ConfigError, match=rf"config={config.__name__}\(\)"):
        aimc.convert_to_analog(model, config)  # type: ignore[arg-type]


@pytest.mark.parametrize("config", ["rasch2023", {"device": "pcm"}, 3,
                                    aimc.config.PCMNoiseModel()], ids=repr)
def test_convert_with_non_config(config: object) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with raises_unchanged(model, ConfigError, match=r"aimc\.presets\.rasch2023\(\)"):
        aimc.convert_to_analog(model, config)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [lambda x: x, "model", None, [nn.Linear(2, 2)]], ids=repr)
def test_convert_non_module(model: object) -> None:
    with pytest.raises(ConfigError, match="expects an nn.Module"):
        aimc.convert_to_analog(model, RASCH)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expects an nn.Module"):
        aimc.convert_to_digital(model)  # type: ignore[arg-type]


def test_convert_filter_fn_not_callable() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with raises_unchanged(model, ConfigError, match="filter_fn"):
        aimc.convert_to_analog(model, RASCH, filter_fn="0")  # type: ignore[arg-type]


@pytest.mark.parametrize("kw", [{"add_bias_kv": True}, {"add_zero_attn": True}])
def test_mha_unsupported_options(kw: dict) -> None:
    with pytest.raises(ConfigError, match="add_bias_kv or add_zero_attn"):
        AnalogMultiheadAttention(8, 2, config=IDEAL, **kw)
    model = nn.Sequential(nn.MultiheadAttention(8, 2, **kw))
    with raises_unchanged(model, ConfigError, match="filter_fn"):
        aimc.convert_to_analog(model, IDEAL)
    # the fix the message names works
    out = aimc.convert_to_analog(model, IDEAL, filter_fn=lambda m, n: n != "0")
    assert type(out[0]) is nn.MultiheadAttention


def test_lstm_proj_size() -> None:
    with pytest.raises(ConfigError, match="proj_size=0"):
        AnalogLSTM(6, 4, proj_size=2, config=IDEAL)
    model = nn.Sequential(nn.LSTM(6, 4, proj_size=2))
    with raises_unchanged(model, ConfigError, match="proj_size=0"):
        aimc.convert_to_analog(model, IDEAL)


def _small_tiles(max_rows: int) -> aimc.AnalogConfig:
    return IDEAL.replace(mapping=IDEAL.mapping.replace(tiles=TileSplit(max_rows=max_rows)))


@pytest.mark.parametrize("conv", [lambda c: AnalogConv2d(2, 3, 3, config=c),
                                  lambda c: AnalogConv1d(2, 3, 9, config=c)],
                         ids=["conv2d-3x3", "conv1d-9"])
def test_conv_kernel_larger_than_max_rows(conv) -> None:
    fix = r"max_rows=8.*TileSplit\(max_rows=\.\.\.\) to at least 9"
    with pytest.raises(ConfigError, match=fix):
        conv(_small_tiles(8))
    conv(_small_tiles(9))  # the named fix works


def test_convert_conv_kernel_larger_than_max_rows() -> None:
    model = nn.Sequential(nn.Conv2d(2, 3, 3))
    with raises_unchanged(model, ConfigError, match="TileSplit"):
        aimc.convert_to_analog(model, _small_tiles(8))


@pytest.mark.parametrize("bad", [lambda: nn.MultiheadAttention(4, 2, add_bias_kv=True),
                                 lambda: nn.LSTM(4, 4, proj_size=2),
                                 lambda: nn.Conv2d(4, 2, 3)],
                         ids=["mha-bias-kv", "lstm-proj", "conv-max-rows"])
def test_failed_inplace_conversion_leaves_model_unchanged(bad) -> None:
    model = nn.Sequential(nn.Linear(4, 4), bad())
    with raises_unchanged(model, ConfigError):
        aimc.convert_to_analog(model, _small_tiles(8), inplace=True)


def test_calibrate_wrong_input_raises() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), RASCH)
    with raises_unchanged(model, ShapeError, match="expects 4 features"):
        aimc.calibrate_input_ranges(model, [torch.randn(8, 5)])


def test_failed_calibration_leaves_calibrated_model_unchanged() -> None:
    model = aimc.convert_to_analog(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), RASCH)
    aimc.calibrate_input_ranges(model, [torch.randn(8, 4)])
    with raises_unchanged(model, ShapeError):
        aimc.calibrate_input_ranges(model, [torch.randn(8, 5)])


# ----------------------------------------------------------------------------- device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_mismatch() -> None:
    layer = AnalogLinear(6, 3, config=IDEAL).cuda()
    with raises_unchanged(layer, ShapeError, match=r"model\.to\('cpu'\)|x\.to\('cuda"):
        layer(torch.randn(2, 6))
    model = _programmed_mlp().cuda()
    with raises_unchanged(model, ShapeError, match="lives on cuda"):
        model(torch.randn(2, 6))
