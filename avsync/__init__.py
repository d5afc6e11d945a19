"""avsync: keeps a talking avatar's lips in sync with its voice.

Start a synchroniser with :func:`open_synchronizer` (or ``nursery.start(run_synchronizer)``),
write the provider's audio and video into it, and read the synchronised outputs.
"""

from ._config import SyncConfig
from ._errors import (
    AvsyncError,
    EpochError,
    InvalidAudioError,
    InvalidAudioTypeError,
    InvalidVideoError,
    InvalidVideoTypeError,
    SynchronizerClosed,
)
from ._sink import SinkChannel
from ._stats import OffsetSummary, OverloadStats, PlayoutResult, Stats
from ._synchronizer import Synchronizer, open_synchronizer, run_synchronizer

__version__ = "0.1.0"

__all__ = [
    "AvsyncError",
    "EpochError",
    "InvalidAudioError",
    "InvalidAudioTypeError",
    "InvalidVideoError",
    "InvalidVideoTypeError",
    "OffsetSummary",
    "OverloadStats",
    "PlayoutResult",
    "SinkChannel",
    "Stats",
    "SyncConfig",
    "Synchronizer",
    "SynchronizerClosed",
    "__version__",
    "open_synchronizer",
    "run_synchronizer",
]
