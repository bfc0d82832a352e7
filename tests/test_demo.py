"""The main job (``aimc demo``) in quick mode: files, metrics, reproducibility, fallbacks."""

from __future__ import annotations

import io
import json
import math
import sys

import pytest
import torch
from seeding import seed_everything

import aimc
from aimc.errors import ConfigError
from aimc.experiments import report
from aimc.experiments.demo import (
    TIMES,
    DemoSettings,
    load_digits_data,
    run_demo,
)
from aimc.experiments.progress import progress, tqdm_available

pytest.importorskip("sklearn", reason='the demo needs scikit-learn: pip install "aimc[demo]"')


def _quick(tmp_path, name: str = "run", seed: int = 0) -> tuple[dict, object]:
    out = tmp_path / name
    metrics = run_demo(DemoSettings.quick_settings(seed=seed), out, show_progress=False,
                       echo=None)
    return metrics, out


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick demo run shared by the structure tests."""
    return _quick(tmp_path_factory.mktemp("demo"))


def test_quick_run_writes_the_run_folder(quick_run):
    metrics, out = quick_run
    for name in ("metrics.json", "config.json", "report.md"):
        assert (out / name).is_file(), name
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        png = out / report.PLOT_NAME
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp")), "temporary files left behind"
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["accuracy"] == metrics["accuracy"]
    assert on_disk["wall_time_s"] > 0


def test_metrics_structure(quick_run):
    metrics, _ = quick_run
    settings = DemoSettings.quick_settings()
    for key in ("settings", "seeds", "config", "times_s", "time_labels", "accuracy",
                "wall_time_s", "torch_version", "machine", "aimc_version", "dataset"):
        assert key in metrics, key
    assert metrics["torch_version"] == torch.__version__
    assert metrics["times_s"] == list(TIMES)
    assert metrics["time_labels"] == ["1 s", "1 h", "1 day", "1 year"]
    assert metrics["config"] == aimc.presets.rasch2023().to_dict()
    assert aimc.AnalogConfig.from_dict(metrics["config"]) == aimc.presets.rasch2023()
    assert metrics["seeds"]["programming"] == [r for r in range(settings.repeats)]
    acc = metrics["accuracy"]
    n_test = metrics["dataset"]["n_test"]

    def is_count(a: float) -> bool:  # an accuracy is k/n_test, k whole
        return 0.0 <= a <= 1.0 and abs(a * n_test - round(a * n_test)) < 1e-9

    for key in ("fp", "hwa_digital"):
        assert is_count(acc[key]), (key, acc[key])
    # measured 0.80 (FP) and 0.74 (HWA, digital) at seed 0; chance is 0.1
    assert acc["fp"] > 0.5 and acc["hwa_digital"] > 0.5, acc
    for key in ("direct", "hwa"):
        r = acc[key]
        rows = r["per_repeat"]
        assert r["programming_seeds"] == metrics["seeds"]["programming"]
        assert len(rows) == settings.repeats
        assert all(len(row) == len(TIMES) for row in rows)
        assert all(is_count(a) for row in rows for a in row)
        # independent programmings give different chips (a noiseless "analog" model would not)
        assert rows[0] != rows[1]
        for t in range(len(TIMES)):
            col = [row[t] for row in rows]
            mean = sum(col) / len(col)
            var = sum((a - mean) ** 2 for a in col) / (len(col) - 1)  # sample std, ddof 1
            assert r["mean"][t] == pytest.approx(mean, rel=1e-12)
            assert r["std"][t] == pytest.approx(math.sqrt(var), rel=1e-9, abs=1e-15)
        # the analog chip is worse than its digital twin but far better than chance
        assert 0.3 < max(r["mean"]) <= acc["fp"] + 0.05, (key, r["mean"])


def test_report_mentions_table_plot_and_rerun(quick_run):
    _, out = quick_run
    text = (out / "report.md").read_text()
    assert "| model | 1 s | 1 h | 1 day | 1 year |" in text
    assert "aimc demo --out" in text and "--seed 0" in text and "--quick" in text
    assert '"type": "AnalogConfig"' in text
    if (out / report.PLOT_NAME).exists():
        assert f"]({report.PLOT_NAME})" in text


def test_same_seed_same_numbers(quick_run, tmp_path):
    metrics, _ = quick_run
    again, _ = _quick(tmp_path, "again", seed=0)
    assert again["accuracy"] == metrics["accuracy"]
    assert again["settings"] == metrics["settings"]


def test_run_restores_global_rng(tmp_path):
    seed_everything(123)
    expected = torch.rand(3)
    seed_everything(123)
    run_demo(DemoSettings.quick_settings(epochs=0, hwa_epochs=0, repeats=1), None,
             show_progress=False, echo=None)
    assert torch.equal(torch.rand(3), expected)


def test_zero_epochs_still_evaluates(tmp_path):
    metrics = run_demo(DemoSettings.quick_settings(epochs=0, hwa_epochs=0, repeats=1),
                       tmp_path / "zero", show_progress=False, echo=None)
    assert len(metrics["accuracy"]["hwa"]["per_repeat"]) == 1
    assert metrics["accuracy"]["hwa"]["std"] == [0.0] * len(TIMES)


def test_data_is_scaled_and_stratified():
    d = load_digits_data()
    assert d.x_train.shape[1:] == (1, 8, 8) and d.x_test.shape[1:] == (1, 8, 8)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    counts = torch.bincount(d.y_test, minlength=10)
    assert int(counts.min()) >= 40  # every class in the test set, about 45 each
    again = load_digits_data()
    assert torch.equal(again.y_test, d.y_test)


@pytest.mark.parametrize(("field", "value", "fix"), [
    ("repeats", 0, "--repeats"), ("epochs", -1, "--epochs"), ("hwa_epochs", -3, "--hwa-epochs"),
    ("seed", -1, "--seed"), ("preset", "nope", "rasch2023"), ("repeats", 2.5, "--repeats"),
])
def test_bad_settings_name_the_fix(field, value, fix):
    with pytest.raises(ConfigError, match=fix):
        DemoSettings(**{field: value})


def test_missing_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "aimc\[demo\]"'):
        load_digits_data()


# --------------------------------------------------------------------------- report.py
def _fake_metrics() -> dict:
    per = [[0.9, 0.88, 0.87, 0.85], [0.92, 0.9, 0.86, 0.84]]
    summary = {"per_repeat": per, "mean": [0.91, 0.89, 0.865, 0.845],
               "std": [0.014, 0.014, 0.007, 0.007]}
    return {
        "preset": "rasch2023", "config": aimc.presets.rasch2023().to_dict(),
        "settings": DemoSettings(repeats=2).to_dict(), "seeds": {"seed": 0, "data_split": 0},
        "dataset": {"name": "digits", "n_train": 1347, "n_test": 450},
        "model": {"architecture": "tiny", "parameters": 10},
        "times_s": list(TIMES), "time_labels": ["1 s", "1 h", "1 day", "1 year"],
        "accuracy": {"fp": 0.95, "hwa_digital": 0.94, "direct": summary, "hwa": summary},
        "aimc_version": aimc.__version__, "torch_version": torch.__version__,
        "machine": {"python": "3", "platform": "x", "cpu_count": 2, "torch_threads": 2},
        "wall_time_s": 1.0,
    }


def test_text_table_lists_every_row():
    table = report.text_table(_fake_metrics())
    assert "1 year" in table and "95.0" in table and "91.0 ± 1.4" in table
    assert table.count("\n") >= 7


def test_missing_matplotlib_skips_plot_with_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.warns(RuntimeWarning, match=r'pip install "aimc\[plots\]"'):
        paths = report.write_run(tmp_path, _fake_metrics())
    assert "plot" not in paths and not (tmp_path / report.PLOT_NAME).exists()
    assert "aimc[plots]" in (tmp_path / "report.md").read_text()


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    p = tmp_path / "sub" / "f.json"
    report.write_json(p, {"a": 1})
    report.write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [q.name for q in p.parent.iterdir()] == ["f.json"]


# --------------------------------------------------------------------------- progress.py
def test_simple_progress_bar_draws_to_stream():
    stream = io.StringIO()
    bar = progress(total=4, desc="work", backend="simple", stream=stream)
    for _ in range(4):
        bar.update()
    bar.set_postfix_str("loss 0.1")
    bar.close()
    text = stream.getvalue()
    assert "work" in text and "4/4" in text and "loss 0.1" in text and text.endswith("\n")


def test_disabled_progress_bar_is_silent(capsys):
    bar = progress(total=3, desc="quiet", enabled=False)
    bar.update()
    bar.set_postfix_str("x")
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.skipif(not tqdm_available(), reason="tqdm not installed")
def test_tqdm_backend():
    stream = io.StringIO()
    bar = progress(total=2, desc="tq", backend="tqdm", stream=stream)
    bar.update(2)
    bar.close()
    assert "tq" in stream.getvalue()


def test_unknown_backend_rejected():
    with pytest.raises(ValueError, match="backend"):
        progress(total=1, desc="x", backend="fancy")  # type: ignore[arg-type]
