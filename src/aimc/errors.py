"""The aimc error hierarchy.

Every error raised by aimc on bad input derives from :class:`AimcError` and says
what to do instead. The concrete classes also derive from the matching builtin
(``ValueError``, ``TypeError``, ``RuntimeError``) so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "AimcError",
    "ConfigError",
    "StateError",
    "ShapeError",
    "CheckpointError",
    "DataError",
    "TrainingError",
    "ConversionWarning",
]


class AimcError(Exception):
    """Base class of every aimc error."""


class ConfigError(AimcError, ValueError):
    """A configuration value is unknown, misspelled, of the wrong type or out of range."""


class StateError(AimcError, RuntimeError):
    """A lifecycle step was called out of order (e.g. ``set_time`` before ``program``)."""


class ShapeError(AimcError, ValueError):
    """A tensor given to an analog layer has the wrong shape, dtype or device."""


class CheckpointError(AimcError, RuntimeError):
    """A checkpoint does not match the model it is loaded into, or is corrupt."""


class DataError(AimcError, OSError):
    """A dataset directory or file is missing, truncated or not in the expected format."""


class TrainingError(AimcError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what was kept."""


class ConversionWarning(UserWarning):
    """Emitted when a model conversion did not do what the caller probably wanted."""
