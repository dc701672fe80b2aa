"""Exceptions with messages meant for people: the CLI prints them as one line."""


class MemAEError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(MemAEError, ValueError):
    """Data that cannot be used: wrong shape, NaN/inf, empty, non-numeric, unreadable."""


class CheckpointError(MemAEError, ValueError):
    """A model folder that is missing, corrupt, foreign or inconsistent."""


class NotFittedError(MemAEError, AttributeError):
    """A detector used before ``fit`` (or ``load``)."""
