"""The typed messages the synchroniser's actors exchange. Every one that carries media carries
its epoch; times (``at``, ``arrived_at``) are ``trio.current_time()`` values."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from actors import Reply

    from ._audio import PreparedAudio
    from ._stats import PlayoutResult

__all__ = [
    "AudioIn",
    "AudioOut",
    "AudioPacket",
    "Barrier",
    "ClockTick",
    "EndAudio",
    "EndOfSpeech",
    "Flush",
    "FrameKind",
    "SpeechState",
    "VideoIn",
    "VideoSettled",
    "VideoOut",
    "WaitPlayout",
]

Samples = npt.NDArray[np.int16]  # (samples, channels), output rate and layout
Plane = npt.NDArray[np.uint8]
#: A frame's pixels at the output size, I420: one array of shape ``(height * 3 // 2, width)``
#: (PyAV's ``yuv420p`` ndarray layout), or the Y, U and V planes as three (row-padded) views of
#: a caller's ``yuv420p`` frame, shared without a copy.
Image = Plane | tuple[Plane, Plane, Plane]


# -- control ---------------------------------------------------------------------------------


@attrs.frozen
class Flush:
    """Broadcast by control: everything stamped with an epoch older than ``epoch`` is stale."""

    epoch: int


@attrs.frozen(eq=False)
class Barrier:
    """Answered once every control message before it has been applied."""

    epoch: int
    reply: Reply[None]


# -- audio -----------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class AudioIn:
    """A validated chunk from ``write_audio``."""

    epoch: int
    audio: PreparedAudio
    start: int | None  #: media time of the first sample, in output samples; None = continue
    arrived_at: float


@attrs.frozen
class EndAudio:
    """No more audio for ``epoch``."""

    epoch: int


@attrs.frozen(eq=False)
class AudioPacket:
    """One output packet of an epoch's speech, waiting in the audio buffer."""

    epoch: int
    start: int  #: media time of the first sample, in output samples
    samples: Samples  #: exactly one packet; the tail after ``real`` is padding
    real: int  #: samples that are speech (the last packet of a turn may be shorter)
    first_arrival: float  #: when the epoch's first audio arrived (for playout_delay_s)


@attrs.frozen
class EndOfSpeech:
    """The epoch's speech ends at media sample ``end`` (exclusive)."""

    epoch: int
    end: int


@attrs.frozen(eq=False)
class WaitPlayout:
    epoch: int
    reply: Reply[PlayoutResult]


class SpeechState(enum.Enum):
    """Where an epoch's speech stands, as of a clock tick."""

    IDLE = "idle"  #: no audio has arrived in this epoch
    PENDING = "pending"  #: audio arrived, playout not started (playout_delay_s)
    ACTIVE = "active"  #: audio is master (including underruns mid-speech)
    ENDED = "ended"  #: the last sample has been emitted


@attrs.frozen(eq=False)
class AudioOut:
    """One emitted packet: ``index`` places it on the output timeline."""

    epoch: int
    index: int
    samples: Samples | None  #: None = silence
    at: float


@attrs.frozen
class ClockTick:
    """Where playout stands: media sample ``start`` of ``epoch`` is heard at ``at`` (and the
    next ``real`` samples follow it); ``start is None`` when the packet was silence."""

    epoch: int
    at: float
    start: int | None
    real: int
    speech: SpeechState
    overloaded: bool = False  #: the clock finds the session overloaded (avsync._load)


# -- video -----------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class VideoIn:
    epoch: int
    image: Image
    pts: float | None  #: media time, seconds; None = at the audio write cursor
    cursor: float  #: the epoch's audio write cursor when the frame arrived, seconds
    arrived_at: float


class FrameKind(enum.Enum):
    NEW = "new"
    REPEAT = "repeat"
    PLACEHOLDER = "placeholder"


@attrs.frozen(eq=False)
class VideoOut:
    """A frame to show at ``at`` (``epoch`` is the epoch of the image)."""

    epoch: int
    image: Image
    at: float
    kind: FrameKind


@attrs.frozen(eq=False)
class VideoSettled:
    """Sent to the video queue behind frames, then by the video queue to the publisher behind
    the frames that fell due: answered once every frame written before it has been taken in and
    whatever was due by then has been handed to every output."""

    reply: Reply[None]
