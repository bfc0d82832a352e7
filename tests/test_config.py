"""Config dataclasses: JSON round trip, helpful errors for misspellings, range checks,
class-instead-of-instance mistakes and malformed serialised input."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

import aimc.config as C
from aimc import presets, units
from aimc.config import CONFIG_VERSION, ConfigBase, config_from_dict
from aimc.errors import ConfigError
from aimc.nn import AnalogLinear

CONFIG_CLASSES = sorted(
    (obj for name in C.__all__
     if isinstance(obj := getattr(C, name), type) and issubclass(obj, ConfigBase)
     and dataclasses.is_dataclass(obj)),
    key=lambda c: c.__name__,
)

# non-default instances so that every field type is exercised (tuples, None, inf, nesting)
NON_DEFAULT = [
    C.PCMNoiseModel(g_max=10.35 * units.uS, t0=27.36, t_read=512e-9,
                    prog_coeffs=[0.2, 1.5, -1.0], nu_mean_bounds=(0.06, 0.06),
                    nu_std_bounds=(0.0, 0.0), read_noise_scale=0.5, drift_scale=2.0),
    C.GaussianNoiseModel(g_max=20e-6, prog_std=0.03, nu_mean=0.05, nu_std=0.0, read_std=0.0),
    C.IdealDevice(g_max=1e-6, t0=1.0),
    C.Converter(steps=None, bound=math.inf),
    C.Converter(steps=126, bound=3.5),
    C.IOConfig(ir_drop=None, adc=C.Converter(steps=None, bound=math.inf),
               noise_management=C.AbsMaxNoiseManagement(), out_nonlinearity=0.1),
    C.IOConfig(bound_management=C.IterativeBoundManagement(max_factor=100.0, max_res=0.1),
               noise_management=C.ConstantNoiseManagement(value=2.0),
               ir_drop=C.IRDrop(scale=0.5, g_ratio=1e5)),
    C.Mapping(weight_scaling=C.PerTileScaling(), tiles=C.TileSplit(max_rows=256),
              learn_out_scaling=True),
    C.Mapping(weight_scaling=C.NoScaling()),
    C.InputRange(init_value=1.5, init_from_data=0, learn=False),
    C.AnalogConfig(input_range=None, drift_compensation=C.PerColumnCompensation(),
                   device=C.GaussianNoiseModel()),
]


def _roundtrip(obj: ConfigBase) -> None:
    text = obj.to_json()
    json.loads(text)  # strict JSON text
    back = type(obj).from_json(text)
    assert back == obj
    assert type(back) is type(obj)
    assert back.to_dict() == obj.to_dict()
    assert config_from_dict(json.loads(text)) == obj
    assert type(obj).from_dict(obj.to_dict()) == obj


def test_all_config_classes_are_found():
    """Guard: the parametrised round trip covers the whole public config surface."""
    names = {c.__name__ for c in CONFIG_CLASSES}
    assert {"AnalogConfig", "PCMNoiseModel", "IOConfig", "Converter", "IRDrop", "Mapping",
            "TileSplit", "InputRange", "GlobalCompensation"} <= names
    assert len(names) >= 22


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_default_roundtrip(cls):
    _roundtrip(cls())


@pytest.mark.parametrize("obj", NON_DEFAULT, ids=lambda o: type(o).__name__)
def test_non_default_roundtrip(obj):
    _roundtrip(obj)
    assert obj != type(obj)()  # really non-default


@pytest.mark.parametrize("preset", [presets.rasch2023, presets.ideal])
def test_preset_roundtrip(preset):
    cfg = preset()
    _roundtrip(cfg)
    assert C.AnalogConfig.from_json(cfg.to_json(indent=2)) == cfg
    assert cfg == preset()  # presets are values: equal and hashable
    assert hash(cfg) == hash(preset())


def test_infinity_is_json_safe():
    """math.inf bounds serialise as strict JSON (no bare Infinity) and come back as inf."""
    text = presets.ideal().to_json()
    assert "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = C.AnalogConfig.from_json(text)
    assert back.forward.adc.bound == math.inf


def test_lists_become_tuples_and_configs_are_frozen():
    cfg = C.PCMNoiseModel(prog_coeffs=[0.2, 1.5, -1.0])
    assert cfg.prog_coeffs == (0.2, 1.5, -1.0)
    hash(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.g_max = 1e-6  # type: ignore[misc]


# --------------------------------------------------------------------- misspellings
@pytest.mark.parametrize("cls, wrong, right", [
    (C.PCMNoiseModel, "gmax", "g_max"),
    (C.PCMNoiseModel, "read_noise_scal", "read_noise_scale"),
    (C.IOConfig, "out_nosie", "out_noise"),
    (C.Converter, "step", "steps"),
    (C.AnalogConfig, "drift_compenstion", "drift_compensation"),
    (C.TileSplit, "max_row", "max_rows"),
])
def test_misspelled_field_suggests(cls, wrong, right):
    with pytest.raises(ConfigError, match=f"'{right}'"):
        cls(**{wrong: 1})
    with pytest.raises(ConfigError, match=f"'{right}'"):
        cls().replace(**{wrong: 1})
    bad = cls().to_dict()
    bad[wrong] = bad.pop(right)
    with pytest.raises(ConfigError, match=f"'{right}'"):
        cls.from_dict(bad)


def test_positional_arguments_rejected():
    with pytest.raises(ConfigError):
        C.Converter(254, 1.0)  # type: ignore[misc]


# --------------------------------------------------------------------- value ranges
@pytest.mark.parametrize("make", [
    lambda: C.IOConfig(out_noise=-0.01),
    lambda: C.IOConfig(read_noise=-1e-3),
    lambda: C.IOConfig(inp_noise=-0.1),
    lambda: C.IOConfig(out_nonlinearity=-0.1),
    lambda: C.IOConfig(out_noise=float("nan")),
    lambda: C.PCMNoiseModel(read_noise_scale=-1.0),
    lambda: C.PCMNoiseModel(prog_noise_scale=-0.5),
    lambda: C.PCMNoiseModel(drift_scale=-1.0),
    lambda: C.GaussianNoiseModel(prog_std=-0.01),
    lambda: C.GaussianNoiseModel(read_std=-0.01),
    lambda: C.Converter(steps=0),
    lambda: C.Converter(steps=-4),
    lambda: C.Converter(steps=2.5),
    lambda: C.Converter(steps=True),
    lambda: C.Converter(bound=0.0),
    lambda: C.Converter(steps=254, bound=math.inf),
    lambda: C.PCMNoiseModel(g_max=0.0),
    lambda: C.PCMNoiseModel(g_max=-25e-6),
    lambda: C.GaussianNoiseModel(g_max=0.0),
    lambda: C.IdealDevice(g_max=-1.0),
    lambda: C.PCMNoiseModel(g_max=25.0),  # µS given instead of S
    lambda: C.IdealDevice(g_max=25.0),
    lambda: C.PCMNoiseModel(t0=0.0),
    lambda: C.PCMNoiseModel(t_read=-1e-9),
    lambda: C.PCMNoiseModel(nu_mean_bounds=(0.1, 0.049)),
    lambda: C.PCMNoiseModel(nu_std_bounds=(0.045, 0.008)),
    lambda: C.PCMNoiseModel(nu_std_bounds=(-0.01, 0.045)),
    lambda: C.PCMNoiseModel(prog_coeffs=(0.2, 1.5)),
    lambda: C.PCMNoiseModel(prog_coeffs=(0.2, 1.5, "x")),
    lambda: C.TileSplit(max_rows=0),
    lambda: C.TileSplit(max_rows=-4),
    lambda: C.IRDrop(scale=-1.0),
    lambda: C.IRDrop(g_ratio=0.0),
    lambda: C.ConstantNoiseManagement(value=0.0),
    lambda: C.IterativeBoundManagement(max_factor=0.5),
    lambda: C.IOConfig(adc=C.Converter(steps=None, bound=math.inf),
                       bound_management=C.IterativeBoundManagement()),
    lambda: C.InputRange(init_value=0.0),
    lambda: C.InputRange(init_from_data=-1),
    lambda: C.InputRange(input_min_percentage=1.5),
    lambda: C.Mapping(digital_bias=False),
    lambda: C.AnalogConfig(device=C.IOConfig()),
    lambda: C.AnalogConfig(forward=None),
])
def test_out_of_range_raises(make):
    with pytest.raises(ConfigError):
        make()


def test_g_max_in_microsiemens_message_names_the_unit():
    with pytest.raises(ConfigError, match="siemens"):
        C.PCMNoiseModel(g_max=25.0)


def test_valid_edge_values_accepted():
    """The checks are not over-eager: 0 switches effects off, equal bounds are allowed."""
    C.IOConfig(out_noise=0.0, read_noise=0.0, inp_noise=0.0)
    C.PCMNoiseModel(nu_mean_bounds=(0.06, 0.06), nu_std_bounds=(0.0, 0.0),
                    read_noise_scale=0.0, prog_noise_scale=0.0)
    C.Converter(steps=1, bound=1e-3)
    C.PCMNoiseModel(g_max=25 * units.uS)


# --------------------------------------------------------------------- classes vs instances
@pytest.mark.parametrize("make", [
    lambda: C.AnalogConfig(device=C.PCMNoiseModel),
    lambda: C.AnalogConfig(drift_compensation=C.GlobalCompensation),
    lambda: C.IOConfig(ir_drop=C.IRDrop),
    lambda: C.IOConfig(noise_management=C.AbsMaxNoiseManagement),
    lambda: C.Mapping(weight_scaling=C.PerColumnScaling),
])
def test_class_instead_of_instance_raises(make):
    with pytest.raises(ConfigError, match=r"\(\)"):
        make()


def test_layer_rejects_config_class():
    with pytest.raises(ConfigError):
        AnalogLinear(4, 2, config=C.AnalogConfig)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AnalogLinear(4, 2, config=C.IOConfig())  # type: ignore[arg-type]


# --------------------------------------------------------------------- malformed input
def test_from_dict_unknown_type():
    with pytest.raises(ConfigError, match="PCMNoiseModel"):
        config_from_dict({"type": "PCMNoiseModle", "version": CONFIG_VERSION})
    with pytest.raises(ConfigError):
        C.AnalogConfig.from_dict({"type": "Nonsense", "version": CONFIG_VERSION})


def test_from_dict_wrong_type_for_expected_class():
    with pytest.raises(ConfigError):
        C.PCMNoiseModel.from_dict(C.IOConfig().to_dict())
    with pytest.raises(ConfigError):
        C.AnalogConfig.from_json(C.IOConfig().to_json())


def test_from_dict_unknown_key():
    d = C.IRDrop().to_dict()
    d["resistance"] = 1.0
    with pytest.raises(ConfigError, match="resistance"):
        C.IRDrop.from_dict(d)
    nested = presets.rasch2023().to_dict()
    nested["forward"]["adc"]["bits"] = 8
    with pytest.raises(ConfigError, match="bits"):
        C.AnalogConfig.from_dict(nested)


@pytest.mark.parametrize("version", [CONFIG_VERSION + 1, 0, "1", 1.5, None])
def test_from_dict_bad_version(version):
    d = C.Converter().to_dict()
    d["version"] = version
    with pytest.raises(ConfigError):
        C.Converter.from_dict(d)


def test_from_dict_future_version_in_nested_config():
    d = presets.rasch2023().to_dict()
    d["device"]["version"] = CONFIG_VERSION + 1
    with pytest.raises(ConfigError, match="version"):
        C.AnalogConfig.from_dict(d)


def test_from_dict_without_type_uses_expected_class():
    d = C.Converter(steps=100, bound=2.0).to_dict()
    del d["type"]
    assert C.Converter.from_dict(d) == C.Converter(steps=100, bound=2.0)
    with pytest.raises(ConfigError):
        config_from_dict(d)


@pytest.mark.parametrize("text", ["", "{", "{'type': 'Converter'}", "not json", "[1, 2",
                                  "{\"type\": \"Converter\",}"])
def test_from_json_invalid_json(text):
    with pytest.raises(ConfigError, match="JSON"):
        C.Converter.from_json(text)


@pytest.mark.parametrize("text", ["[1, 2]", "42", "null", "\"Converter\""])
def test_from_json_not_an_object(text):
    with pytest.raises(ConfigError):
        C.Converter.from_json(text)


def test_from_dict_values_are_validated():
    """Deserialisation goes through the same validation as construction."""
    d = C.IOConfig().to_dict()
    d["out_noise"] = -1.0
    with pytest.raises(ConfigError):
        C.IOConfig.from_dict(d)
    d = C.PCMNoiseModel().to_dict()
    d["g_max"] = 25.0
    with pytest.raises(ConfigError):
        C.PCMNoiseModel.from_dict(d)
