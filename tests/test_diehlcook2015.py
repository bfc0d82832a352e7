"""``aimc reproduce diehlcook2015``: settings checks, a tiny run on real MNIST (skipped
without ../shared/data) with the metrics layout scripts rely on, a report rendered from its
metrics, reuse of finished arms, and an interrupted arm resuming bit-exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aimc.errors import ConfigError
from aimc.experiments import diehlcook2015 as dc
from aimc.experiments import diehlcook2015_report as report

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(not (MNIST / "train-labels-idx1-ubyte.gz").is_file(),
                                 reason="shared MNIST (../shared/data/mnist) not present")
# 12 neurons, 40 training images of 60 ms at dt 1 ms: seconds, same code path
TINY = dict(mode="quick", neurons=(12,), train_images=40, assign_images=30, test_images=30,
            checkpoint_every=10, dt=1.0, t_present=60.0, t_rest=10.0, eval_batch=16)


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="choose from"):
        dc.DiehlCook2015Settings(synapses=("flash",))
    with pytest.raises(ConfigError, match="neurons"):
        dc.DiehlCook2015Settings(neurons=(0,))
    with pytest.raises(ConfigError, match="twice"):
        dc.DiehlCook2015Settings(synapses=("ideal", "ideal"))
    with pytest.raises(ConfigError, match="dt"):
        dc.DiehlCook2015Settings(dt=5.0)
    assert dc.DiehlCook2015Settings(neurons=(100, 400)).epochs_of(400) == 3
    for bad in (2.0, -1.0, float("inf"), "50", True):
        with pytest.raises(ConfigError, match="lockout must be None or a number"):
            dc.DiehlCook2015Settings(lockout=bad)
    default, off = dc.DiehlCook2015Settings(), dc.DiehlCook2015Settings(lockout=None)
    assert default.network(100).exc.lockout == 50.0 and off.network(100).exc.lockout is None
    assert default.fingerprint("ideal", 100) != off.fingerprint("ideal", 100)


@needs_mnist
def test_tiny_run_writes_comparable_metrics_and_reuses_arms(tmp_path: Path) -> None:
    settings = dc.DiehlCook2015Settings(synapses=("ideal", "soft-bounds"), **TINY)
    m = dc.run_diehlcook2015(settings, tmp_path, data=MNIST, show_progress=False,
                             log=lambda msg: None, command="aimc reproduce diehlcook2015")
    arms = m["summary"]["arms"]
    assert [(a["synapse"], a["neurons"]) for a in arms] == [("ideal", 12),
                                                             ("soft-bounds", 12)]
    for a in arms:
        assert a["train_images"] == 40 and 0.0 <= a["test_accuracy"] <= 1.0
        assert "target" not in a  # targets only for full runs
    assert m["paper"] and m["mode"] == "quick" and m["code"]["aimc"]
    stored = (tmp_path / "report.md").read_text(encoding="utf-8")
    plots = {p.name: p.name for p in tmp_path.glob("*.png")}
    assert stored == report.markdown_report(m, plots=plots)
    again = dc.run_diehlcook2015(settings, tmp_path, data=MNIST, show_progress=False,
                                 log=lambda msg: None)
    assert again["arms"]["ideal_12"]["finished"] == m["arms"]["ideal_12"]["finished"]


@needs_mnist
def test_interrupted_arm_resumes_bit_exactly(tmp_path: Path) -> None:
    """Stopped after 13 of 40 images (a checkpoint at 10, the stop writes one at 13), then
    resumed: the same trained network and accuracy as an uninterrupted run."""
    settings = dc.DiehlCook2015Settings(**TINY)
    data = dc._data(MNIST, settings)
    full = dc.train_arm("ideal", 12, settings, data, tmp_path / "a", show_progress=False,
                        log=lambda msg: None)
    assert dc.train_arm("ideal", 12, settings, data, tmp_path / "b", show_progress=False,
                        log=lambda msg: None, stop_after=13) is None
    resumed = dc.train_arm("ideal", 12, settings, data, tmp_path / "b", show_progress=False,
                           log=lambda msg: None)
    assert full is not None and resumed is not None
    assert resumed["test_accuracy"] == full["test_accuracy"]
    wa = torch.load(tmp_path / "a" / "network.pt", weights_only=False)
    wb = torch.load(tmp_path / "b" / "network.pt", weights_only=False)
    assert torch.equal(wa["weights"], wb["weights"]) and torch.equal(wa["theta"], wb["theta"])


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from aimc.cli import main

    base = ["reproduce", "diehlcook2015", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--synapse", "flash"])
    assert exc.value.code == 2 and "choose from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--neurons", "many"])
    assert "comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--train-images", "0"])
    with pytest.raises(SystemExit):
        main([*base, "--lockout", "long"])
    assert "--lockout takes a number of ms" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--lockout", "1"])
    assert "lockout must be None or a number" in capsys.readouterr().err
    assert main([*base, "--data", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_ablation_variants_switch_one_property_off() -> None:
    """Each ablation changes only its property: no-state removes the memristor's state
    dependence (β = 0) and the soft-bounds device's (a constant step), no-noise the c2c and
    d2d spread."""
    from aimc.snn.synapses import make_synapses

    w = torch.full((20, 4), 0.3)
    g = torch.Generator().manual_seed(0)
    base = make_synapses("cu-sio2-w", w, 1.0, generator=g)
    flat = make_synapses("cu-sio2-w/no-state", w, 1.0, generator=g)
    quiet = make_synapses("cu-sio2-w/no-noise", w, 1.0, generator=g)
    assert base.cfg.beta_pos > 0 and flat.cfg.beta_pos == 0 and flat.cfg.c2c_std > 0
    assert quiet.cfg.c2c_std == 0 and quiet.cfg.d2d_std == 0 and quiet.cfg.beta_pos > 0
    sb = make_synapses("soft-bounds/no-state", w, 1.0, generator=g)
    assert type(sb.cells.cfg.device).__name__ == "ConstantStepDevice"
    default = make_synapses("soft-bounds", w, 1.0)
    assert sb.cells.cfg.device.dw_min == default.cells.cfg.device.dw_min


def test_ablation_table_reports_each_change_with_its_standard_error() -> None:
    """Device 0.50, no-noise 0.60 on 1000 test images: +10.00 ± √((0.25 + 0.24)/1000) =
    2.21 points; arms of other sizes or the ideal arm get no row."""
    def arm(synapse: str, acc: float, neurons: int = 100) -> dict:
        return {"synapse": synapse, "neurons": neurons, "test_accuracy": acc}

    m = {"settings": {"test_images": 1000},
         "arms": {"ideal_100": arm("ideal", 0.7), "pcm_100": arm("pcm", 0.5),
                  "pcm-no-noise_100": arm("pcm/no-noise", 0.6),
                  "pcm-no-noise_400": arm("pcm/no-noise", 0.9, 400)}}
    lines = "\n".join(report._ablation_section(m)).splitlines()
    rows = [ln for ln in lines if ln.startswith("| pcm")]
    assert rows == ["| pcm | 100 | no-noise | 50.00 % | 60.00 % | +10.00 ± 2.21 | 70.00 % |"]
