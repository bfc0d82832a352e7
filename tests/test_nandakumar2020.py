"""``aimc reproduce nandakumar2020`` on tiny generated MNIST: outputs, resuming, bad input."""

from __future__ import annotations

import gzip
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aimc.cli import main
from aimc.errors import CheckpointError, ConfigError, DataError
from aimc.experiments import nandakumar2020 as n20
from aimc.experiments.nandakumar2020 import (
    ARMS,
    MLP_ARMS,
    Nandakumar2020Settings,
    mnist_dir,
    run_nandakumar2020,
)
from aimc.experiments.provenance import code_version

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with mnist/: 40 train / 20 test images with one bright row per class."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        images[np.arange(n), 2 * labels + 3, :] = 255
        _idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", 0x803, images)
        _idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", 0x801, labels)
    return root


@pytest.fixture(autouse=True)
def _no_aimc_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMC_DATA", raising=False)


def tiny(**changes: Any) -> Nandakumar2020Settings:
    base: dict[str, Any] = {"arms": ("mlp_fp", "mlp_mp"), "epochs": 2, "cnn_epochs": 1,
                            "lstm_epochs": 1, "train_limit": 30, "test_limit": 20,
                            "small_train_limit": 10, "hidden": 16, "lstm_hidden": 8}
    base.update(changes)
    return Nandakumar2020Settings.quick(**base)


