"""The audio write timeline of one epoch: where the audio written so far ends (the write cursor)
and the rules for audio ``pts``. Pure state, no trio; the facade checks every write against it
at the call site, so a bad ``pts`` raises there.

Media time is counted in output samples from the epoch's start. A write without ``pts``
continues the audio written before. A write with ``pts``:

* may not go back before an earlier write's ``pts`` (``InvalidAudioError``);
* may not overlap the audio already written, by more than :data:`~avsync._time.PTS_JITTER_S`;
* continues the audio written when it is within :data:`~avsync._time.PTS_JITTER_S` of the cursor
  (jitter: no gap, no overlap);
* otherwise starts where it says: after a gap (filled with silence by the ingest), or, for the
  epoch's first write, at that media time.

Frames without ``pts`` are aligned with the cursor (:attr:`AudioTimeline.cursor_s`).
"""

from __future__ import annotations

import attrs

from ._errors import InvalidAudioError
from ._time import PTS_JITTER_S

__all__ = ["AudioTimeline", "Placement"]


@attrs.frozen
class Placement:
    """Where a checked write goes."""

    start: int | None  #: output sample where it starts; None: right after the audio before
    pts: float | None  #: its media time in seconds, if it had pts (for the backwards check)
    end: float  #: the cursor after it, in output samples


class AudioTimeline:
    """The audio written in one epoch."""

    __slots__ = ("cursor", "ended", "epoch", "last_pts", "rate", "written")

    def __init__(self, epoch: int, rate: int) -> None:
        self.epoch = epoch
        self.rate = rate
        self.cursor = 0.0  #: output samples: where the audio written so far ends
        self.last_pts: float | None = None  #: media time of the latest write with pts
        self.written = False  #: whether any audio was written in the epoch
        self.ended = False  #: end_audio() was called

    @property
    def cursor_s(self) -> float:
        return self.cursor / self.rate

    def place(self, pts: float | None, duration_s: float) -> Placement:
        """Check a write of ``duration_s`` seconds at ``pts`` (None: continuing) and say where it
        goes; nothing changes until :meth:`commit`. Raises :class:`InvalidAudioError`."""
        if self.ended:
            raise InvalidAudioError(
                f"end_audio() was already called for epoch {self.epoch}; "
                "start_turn() begins a new turn"
            )
        samples = duration_s * self.rate
        cursor_s = self.cursor_s
        if pts is None:
            return Placement(None, None, self.cursor + samples)
        if self.last_pts is not None and pts < self.last_pts:
            raise InvalidAudioError(
                f"audio pts went backwards within epoch {self.epoch}: {pts} after {self.last_pts}"
            )
        if self.written:
            if pts < cursor_s - PTS_JITTER_S:
                raise InvalidAudioError(
                    f"audio pts {pts} overlaps the audio already written in epoch {self.epoch} "
                    f"(up to {cursor_s:.6f} s)"
                )
            if pts <= cursor_s + PTS_JITTER_S:  # jitter: it continues the audio written
                return Placement(None, cursor_s, self.cursor + samples)
        start = round(pts * self.rate)
        return Placement(start, pts, max(self.cursor, start) + samples)

    def commit(self, placement: Placement) -> None:
        """The write placed so was sent."""
        self.cursor = placement.end
        if placement.pts is not None:
            self.last_pts = placement.pts
        self.written = True

    def end(self) -> None:
        """``end_audio()``: no more writes in this epoch."""
        self.ended = True
