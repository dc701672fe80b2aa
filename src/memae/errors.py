"""Exceptions with messages meant for people: the CLI prints them as one line."""

from sklearn.exceptions import NotFittedError as _SklearnNotFitted


class MemAEError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(MemAEError, ValueError):
    """Data that cannot be used: wrong shape, NaN/inf, empty, non-numeric, unreadable."""


class NonNumericError(InputError, TypeError):
    """Values that are not numbers (a TypeError too, as numpy's float conversion raises)."""


class CheckpointError(MemAEError, ValueError):
    """A model folder that is missing, corrupt, foreign or inconsistent."""


class NotFittedError(MemAEError, _SklearnNotFitted):
    """A detector used before ``fit`` (or ``load``): scikit-learn's NotFittedError, which is a
    ValueError and an AttributeError."""
