"""Run provenance: code versions in metrics, refusing to resume other code's runs, and
metrics/commands without absolute machine paths (aimc.experiments.provenance)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import aimc
from aimc.errors import CheckpointError, StateError
from aimc.experiments import provenance
from aimc.experiments.provenance import (
    CODE_FILE,
    claim_run_folder,
    code_block,
    code_version,
    portable_command,
    portable_path,
    portable_run_path,
    same_code,
)

REPO = Path(__file__).resolve().parents[1]


def test_code_version_names_the_checkout() -> None:
    code = code_version()
    assert code["aimc"] == aimc.__version__
    if (REPO / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", code["git_commit"])
        assert isinstance(code["git_dirty"], bool)
        assert (code["diff_hash"] is None) == (not code["git_dirty"])


def test_code_version_without_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "_git_state", lambda: (None, None, None))
    assert code_version() == {"aimc": aimc.__version__, "git_commit": None, "git_dirty": None,
                              "diff_hash": None}


def _other(**kw: object) -> dict[str, object]:
    return {**code_version(), **kw}


def test_fresh_folder_is_claimed_and_resumable(tmp_path: Path) -> None:
    history = claim_run_folder(tmp_path)
    assert history == [code_version()]
    assert json.loads((tmp_path / CODE_FILE).read_text())["history"] == history
    (tmp_path / "result.json").write_text("{}")
    assert claim_run_folder(tmp_path) == history  # same code resumes silently
    assert code_block(history) == code_version()


@pytest.mark.parametrize("change", [{"git_commit": "0" * 40}, {"aimc": "0.0.1"},
                                    {"git_dirty": True, "diff_hash": "feedfacefeedface"}])
def test_other_code_is_refused_unless_forced(tmp_path: Path, change: dict[str, object]) -> None:
    old = _other(**change)
    if same_code(old, code_version()):  # e.g. already dirty with that very hash: impossible
        pytest.skip("the running code equals the mutated record")
    (tmp_path / CODE_FILE).write_text(json.dumps({"history": [old]}))
    before = (tmp_path / CODE_FILE).read_text()
    with pytest.raises(StateError, match="--allow-other-code"):
        claim_run_folder(tmp_path)
    assert (tmp_path / CODE_FILE).read_text() == before  # nothing recorded on refusal
    history = claim_run_folder(tmp_path, allow_other_code=True)
    assert history == [old, code_version()]
    block = code_block(history)
    assert block["earlier"] == [old] and block["git_commit"] == code_version()["git_commit"]


def test_results_from_before_code_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "arms").mkdir()
    with pytest.raises(StateError, match="results made by aimc None"):
        claim_run_folder(tmp_path)
    assert len(claim_run_folder(tmp_path, allow_other_code=True)) == 2


def test_corrupt_code_file(tmp_path: Path) -> None:
    (tmp_path / CODE_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="delete it"):
        claim_run_folder(tmp_path)


def test_portable_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMC_DATA", raising=False)
    root = tmp_path / "data"
    assert portable_path(root / "mnist", root) == "$AIMC_DATA/mnist"
    assert portable_path(root, root) == "$AIMC_DATA"
    assert portable_path(tmp_path / "elsewhere" / "mnist") == "<data>/mnist"
    assert portable_path("relative/mnist") == "relative/mnist"
    assert portable_path(None) is None
    monkeypatch.setenv("AIMC_DATA", str(root))
    assert portable_path(root / "cifar10_jpeg") == "$AIMC_DATA/cifar10_jpeg"
    assert portable_run_path("runs/x") == "runs/x"
    assert portable_run_path(tmp_path / "runs" / "x") == "<path>/x"


def test_portable_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMC_DATA", raising=False)
    data = str(tmp_path / "data")
    assert portable_command(["reproduce", "a", "--data", data, "--out", "runs/a"]) == \
        "reproduce a --data $AIMC_DATA --out runs/a"
    assert portable_command(["--data", f"{data}/mnist", "--spec", str(tmp_path / "s p.json")]) \
        == "--data $AIMC_DATA/mnist --spec '<path>/s p.json'"
    assert portable_command([f"--data={data}/ptb", "--seed", "1"]) == \
        "--data=$AIMC_DATA/ptb --seed 1"
    assert str(tmp_path) not in portable_command(["--out", str(tmp_path / "o")])
