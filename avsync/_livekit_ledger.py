"""The LiveKit face's audio timing, as plain numbers: when a native ``AudioSource`` ticks
(:class:`TickGrid`), and what it has played of what was captured into it (:class:`AudioLedger`).
No livekit, no I/O: the face feeds in what its monitor stream sees, with the times it saw it.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_LATENCY_S", "LATENCY_WINDOW", "PACKET_MS", "AudioLedger", "Samples", "TickGrid"]

PACKET_MS = 10  #: one native AudioSource tick
DEFAULT_LATENCY_S = 0.005  #: audio capture-to-heard latency assumed until it is measured
LATENCY_WINDOW = 5  #: ticks the latency estimate is the least of (it moves in 10 ms steps)

Samples = npt.NDArray[np.int16]


class TickGrid:
    """The times of a native AudioSource's ticks, from the times they are seen.

    The ticker runs on a fixed 10 ms schedule in a native thread; a tick is seen some time later,
    after the FFI has handed it to the asyncio loop, by a variable delay (usually well under
    a millisecond, more when the loop is busy). The grid is where the fastest 5% of the last
    2 s of sightings fall, modulo the period; :meth:`snap` maps a sighting to the tick it saw,
    for a delay of up to 3/4 of a period.
    """

    SPAN = 200  #: sightings kept
    EARLY = 0.25  #: (periods) a sighting this far before the grid still belongs to its tick

    def __init__(self, period: float) -> None:
        self.period = period
        self._seen: deque[float] = deque(maxlen=self.SPAN)
        self._grid: float | None = None
        self._since = 0

    def add(self, at: float) -> None:
        """Note a tick seen at ``at``."""
        self._seen.append(at)
        self._since += 1
        if self._grid is None or self._since >= 20 or len(self._seen) < 20:
            self._since = 0
            seen = np.fromiter(self._seen, np.float64, len(self._seen))
            ref = seen[-1]
            for _ in range(2):  # (the second pass centres the phases on their median)
                delta = seen - ref
                delta -= self.period * np.round(delta / self.period)
                ref += float(np.median(delta))
            self._grid = ref + float(np.percentile(delta, 5))

    def snap(self, at: float) -> float:
        """The time of the tick seen at ``at``."""
        if self._grid is None:
            return at
        ticks = math.floor((at - self._grid) / self.period + self.EARLY)
        return self._grid + ticks * self.period


@attrs.define
class _Captured:
    """Audio handed to the AudioSource: samples ``start ..`` of the capture stream."""

    start: int
    samples: Samples  #: interleaved int16
    emitted_at: float  #: when avsync emitted its first sample (time.monotonic()); NaN: filler
    shift: float  #: the ledger's ``shift`` when it was captured


class AudioLedger:
    """What was captured into the AudioSource and what its ticker has played of it.

    Captured audio is numbered sample by sample (per channel) in capture order. The monitor
    reports each tick it hears (timed by the :class:`TickGrid`), and the tick is matched against
    what was captured at the position the ledger expects; a tick that matches nothing there
    (one still in flight from before ``clear_queue()``, say) is looked for a few ticks either
    way and otherwise ignored. So ``heard`` is counted, not estimated, and each tick gives one
    measurement of the capture-to-heard latency.
    """

    def __init__(self, channels: int, rate: int, now: float) -> None:
        self.channels = channels
        self.rate = rate
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.grid = TickGrid(PACKET_MS / 1000)
        self.reset(now)

    def reset(self, now: float) -> None:
        """Forget everything captured (the source's queue was cleared) at ``now``; waiters are
        released."""
        self.captured = 0
        self.heard = 0
        self.sound_end = 0  #: end of the last packet captured that was not all silence
        self.shift = 0.0  #: seconds of silence added to the queue, less those left out
        self._latencies.clear()
        self.last_heard_at = now
        self._pending: deque[_Captured] = deque()
        for _, waiter in getattr(self, "_waiters", ()):
            if not waiter.done():
                waiter.set_result(None)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def queued_s(self) -> float:
        """Audio captured and not yet heard, seconds, up to the end of the last packet that was
        not silence (the silence filling the gaps is not counted)."""
        return max(0, self.sound_end - self.heard) / self.rate

    def latency(self) -> float:
        """How long after avsync emits a sample it is heard (s): the least of the latest
        measurements. (A tick delivered so late that it is taken for the next one reads 10 ms
        too high, never too low; a real rise, a tick that found the queue empty, shows once
        every one of them has risen.)"""
        if not self._latencies:
            return DEFAULT_LATENCY_S + self.shift
        return min(self._latencies) + self.shift

    def shifted(self, seconds: float) -> None:
        """Audio captured from now on will be heard ``seconds`` later than the audio captured
        so far (silence was added to the queue, or left out: -)."""
        self.shift += seconds

    def capture(self, samples: Samples, emitted_at: float) -> None:
        """Note ``samples`` (interleaved), emitted by avsync at ``emitted_at``, as captured."""
        self._pending.append(_Captured(self.captured, samples, emitted_at, self.shift))
        self.captured += len(samples) // self.channels
        if samples.any():
            self.sound_end = self.captured

    def on_tick(self, samples: Samples, at: float) -> None:
        """The monitor heard ``samples`` (interleaved) at ``at``."""
        count = len(samples) // self.channels
        self.grid.add(at)
        start = self._find(samples, count)
        if start is None:
            return
        item = self._item_at(start)
        if item is not None and not math.isnan(item.emitted_at):
            played = self.grid.snap(at)
            latency = played - item.emitted_at - (start - item.start) / self.rate
            self._latencies.append(latency - item.shift)  # (as if nothing had been shifted)
        self.heard = start + count
        self.last_heard_at = at
        keep_from = self.heard - 4 * count  # (a lost tick is looked for up to 3 ticks back)
        while (
            self._pending and self._pending[0].start + self._length(self._pending[0]) <= keep_from
        ):
            self._pending.popleft()
        if self._waiters:
            ready = [w for w in self._waiters if w[0] <= self.heard]
            self._waiters = [w for w in self._waiters if w[0] > self.heard]
            for _, waiter in ready:
                if not waiter.done():
                    waiter.set_result(None)

    def _length(self, item: _Captured) -> int:
        return len(item.samples) // self.channels

    def _item_at(self, position: int) -> _Captured | None:
        for item in self._pending:
            if item.start <= position < item.start + self._length(item):
                return item
        return None

    def _slice(self, position: int, count: int) -> Samples | None:
        """Captured samples ``position .. position+count`` (interleaved), if still held."""
        parts: list[Samples] = []
        end = position + count
        covered = position
        for item in self._pending:
            item_end = item.start + self._length(item)
            if item_end <= covered or item.start >= end:
                continue
            if item.start > covered:
                return None
            take_end = min(item_end, end)
            ch = self.channels
            parts.append(item.samples[(covered - item.start) * ch : (take_end - item.start) * ch])
            covered = take_end
            if covered == end:
                break
        if covered != end:
            return None
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _find(self, samples: Samples, count: int) -> int | None:
        """Where in the capture stream the tick ``samples`` starts, or None if not there."""
        for shift in (0, 1, -1, 2, -2, 3, -3):
            position = self.heard + shift * count
            if position < 0 or position + count > self.captured:
                continue  # (not captured: a tick of audio cleared from the queue)
            expected = self._slice(position, count)
            if expected is not None and np.array_equal(expected, samples):
                return position
        return None

    def wait_heard(self, position: int) -> asyncio.Future[None]:
        """A future resolved once the capture stream has been heard up to ``position`` (or the
        ledger is reset)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.heard >= position:
            waiter.set_result(None)
        else:
            self._waiters.append((position, waiter))
        return waiter
