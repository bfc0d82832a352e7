"""``aimc device-plot``: device-response PNGs from the command line."""

from __future__ import annotations

import pytest

from aimc.cli import main
from aimc.cli_devices import DEVICE_NAMES, device_from_name
from aimc.config.pulsed import SoftBoundsDevice
from aimc.errors import ConfigError

pytest.importorskip("matplotlib")


def test_device_from_name_and_overrides() -> None:
    cfg = device_from_name("SoftBoundsDevice", ["dw_min=0.01", "up_down=0.2"])
    assert cfg == SoftBoundsDevice(dw_min=0.01, up_down=0.2)
    assert device_from_name("pcm_preset").one_sided
    for name in DEVICE_NAMES:
        device_from_name(name)


def test_device_from_name_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        device_from_name("Memristor")
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        device_from_name("SoftBoundsDevice", ["dw_min"])
    with pytest.raises(ConfigError, match="not a number"):
        device_from_name("SoftBoundsDevice", ["dw_min=abc"])
    with pytest.raises(ConfigError, match="no field"):
        device_from_name("SoftBoundsDevice", ["dw_mn=0.1"])


def test_cli_writes_png(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sb.png"
    assert main(["device-plot", "SoftBoundsDevice", "--out", str(out), "--up", "50",
                 "--down", "50", "--devices", "3", "--cycles", "1"]) == 0
    assert out.stat().st_size > 1000
    assert main(["device-plot", "--list"]) == 0
    assert "pcm_preset" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["device-plot"], ["device-plot", "Nope"],
                                  ["device-plot", "SoftBoundsDevice", "--up", "0"],
                                  ["device-plot", "SoftBoundsDevice", "--out", "x.jpg"],
                                  ["device-plot", "SoftBoundsDevice", "--set", "w_min=1.0"]])
def test_cli_bad_arguments_exit_2(argv: list[str], tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
