"""Validation of the small numeric arguments shared by the loaders (``limit``, ``per_class``...)."""

from __future__ import annotations

from aimc.errors import ConfigError

__all__ = ["check_positive_int", "check_split"]


def check_positive_int(name: str, value: int | None, *, allow_none: bool = True) -> int | None:
    """Return ``value`` if it is a positive ``int`` (or ``None`` when allowed).

    Raises:
        ConfigError: ``value`` is not an integer >= 1 (``bool`` is refused too).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{name} must be an integer >= 1{extra}, got {value!r}")
    return value


def check_split(dataset: str, split: str, allowed: tuple[str, ...]) -> str:
    """Return ``split`` if it is one of ``allowed``.

    Raises:
        ConfigError: ``split`` is not one of ``allowed``.
    """
    if split not in allowed:
        raise ConfigError(f"{dataset} has splits {', '.join(map(repr, allowed))}; "
                          f"got split={split!r}")
    return split
