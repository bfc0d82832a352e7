"""Reference workloads in ``aimc.models``: shapes, sizes, conversion, training, bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from seeding import seed_everything, seeded
from torch import Tensor, nn

import aimc
from aimc.convert import analog_layers
from aimc.errors import ConfigError, ShapeError
from aimc.models import (
    WORKLOADS,
    LSTMLanguageModel,
    TransformerClassifier,
    build_model,
    lstm_ptb,
    mlp_mnist,
    resnet20_cifar,
    transformer_sst2,
)
from aimc.nn import AnalogConv2d, AnalogLinear, AnalogLSTM, AnalogMultiheadAttention

IDEAL = aimc.presets.ideal()
V = 37  # small vocabulary for the sequence models


def _gen(seed: int = 0) -> torch.Generator:
    return seeded(seed)


def _tokens(n: int, length: int, *, seed: int = 0, pad_tail: bool = False) -> Tensor:
    t = torch.randint(1, V, (n, length), generator=_gen(seed))
    if pad_tail:  # ragged batch: row i keeps length - i real tokens
        for i in range(1, n):
            t[i, length - i:] = 0
    return t


def _small_lstm(dropout: float = 0.2) -> LSTMLanguageModel:
    seed_everything(0)
    return LSTMLanguageModel(V, embed_dim=12, hidden=16, num_layers=2, dropout=dropout)


def _small_transformer(dropout: float = 0.1, num_layers: int = 2) -> TransformerClassifier:
    seed_everything(0)
    return TransformerClassifier(V, num_classes=3, d_model=16, nhead=2, num_layers=num_layers,
                                 dim_feedforward=32, max_len=12, dropout=dropout)


# one (model builder, input builder, logits getter) per workload, at test sizes
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[], Tensor], Callable]] = {
    "mlp": (lambda: mlp_mnist(hidden=(32, 16)),
            lambda: torch.randn(4, 1, 28, 28, generator=_gen()), lambda out: out),
    "resnet": (lambda: resnet20_cifar(width=4),
               lambda: torch.randn(4, 3, 16, 16, generator=_gen()), lambda out: out),
    "lstm": (_small_lstm, lambda: _tokens(3, 9), lambda out: out[0]),
    "transformer": (_small_transformer, lambda: _tokens(4, 10, pad_tail=True),
                    lambda out: out),
}


def _seeded(build: Callable[[], nn.Module]) -> nn.Module:
    seed_everything(0)
    return build()


# ---------------------------------------------------------------- shapes and sizes


def test_output_shapes() -> None:
    assert mlp_mnist()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert mlp_mnist(hidden=(8,), num_classes=4)(torch.randn(3, 784)).shape == (3, 4)
    assert resnet20_cifar(num_classes=7, width=4)(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    lm = _small_lstm()
    logits, (h, c) = lm(_tokens(3, 5))
    assert logits.shape == (3, 5, V)
    assert h.shape == c.shape == (2, 3, 16)
    assert _small_transformer()(_tokens(2, 12, pad_tail=True)).shape == (2, 3)


def test_resnet20_parameter_count_and_structure() -> None:
    model = resnet20_cifar()
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - 0.27e6) / 0.27e6 < 0.05, n
    assert n == 269_722
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19
    assert [c.out_channels for c in convs[:1] + convs[1::6]] == [16, 16, 32, 64]
    # 32×32 → 8×8 feature maps: the stride-2 convs sit at the start of stages 2 and 3
    assert [c.stride for c in convs].count((2, 2)) == 2
    assert model.fc.in_features == 64


def test_default_parameter_counts() -> None:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(mlp_mnist()) == 235_146
    assert count(lstm_ptb()) == 4_653_200
    assert count(transformer_sst2()) == 4_188_418


def test_lstm_state_carries_over() -> None:
    lm = _small_lstm().eval()
    tokens = _tokens(2, 8)
    full, state_full = lm(tokens)
    first, state = lm(tokens[:, :5])
    second, state_end = lm(tokens[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    torch.testing.assert_close(state_end, state_full)
    h0, c0 = lm.init_state(2)
    assert h0.shape == c0.shape == (2, 2, 16) and not h0.any()
    torch.testing.assert_close(lm(tokens, (h0, c0))[0], full)
    h, c = lm.detach_state(state_end)
    assert not h.requires_grad and not c.requires_grad


def test_lstm_tie_weights() -> None:
    lm = LSTMLanguageModel(V, embed_dim=16, hidden=16, tie_weights=True)
    assert lm.decoder.weight is lm.embedding.weight
    assert lm(_tokens(2, 4))[0].shape == (2, 4, V)
    with pytest.raises(ConfigError, match="embed_dim == hidden"):
        LSTMLanguageModel(V, embed_dim=8, hidden=16, tie_weights=True)


def test_transformer_ignores_padding() -> None:
    model = _small_transformer().eval()
    tokens = _tokens(3, 6)
    padded = torch.cat([tokens, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded), model(tokens), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- conversion


@pytest.mark.parametrize("case", sorted(CASES))
def test_ideal_conversion_matches_fp(case: str) -> None:
    build, make_input, logits = CASES[case]
    model = _seeded(build).eval()
    x = make_input()
    analog = aimc.convert_to_analog(model, IDEAL).eval()
    fast = torch.backends.mha.get_fastpath_enabled()
    try:
        # the FP encoder's fused eval fast path rounds differently; compare module by module
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad():
            expected = logits(model(x))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    with torch.no_grad():
        got = logits(analog(x))
        fused = logits(model(x))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused, expected, rtol=1e-4, atol=1e-5)


def test_ideal_conversion_matches_fp_transformer_train_mode() -> None:
    model = _small_transformer(dropout=0.0).train()
    analog = aimc.convert_to_analog(model, IDEAL).train()
    x = _tokens(4, 10, pad_tail=True)
    torch.testing.assert_close(analog(x), model(x), rtol=1e-4, atol=1e-5)


def test_analog_layer_counts() -> None:
    def kinds(model: nn.Module) -> list[type]:
        return [type(m) for _, m in analog_layers(aimc.convert_to_analog(model, IDEAL))]

    assert kinds(mlp_mnist(hidden=(8, 8))) == [AnalogLinear] * 3
    res = kinds(resnet20_cifar(width=2))
    assert len(res) == 20 and res.count(AnalogConv2d) == 19 and res.count(AnalogLinear) == 1
    assert kinds(_small_lstm()) == [AnalogLSTM, AnalogLinear]
    tr = kinds(_small_transformer(num_layers=3))
    assert len(tr) == 4 * 3 + 1
    assert tr.count(AnalogMultiheadAttention) == 3 and tr.count(AnalogLinear) == 3 * 3 + 1


def test_models_are_plain_torch() -> None:
    for build, _, _ in CASES.values():
        assert not analog_layers(build())


# ---------------------------------------------------------------- training


def _loss(case: str, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    out = CASES[case][2](model(x))
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))


@pytest.mark.parametrize("case", sorted(CASES))
def test_few_steps_reduce_loss(case: str) -> None:
    build, make_input, logits = CASES[case]
    model = _seeded(build).train()
    x = make_input()
    with torch.no_grad():
        out = logits(model(x))
    target = torch.randint(0, out.shape[-1], out.shape[:-1], generator=_gen(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seed_everything(0)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = _loss(case, model, x, target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # eight small Adam steps on one fixed batch: the training loss (the function being
    # minimised) ends below where it started, and its last four steps lie below its first four
    assert losses[-1] < losses[0] and sum(losses[4:]) < sum(losses[:4]), losses
    # eval mode too, except with BatchNorm: its running statistics (momentum 0.1) are after
    # eight steps still mostly those of the untrained network, so the eval-mode loss of a
    # memorised batch is not a measure of the training
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        model.eval()
        with torch.no_grad():
            final = _loss(case, model, x, target).item()
        assert final < losses[0], (losses, final)


# ---------------------------------------------------------------- registry


def test_registry_builds_every_workload() -> None:
    assert set(WORKLOADS) == {"mlp_mnist", "resnet20_cifar", "lstm_ptb", "transformer_sst2"}
    small = {"mlp_mnist": {"hidden": (8,)}, "resnet20_cifar": {"width": 2},
             "lstm_ptb": {"vocab_size": V, "embed_dim": 8, "hidden": 8},
             "transformer_sst2": {"vocab_size": V, "d_model": 8, "nhead": 2,
                                  "dim_feedforward": 16}}
    for name, kwargs in small.items():
        model = build_model(name, **kwargs)
        assert isinstance(model, nn.Module)
        assert WORKLOADS[name].citation and WORKLOADS[name].inputs
    assert isinstance(build_model("lstm_ptb", vocab_size=V), LSTMLanguageModel)


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="analognet_kws, analognet_vww, ds_cnn_kws, "
                                          "lstm_ptb, mlp_mnist, mobilenet_v1_vww, "
                                          "resnet20_cifar, transformer_sst2"):
        build_model("resnet50")
    with pytest.raises(ConfigError, match="takes no argument depth"):
        build_model("resnet20_cifar", depth=20)


# ---------------------------------------------------------------- bad input


def test_bad_image_inputs() -> None:
    mlp, res = mlp_mnist(hidden=(8,)), resnet20_cifar(width=2)
    with pytest.raises(ShapeError, match="784 values"):
        mlp(torch.randn(2, 1, 32, 32))
    with pytest.raises(ShapeError, match="floating-point"):
        mlp(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        res(torch.randn(3, 32, 32))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        res(torch.randn(2, 32, 32, 3))
    with pytest.raises(ShapeError, match="floating-point"):
        res(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_bad_token_inputs() -> None:
    lm, tr = _small_lstm(), _small_transformer()
    for model in (lm, tr):
        with pytest.raises(ShapeError, match="integer token ids"):
            model(torch.randn(2, 5))
        with pytest.raises(ShapeError, match=r"\(N, L\)"):
            model(torch.ones(5, dtype=torch.long))
        with pytest.raises(ShapeError, match="vocab_size=37"):
            model(torch.full((2, 5), V))
        with pytest.raises(ShapeError, match="vocab_size=37"):
            model(torch.full((2, 5), -1))
    assert lm(_tokens(2, 4).to(torch.int16))[0].shape == (2, 4, V)  # small int types work
    with pytest.raises(ShapeError, match="max_len=12"):
        tr(_tokens(2, 13))
    with pytest.raises(ShapeError, match="only of pad tokens"):
        tr(torch.tensor([[3, 4, 0], [0, 0, 0]]))
    with pytest.raises(ShapeError, match=r"\(2, 3, 16\)"):
        lm(_tokens(3, 4), lm.init_state(2))
    with pytest.raises(ShapeError, match=r"\(h, c\)"):
        lm(_tokens(2, 4), torch.zeros(2, 2, 16))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        TransformerClassifier(V, d_model=10, nhead=4)
    with pytest.raises(ConfigError, match="pad_id"):
        TransformerClassifier(V, pad_id=V)
    with pytest.raises(ConfigError, match="width"):
        resnet20_cifar(width=0)
    with pytest.raises(ConfigError, match="dropout"):
        LSTMLanguageModel(V, dropout=1.5)
    with pytest.raises(ConfigError, match=r"hidden\[1\]"):
        mlp_mnist(hidden=(8, -1))
