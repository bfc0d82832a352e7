"""Checkpoints: tensors only, exact round trip, validated before anything loads."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from seeding import seed_everything, seeded
from torch import nn

import aimc
from aimc.config import TileSplit
from aimc.errors import CheckpointError
from aimc.nn import AnalogLinear

RASCH = aimc.presets.rasch2023()
IDEAL = aimc.presets.ideal()


class CnnLstm(nn.Module):
    def __init__(self, hidden: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, padding=1)
        self.lstm = nn.LSTM(6, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, L)
        h = torch.relu(self.conv(x)).transpose(1, 2)
        out, _ = self.lstm(h)
        return self.fc(out[:, -1])


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(4, 3, 7, generator=seeded(seed))


def _fresh(config: aimc.AnalogConfig = RASCH, seed: int = 100, **kw: int) -> nn.Module:
    seed_everything(seed)
    return aimc.convert_to_analog(CnnLstm(**kw), config).eval()


def _programmed(config: aimc.AnalogConfig = RASCH, t: float = 3600.0, **kw: int) -> nn.Module:
    model = _fresh(config, seed=0, **kw)
    aimc.calibrate_input_ranges(model, [_x(1), _x(2)])
    aimc.program(model, generator=seeded(0))
    aimc.set_time(model, t, generator=seeded(1))
    return model


def _snapshot(model: nn.Module) -> dict:
    return copy.deepcopy(model.state_dict())


def _assert_state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def _out(model: nn.Module, seed: int = 42) -> torch.Tensor:
    seed_everything(seed)
    with torch.no_grad():
        return model(_x(3))


# ----------------------------------------------------------------------------- round trip
def test_state_dict_loads_with_weights_only(tmp_path: Path) -> None:
    model = _programmed()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    state = torch.load(path, weights_only=True)
    _assert_state_equal(state, model.state_dict())
    # the hardware state is in there
    assert any(k.endswith("g_programmed") for k in state)
    assert any(k.endswith("drift_nu") for k in state)
    assert any(k.endswith("t_inference") for k in state)


def test_load_into_fresh_model_reproduces_outputs(tmp_path: Path) -> None:
    model = _programmed()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    fresh = _fresh()
    assert not any(a.is_programmed for a in aimc.tile_arrays(fresh))
    result = fresh.load_state_dict(torch.load(path, weights_only=True))
    assert not result.missing_keys and not result.unexpected_keys
    _assert_state_equal(fresh.state_dict(), model.state_dict())
    for a, b in zip(aimc.tile_arrays(model), aimc.tile_arrays(fresh), strict=True):
        assert b.is_programmed
        assert float(b.t_inference) == float(a.t_inference) == 3600.0
    torch.testing.assert_close(_out(fresh), _out(model), rtol=0, atol=0)
    # lifecycle continues identically from the loaded state
    for m in (model, fresh):
        aimc.set_time(m, 86400.0, generator=seeded(5))
    torch.testing.assert_close(_out(fresh), _out(model), rtol=0, atol=0)


def test_save_load_checkpoint_roundtrip(tmp_path: Path) -> None:
    model = _programmed()
    path = tmp_path / "ckpt.pt"
    aimc.save_checkpoint(model, path)
    assert path.is_file()
    assert not os.path.exists(str(path) + ".tmp")
    torch.load(path, weights_only=True)  # plain tensors only
    fresh = _fresh()
    out = aimc.load_checkpoint(fresh, path)
    assert out is fresh
    _assert_state_equal(fresh.state_dict(), model.state_dict())
    torch.testing.assert_close(_out(fresh), _out(model), rtol=0, atol=0)
    # str path works too
    aimc.load_checkpoint(_fresh(), str(path))


def test_unprogrammed_checkpoint_into_programmed_model(tmp_path: Path) -> None:
    source = _fresh(seed=3)
    aimc.calibrate_input_ranges(source, [_x(1)])
    target = _programmed()
    target.load_state_dict(source.state_dict())
    assert not any(a.is_programmed for a in aimc.tile_arrays(target))
    _assert_state_equal(target.state_dict(), source.state_dict())
    with pytest.raises(aimc.StateError):
        aimc.set_time(target, 1.0)


def test_ideal_checkpoint_roundtrip(tmp_path: Path) -> None:
    model = _programmed(IDEAL)
    fresh = _fresh(IDEAL)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(_out(fresh), _out(model), rtol=0, atol=0)


def test_digital_weights_load_non_strict() -> None:
    """A plain torch state_dict loads its weights with strict=False (tiles keep theirs)."""
    seed_everything(5)
    digital = CnnLstm()
    target = _fresh()
    ranges = [a.input_range.clone() for a in aimc.tile_arrays(target)]
    target.load_state_dict(digital.state_dict(), strict=False)
    for k, v in digital.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
    for a, r in zip(aimc.tile_arrays(target), ranges, strict=True):
        assert torch.equal(a.input_range, r)


def test_load_checkpoint_non_strict(tmp_path: Path) -> None:
    seed_everything(5)
    path = tmp_path / "digital.pt"
    torch.save(CnnLstm().state_dict(), path)
    target = _fresh()
    aimc.load_checkpoint(target, path, strict=False)
    torch.testing.assert_close(target.fc.weight, torch.load(path)["fc.weight"], rtol=0, atol=0)


# ----------------------------------------------------------------------------- mismatches
def _assert_rejected(target: nn.Module, state: dict, match: str | None = None,
                     strict: bool = True) -> None:
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match=match):
        target.load_state_dict(state, strict=strict)
    _assert_state_equal(target.state_dict(), before)


MISMATCHES = {
    "hidden size": lambda: _fresh(hidden=16),
    "classes": lambda: _fresh(classes=5),
    "ideal vs rasch": lambda: _fresh(IDEAL),
    "g_max": lambda: _fresh(RASCH.replace(device=RASCH.device.replace(g_max=20e-6))),
    "max_rows": lambda: _fresh(RASCH.replace(
        mapping=RASCH.mapping.replace(tiles=TileSplit(max_rows=4)))),
    "out_noise": lambda: _fresh(RASCH.replace(
        forward=RASCH.forward.replace(out_noise=0.05))),
}


@pytest.mark.parametrize("what", list(MISMATCHES))
@pytest.mark.parametrize("target_programmed", [False, True])
def test_mismatching_state_dict_raises_and_leaves_model_unchanged(
        what: str, target_programmed: bool) -> None:
    source = _programmed()
    target = MISMATCHES[what]()
    if target_programmed:
        aimc.program(target, generator=seeded(9))
    _assert_rejected(target, source.state_dict())


@pytest.mark.parametrize("what", ["g_max", "ideal vs rasch", "hidden size"])
def test_mismatch_is_also_rejected_in_reverse_and_non_strict(what: str) -> None:
    target = _programmed()
    source = MISMATCHES[what]()
    _assert_rejected(target, source.state_dict())
    if what != "ideal vs rasch":  # (different keys: non-strict legitimately skips them)
        _assert_rejected(target, source.state_dict(), strict=False)


def test_config_mismatch_message_names_the_fix() -> None:
    target = MISMATCHES["g_max"]()
    _assert_rejected(target, _programmed().state_dict(), match="g_max.*AnalogConfig.from_dict")


def test_architecture_mismatch_message() -> None:
    _assert_rejected(_fresh(hidden=16), _programmed().state_dict(),
                     match="same architecture")


def test_different_module_structure_raises() -> None:
    other = aimc.convert_to_analog(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)), RASCH)
    _assert_rejected(_fresh(), other.state_dict(), match="missing")
    _assert_rejected(other, _programmed().state_dict(), match="unexpected")


def test_non_tensor_values_raise() -> None:
    state = _programmed().state_dict()
    state["fc.weight"] = [[0.0]]
    _assert_rejected(_fresh(), state, match="fc.weight")


def test_corrupt_extra_state_raises() -> None:
    state = _programmed().state_dict()
    key = next(k for k in state if k.endswith("_extra_state"))
    state[key] = {"nonsense": 1}
    _assert_rejected(_fresh(), state, match="not an aimc tile state")


def test_impossible_programmed_state_shape_raises() -> None:
    state = _programmed().state_dict()
    key = next(k for k in state if k.endswith("g_programmed"))
    state[key] = torch.zeros(2, 1, 1, 1)
    _assert_rejected(_fresh(), state, match="g_programmed")


def test_load_checkpoint_mismatch_leaves_model_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    aimc.save_checkpoint(_programmed(), path)
    for make in MISMATCHES.values():
        target = make()
        before = _snapshot(target)
        with pytest.raises(CheckpointError):
            aimc.load_checkpoint(target, path)
        _assert_state_equal(target.state_dict(), before)


def test_direct_layer_config_mismatch_leaves_layer_unchanged() -> None:
    source = AnalogLinear(4, 3, config=RASCH)
    target = AnalogLinear(4, 3, config=RASCH.replace(device=RASCH.device.replace(g_max=20e-6)))
    _assert_rejected(target, source.state_dict())


# ----------------------------------------------------------------------------- bad files
def test_truncated_checkpoint_raises(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    aimc.save_checkpoint(_programmed(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    target = _fresh()
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        aimc.load_checkpoint(target, path)
    _assert_state_equal(target.state_dict(), before)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, bytes(range(256)) * 8])
def test_garbage_checkpoint_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    target = _fresh()
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="save_checkpoint"):
        aimc.load_checkpoint(target, path)
    _assert_state_equal(target.state_dict(), before)


def test_checkpoint_with_non_state_dict_content_raises(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        aimc.load_checkpoint(_fresh(), path)


def test_missing_file_raises(tmp_path: Path) -> None:
    target = _fresh()
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="does not exist"):
        aimc.load_checkpoint(target, tmp_path / "nope.pt")
    with pytest.raises(CheckpointError):
        aimc.load_checkpoint(target, tmp_path)  # a directory is not a checkpoint file
    _assert_state_equal(target.state_dict(), before)
