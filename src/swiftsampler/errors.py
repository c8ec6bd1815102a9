"""Errors a user can cause.

Everything raised as a :class:`SwiftSamplerError` is a problem with the input (a name, a number, a file),
not a bug: the CLI prints its message as one line on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations


class SwiftSamplerError(Exception):
    """Base class of all user-facing errors; the message is one line that says what to fix."""


class ConfigError(SwiftSamplerError, ValueError):
    """A configuration value is unknown, out of range or of the wrong type."""


class DataError(SwiftSamplerError):
    """A dataset is missing, unreadable or malformed."""


class TrainingError(SwiftSamplerError):
    """Training cannot go on (for instance the loss became NaN or infinite)."""
