"""The ``aimc`` command line: --version, presets, demo arguments, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import aimc
from aimc.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"aimc {aimc.__version__}"


def test_python_dash_m_runs_the_cli():
    res = subprocess.run([sys.executable, "-m", "aimc", "--version"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"aimc {aimc.__version__}"


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in aimc.presets.PRESETS:
        assert name in out
    assert "Rasch" in out


@pytest.mark.parametrize("name", aimc.presets.PRESETS)
def test_preset_as_json_round_trips(capsys, name):
    assert main(["presets", name]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == getattr(aimc.presets, name)().to_dict()
    assert aimc.AnalogConfig.from_dict(data) == getattr(aimc.presets, name)()


def test_unknown_preset_exits_2_with_choices(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["presets", "rasch2024"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown preset 'rasch2024'" in err and "rasch2023" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--repeats", "0"], "--repeats: must be >= 1, got 0; e.g. --repeats 5"),
    (["--repeats", "many"], "--repeats: expected an integer"),
    (["--epochs", "-1"], "--epochs: must be >= 0"),
    (["--hwa-epochs", "-2"], "--hwa-epochs: must be >= 0"),
    (["--seed", "-5"], "--seed: must be >= 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_demo_arguments_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_no_command_exits_2(capsys):
    assert main([]) == 2
    assert "choose a command" in capsys.readouterr().err


def test_demo_quick_prints_table_and_writes_files(capsys, tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--no-progress", "--out", str(out), "--repeats", "1"]) == 0
    captured = capsys.readouterr()
    assert "HWA-trained (analog)" in captured.out and "1 year" in captured.out
    assert captured.err == ""  # --no-progress: no bars
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["repeats"] == 1 and metrics["settings"]["quick"] is True
    assert (out / "report.md").is_file()


def test_demo_without_sklearn_names_the_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path / "x")]) == 1
    assert 'pip install "aimc[demo]"' in capsys.readouterr().err
