"""Snapshots handed to users: stats() and wait_for_playout() results."""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from ._load import LoadMeter

__all__ = ["OffsetSummary", "OverloadStats", "PlayoutResult", "Stats"]


@attrs.frozen
class PlayoutResult:
    """What ``wait_for_playout()`` returns."""

    position: float  #: seconds of the epoch's audio emitted
    interrupted: bool  #: True if a flush (or close) ended the wait before the audio finished


@attrs.frozen
class OffsetSummary:
    """Percentiles of (emit time - due time) over new frames, in ms (0 when none yet)."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, offsets_ms: npt.NDArray[np.float64]) -> OffsetSummary:
        if len(offsets_ms) == 0:
            return cls(0, 0.0, 0.0, 0.0)
        p50, p99 = np.percentile(offsets_ms, [50, 99])
        return cls(len(offsets_ms), float(p50), float(p99), float(offsets_ms.max()))


@attrs.frozen(kw_only=True)
class OverloadStats:
    """How the event loop kept up, as the clock sees it, and what was shed when it did not (the
    bounds and the rule for "overloaded" are in :mod:`avsync._load` and docs/design.md)."""

    overloaded: bool  #: overloaded now: ticks skipped or often over budget in the last second
    loop_lag_p50_ms: float  #: how late the clock's ticks went out (recent ticks)
    loop_lag_p99_ms: float
    loop_lag_max_ms: float  #: the latest tick since the start
    over_budget_s: float  #: output time of the ticks that went out more than 10 ms late
    audio_skipped_s: float  #: output time skipped: ticks more than 60 ms late are not played
    speech_lost_s: float  #: the speech those ticks would have played (lost, not delayed)
    frames_shed_late: int  #: new frames dropped rather than shown more than 45 ms behind plan
    repeats_shed: int  #: repeat slots skipped while overloaded

    @classmethod
    def of(
        cls, *, overloaded: bool, meter: LoadMeter, frames_shed_late: int, repeats_shed: int
    ) -> OverloadStats:
        """The snapshot of the clock's ``meter`` and the video schedule's shedding counters."""
        lags_ms, counters = meter.lags_ms(), meter.counters
        p50, p99 = np.percentile(lags_ms, [50, 99]) if len(lags_ms) else (0.0, 0.0)
        return cls(
            overloaded=overloaded,
            loop_lag_p50_ms=float(p50),
            loop_lag_p99_ms=float(p99),
            loop_lag_max_ms=counters.lag_max_s * 1000,
            over_budget_s=counters.over_budget_s,
            audio_skipped_s=counters.audio_skipped_s,
            speech_lost_s=counters.speech_lost_s,
            frames_shed_late=frames_shed_late,
            repeats_shed=repeats_shed,
        )


@attrs.frozen(kw_only=True)
class Stats:
    """A snapshot of one synchroniser's counters. Durations in seconds unless named _ms."""

    epoch: int
    audio_buffered_s: float  #: audio converted and waiting to be played
    video_queued: int  #: frames waiting to be shown
    frames_emitted: int  #: every output video frame (new, repeated, placeholder)
    frames_repeated: int  #: the repeats (and placeholders) among them
    frames_dropped_stale: int  #: frames of a flushed epoch, dropped
    frames_dropped_late: int  #: frames superseded by a newer due frame
    frames_dropped_overflow: int  #: frames dropped by a full queue (overflow="drop-oldest")
    audio_dropped_stale_s: float  #: audio of a flushed epoch, dropped
    audio_dropped_overflow_s: float  #: audio dropped by a full buffer (overflow="drop-oldest")
    audio_underrun_s: float  #: silence emitted mid-speech because no audio was there
    packets_emitted: int  #: every output audio packet, speech or silence
    sink_frames_dropped: int  #: output items a slow sink lost (its buffer is drop-oldest)
    flushes: int  #: start_turn() / flush() calls
    offset: OffsetSummary  #: emit time - due time over new frames
    offset_p50_ms: float
    offset_p99_ms: float
    offset_max_ms: float
    overload: OverloadStats  #: loop lag, time over budget, what was shed
