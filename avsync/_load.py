"""Overload: the bounds that hold whatever the load, and the clock's view of how late the loop
runs. Pure state, no trio (docs/design.md, section 6).

When the event loop cannot keep up (too many sessions on one core, a throttled container), the
synchroniser keeps three promises instead of falling behind:

* **Audio never falls behind by more than** :data:`AUDIO_LATE_LIMIT_S`. The clock emits a tick at
  most that long after its due time; older ticks are skipped, not played in a burst. Skipped time
  is lost output time (a gap in the audio pts, which a receiver conceals), counted in
  ``audio_skipped_s``, and the speech those ticks would have played is lost with it
  (``speech_lost_s``): kept, it would delay all the speech after it, and a sustained overload
  would pile up latency without end. The frames of the lost speech are due in the past, so the
  video skips them too.
* **No new frame goes out more than** :data:`VIDEO_LATE_LIMIT_S` **behind its plan.** A frame that
  would is dropped (``frames_shed_late``): shown that late, its lips would visibly trail the
  voice (lateness becomes A/V skew at the receiver). The rule holds whatever made the frame late:
  the loop, or a provider whose video arrives after its audio was heard.
* **While overloaded, repeats are shed:** the last frame repeats only every
  :data:`OVERLOAD_REPEAT_S` instead of at the frame rate (``repeats_shed`` counts the repeat slots
  skipped), so the loop's time goes to audio first, then to new frames.

A session is *overloaded* while, within the last :data:`OVERLOAD_WINDOW_S`, the clock skipped a
tick or emitted at least :data:`OVERLOAD_SHARE` of its ticks more than :data:`LAG_BUDGET_S`
late. A single short pause of the loop (a garbage collection, a slow callback) does not make it
so; one long enough to skip audio (over ``AUDIO_LATE_LIMIT_S``) does, for the window.
"""

from __future__ import annotations

import math
from collections import deque

import attrs
import numpy as np

__all__ = [
    "AUDIO_LATE_LIMIT_S",
    "LAG_BUDGET_S",
    "OVERLOAD_REPEAT_S",
    "OVERLOAD_SHARE",
    "OVERLOAD_WINDOW_S",
    "VIDEO_LATE_LIMIT_S",
    "LoadCounters",
    "LoadMeter",
]

#: The clock emits a tick at most this long after it was due; older due ticks are skipped.
AUDIO_LATE_LIMIT_S = 0.060
#: A new frame goes out at most this long behind its planned time, or is dropped. 45 ms is where
#: video trailing its audio starts to be noticed (ITU-R BT.1359).
VIDEO_LATE_LIMIT_S = 0.045
#: A tick emitted later than this after its due time is over budget.
LAG_BUDGET_S = 0.010
#: How far back "overloaded" looks.
OVERLOAD_WINDOW_S = 1.0
#: The share of the window's ticks over budget that makes a session overloaded.
OVERLOAD_SHARE = 0.1
#: While overloaded, the last frame repeats this often instead of at the frame rate.
OVERLOAD_REPEAT_S = 0.5


@attrs.define
class LoadCounters:
    """What the clock counts about the loop's lateness."""

    ticks_over_budget: int = 0  #: ticks emitted more than LAG_BUDGET_S late
    over_budget_s: float = 0.0  #: output time of those ticks (packets x packet duration)
    ticks_skipped: int = 0  #: ticks skipped because they were over AUDIO_LATE_LIMIT_S late
    audio_skipped_s: float = 0.0  #: output time skipped (no packet, no silence: a pts gap)
    speech_lost_s: float = 0.0  #: speech the skipped ticks would have played
    lag_max_s: float = 0.0  #: the latest tick so far, measured at its emission


class LoadMeter:
    """How late the clock's ticks go out, and whether the session is overloaded.

    The clock calls :meth:`emitted` for every tick it emits and :meth:`skipped` for the ticks it
    skips; :meth:`overloaded` answers for a given instant. The lateness of the most recent
    ``lags_kept`` ticks is kept for percentiles.
    """

    def __init__(self, *, packet_s: float, lags_kept: int = 3000) -> None:
        self.packet_s = packet_s
        self.counters = LoadCounters()
        window_ticks = OVERLOAD_WINDOW_S / packet_s
        self._over_budget_limit = max(1, math.ceil(OVERLOAD_SHARE * window_ticks))
        self._over_budget_at: deque[float] = deque()  #: ticks over budget within the window
        self._last_skip_at = -math.inf
        self._lags = np.zeros(lags_kept, np.float64)
        self._lag_count = 0

    def emitted(self, due: float, now: float) -> None:
        """A tick due at ``due`` went out at ``now``."""
        lag = max(0.0, now - due)
        counters = self.counters
        counters.lag_max_s = max(counters.lag_max_s, lag)
        self._lags[self._lag_count % len(self._lags)] = lag
        self._lag_count += 1
        if lag > LAG_BUDGET_S:
            counters.ticks_over_budget += 1
            counters.over_budget_s += self.packet_s
            self._over_budget_at.append(now)  # (trimmed to the window by overloaded())

    def skipped(self, count: int, now: float, speech_lost_s: float = 0.0) -> None:
        """``count`` ticks were skipped at ``now`` (too late to play), losing ``speech_lost_s``
        of speech."""
        if count <= 0:
            return
        self.counters.ticks_skipped += count
        self.counters.audio_skipped_s += count * self.packet_s
        self.counters.speech_lost_s += speech_lost_s
        self._last_skip_at = now

    def overloaded(self, now: float) -> bool:
        """Whether, within the window before ``now``, a tick was skipped or enough ticks went out
        over budget."""
        self._forget(now)
        return (
            now - self._last_skip_at <= OVERLOAD_WINDOW_S
            or len(self._over_budget_at) >= self._over_budget_limit
        )

    def lags_ms(self) -> np.ndarray:
        """The lateness of the most recent ticks, in ms."""
        count = min(self._lag_count, len(self._lags))
        return self._lags[:count] * 1000.0

    def _forget(self, now: float) -> None:
        window = self._over_budget_at
        while window and window[0] < now - OVERLOAD_WINDOW_S:
            window.popleft()
