"""``aimc reproduce rasch2023`` on tiny generated data: outputs, resuming, bad input, CLI."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import random
import shutil
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import aimc
from aimc.cli import main
from aimc.data import CIFAR10_CLASSES
from aimc.errors import ConfigError, DataError, TrainingError
from aimc.experiments import rasch2023 as r23
from aimc.experiments.provenance import code_version
from aimc.experiments.rasch2023 import STEPS, run_rasch2023
from aimc.experiments.rasch2023_spec import (
    MODES,
    RunSpec,
    default_spec,
    load_spec_file,
    merge_spec,
)
from aimc.experiments.rasch2023_tasks import ImageTask

WORKLOADS = ("mlp_mnist", "resnet20_cifar", "lstm_ptb", "transformer_sst2")
PNGS = ("mlp_mnist.png", "resnet20_cifar.png", "lstm_ptb.png", "transformer_sst2.png",
        "normalised.png")


# --------------------------------------------------------------------------- tiny data
def _idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _jpeg(rng: np.random.Generator) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def make_tiny_data(root: Path) -> Path:
    """MNIST IDX, CIFAR-10 JPEG zips, PTB texts and SST-2 TSVs, a few dozen samples each."""
    rng = np.random.default_rng(0)
    (root / "mnist").mkdir(parents=True)
    for prefix, n in (("train", 48), ("t10k", 24)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        images[np.arange(n), 2 * labels + 3, :] = 255  # a learnable stripe per class
        _idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", 0x803, images)
        _idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", 0x801, labels)
    (root / "cifar10_jpeg").mkdir()
    for split, per_class in (("train", 3), ("test", 2)):
        with zipfile.ZipFile(root / "cifar10_jpeg" / f"cifar10_jpeg_{split}.zip", "w") as zf:
            for cls in CIFAR10_CLASSES:
                for i in range(per_class):
                    zf.writestr(f"{split}/{cls}/{i:04d}.jpg", _jpeg(rng))
    words = [f"w{i}" for i in range(20)]
    random.seed(0)
    (root / "ptb").mkdir()
    for split, lines in (("train", 24), ("valid", 6), ("test", 8)):
        text = "".join(" " + " ".join(random.choices(words, k=6)) + " \n" for _ in range(lines))
        (root / "ptb" / f"ptb.{split}.txt").write_text(text)
    (root / "sst2").mkdir()
    good, bad = ["good", "great", "fine", "fun"], ["bad", "awful", "dull", "poor"]
    for split, n in (("train", 40), ("dev", 16)):
        rows = ["sentence\tlabel"]
        for i in range(n):
            label = i % 2
            pick = random.choices(good if label else bad, k=3) + random.choices(words, k=3)
            rows.append(f"{' '.join(pick)}\t{label}")
        (root / "sst2" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("data"))


def tiny(*workloads: str) -> RunSpec:
    spec = default_spec("tiny")
    return spec.select(workloads) if workloads else spec


def run(spec: RunSpec, out: Path, data: Path | None, **kw: Any) -> dict[str, Any]:
    return run_rasch2023(spec, out, data_root=data, show_progress=False, log=lambda m: None,
                         device="cpu", **kw)


@pytest.fixture(scope="module")
def full_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("run") / "rasch2023"
    return out, run(tiny(), out, data_root)


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.suffix in (".json", ".pt") and p.parent != out}


# --------------------------------------------------------------------------- end to end
def test_end_to_end_writes_all_outputs(full_run: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = full_run
    for name in ("config.json", "metrics.json", "report.md", "run.log", *PNGS):
        assert (out / name).is_file(), name
    for png in PNGS:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    assert list(saved["workloads"]) == list(WORKLOADS)
    assert saved["time_labels"] == ["1 s", "1 h", "1 day", "1 year"]
    spec = RunSpec.from_dict(json.loads((out / "config.json").read_text()))
    assert spec == tiny()
    for name, wl in saved["workloads"].items():
        for mapping in ("direct", "hwa"):
            r = wl[mapping]
            assert len(r["per_repeat"]) == spec.repeats and len(r["mean"]) == 4
            assert len(set(r["programming_seeds"])) == spec.repeats
            assert len(r["normalised"]["per_repeat"]) == spec.repeats
            assert isinstance(wl["iso_accuracy"][mapping]["reached"], bool)
        if name == "lstm_ptb":
            assert wl["metric"] == "perplexity" and wl["fp"] > 1
            fp, row = wl["fp"], wl["direct"]["per_repeat"][0]
            assert wl["direct"]["normalised"]["per_repeat"][0] == pytest.approx(
                [fp / v for v in row])
        else:
            assert wl["metric"] == "accuracy" and 0 <= wl["fp"] <= 1
        assert set(wl["steps"]) == set(STEPS)
    report = (out / "report.md").read_text()
    assert "## Iso-accuracy" in report and "≈ 1.0101 × FP perplexity" in report
    for name in WORKLOADS:
        assert f"]({name}.png)" in report
    assert "| workload | metric | FP | mapping | 1 s | 1 h | 1 day | 1 year |" in report
    assert metrics["wall_time_s"] > 0
    assert saved["code"] == code_version()
    assert str(out.parents[1]) not in (out / "metrics.json").read_text()  # no machine paths
    assert str(out.parents[1]) not in report
    assert saved["workloads"]["mlp_mnist"]["data"]["folder"] == "$AIMC_DATA/mnist"


def test_rerun_resumes_without_recomputing(full_run: tuple[Path, dict[str, Any]],
                                           tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(full_run[0], out)
    before = _mtimes(out)
    logs: list[str] = []
    # no data needed: every step is loaded, nothing is recomputed
    metrics = run_rasch2023(tiny(), out, data_root=tmp_path / "no-data", show_progress=False,
                            log=logs.append)
    assert _mtimes(out) == before
    assert sum("resuming:" in m and "done" in m for m in logs) == 4 * len(STEPS)
    assert metrics["workloads"] == full_run[1]["workloads"]


def test_deleting_one_result_recomputes_only_that_step(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(full_run[0], out)
    (out / "mlp_mnist" / "direct_eval.json").unlink()
    before = _mtimes(out)
    metrics = run(tiny(), out, data_root)
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"mlp_mnist/direct_eval.json"}
    # the same seeds give the same numbers
    assert metrics["workloads"]["mlp_mnist"]["direct"] == \
        full_run[1]["workloads"]["mlp_mnist"]["direct"]
    # a retrained FP model that is bit-identical keeps the later steps valid
    (out / "lstm_ptb" / "fp_train.json").unlink()
    before = _mtimes(out)
    run(tiny(), out, data_root)
    after = _mtimes(out)
    assert {k for k in after if after[k] != before.get(k)} == {"lstm_ptb/fp_train.json",
                                                               "lstm_ptb/fp_model.pt"}


def test_parallel_progress_counts_steps_finished_by_workers(
        full_run: tuple[Path, dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The parent's whole-run bar for parallel workers: steps already in the folder are
    not counted; a result file a worker writes later is picked up by the next poll."""
    out = tmp_path / "run"
    shutil.copytree(full_run[0], out)
    moved = tmp_path / "hwa_eval.json"
    shutil.move(out / "mlp_mnist" / "hwa_eval.json", moved)
    watch = r23._ParallelProgress(tiny(), r23._Store(out, lambda m: None), workers=2,
                                  interval=3600.0)
    assert [k for g in watch.groups for k in g if watch.eta.is_open(k)] == \
        ["mlp_mnist:hwa_eval"]
    with watch:
        assert watch.eta.is_open("mlp_mnist:hwa_eval")
        shutil.move(moved, out / "mlp_mnist" / "hwa_eval.json")  # "a worker finished it"
    assert not watch.eta.is_open("mlp_mnist:hwa_eval")
    assert "run: 1/1 steps done" in capsys.readouterr().err


