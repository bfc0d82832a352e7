"""``aimc reproduce analognets`` end to end on the shipped subsets (skipped without them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aimc.cli import main
from aimc.errors import ConfigError
from aimc.experiments.analognets import AnalogNetsSettings, _split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HAVE = (DATA / "speech_commands_v2_subset").is_dir()


@pytest.mark.skipif(not HAVE, reason="needs ../shared/data/speech_commands_v2_subset")
def test_reproduce_analognets_tiny_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["reproduce", "analognets", "--quick", "--bits", "8", "--programmings", "2",
            "--data", str(DATA), "--out", str(out), "--no-progress"]
    import aimc.experiments.analognets as an

    tiny = AnalogNetsSettings.quick().replace(fp_epochs=2, hwa_epochs=1, cost_samples=8)
    original = an.AnalogNetsSettings.quick
    an.AnalogNetsSettings.quick = classmethod(lambda cls: tiny)  # type: ignore[assignment]
    try:
        assert main(args) == 0
        m = json.loads((out / "metrics.json").read_text())
        s = m["summary"]["tasks"]["kws"]["bits"]["8"]
        for key in ("fp_accuracy", "hwa_accuracy_24h", "macro_tops_per_w",
                    "system_tops_per_w"):
            assert s[key] > 0
        assert m["summary"]["mfcc_agreement"]["exact"] > 0.99
        assert len(m["tasks"]["kws"]["bits"]["8"]["hwa"]["accuracy"]) == 2  # programmings
        # fixed per-layer ADC ranges: one per layer, calibrated (not the preset's ±10)
        for stage in ("direct", "hwa"):
            bounds = m["tasks"]["kws"]["bits"]["8"][stage]["adc_bounds"]
            assert len(bounds) == 6 and all(v > 0 and v != 10.0 for v in bounds.values())
        assert (out / "report.md").read_text().count("TOPS/W") >= 2
        assert main(args) == 0  # resumes: every stage reused
        assert "finished earlier, reused" in (out / "run.log").read_text()
        # interrupted after the FP stage: the analog stages re-run from the stored FP
        # model give the numbers of the uninterrupted run, bit for bit (each stage seeds
        # the global RNG its calibration forwards draw from)
        bits8 = m["tasks"]["kws"]["bits"]["8"]
        for stage in ("direct", "hwa"):
            (out / "arms" / f"kws_{stage}_8b.json").unlink()
        assert main(args) == 0
        again = json.loads((out / "metrics.json").read_text())["tasks"]["kws"]["bits"]["8"]
        for stage in ("direct", "hwa"):
            assert again[stage]["accuracy"] == bits8[stage]["accuracy"]
            assert again[stage]["adc_bounds"] == bits8[stage]["adc_bounds"]
    finally:
        an.AnalogNetsSettings.quick = original  # type: ignore[assignment]


def test_settings_and_split_reject_bad_input():
    import torch

    with pytest.raises(ConfigError, match="bits"):
        AnalogNetsSettings(bits=(16,))
    with pytest.raises(ConfigError, match="tasks"):
        AnalogNetsSettings(tasks=("asr",))
    with pytest.raises(ConfigError, match="times"):
        AnalogNetsSettings(times=(-1.0,))
    with pytest.raises(ConfigError, match="adc_gain"):
        AnalogNetsSettings(adc_gain="dynamic")
    with pytest.raises(ConfigError, match="adc_quantile"):
        AnalogNetsSettings(adc_quantile=0.1)
    with pytest.raises(ConfigError, match="hwa_noise_scale"):
        AnalogNetsSettings(hwa_noise_scale=-1.0)
    with pytest.raises(ConfigError, match="distill "):
        AnalogNetsSettings(distill=1.5)
    with pytest.raises(ConfigError, match="distill_temperature"):
        AnalogNetsSettings(distill_temperature=0.0)
    with pytest.raises(ConfigError, match="hwa_noise must"):
        AnalogNetsSettings(hwa_noise="gaussian")
    with pytest.raises(ConfigError, match="leave it at 1"):
        AnalogNetsSettings(hwa_noise="device_state", hwa_noise_scale=2.0)
    with pytest.raises(ConfigError, match="hwa_noise_time"):
        AnalogNetsSettings(hwa_noise_time=-5.0)
    with pytest.raises(ConfigError, match="needs adc_gain='per_layer'"):
        AnalogNetsSettings(adc_recalibrate=True, adc_gain="global")
    with pytest.raises(ConfigError, match="unsigned_dac"):
        AnalogNetsSettings(unsigned_dac="yes")  # type: ignore[arg-type]
    y = torch.tensor([0] * 10 + [1] * 5)
    tr, te = _split(y, 0.2, 0)
    assert len(te) == 3 and len(tr) == 12 and not set(tr.tolist()) & set(te.tolist())


def test_cli_rejects_bad_bits(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "analognets", "--bits", "8,x"])
    assert "comma-separated" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--distill", "2"], "distill must be in [0, 1]"),
    (["--distill-temperature", "-1"], "distill_temperature"),
    (["--hwa-noise", "device-state", "--hwa-noise-scale", "2"], "leave it at 1"),
    (["--hwa-noise-time", "-3"], "hwa_noise_time"),
    (["--hwa-epochs", "-1"], "--hwa-epochs"),
])
def test_cli_recipe_options_reach_the_settings(flags, message, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "analognets", *flags])
    assert message in capsys.readouterr().err


@pytest.mark.skipif(not HAVE, reason="needs ../shared/data/speech_commands_v2_subset")
def test_same_seed_same_result_whatever_the_global_rng_did_before(tmp_path):
    import torch

    from aimc.experiments.analognets import run_analognets

    s = AnalogNetsSettings(tasks=("kws",), bits=(8,), fp_epochs=1, hwa_epochs=0,
                           programmings=1, times=(1.0,), cost_samples=4)
    runs = []
    for i in range(2):
        torch.rand(1000 * (i + 1))  # consume the global generator differently
        m = run_analognets(s, tmp_path / f"r{i}", data=DATA, show_progress=False,
                           log=lambda _: None)
        runs.append(m["tasks"]["kws"])
    assert runs[0]["fp"]["losses"] == runs[1]["fp"]["losses"]
    assert runs[0]["bits"]["8"]["direct"]["accuracy"] == runs[1]["bits"]["8"]["direct"]["accuracy"]


def test_stage_fingerprints_follow_what_each_stage_depends_on():
    from aimc.experiments.analognets import _fingerprint

    base = AnalogNetsSettings()
    hwa_only = base.replace(hwa_noise="programming", hwa_noise_scale=2.0, distill=0.0,
                            hwa_epochs=3, bits=(8,),
                            adc_recalibrate=True)
    assert _fingerprint("kws", "fp", base) == _fingerprint("kws", "fp", hwa_only)
    assert _fingerprint("kws", "direct_8b", base) == _fingerprint("kws", "direct_8b", hwa_only)
    assert _fingerprint("kws", "hwa_8b", base) != _fingerprint("kws", "hwa_8b", hwa_only)
    calib = base.replace(adc_quantile=0.99)
    assert _fingerprint("kws", "fp", base) == _fingerprint("kws", "fp", calib)
    assert _fingerprint("kws", "direct_8b", base) != _fingerprint("kws", "direct_8b", calib)
    assert _fingerprint("kws", "fp", base) != _fingerprint("kws", "fp", base.replace(lr=1e-3))
    assert _fingerprint("kws", "fp", base) != _fingerprint("vww", "fp", base)


@pytest.mark.skipif(not HAVE, reason="needs ../shared/data/speech_commands_v2_subset")
def test_recipe_sweep_shares_the_fp_model_and_tabulates_every_recipe(tmp_path):
    from aimc.experiments.analognets_recipes import (
        RecipeSettings,
        markdown_report,
        run_recipes,
    )

    tiny = {"a": ("programming noise, 1 epoch", {"hwa_noise": "programming",
                                                 "hwa_epochs": 1, "distill": 0.0}),
            "b": ("device state, distillation, 1 epoch",
                  {"hwa_noise": "device_state", "hwa_epochs": 1, "distill": 0.5,
                   "adc_recalibrate": True})}
    s = RecipeSettings(bits=(8,), recipes=("a", "b"), programmings=2, fp_epochs=1)
    m = run_recipes(s, tmp_path / "sweep", data=DATA, show_progress=False,
                    log=lambda _: None, recipes=tiny)
    log = (tmp_path / "sweep" / "run.log").read_text()
    assert log.count("kws fp: finished earlier, reused") == 1  # recipe b reused a's FP
    a, b = (m["summary"]["recipes"][r]["8"] for r in ("a", "b"))
    assert len(a["mean_accuracy"]) == 4 and a["mean_accuracy"] != b["mean_accuracy"]
    assert a["drop_24h"] == pytest.approx(m["fp_accuracy"] - a["mean_accuracy"][2])
    stage_b = json.loads((tmp_path / "sweep" / "recipes" / "b" / "arms" /
                          "kws_hwa_8b.json").read_text())
    # recalibrated after training: the deployed ranges differ from the training ones
    assert stage_b["adc_bounds"].keys() == stage_b["adc_bounds_training"].keys()
    assert stage_b["adc_bounds"] != stage_b["adc_bounds_training"]
    text = markdown_report(m)
    assert "| `a` |" in text and "| `b` |" in text and f"{m['test_samples']} test" in text
    assert (tmp_path / "sweep" / "report.md").read_text() == text
    with pytest.raises(ConfigError, match="unknown recipe"):
        run_recipes(RecipeSettings(recipes=("zzz",)), tmp_path / "x", data=DATA,
                    recipes=tiny)
    assert not (tmp_path / "x").exists()  # rejected before a folder is made
    with pytest.raises(ConfigError, match="distinct"):
        RecipeSettings(recipes=("a", "a"))
    with pytest.raises(ConfigError, match="task"):
        RecipeSettings(task="asr")
