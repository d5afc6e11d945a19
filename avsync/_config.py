"""SyncConfig: the synchroniser's settings, validated on construction."""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import attrs

from actors import Overflow

__all__ = ["SyncConfig"]


def _positive_even_int(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % 2:
        raise ValueError(f"{attribute.name} must be a positive even int, got {value!r}")
    if value > 8192:
        raise ValueError(f"{attribute.name} must be at most 8192, got {value!r}")


def _positive_finite(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be finite and positive, got {value!r}")


def _non_negative_finite(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be finite and non-negative, got {value!r}")


def _sample_rate(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 8000 <= value <= 192_000:
        raise ValueError(f"sample_rate must be an int from 8000 to 192000 Hz, got {value!r}")


def _channels(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {value!r}")


def _bool(instance: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be a bool, got {value!r}")


def _rgb(instance: Any, attribute: attrs.Attribute[tuple[int, int, int]], value: object) -> None:
    if not (
        isinstance(value, tuple)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        raise ValueError(f"{attribute.name} must be a tuple of three ints 0-255, got {value!r}")


def _overflow(value: object) -> Overflow:
    """``overflow`` as an :class:`actors.Overflow`: "block" or "drop-oldest" (or the enum)."""
    if isinstance(value, str) and value in (Overflow.BLOCK, Overflow.DROP_OLDEST):
        return Overflow(value)
    raise ValueError(f"overflow must be 'block' or 'drop-oldest', got {value!r}")


@attrs.frozen(kw_only=True)
class SyncConfig:
    """Output format, buffering and timing of one synchroniser. Every field is validated on
    construction; an invalid value raises ``ValueError`` naming the field."""

    width: int = attrs.field(default=1280, validator=_positive_even_int)
    height: int = attrs.field(default=720, validator=_positive_even_int)
    fps: float = attrs.field(default=30.0, validator=_positive_finite)
    sample_rate: int = attrs.field(default=48000, validator=_sample_rate)
    channels: int = attrs.field(default=1, validator=_channels)
    #: duration of one output audio packet; the clock ticks once per packet
    packet_ms: float = attrs.field(default=20.0, validator=_positive_finite)
    #: most audio held ahead of playout before ``overflow`` applies
    audio_buffer_s: float = attrs.field(default=60.0, validator=_positive_finite)
    #: most video held; the queue holds at most ``video_buffer_s * fps`` frames
    video_buffer_s: float = attrs.field(default=10.0, validator=_positive_finite)
    #: what a full buffer does: make the writer wait, or drop the oldest (counted)
    overflow: Overflow = attrs.field(default=Overflow.BLOCK, converter=_overflow)
    #: shifts every frame's due time (positive = show video later)
    av_offset_s: float = attrs.field(default=0.0, validator=_non_negative_finite)
    #: holds each turn's audio playout until this long after its first audio arrived
    playout_delay_s: float = attrs.field(default=0.0, validator=_non_negative_finite)
    #: length of the ramp to silence after a flush
    fade_ms: float = attrs.field(default=5.0, validator=_non_negative_finite)
    #: copy every ``write_video`` frame, for callers that modify or reuse a frame after writing
    #: it; by default a ``yuv420p`` frame of the output size is shared, not copied
    copy_video: bool = attrs.field(default=False, validator=_bool)
    #: a frame without pts written while no audio plays (before the speech, or in an underrun)
    #: waits for the next packet: it is shown with the audio written after it, if any comes
    #: (for providers that write each frame before its audio); otherwise it is shown at once
    await_following_audio: bool = attrs.field(default=False, validator=_bool)
    #: the colour (R, G, B) of the picture shown before the first frame
    placeholder_rgb: tuple[int, int, int] = attrs.field(default=(0, 0, 0), validator=_rgb)

    def __attrs_post_init__(self) -> None:
        samples = Fraction(self.packet_ms) * self.sample_rate / 1000
        if samples.denominator != 1:
            raise ValueError(
                f"packet_ms must be a whole number of samples: {self.packet_ms} ms at "
                f"{self.sample_rate} Hz is {float(samples):g} samples"
            )
        if self.packet_ms > 1000:
            raise ValueError(f"packet_ms must be at most 1000, got {self.packet_ms!r}")
        if self.audio_buffer_s < self.packet_ms / 1000:
            raise ValueError("audio_buffer_s must hold at least one packet")
        if self.fps > 240:
            raise ValueError(f"fps must be at most 240, got {self.fps!r}")

    @functools.cached_property
    def packet_samples(self) -> int:
        """Samples per channel in one output audio packet."""
        return int(Fraction(self.packet_ms) * self.sample_rate / 1000)

    @functools.cached_property
    def packet_s(self) -> float:
        return self.packet_samples / self.sample_rate

    @functools.cached_property
    def video_queue_frames(self) -> int:
        """Most frames the video queue holds."""
        return max(1, math.floor(self.video_buffer_s * self.fps))

    @functools.cached_property
    def audio_buffer_packets(self) -> int:
        """Most packets the audio buffer holds."""
        return max(1, math.floor(self.audio_buffer_s / self.packet_s))

    @functools.cached_property
    def layout(self) -> str:
        return "mono" if self.channels == 1 else "stereo"