def test_changed_settings_recompute_only_affected_steps(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(full_run[0], out)
    before = _mtimes(out)
    logs: list[str] = []
    metrics = run_rasch2023(tiny("mlp_mnist").replace(repeats=3), out, data_root=data_root,
                            show_progress=False, log=logs.append)
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"mlp_mnist/direct_eval.json", "mlp_mnist/hwa_eval.json"}
    assert any("settings changed: recomputing mlp_mnist direct_eval" in m for m in logs)
    assert len(metrics["workloads"]["mlp_mnist"]["hwa"]["per_repeat"]) == 3


class _Stop(Exception):
    pass


def test_interrupted_hwa_training_resumes_at_epoch_2(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"

    def stop(workload: str, step: str, epoch: int) -> None:
        if step == "hwa_train" and epoch == 1:
            raise _Stop

    monkeypatch.setattr(r23, "_epoch_finished", stop)
    with pytest.raises(_Stop):
        run(tiny("mlp_mnist"), out, data_root)
    ckpt = out / "mlp_mnist" / "hwa_train.checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    assert not (out / "mlp_mnist" / "hwa_train.json").exists()
    assert (out / "mlp_mnist" / "direct_eval.json").is_file()

    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(r23, "_epoch_finished", lambda w, s, e: seen.append((s, e)))
    logs: list[str] = []
    capsys.readouterr()
    metrics = run_rasch2023(tiny("mlp_mnist"), out, data_root=data_root, show_progress=True,
                            log=logs.append)
    assert seen == [("hwa_train", 2)]  # FP training not redone, HWA from epoch 2
    # whole-run progress: the two loaded steps are not counted; the tiny mode has no
    # recorded timings, so the estimate is a lower bound
    assert any(m.startswith("mlp_mnist: hwa_train ... (run: step 1/2, ≥ ")
               and "2 steps not estimated" in m for m in logs), logs
    assert "run: step 2/2" in capsys.readouterr().err  # the bars show it too
    assert any("resuming: mlp_mnist hwa_train at epoch 2/2" in m for m in logs)
    assert not ckpt.exists()
    # an interrupted and resumed run gives the numbers of an uninterrupted one
    ref = full_run[1]["workloads"]["mlp_mnist"]
    assert metrics["workloads"]["mlp_mnist"]["hwa"] == ref["hwa"]
    assert metrics["workloads"]["mlp_mnist"]["hwa_digital"] == ref["hwa_digital"]


def test_nan_loss_stops_with_training_error_and_keeps_checkpoint(
        data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ImageTask.losses
    calls = {"n": 0}

    def losses(self: ImageTask, model: Any, **kw: Any) -> Iterator[Any]:
        calls["n"] += 1  # 1: FP epoch 1, 2: HWA epoch 1, 3: HWA epoch 2
        for loss, n in original(self, model, **kw):
            yield (loss * float("nan") if calls["n"] == 3 else loss), n

    monkeypatch.setattr(ImageTask, "losses", losses)
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        run(tiny("mlp_mnist"), out, data_root)
    msg = str(info.value)
    ckpt = out / "mlp_mnist" / "hwa_train.checkpoint.pt"
    assert "mlp_mnist hwa_train" in msg and "loss became nan" in msg and "epoch 2" in msg
    assert str(ckpt) in msg and "after epoch 1" in msg
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1
    fp_kwargs = json.loads((out / "mlp_mnist" / "fp_train.json").read_text())["model_kwargs"]
    model = aimc.convert_to_analog(aimc.models.build_model("mlp_mnist", **fp_kwargs),
                                   aimc.presets.rasch2023_hwa())
    model.load_state_dict(state["model"])  # the last good checkpoint loads
    assert all(torch.isfinite(p).all() for p in model.parameters())


# --------------------------------------------------------------------------- bad input
def test_missing_data_dir_raises_data_error(tmp_path: Path, data_root: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="does not exist"):
        run(tiny("mlp_mnist"), tmp_path / "a", tmp_path / "nowhere")
    partial = tmp_path / "partial"
    shutil.copytree(data_root, partial)
    shutil.rmtree(partial / "ptb")
    with pytest.raises(DataError, match=r"ptb.*ptb\.train\.txt"):  # checked before any work
        run(tiny("mlp_mnist", "lstm_ptb"), tmp_path / "b", partial)
    assert not (tmp_path / "b" / "mlp_mnist" / "fp_train.json").exists()
    monkeypatch.delenv("AIMC_DATA", raising=False)
    with pytest.raises(DataError, match="AIMC_DATA"):
        run(tiny("mlp_mnist"), tmp_path / "c", None)


def test_corrupt_data_files_raise_data_error(tmp_path: Path, data_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    with pytest.raises(DataError, match="train-images"):
        run(tiny("mlp_mnist"), tmp_path / "a", root)
    (root / "cifar10_jpeg" / "cifar10_jpeg_test.zip").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="cifar10_jpeg_test.zip"):
        run(tiny("resnet20_cifar"), tmp_path / "b", root)
    (root / "sst2" / "dev.tsv").write_text("index\tsentence\n0\thello\n")
    with pytest.raises(DataError, match="dev.tsv"):
        run(tiny("transformer_sst2"), tmp_path / "c", root)


@pytest.mark.parametrize("mode", MODES)
def test_spec_json_round_trip(mode: str, tmp_path: Path) -> None:
    spec = default_spec(mode)
    assert RunSpec.from_dict(json.loads(spec.to_json())) == spec
    (tmp_path / "spec.json").write_text(spec.to_json())
    assert load_spec_file(tmp_path / "spec.json", default_spec("full")) == spec
    for w in spec.workloads:  # every default model builds
        w.check_model(**({"vocab_size": 50} if w.name in ("lstm_ptb", "transformer_sst2")
                         else {}))


def test_spec_overrides_and_unknown_keys(tmp_path: Path) -> None:
    spec = merge_spec(default_spec("quick"), {"repeats": 3,
                                              "workloads": {"lstm_ptb": {"epochs": 1}}})
    assert spec.repeats == 3 and spec.workload_names == ("lstm_ptb",)
    assert spec.workload("lstm_ptb").epochs == 1
    with pytest.raises(ConfigError, match="'repeat'.*did you mean 'repeats'"):
        merge_spec(default_spec("quick"), {"repeat": 3})
    with pytest.raises(ConfigError, match="'epoch'.*did you mean 'epochs'"):
        merge_spec(default_spec("quick"), {"workloads": {"mlp_mnist": {"epoch": 3}}})
    with pytest.raises(ConfigError, match="'width'"):
        merge_spec(default_spec("quick"), {"workloads": {"mlp_mnist": {"model": {"width": 8}}}})
    bad = tmp_path / "bad.json"
    bad.write_text('{"seed": 1, "sed": 2}')
    with pytest.raises(ConfigError, match="'sed'"):
        load_spec_file(bad, default_spec("quick"))
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_spec_file(bad, default_spec("quick"))
    with pytest.raises(ConfigError, match="iso_time"):
        default_spec("quick").replace(times=(1.0, 86400.0))
    noisy = merge_spec(default_spec("tiny"), {"workloads": {"mlp_mnist": {"hwa_training": {
        "weight_noise": {"type": "GaussianWeightNoise", "std": 0.05}}}}})
    assert RunSpec.from_dict(json.loads(noisy.to_json())) == noisy
    cfg = noisy.workload("mlp_mnist").hwa_config(noisy.hwa_preset)
    assert cfg.training.weight_noise.std == 0.05 and cfg.mapping.learn_out_scaling
    with pytest.raises(ConfigError, match="'weight_nois'.*'weight_noise'"):
        merge_spec(default_spec("tiny"), {"workloads": {"mlp_mnist": {"hwa_training": {
            "weight_nois": {}}}}})


def test_unknown_preset_or_workload_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'rasch2024'.*rasch2023"):
        default_spec("quick").replace(direct_preset="rasch2024")
    with pytest.raises(ConfigError, match="unknown preset"):
        merge_spec(default_spec("quick"), {"hwa_preset": "nope"})
    with pytest.raises(ConfigError, match="unknown workload 'vgg16'.*mlp_mnist"):
        default_spec("quick").select(["vgg16"])
    with pytest.raises(ConfigError, match="unknown workload 'vgg16'"):
        merge_spec(default_spec("quick"), {"workloads": {"vgg16": {}}})


# --------------------------------------------------------------------------- CLI
def test_cli_exit_codes(data_root: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    base = ["reproduce", "rasch2023", "--no-progress", "--out", str(tmp_path / "out")]
    assert main([*base, "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "does not exist" in err
    with pytest.raises(SystemExit) as info:
        main([*base, "--workloads", "mlp_mnist,vgg16"])
    assert info.value.code == 2
    assert "unknown workload 'vgg16'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mode": "tiny", "hwa_preset": "nope"}))
    with pytest.raises(SystemExit) as info:
        main([*base, "--spec", str(bad)])
    assert info.value.code == 2 and "unknown preset 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([*base, "--repeats", "0"])
    assert info.value.code == 2
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"mode": "tiny", "workloads": {"mlp_mnist": {}}}))
    assert main([*base, "--spec", str(spec), "--data", str(data_root), "--repeats", "3",
                 "--seed", "1", "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "mlp_mnist" in out and "direct mapping" in out and "HWA-trained" in out
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["repeats"] == 3 and saved["seed"] == 1 and list(saved["workloads"]) == [
        "mlp_mnist"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["command"].startswith("aimc reproduce rasch2023 --no-progress")
    assert str(tmp_path) not in metrics["command"] and "--data $AIMC_DATA" in metrics["command"]
    # a run folder started by other code is not resumed unless --allow-other-code
    code_file = tmp_path / "out" / "code_version.json"
    code_file.write_text(json.dumps({"history": [dict(code_version(), git_commit="0" * 40)]}))
    again = [*base, "--spec", str(spec), "--data", str(data_root), "--repeats", "3", "--seed", "1"]
    assert main(again) == 2
    assert "--allow-other-code" in capsys.readouterr().err
    assert main([*again, "--allow-other-code"]) == 0
    capsys.readouterr()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["code"]["earlier"][0]["git_commit"] == "0" * 40
    assert main(["presets"]) == 0  # the other commands still work
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0


def test_cli_training_error_exit_code(data_root: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    original = ImageTask.losses

    def losses(self: ImageTask, model: Any, **kw: Any) -> Iterator[Any]:
        for loss, n in original(self, model, **kw):
            yield loss * float("inf"), n

    monkeypatch.setattr(ImageTask, "losses", losses)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"mode": "tiny", "workloads": {"mlp_mnist": {}}}))
    rc = main(["reproduce", "rasch2023", "--no-progress", "--spec", str(spec), "--data",
               str(data_root), "--out", str(tmp_path / "out")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "mlp_mnist fp_train" in err and "after epoch 0" in err
    assert (tmp_path / "out" / "mlp_mnist" / "fp_train.checkpoint.pt").is_file()


def test_standard_mode_sits_between_quick_and_full(capsys) -> None:
    """The standard setting trains the full models on all training data, with no more
    epochs than the full setting and more than the quick one; --standard and --quick (or
    a spec file of another mode) conflict."""
    from aimc.cli import main

    quick, standard, full = (default_spec(m) for m in ("quick", "standard", "full"))
    assert standard.mode == "standard" and standard.repeats == 10
    for name in full.workload_names:
        q, s, f = quick.workload(name), standard.workload(name), full.workload(name)
        assert s.model == f.model and s.train_limit is None
        assert q.epochs <= s.epochs <= f.epochs and s.hwa_epochs <= f.hwa_epochs
        assert s.hwa_training == f.hwa_training and s.distill == f.distill
    with pytest.raises(SystemExit):
        main(["reproduce", "rasch2023", "--quick", "--standard"])
    assert "not allowed with argument" in capsys.readouterr().err


# ------------------------------------------------------------------- interruptions
def _tiny_spec_file(tmp_path: Path, workload: str = "mlp_mnist") -> Path:
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"mode": "tiny", "workloads": {workload: {}}}))
    return spec


