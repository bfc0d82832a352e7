"""Frozen, validated, serialisable configuration dataclasses.

Every aimc config is a frozen keyword-only dataclass decorated with :func:`config`.
The decorator adds

* validation at construction: ``__post_init__`` calls ``_validate()``, which raises
  :class:`~aimc.errors.ConfigError` naming the fix;
* a helpful error for misspelled or unknown keyword arguments (with a suggestion);
* ``to_dict``/``from_dict`` and ``to_json``/``from_json`` with a ``type`` and a
  ``version`` field, so nested variants (``PerColumn()``, ``GlobalCompensation()``)
  round-trip through JSON exactly.

The registry maps class names to config *types* (never live objects) so that
``from_dict`` can rebuild nested variants.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
from typing import Any, ClassVar, TypeVar

from aimc.errors import ConfigError

__all__ = [
    "CONFIG_VERSION",
    "ConfigBase",
    "config",
    "config_from_dict",
    "check_positive",
    "check_nonnegative",
    "check_type",
    "check_instance",
]

CONFIG_VERSION = 1
_REGISTRY: dict[str, type[ConfigBase]] = {}
T = TypeVar("T", bound="ConfigBase")


class ConfigBase:
    """Base of all aimc configs (use the :func:`config` decorator on subclasses)."""

    _config_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, type) and issubclass(value, ConfigBase):
                raise ConfigError(
                    f"{type(self).__name__}.{f.name} got the class {value.__name__}; "
                    f"pass an instance instead: {f.name}={value.__name__}()"
                )
            if isinstance(value, list):  # keep configs hashable and immutable
                object.__setattr__(self, f.name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        """Check field values; override in subclasses."""

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: ``{"type": name, "version": N, field: value, ...}``."""
        out: dict[str, Any] = {"type": type(self).__name__, "version": CONFIG_VERSION}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _encode(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error."""
        obj = config_from_dict(data, expected=cls)
        return obj  # type: ignore[return-value]

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config JSON is not valid JSON ({exc}); pass the output of "
                              f"to_json()") from exc
        return cls.from_dict(data)

    def replace(self: T, **changes: Any) -> T:
        """A copy with some fields changed (validated like a new config)."""
        _check_known_fields(type(self), changes)
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _encode(value: Any) -> Any:
    if isinstance(value, ConfigBase):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "type" in value:
        return config_from_dict(value)
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def _check_known_fields(cls: type, given: dict[str, Any]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for key in given:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid fields: {', '.join(names)}"
            raise ConfigError(f"{cls.__name__} has no field '{key}'; {hint}")


def config_from_dict(data: dict[str, Any], expected: type | None = None) -> ConfigBase:
    """Build any registered config from its dict form (see :meth:`ConfigBase.to_dict`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a dict from to_dict(), got {type(data).__name__}")
    data = dict(data)
    name = data.pop("type", None)
    version = data.pop("version", CONFIG_VERSION)
    if name is None:
        if expected is None:
            raise ConfigError("config dict has no 'type' key; use the output of to_dict()")
        name = expected.__name__
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see aimc.config for the config types"
        raise ConfigError(f"unknown config type '{name}'; {hint}")
    bad_type = isinstance(version, bool) or not isinstance(version, int)
    if bad_type or version > CONFIG_VERSION or version < 1:
        raise ConfigError(
            f"config version {version!r} is not supported by this aimc (knows 1..{CONFIG_VERSION});"
            " upgrade aimc or re-export the config"
        )
    cls = _REGISTRY[name]
    if expected is not None and not issubclass(cls, expected):
        raise ConfigError(f"expected a {expected.__name__} config, got type '{name}'")
    _check_known_fields(cls, data)
    return cls(**{k: _decode(v) for k, v in data.items()})


def config(cls: type[T]) -> type[T]:
    """Class decorator: frozen kw-only dataclass + registry + friendly unknown-field errors."""
    dc = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
    reserved = {"type", "version"} & {f.name for f in dataclasses.fields(dc)}
    if reserved:  # these keys carry the config type and format version in to_dict()
        raise RuntimeError(f"{dc.__name__} may not have fields named {sorted(reserved)}")
    if dc.__name__ in _REGISTRY and _REGISTRY[dc.__name__] is not dc:
        raise RuntimeError(f"config type name '{dc.__name__}' registered twice")
    _REGISTRY[dc.__name__] = dc
    original_init = dc.__init__

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            raise ConfigError(
                f"{dc.__name__} takes keyword arguments only, e.g. "
                f"{dc.__name__}({', '.join(f.name + '=...' for f in dataclasses.fields(dc)[:2])})"
            )
        _check_known_fields(dc, kwargs)
        original_init(self, **kwargs)

    dc.__init__ = __init__  # type: ignore[method-assign]
    return dc


# --------------------------------------------------------------------- validation helpers
def check_type(owner: str, name: str, value: Any, types: type | tuple[type, ...]) -> None:
    """Raise ConfigError unless ``value`` is an instance of ``types`` (bool is not a number)."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{owner}.{name} must be a number, got {value!r}")
    if not isinstance(value, types):
        want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{owner}.{name} must be {want}, got {type(value).__name__} ({value!r})")


def check_positive(owner: str, name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite (or +inf) number > 0."""
    check_type(owner, name, value, (int, float))
    if not value > 0 or math.isnan(value):
        raise ConfigError(f"{owner}.{name} must be > 0, got {value!r}")


def check_nonnegative(owner: str, name: str, value: Any) -> None:
    """Raise unless ``value`` is a number >= 0 (use 0 to switch the effect off)."""
    check_type(owner, name, value, (int, float))
    if not value >= 0 or math.isnan(value):
        raise ConfigError(f"{owner}.{name} must be >= 0 (0 switches it off), got {value!r}")


def check_instance(owner: str, name: str, value: Any, base: type) -> None:
    """Raise unless ``value`` is an instance of the config type ``base``."""
    if not isinstance(value, base):
        subs = sorted(n for n, c in _REGISTRY.items() if issubclass(c, base) and c is not base)
        raise ConfigError(
            f"{owner}.{name} must be one of {', '.join(s + '()' for s in subs)}, got {value!r}"
        )
