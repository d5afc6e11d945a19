"""The time tolerances, in one place."""

from __future__ import annotations

__all__ = ["PTS_JITTER_S", "SAME_INSTANT_S"]

#: Two times (seconds, ``trio.current_time()`` values or schedule times) closer than this are
#: the same instant. Float arithmetic on schedules (``origin + k * interval``) stays far inside it.
SAME_INSTANT_S = 1e-6

#: Audio ``pts`` this close to the end of the audio written before continue it: no silence is
#: inserted for a smaller gap and no overlap is reported for a smaller one.
PTS_JITTER_S = 0.001
