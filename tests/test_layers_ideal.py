"""Ideal limit: with ``presets.ideal()`` every analog layer equals its torch layer.

Forward outputs, input gradients and every parameter gradient are compared element-wise within
the summation-order bound of ``tests/float_bounds.py``: ``atol = 5·√2·u·√N·S·max|ref|``, where
``N`` is the longest sum feeding the compared tensor and ``S`` the number of sequential stages
(recurrence steps, layers, forward + backward sweep) whose rounding errors add up. Each test
states its ``N`` and ``S``; the tiles change the order of the sums (512-row splits), torch's
kernels change it per CPU family, and nothing else may differ.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from float_bounds import assert_close_sum_order
from seeding import seed_everything, seeded
from torch import Tensor, nn

import aimc
from aimc.nn import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogGRU,
    AnalogLinear,
    AnalogLSTM,
    AnalogMultiheadAttention,
    AnalogTransformerEncoderLayer,
)

IDEAL = aimc.presets.ideal()


# ----------------------------------------------------------------------------- helpers
def _tensors(tree: Any) -> list[Tensor]:
    """Every tensor in a nested tuple/list (None skipped)."""
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _tensors(item)]
    return []


def _clone_tree(tree: Any) -> Any:
    """Fresh leaf copies of every tensor; floating tensors require grad."""
    if isinstance(tree, Tensor):
        t = tree.detach().clone()
        return t.requires_grad_(t.is_floating_point())
    if isinstance(tree, tuple):
        return tuple(_clone_tree(t) for t in tree)
    if isinstance(tree, list):
        return [_clone_tree(t) for t in tree]
    return tree


def _run(module: nn.Module, args: tuple, kwargs: dict,
         call: Callable[..., Any] | None) -> tuple[list[Tensor], list[Tensor | None],
                                                  dict[str, Tensor | None]]:
    args = _clone_tree(args)
    outs = _tensors(call(module, *args, **kwargs) if call else module(*args, **kwargs))
    gen = seeded(123)
    loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)
    loss.backward()
    in_grads = [t.grad for t in _tensors(args) if t.is_floating_point()]
    p_grads = {n: p.grad for n, p in module.named_parameters()}
    return [o.detach() for o in outs], in_grads, p_grads


def assert_same_as_torch(ref: nn.Module, analog: nn.Module, *args: Any, terms: int,
                         stages: int = 1, call: Callable[..., Any] | None = None,
                         **kwargs: Any) -> None:
    """Forward outputs, input grads and parameter grads of ``analog`` equal ``ref``'s within
    the summation-order bound for sums of up to ``terms`` products over ``stages`` stages."""
    out_r, in_r, p_r = _run(ref, args, kwargs, call)
    out_a, in_a, p_a = _run(analog, args, kwargs, call)

    def check(a: Tensor, r: Tensor, what: str) -> None:
        assert_close_sum_order(a, r, terms, stages, what)

    assert len(out_r) == len(out_a) and out_r
    for i, (r, a) in enumerate(zip(out_r, out_a, strict=True)):
        check(a, r, f"output {i}")
    assert len(in_r) == len(in_a)
    for i, (r, a) in enumerate(zip(in_r, in_a, strict=True)):
        assert r is not None and a is not None
        check(a, r, f"input grad {i}")
    assert p_r, "reference module has no parameters"
    for name, g in p_r.items():
        assert name in p_a, f"analog layer lacks parameter {name}"
        if g is None:
            assert p_a[name] is None or not p_a[name].any(), name
        else:
            assert p_a[name] is not None, f"no gradient for {name}"
            check(p_a[name], g, f"grad {name}")


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


# ----------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 600), (2, 3, 600), (600,)])
def test_linear_ideal(bias: bool, shape: tuple[int, ...]) -> None:
    ref = nn.Linear(600, 7, bias=bias)
    analog = AnalogLinear.from_float(copy.deepcopy(ref), IDEAL)
    assert analog.tiles.geometry.num_tiles >= 2  # 600 inputs > 512 rows
    # longest sum: the 600-term fan-in (weight grads sum ≤ 6 rows, input grads 7 outputs)
    assert_same_as_torch(ref, analog, torch.randn(shape), terms=600)


def test_linear_ideal_via_convert() -> None:
    ref = nn.Linear(20, 3)
    analog = aimc.convert_to_analog(ref, IDEAL)
    assert isinstance(analog, AnalogLinear)
    assert_same_as_torch(ref, analog, torch.randn(4, 20), terms=20)


# ----------------------------------------------------------------------------- Conv
def _conv_terms(kw: dict, dims: int, positions: int) -> int:
    """Longest sum in a conv's forward/backward: fan-in ``C_in/g·k`` (outputs), fan-out
    ``C_out/g·k`` (input grads) or ``positions`` = batch × output positions (weight grads)."""
    k = kw["kernel_size"]
    taps = math.prod(k) if isinstance(k, tuple) else k ** dims
    g = kw.get("groups", 1)
    return max(kw["in_channels"] // g * taps, kw["out_channels"] // g * taps, positions)


CONV1D_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=2, dilation=2),
    dict(in_channels=4, out_channels=6, kernel_size=4, padding="same"),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding="same", padding_mode="reflect"),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, padding_mode="circular",
         groups=2),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=4, bias=False),
    dict(in_channels=120, out_channels=5, kernel_size=5, padding=2),  # 600 rows: 2+ tiles
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kw", CONV1D_CASES, ids=lambda kw: str(sorted(kw.items())))
@pytest.mark.parametrize("batched", [True, False])
def test_conv1d_ideal(kw: dict, batched: bool) -> None:
    ref = nn.Conv1d(**kw)
    analog = AnalogConv1d.from_float(copy.deepcopy(ref), IDEAL)
    x = torch.randn(2, kw["in_channels"], 11) if batched else torch.randn(kw["in_channels"], 11)
    assert_same_as_torch(ref, analog, x, terms=_conv_terms(kw, 1, positions=2 * 11))


CONV2D_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2)),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding="same"),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding="same", padding_mode="reflect"),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, padding_mode="reflect",
         stride=2),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=2, dilation=2),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2),
    dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, groups=4),  # depthwise ×2
    dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, bias=False),  # depthwise
    dict(in_channels=64, out_channels=5, kernel_size=3, padding=1),  # 576 rows: 2 tiles
    dict(in_channels=130, out_channels=6, kernel_size=3, padding=1, groups=2),  # 2 tiles/group
]


@pytest.mark.parametrize("kw", CONV2D_CASES, ids=lambda kw: str(sorted(kw.items())))
@pytest.mark.parametrize("batched", [True, False])
def test_conv2d_ideal(kw: dict, batched: bool) -> None:
    ref = nn.Conv2d(**kw)
    analog = AnalogConv2d.from_float(copy.deepcopy(ref), IDEAL)
    c = kw["in_channels"]
    x = torch.randn(2, c, 7, 6) if batched else torch.randn(c, 7, 6)
    assert_same_as_torch(ref, analog, x, terms=_conv_terms(kw, 2, positions=2 * 7 * 6))


def test_conv2d_large_spans_several_tiles() -> None:
    analog = AnalogConv2d(64, 5, 3, config=IDEAL)
    assert analog.tiles.geometry.num_tiles >= 2
    analog = AnalogConv2d(130, 6, 3, groups=2, config=IDEAL)
    assert analog.tiles.geometry.num_tiles >= 4


# ----------------------------------------------------------------------------- RNNs
RNN_TYPES = [(nn.LSTM, AnalogLSTM), (nn.GRU, AnalogGRU)]


def _initial_state(torch_cls: type, layers: int, batch: int | None, hidden: int) -> Any:
    shape = (layers, hidden) if batch is None else (layers, batch, hidden)
    h = torch.randn(shape)
    return (h, torch.randn(shape)) if torch_cls is nn.LSTM else h


@pytest.mark.parametrize("torch_cls,analog_cls", RNN_TYPES, ids=["LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_rnn_ideal_two_layer_bidirectional(torch_cls: type, analog_cls: type, batch_first: bool,
                                           with_state: bool) -> None:
    ref = torch_cls(5, 6, num_layers=2, bidirectional=True, batch_first=batch_first)
    analog = analog_cls.from_float(copy.deepcopy(ref), IDEAL)
    x = torch.randn(3, 4, 5) if batch_first else torch.randn(4, 3, 5)  # batch 3, length 4
    args = (x, _initial_state(torch_cls, 4, 3, 6)) if with_state else (x,)
    # N: layer 2 sums 2·6 inputs + 6 hidden + bias; S: 4 steps × 2 layers, forward + backward
    assert_same_as_torch(ref, analog, *args, terms=19, stages=2 * 4 * 2)


@pytest.mark.parametrize("torch_cls,analog_cls", RNN_TYPES, ids=["LSTM", "GRU"])
@pytest.mark.parametrize("with_state", [False, True])
def test_rnn_ideal_unbatched(torch_cls: type, analog_cls: type, with_state: bool) -> None:
    ref = torch_cls(5, 6, num_layers=2, bidirectional=True)
    analog = analog_cls.from_float(copy.deepcopy(ref), IDEAL)
    x = torch.randn(4, 5)
    args = (x, _initial_state(torch_cls, 4, None, 6)) if with_state else (x,)
    assert_same_as_torch(ref, analog, *args, terms=19, stages=2 * 4 * 2)


@pytest.mark.parametrize("torch_cls,analog_cls", RNN_TYPES, ids=["LSTM", "GRU"])
def test_rnn_ideal_no_bias_single_layer(torch_cls: type, analog_cls: type) -> None:
    ref = torch_cls(5, 6, bias=False, batch_first=True)
    analog = analog_cls.from_float(copy.deepcopy(ref), IDEAL)
    # N: 5 inputs + 6 hidden; S: 3 steps, forward + backward
    assert_same_as_torch(ref, analog, torch.randn(2, 3, 5), terms=11, stages=2 * 3)


@pytest.mark.parametrize("torch_cls,analog_cls", RNN_TYPES, ids=["LSTM", "GRU"])
def test_rnn_ideal_input_spans_two_tiles(torch_cls: type, analog_cls: type) -> None:
    ref = torch_cls(520, 4)
    analog = analog_cls.from_float(copy.deepcopy(ref), IDEAL)
    assert analog.tile_arrays["weight_ih_l0"].geometry.num_tiles == 2
    # N: 520 inputs (512 + 8 rows on two tiles) + 4 hidden + bias; S: 3 steps, fwd + bwd
    assert_same_as_torch(ref, analog, torch.randn(3, 2, 520), terms=525, stages=2 * 3)


# ----------------------------------------------------------------------------- attention
# N: embed 8 + bias (in/out projections), src 5 (softmax·V), batch × tgt 8 (weight grads);
# S: in-projection, QKᵀ + softmax, A·V, out-projection, each forward and backward
MHA_TERMS, MHA_STAGES = 10, 2 * 4


def _mha_pair(batch_first: bool = False, kdim: int | None = None, vdim: int | None = None,
              bias: bool = True) -> tuple[nn.MultiheadAttention, nn.Module]:
    ref = nn.MultiheadAttention(8, 2, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first)
    analog = aimc.convert_to_analog(ref, IDEAL)
    assert isinstance(analog, AnalogMultiheadAttention)
    assert isinstance(analog.out_proj, AnalogLinear)
    return ref, analog


def _qkv(batch_first: bool, kdim: int = 8, vdim: int = 8, n: int | None = 2,
         tgt: int = 4, src: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    def shape(length: int, e: int) -> tuple[int, ...]:
        if n is None:
            return (length, e)
        return (n, length, e) if batch_first else (length, n, e)

    return torch.randn(shape(tgt, 8)), torch.randn(shape(src, kdim)), torch.randn(shape(src, vdim))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_mha_ideal_self_attention(batch_first: bool, need_weights: bool, train: bool) -> None:
    ref, analog = _mha_pair(batch_first)
    ref.train(train)
    analog.train(train)
    q, _, _ = _qkv(batch_first, src=4)
    assert_same_as_torch(ref, analog, q, q, q, need_weights=need_weights, terms=MHA_TERMS,
                         stages=MHA_STAGES)


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_ideal_kdim_vdim(batch_first: bool) -> None:
    ref, analog = _mha_pair(batch_first, kdim=5, vdim=3)
    assert not analog._qkv_same_embed_dim
    assert_same_as_torch(ref, analog, *_qkv(batch_first, 5, 3), terms=MHA_TERMS, stages=MHA_STAGES)


def test_mha_ideal_no_bias() -> None:
    ref, analog = _mha_pair(bias=False)
    assert_same_as_torch(ref, analog, *_qkv(False), terms=MHA_TERMS, stages=MHA_STAGES)


def _masks(kind: str, n: int = 2, tgt: int = 4, src: int = 5) -> dict[str, Tensor]:
    kpm = torch.zeros(n, src, dtype=torch.bool)
    kpm[0, -2:] = True
    kpm[1, 2] = True
    causal_bool = torch.ones(tgt, src, dtype=torch.bool).triu(1)
    if kind == "key_padding_mask":
        return {"key_padding_mask": kpm}
    if kind == "attn_mask_bool":
        return {"attn_mask": causal_bool}
    if kind == "attn_mask_float":
        return {"attn_mask": torch.randn(tgt, src)}
    if kind == "attn_mask_3d":
        return {"attn_mask": torch.randn(n * 2, tgt, src)}
    if kind == "both_bool":
        return {"attn_mask": causal_bool, "key_padding_mask": kpm}
    if kind == "both_float":
        return {"attn_mask": torch.randn(tgt, src),
                "key_padding_mask": torch.zeros(n, src).masked_fill(kpm, float("-inf"))}
    raise AssertionError(kind)


MASK_KINDS = ["key_padding_mask", "attn_mask_bool", "attn_mask_float", "attn_mask_3d",
              "both_bool", "both_float"]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_ideal_masks(kind: str, need_weights: bool) -> None:
    ref, analog = _mha_pair(batch_first=True, kdim=5, vdim=6)
    assert_same_as_torch(ref, analog, *_qkv(True, 5, 6), need_weights=need_weights,
                         **_masks(kind), terms=MHA_TERMS, stages=MHA_STAGES)


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_ideal_per_head_weights(batch_first: bool) -> None:
    ref, analog = _mha_pair(batch_first)
    _, w = analog(*_qkv(batch_first), average_attn_weights=False)
    assert w is not None and w.shape == (2, 2, 4, 5)
    assert_same_as_torch(ref, analog, *_qkv(batch_first), average_attn_weights=False,
                         **_masks("both_bool"), terms=MHA_TERMS, stages=MHA_STAGES)


@pytest.mark.parametrize("kind", [None, "attn_mask_bool", "attn_mask_float"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_ideal_unbatched(kind: str | None, need_weights: bool) -> None:
    ref, analog = _mha_pair(kdim=5, vdim=6)
    masks = _masks(kind) if kind else {}
    assert_same_as_torch(ref, analog, *_qkv(False, 5, 6, n=None), need_weights=need_weights,
                         **masks, terms=MHA_TERMS, stages=MHA_STAGES)


def test_mha_ideal_is_causal() -> None:
    ref, analog = _mha_pair(batch_first=True)
    q, _, _ = _qkv(True, src=4)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    assert_same_as_torch(ref, analog, q, q, q, attn_mask=causal, is_causal=True,
                         terms=MHA_TERMS, stages=MHA_STAGES)
    assert_same_as_torch(ref, analog, q, q, q, attn_mask=causal, is_causal=True,
                         need_weights=False, terms=MHA_TERMS, stages=MHA_STAGES)


def test_mha_ideal_unbatched_key_padding_mask() -> None:
    ref, analog = _mha_pair()
    kpm = torch.tensor([False, False, True, False, True])
    assert_same_as_torch(ref, analog, *_qkv(False, n=None), key_padding_mask=kpm,
                         terms=MHA_TERMS, stages=MHA_STAGES)


def test_mha_from_float_projections_ideal() -> None:
    ref = nn.MultiheadAttention(8, 2, kdim=5, vdim=6)
    analog = AnalogMultiheadAttention.from_float(copy.deepcopy(ref), IDEAL)
    assert_same_as_torch(ref, analog, *_qkv(False, 5, 6), terms=MHA_TERMS, stages=MHA_STAGES)


# ----------------------------------------------------------------------------- transformer
# N: feed-forward width 24 + bias (batch × seq = 12 for weight grads, d_model 16 for the norms);
# S: 2 layers × (4 attention stages + 2 feed-forward + 2 norms), forward and backward
ENC_TERMS, ENC_STAGES = 25, 2 * 2 * 8


def _encoder(batch_first: bool = True, norm_first: bool = False) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=24, dropout=0.0,
                                       batch_first=batch_first, norm_first=norm_first)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def _no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torch's fused eval kernels fail loudly if anything calls them."""
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch's fused fast path was taken by the analog model")

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", boom)
    monkeypatch.setattr(torch, "_native_multi_head_attention", boom)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_ideal_train(batch_first: bool, norm_first: bool) -> None:
    ref = _encoder(batch_first, norm_first).train()
    analog = aimc.convert_to_analog(ref, IDEAL)
    assert all(isinstance(m, AnalogTransformerEncoderLayer) for m in analog.layers)
    x = torch.randn(2, 6, 16) if batch_first else torch.randn(6, 2, 16)
    kpm = torch.zeros(2, 6, dtype=torch.bool)
    kpm[1, -2:] = True
    assert_same_as_torch(ref, analog, x, terms=ENC_TERMS, stages=ENC_STAGES)
    assert_same_as_torch(ref, analog, x, src_key_padding_mask=kpm, terms=ENC_TERMS,
                         stages=ENC_STAGES)