def _analog_numbers(metrics: dict[str, Any], workload: str) -> tuple[Any, Any]:
    wl = metrics["workloads"][workload]
    return wl["direct"], wl["hwa"]


def test_full_disk_stops_cleanly_and_the_same_command_resumes(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A write that fails with ENOSPC (here: the 4th atomic write's fsync) stops the run
    with exit 1 and a message naming the fix; no half-written file is left; the same
    command then resumes and gives the numbers of an uninterrupted run."""
    import errno

    from aimc.experiments import report as report_module

    out = tmp_path / "out"
    args = ["reproduce", "rasch2023", "--no-progress", "--spec", str(_tiny_spec_file(tmp_path)),
            "--data", str(data_root), "--out", str(out), "--device", "cpu"]
    calls = {"n": 0}
    real_fsync = report_module.os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(report_module.os, "fsync", fsync)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and "run the same command again to resume" in err
    assert not list(out.rglob("*.tmp"))  # the file being written was discarded
    monkeypatch.setattr(report_module.os, "fsync", real_fsync)
    assert main(args) == 0
    capsys.readouterr()
    resumed = json.loads((out / "metrics.json").read_text())
    assert _analog_numbers(resumed, "mlp_mnist") == _analog_numbers(full_run[1], "mlp_mnist")


def _run_until(cmd: list[str], marker: Path, sig: int, timeout: float = 240.0) -> int:
    """Start ``cmd``, send ``sig`` once ``marker`` exists; returns the exit status."""
    import signal as _signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "aimc", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"finished before {marker.name} appeared: "
                                     f"{proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{marker} did not appear in {timeout} s")
            time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert sig != _signal.SIGKILL or proc.returncode == -_signal.SIGKILL
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGKILL", "SIGTERM"])
def test_killed_or_terminated_process_resumes_to_the_same_numbers(
        signame: str, full_run: tuple[Path, dict[str, Any]], data_root: Path,
        tmp_path: Path) -> None:
    """A real ``aimc reproduce rasch2023`` process stopped by SIGKILL (no cleanup at all)
    or SIGTERM (exit 143 with the resume message) right after its FP training finished:
    the same command finishes the run without redoing FP training, with the numbers of an
    uninterrupted run."""
    import signal as _signal

    out = tmp_path / "out"
    args = ["reproduce", "rasch2023", "--no-progress", "--spec", str(_tiny_spec_file(tmp_path)),
            "--data", str(data_root), "--out", str(out), "--device", "cpu", "--threads", "1"]
    rc = _run_until(args, out / "mlp_mnist" / "fp_train.json", getattr(_signal, signame))
    if signame == "SIGTERM":
        assert rc in (143, 0)  # 0 only if the run finished before the signal arrived
    assert main(args) == 0
    log = (out / "run.log").read_text()
    assert "resuming: mlp_mnist fp_train done" in log
    resumed = json.loads((out / "metrics.json").read_text())
    assert _analog_numbers(resumed, "mlp_mnist") == _analog_numbers(full_run[1], "mlp_mnist")


# ------------------------------------------------------------------- executors
def _numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    return {n: (wl["fp"], wl["direct"], wl["hwa_digital"], wl["hwa"])
            for n, wl in metrics["workloads"].items()}


def test_process_pool_executor_gives_the_serial_numbers(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path) -> None:
    """Workloads as independent tasks in two worker processes: the metrics of the serial
    run, because every random stream derives from (seed, workload, purpose, index)."""
    spec = tiny("mlp_mnist", "transformer_sst2")
    pooled = run(spec, tmp_path / "pool", data_root, executor="process", workers=2,
                 threads=1)
    ref = {n: v for n, v in _numbers(full_run[1]).items() if n in spec.workload_names}
    assert _numbers(pooled) == ref
    assert pooled["executor"] == {"kind": "process", "workers": 2, "address": None}
    assert (tmp_path / "pool" / "report.md").is_file()
    log = (tmp_path / "pool" / "run.log").read_text()
    assert "running 2 workloads on executor 'process'" in log
    assert "mlp_mnist: fp_train finished" in log and "transformer_sst2: hwa_eval finished" in log


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray")
def test_ray_executor_gives_the_serial_numbers(
        full_run: tuple[Path, dict[str, Any]], data_root: Path, tmp_path: Path) -> None:
    """The same run on a local Ray instance with two workers: the serial numbers."""
    spec = tiny("mlp_mnist", "transformer_sst2")
    on_ray = run(spec, tmp_path / "ray", data_root, executor="ray", workers=2, threads=1)
    ref = {n: v for n, v in _numbers(full_run[1]).items() if n in spec.workload_names}
    assert _numbers(on_ray) == ref


def test_cli_rejects_bad_executor_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reproduce", "rasch2023", "--address", "auto"])
    assert "with executor 'ray'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "rasch2023", "--workers", "0"])
    assert "--workers" in capsys.readouterr().err
