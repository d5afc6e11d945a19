"""Exceptions raised at the call site. Each is a ValueError or TypeError subclass (or, for a
closed synchroniser, a trio.ClosedResourceError subclass) whose message says what was wrong."""

from __future__ import annotations

import trio

__all__ = [
    "AvsyncError",
    "EpochError",
    "InvalidAudioError",
    "InvalidAudioTypeError",
    "InvalidVideoError",
    "InvalidVideoTypeError",
    "SynchronizerClosed",
]


class AvsyncError(Exception):
    """Base class of avsync's own errors."""


class InvalidAudioError(AvsyncError, ValueError):
    """Audio samples or their parameters are malformed (shape, channels, rate, NaN, pts...)."""


class InvalidAudioTypeError(AvsyncError, TypeError):
    """Audio of a type or dtype avsync does not take."""


class InvalidVideoError(AvsyncError, ValueError):
    """A video frame or its parameters are malformed (size, pts...)."""


class InvalidVideoTypeError(AvsyncError, TypeError):
    """A video frame of a type or dtype avsync does not take."""


class EpochError(AvsyncError, ValueError):
    """A write named an epoch newer than the current one, or not an int."""


class SynchronizerClosed(AvsyncError, trio.ClosedResourceError):
    """The synchroniser has been closed (or has failed); it takes no more input."""