def test_pipeline_writes_outputs(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = run_nandakumar2020(tiny(arms=ARMS), out, data=data_root, show_progress=False,
                                 log=lambda m: None, command="aimc reproduce nandakumar2020")
    for name in ("metrics.json", "report.md", "run.log", *(f"arms/{a}.json" for a in ARMS)):
        assert (out / name).is_file(), name
    pytest.importorskip("matplotlib")
    for png in ("mlp_accuracy.png", "cnn_lstm_accuracy.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["arms"].keys() == set(ARMS) and saved["mode"] == "quick"
    assert saved["code"] == code_version()
    assert saved["data"] == "$AIMC_DATA/mnist"  # relative to the data root, not the machine
    assert str(tmp_path) not in (out / "metrics.json").read_text()
    for arm, r in metrics["arms"].items():
        network = arm.split("_")[0]
        epochs = 2 if network == "mlp" else 1
        assert len(r["accuracy"]) == epochs + 1 and len(r["train_loss"]) == epochs
        assert all(0.0 <= a <= 1.0 for a in r["accuracy"])
        assert all(math.isfinite(v) and v > 0 for v in r["train_loss"])
        assert r["n_train"] == (30 if network == "mlp" else 10) and r["n_test"] == 20
        if r["method"] == "fp":
            assert "energy" not in r
        else:
            e = r["energy"]
            assert e["analog_total_J"] > 0 and e["digital_total_J"] > 0
            assert 0 < e["ratio"] < math.inf and e["paper_ratio"] == 173.0
            assert e["arrays"][0]["counters"]["forward_mvms"] > 0
    s = metrics["summary"]
    assert set(s["gaps_to_fp"]) == {"mlp_mp", "mlp_mp_pcm2018", "mlp_sgd_pcm",
                                    "mlp_sgd_softbounds", "cnn_mp", "lstm_mp"}
    assert set(s["energy"]["mlp_mp"]) == {"default", "dram_weights", "dram_weights_local_chi",
                                          "dram_weights_local_chi_batch1", "compute_only",
                                          "table_same_node", "table_dram_banked_chi16",
                                          "table_dram_banked_chi16_14nm"}
    e = s["energy"]["mlp_mp"]
    # per-sample updates move more digital weights per sample: a larger gain
    assert e["dram_weights_local_chi_batch1"]["ratio"] > e["dram_weights_local_chi"]["ratio"]
    # more expensive digital weight memory -> larger gain
    assert s["energy"]["mlp_mp"]["dram_weights"]["ratio"] > s["energy"]["mlp_mp"]["default"][
        "ratio"]
    report = (out / "report.md").read_text()
    for text in ("173×", "97.73", "mlp_sgd_softbounds", "Horowitz", "lstm_mp",
                 "aimc reproduce nandakumar2020", "![MLP test accuracy"):
        assert text in report


def test_resume_reuses_finished_arms(data_root: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    first = run_nandakumar2020(tiny(), out, data=data_root, show_progress=False,
                               log=lambda m: None)
    trained: list[str] = []
    real = n20._train_arm

    def spy(arm: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        trained.append(arm)
        return real(arm, *args, **kwargs)

    monkeypatch.setattr(n20, "_train_arm", spy)
    logs: list[str] = []
    again = run_nandakumar2020(tiny(), out, data=data_root, show_progress=False,
                               log=logs.append)
    assert trained == []
    assert any("resuming: mlp_mp done" in m for m in logs)
    assert json.loads(json.dumps(again["arms"])) == json.loads(json.dumps(first["arms"]))
    # the same seed gives the same numbers in a fresh folder
    fresh = run_nandakumar2020(tiny(), tmp_path / "fresh", data=data_root, show_progress=False,
                               log=lambda m: None)
    assert fresh["arms"]["mlp_mp"]["accuracy"] == first["arms"]["mlp_mp"]["accuracy"]
    assert trained == ["mlp_fp", "mlp_mp"]
    # a changed setting recomputes only the arms it affects; adding an arm trains only it
    trained.clear()
    run_nandakumar2020(tiny(arms=("mlp_fp", "mlp_mp", "cnn_fp"), cnn_lr=0.01), out,
                       data=data_root, show_progress=False, log=lambda m: None)
    assert trained == ["cnn_fp"]
    trained.clear()
    run_nandakumar2020(tiny(seed=1), out, data=data_root, show_progress=False,
                       log=lambda m: None)
    assert trained == ["mlp_fp", "mlp_mp"]
    # a corrupt arm file is an error naming the file
    (out / "arms" / "mlp_fp.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="mlp_fp.json"):
        run_nandakumar2020(tiny(seed=1), out, data=data_root, show_progress=False,
                           log=lambda m: None)


def test_data_errors(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="AIMC_DATA"):
        run_nandakumar2020(tiny(), tmp_path / "a", data=None, show_progress=False,
                           log=lambda m: None)
    with pytest.raises(DataError, match="does not exist"):
        mnist_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        mnist_dir(tmp_path / "empty")
    # the MNIST folder itself, a root with mnist/, or AIMC_DATA all work
    assert mnist_dir(data_root / "mnist") == data_root / "mnist"
    assert mnist_dir(data_root) == data_root / "mnist"
    monkeypatch.setenv("AIMC_DATA", str(data_root))
    assert mnist_dir(None) == data_root / "mnist"
    # a missing file is named before any training
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in (data_root / "mnist").iterdir():
        if not f.name.startswith("t10k-labels"):
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        run_nandakumar2020(tiny(), tmp_path / "b", data=broken, show_progress=False,
                           log=lambda m: None)


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="unknown arm.*'mlp_sgd'.*mlp_sgd_pcm"):
        Nandakumar2020Settings(arms=("mlp_sgd",))
    with pytest.raises(ConfigError, match="at least one arm"):
        Nandakumar2020Settings(arms=())
    with pytest.raises(ConfigError, match="twice"):
        Nandakumar2020Settings(arms=("mlp_fp", "mlp_fp"))
    with pytest.raises(ConfigError, match="learning rate"):
        Nandakumar2020Settings(lr=0.0)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        Nandakumar2020Settings(epochs=0)
    with pytest.raises(ConfigError, match="activation"):
        Nandakumar2020Settings(activation="tanh")
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        Nandakumar2020Settings(epoch=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="Nandakumar2020Settings"):
        run_nandakumar2020({"epochs": 1}, "x")  # type: ignore[arg-type]
    s = Nandakumar2020Settings.quick(seed=3)
    assert s.mode == "quick" and s.seed == 3 and s.arms == ARMS
    assert Nandakumar2020Settings.from_json(s.to_json()) == s
    assert s.fingerprint("mlp_fp") != s.replace(lr=0.3).fingerprint("mlp_fp")
    assert s.fingerprint("mlp_mp") == s.replace(lr=0.3).fingerprint("mlp_mp")
    assert s.fingerprint("cnn_fp") == s.replace(lr=0.3).fingerprint("cnn_fp")


def test_cli(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["reproduce", "nandakumar2020", "--quick", "--data", str(data_root), "--out",
                 str(out), "--arms", "mlp_fp,mlp_mp", "--epochs", "1", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mlp_mp" in printed and "report:" in printed
    assert (out / "report.md").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["arms"]) == ["mlp_fp", "mlp_mp"]
    assert metrics["settings"]["epochs"] == 1 and metrics["command"].startswith(
        "aimc reproduce nandakumar2020 --quick")
    for argv, hint in ((["--arms", "mlp_fp,nope"], "mlp_sgd_pcm"), (["--arms", ","], "--arms"),
                       (["--epochs", "0"], "--epochs"), (["--seed", "x"], "--seed")):
        with pytest.raises(SystemExit) as exc:
            main(["reproduce", "nandakumar2020", *argv])
        assert exc.value.code == 2
        assert hint in capsys.readouterr().err
    code = main(["reproduce", "nandakumar2020", "--quick", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "--data DIR" in err


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_MNIST / "train-labels-idx1-ubyte.gz").is_file(),
                    reason="shared MNIST (../shared/data/mnist) not present")
def test_real_mnist_subset(tmp_path: Path) -> None:
    settings = Nandakumar2020Settings.quick(arms=MLP_ARMS[:2], epochs=1, train_limit=2000,
                                            test_limit=200)
    metrics = run_nandakumar2020(settings, tmp_path, data=SHARED_MNIST, show_progress=False,
                                 log=lambda m: None)
    acc = {a: r["final_accuracy"] for a, r in metrics["arms"].items()}
    assert acc["mlp_fp"] > 0.5 and acc["mlp_mp"] > 0.5, acc  # chance: 0.1
    assert metrics["arms"]["mlp_mp"]["n_train"] == 2000


def test_every_on_chip_arm_trains_through_the_noisy_periphery_by_default() -> None:
    """The issue's requirement: the CNN and LSTM mixed-precision arms see the same noisy
    forward and backward MVMs as the MLP (unless switched off)."""
    s = Nandakumar2020Settings()
    for network in ("mlp", "cnn", "lstm"):
        assert s.noisy_of(network)
        cfg = n20.arm_config("mp", noisy_periphery=s.noisy_of(network))
        assert cfg.on_chip is not None and cfg.on_chip.backward is not None
        assert cfg.forward.out_noise > 0 and cfg.on_chip.backward.out_noise > 0
    off = Nandakumar2020Settings(cnn_lstm_noisy_periphery=False)
    assert off.noisy_of("mlp") and not off.noisy_of("cnn") and not off.noisy_of("lstm")


def test_cnn_weight_scaling_omega_reaches_the_cnn_arm_only() -> None:
    s = Nandakumar2020Settings(cnn_weight_scaling_omega=0.3)
    assert s.omega_of("cnn") == 0.3 and s.omega_of("mlp") is None and s.omega_of("lstm") is None
    cfg = n20.arm_config("mp", weight_scaling_omega=s.omega_of("cnn"))
    assert cfg.on_chip is not None and cfg.on_chip.weight_scaling_omega == 0.3
    # the on-chip CNN arm's fingerprint sees it; the FP arm's does not
    plain = Nandakumar2020Settings()
    assert s.fingerprint("cnn_mp") != plain.fingerprint("cnn_mp")
    assert s.fingerprint("cnn_fp") == plain.fingerprint("cnn_fp")
    assert s.fingerprint("lstm_mp") == plain.fingerprint("lstm_mp")
    for bad in (0.0, 1.2, "0.3", True):
        with pytest.raises(ConfigError, match="cnn_weight_scaling_omega"):
            Nandakumar2020Settings(cnn_weight_scaling_omega=bad)  # type: ignore[arg-type]
