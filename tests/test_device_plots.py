"""Device response plots (aimc.plotting.device_response)."""

from __future__ import annotations

import sys

import pytest
import torch

from aimc.config.pulsed import PCMPulseDevice, SoftBoundsDevice, pcm_preset_device
from aimc.errors import AimcError, ConfigError
from aimc.physics.pulsed import mean_response
from aimc.plotting import MissingDependencyError, plot_device_response
from aimc.plotting.device_response import _simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("cfg", [SoftBoundsDevice(dw_min=0.01), PCMPulseDevice(),
                                 pcm_preset_device()], ids=lambda c: type(c).__name__)
def test_png_is_written(tmp_path, cfg):
    pytest.importorskip("matplotlib")
    path = tmp_path / "new" / "dir" / "resp.png"
    fig = plot_device_response(cfg, n_up=30, n_down=20, cycles=2, n_devices=4, path=path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert len(lines) >= 5  # 4 devices + the nominal curve (+ bound markers)


def test_figure_without_path_and_traces():
    pytest.importorskip("matplotlib")
    fig = plot_device_response(SoftBoundsDevice(dw_min=0.01), n_up=10, n_down=10, cycles=1,
                               n_devices=3)
    assert len(fig.axes) == 2
    traces, nominal = _simulate(SoftBoundsDevice(dw_min=0.01), 10, 5, 1, 3, 0)
    assert traces.shape == (16, 3) and nominal.shape == (16,)
    want = mean_response(SoftBoundsDevice(dw_min=0.01), torch.tensor(0.0, dtype=torch.float64),
                         torch.arange(11), +1)
    assert torch.allclose(nominal[:11], want)
    # one-sided: SET train then RESET back to the reset value
    traces, nominal = _simulate(PCMPulseDevice(), 8, 99, 2, 3, 0)
    assert traces.shape == (19, 3)
    assert float(nominal[9]) == pytest.approx(0.1 / 12)


@pytest.mark.parametrize("kwargs, match", [
    ({"path": "plot.pdf"}, r"\.png"),
    ({"n_up": 0}, "n_up"),
    ({"cycles": 0}, "cycles"),
    ({"n_devices": 2.5}, "n_devices"),
    ({"n_down": -1}, "n_down"),
    ({"seed": True}, "seed"),
])
def test_bad_arguments_raise(tmp_path, kwargs, match):
    if "path" in kwargs:
        kwargs = {**kwargs, "path": tmp_path / kwargs["path"]}
    with pytest.raises(ConfigError, match=match):
        plot_device_response(SoftBoundsDevice(), **kwargs)
    assert not list(tmp_path.iterdir())


def test_bad_config_raises():
    with pytest.raises(ConfigError, match="pulsed device config"):
        plot_device_response("SoftBoundsDevice")  # type: ignore[arg-type]


def test_missing_matplotlib_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingDependencyError, match=r"aimc\[plots\]") as info:
        plot_device_response(SoftBoundsDevice(), n_up=2, n_down=2, n_devices=1)
    assert isinstance(info.value, ImportError) and isinstance(info.value, AimcError)