@pytest.mark.parametrize("with_mask", [False, True])
def test_transformer_encoder_ideal_eval(monkeypatch: pytest.MonkeyPatch, with_mask: bool) -> None:
    ref = _encoder().eval()
    analog = aimc.convert_to_analog(ref, IDEAL)
    assert not analog.training
    x = torch.randn(2, 6, 16)
    kw: dict[str, Tensor] = {}
    if with_mask:
        kpm = torch.zeros(2, 6, dtype=torch.bool)
        kpm[0, -3:] = True
        kw["src_key_padding_mask"] = kpm
    prev = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            expected = ref(x, **kw)
    finally:
        torch.backends.mha.set_fastpath_enabled(prev)
    _no_fast_path(monkeypatch)  # the fast path is enabled again but must not be taken
    with torch.no_grad():
        got = analog(x, **kw)
    assert_close_sum_order(got, expected, ENC_TERMS, ENC_STAGES // 2, "eval output")
    # gradients (eval mode, no_grad off: torch skips the fast path when grad is needed)
    monkeypatch.undo()
    assert_same_as_torch(ref, analog, x, **kw, terms=ENC_TERMS, stages=ENC_STAGES)


def test_transformer_encoder_eval_uses_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The converted encoder in eval mode reads its weights through the tiles."""
    ref = _encoder().eval()
    cfg = IDEAL.replace(forward=IDEAL.forward.replace(out_noise=0.5))
    analog = aimc.convert_to_analog(ref, cfg)
    x = torch.randn(2, 6, 16)
    _no_fast_path(monkeypatch)
    with torch.no_grad():
        a, b = analog(x), analog(x)
    assert not torch.allclose(a, b)  # noisy tiles are in the loop


# ----------------------------------------------------------------------------- round trip
def _roundtrip_cases() -> list[tuple[nn.Module, type]]:
    return [
        (nn.Linear(600, 7), AnalogLinear),
        (nn.Linear(6, 3, bias=False), AnalogLinear),
        (nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), AnalogConv1d),
        (nn.Conv2d(4, 8, 3, padding="same", padding_mode="reflect", groups=4), AnalogConv2d),
        (nn.Conv2d(64, 5, 3, bias=False), AnalogConv2d),
        (nn.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True), AnalogLSTM),
        (nn.GRU(5, 6, num_layers=2, bias=False), AnalogGRU),
        (nn.MultiheadAttention(8, 2, kdim=5, vdim=3, batch_first=True), AnalogMultiheadAttention),
        (nn.MultiheadAttention(8, 2), AnalogMultiheadAttention),
    ]


@pytest.mark.parametrize("case", range(len(_roundtrip_cases())))
def test_from_float_to_float_roundtrip_exact(case: int) -> None:
    seed_everything(case)
    ref, cls = _roundtrip_cases()[case]
    ref.eval()
    analog = cls.from_float(copy.deepcopy(ref), IDEAL)
    assert type(analog) is cls
    assert not analog.training
    assert analog.analog_config == IDEAL
    back = analog.to_float()
    assert type(back) is type(ref) or (isinstance(ref, nn.Linear) and type(back) is nn.Linear)
    assert not back.training
    sd_ref, sd_back = ref.state_dict(), back.state_dict()
    assert sd_ref.keys() == sd_back.keys()
    for key in sd_ref:
        assert torch.equal(sd_ref[key], sd_back[key]), key
    for name, value in vars(ref).items():  # hyper-parameters survive
        if not name.startswith("_") and isinstance(value, (int, float, bool, str, tuple)):
            assert getattr(back, name) == value, name
    # the analog layer also holds the exact torch weights
    for key, value in sd_ref.items():
        assert torch.equal(analog.state_dict()[key], value), key


def test_from_float_copies_requires_grad_and_keeps_source() -> None:
    ref = nn.Linear(4, 3)
    ref.bias.requires_grad_(False)
    before = copy.deepcopy(ref.state_dict())
    analog = AnalogLinear.from_float(ref, IDEAL)
    assert analog.weight.requires_grad and not analog.bias.requires_grad
    assert analog.weight is not ref.weight
    with torch.no_grad():
        analog.weight.add_(1.0)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, before[k])


# ----------------------------------------------------------------------------- float64
@pytest.mark.parametrize("make,shape,terms,stages", [
    (lambda: nn.Linear(600, 5), (3, 600), 600, 1),
    (lambda: nn.Conv2d(64, 4, 3, padding=1, groups=2), (2, 64, 5, 5), 32 * 9, 1),
    (lambda: nn.GRU(5, 4, num_layers=2, bidirectional=True), (3, 2, 5), 13, 2 * 3 * 2),
    (lambda: nn.LSTM(5, 4, batch_first=True), (2, 3, 5), 10, 2 * 3),
], ids=["linear", "conv2d", "gru", "lstm"])
def test_ideal_float64_is_tight(make, shape: tuple[int, ...], terms: int, stages: int) -> None:
    """Same bounds with u = 2⁻⁵³: ~5e8× tighter than float32, so float32 anywhere in the
    analog path (a cast, a float32 buffer) fails this test."""
    ref = make().double()
    analog = aimc.convert_to_analog(ref, IDEAL)
    assert next(analog.parameters()).dtype == torch.float64
    assert_same_as_torch(ref, analog, torch.randn(shape, dtype=torch.float64), terms=terms,
                         stages=stages)


def test_ideal_mha_float64() -> None:
    ref = nn.MultiheadAttention(8, 2, kdim=5, vdim=6, dtype=torch.float64)
    analog = aimc.convert_to_analog(ref, IDEAL)
    q, k, v = (t.double() for t in _qkv(False, 5, 6))
    assert_same_as_torch(ref, analog, q, k, v, attn_mask=torch.randn(4, 5, dtype=torch.float64),
                         terms=MHA_TERMS, stages=MHA_STAGES)
