"""``aimc reproduce rasch2023-sensitivity`` on tiny generated data: outputs, resume, spec, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from test_reproduce import make_tiny_data

from aimc.cli import build_parser, main
from aimc.errors import ConfigError
from aimc.experiments.sensitivity import (
    FACTORS,
    SensitivitySpec,
    default_sensitivity_spec,
    run_sensitivity,
)

SPEC = SensitivitySpec(mode="tiny", repeats=2, workloads=("mlp_mnist",),
                       factors=(("out_noise", (0.04, 0.16)), ("adc_bits", (4, 8))))


def _run(out: Path, src: Path, data: Path, **kw: Any) -> dict[str, Any]:
    return run_sensitivity(SPEC, out, from_run=src, data_root=data, workers=1,
                           show_progress=False, log=lambda m: None, **kw)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict[str, Any]]:
    data = make_tiny_data(tmp_path_factory.mktemp("data"))
    root = tmp_path_factory.mktemp("sens")
    src, out = root / "rasch2023", root / "sens"
    return src, out, data, _run(out, src, data)  # src has no models: trains them first


def test_outputs_exist_and_values_are_sane(sweep: tuple[Path, Path, Path, dict[str, Any]]
                                           ) -> None:
    src, out, _, metrics = sweep
    assert (src / "mlp_mnist" / "fp_model.pt").is_file()
    assert (src / "mlp_mnist" / "hwa_model.pt").is_file()
    for name in ("metrics.json", "report.md", "out_noise.png", "adc_bits.png", "config.json"):
        assert (out / name).is_file(), name
    assert (out / "out_noise.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "metrics.json").read_text())
    assert set(saved["sweeps"]) == {"out_noise", "adc_bits"}
    for fname, by_w in saved["sweeps"].items():
        for mapping in ("direct", "hwa"):
            s = by_w["mlp_mnist"][mapping]
            assert len(s["values"]) == 2 and all(len(r) == 2 for r in s["per_repeat"])
            assert all(0 <= x <= 1 for r in s["per_repeat"] for x in r)
            assert all(math.isfinite(x) and x >= 0 for x in s["normalised_mean"])
        assert by_w["mlp_mnist"]["direct"]["preset_value"] == (0.04 if fname == "out_noise"
                                                               else 8.0)
    assert [r["factor"] for r in saved["ranking"]] and len(saved["ranking"]) == 2
    assert set(saved["robustness"]) == {"mlp_mnist"}
    report = (out / "report.md").read_text()
    assert "Which nonidealities hurt most" in report and "Comparison with the paper" in report


def test_resume_skips_finished_jobs(sweep: tuple[Path, Path, Path, dict[str, Any]]) -> None:
    src, out, data, metrics = sweep
    jobs = sorted((out / "jobs").glob("*.json"))
    assert len(jobs) == 4
    victim = jobs[0]
    mtimes = {p: p.stat().st_mtime_ns for p in jobs}
    victim.unlink()
    again = _run(out, src, data)
    assert victim.is_file()
    for p in jobs[1:]:
        assert p.stat().st_mtime_ns == mtimes[p]  # not recomputed
    assert again["sweeps"] == metrics["sweeps"]  # the redone job gives the same numbers


def test_spec_validation() -> None:
    with pytest.raises(ConfigError, match="unknown factor"):
        SensitivitySpec(factors=(("gate_noise", (1.0,)),))
    with pytest.raises(ConfigError, match="unknown sensitivity spec key"):
        SensitivitySpec.from_dict({"repeat": 3})
    with pytest.raises(ConfigError, match="bits"):
        SensitivitySpec(factors=(("dac_bits", (4.5,)),))
    with pytest.raises(ConfigError):
        SensitivitySpec(repeats=0)
    spec = default_sensitivity_spec("quick")
    assert spec.repeats == 3 and set(spec.factor_values) == set(FACTORS)
    assert SensitivitySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_cli_registration(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["reproduce", "rasch2023-sensitivity", "--quick",
                                      "--workers", "1", "--repeats", "2"])
    assert args.quick and args.workers == 1 and args.repeats == 2
    with pytest.raises(SystemExit):
        main(["reproduce", "rasch2023-sensitivity", "--factors", "nope"])
    assert "unknown factor" in capsys.readouterr().err


def test_each_swept_value_reaches_the_model(sweep: tuple[Path, Path, Path, dict[str, Any]]
                                            ) -> None:
    """Repeat r uses the same programming and noise seeds at every value (common random
    numbers), so a sweep whose setting never reached the model would give identical rows.
    On this data 4- vs 8-bit ADCs and σ_out 0.04 vs 0.16 change at least one of the two
    repeats' accuracies in every (factor, mapping)."""
    saved = json.loads((sweep[1] / "metrics.json").read_text())
    for fname, by_w in saved["sweeps"].items():
        for mapping, s in by_w["mlp_mnist"].items():
            low, high = s["per_repeat"]
            assert low != high, (fname, mapping, s["per_repeat"])


@pytest.mark.parametrize("name", sorted(FACTORS))
def test_factor_set_then_get_round_trips(name: str) -> None:
    """Every factor writes the value its ``get`` reads back, and changes nothing else."""
    from aimc import presets

    base = presets.rasch2023()
    factor = FACTORS[name]
    value = 6.0 if factor.integer else 0.37
    changed = factor.set(base, value)
    assert factor.get(changed) == pytest.approx(value, rel=1e-12)
    assert factor.get(base) != pytest.approx(value)
    for other in FACTORS.values():
        if other.name != name:
            assert other.get(changed) == other.get(base), other.name
