"""The LiveKit scenarios: LiveKit's ``rtc.AVSynchronizer`` and avsync's drop-in
(:mod:`avsync.livekit`) through the same real-time scenarios, observed from what the sources
deliver. Used by the LiveKit face's tests and by ``python -m benchmarks.livekit``. Needs the
``livekit`` package.
Both classes go through the same scenarios in one process, with the real ``livekit`` package
and no server: the synchroniser feeds an ``rtc.AudioSource`` and an ``rtc.VideoSource``, and an
observer reads them back through local tracks (``rtc.LocalAudioTrack.create_audio_track`` /
``rtc.LocalVideoTrack.create_video_track``) and ``rtc.AudioStream`` / ``rtc.VideoStream``, which
deliver audio as the source's native ticker plays it and video as it is captured.

Marked media: every audio sample says which media sample it is (``avsync.testing.speech``:
``±(1 + index % 30000)``, the sign giving the turn), every video frame carries its index and turn
in 8x8 luma blocks (RGBA frames, converted by LiveKit on the way). The offset of a frame is
(the capture timestamp the VideoStream reports for it: when it went into WebRTC) - (when the
audio sample at the frame's timestamp was played: its tick on the native ticker's 10 ms
schedule, fitted to when the ticks arrived); positive = video late. Neither counts the loop's
delay in handing the observer what the native side did. Frames that went through while the
process was starved (:class:`LoopLag`) are counted apart as well as with the rest.

Scenarios (a real-time producer at 30 fps, 48 kHz mono, pushing each frame then its 1/30 s of
audio, both with timestamps):

- ``lockstep``: 3 s in lock-step (and the CPU the whole process used meanwhile, observer
  included, in % of one core);
- ``stall``: 1.5 s, a 250 ms producer stall, the backlog pushed at once, then 1.5 s more (the
  offset is taken after the backlog has been pushed);
- ``clear``: the producer runs 120 ms ahead of real time; after 1 s it is cancelled and
  ``clear_queue()`` called (a barge-in), then a second turn with timestamps from 0 again:
  old-turn frames and audio seen after ``clear_queue()`` returned;
- ``reset``: ``reset()`` while frames are queued, then 0.5 s more pushed and
  ``wait_for_playout()``: whether it returns (within 3 s);
- ``idle``: 1 s of speech, 1 s of video only (an avatar's idle frames, timestamps going on),
  1 s of speech: idle frames seen, the longest a push waited, the second utterance's offsets.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
import numpy as np
import numpy.typing as npt
from livekit import rtc

from ..livekit import TickGrid
from ..marks import framed_bits, paint_bits, read_bits, unframe_bits
from . import MARK_MODULUS, speech, speech_runs

__all__ = [
    "IMPLEMENTATIONS",
    "Observer",
    "Offsets",
    "audio_marker",
    "avsync_synchronizer",
    "livekit_synchronizer",
    "read_video_marker",
    "run_clear",
    "run_idle",
    "run_lockstep",
    "run_reset",
    "run_stall",
    "video_marker",
]

RATE = 48000
FPS = 30
WIDTH, HEIGHT = 64, 48
STEP_SAMPLES = RATE // FPS  # 1600: the audio of one frame


class LiveKitLike(Protocol):
    """``rtc.AVSynchronizer``'s API, which both implementations have."""

    async def push(
        self, frame: rtc.VideoFrame | rtc.AudioFrame, timestamp: float | None = None
    ) -> None: ...

    async def clear_queue(self) -> None: ...

    async def wait_for_playout(self) -> None: ...

    def reset(self) -> None: ...

    async def aclose(self) -> None: ...


Factory = Callable[[rtc.AudioSource, rtc.VideoSource], LiveKitLike]


def livekit_synchronizer(audio: rtc.AudioSource, video: rtc.VideoSource) -> LiveKitLike:
    return rtc.AVSynchronizer(audio_source=audio, video_source=video, video_fps=FPS)


def avsync_synchronizer(audio: rtc.AudioSource, video: rtc.VideoSource) -> LiveKitLike:
    from ..livekit import AVSynchronizer

    return AVSynchronizer(audio_source=audio, video_source=video, video_fps=FPS)


IMPLEMENTATIONS: dict[str, Factory] = {
    "livekit": livekit_synchronizer,
    "avsync": avsync_synchronizer,
}


# -- marked media ----------------------------------------------------------------------------------


#: the marker's block code (avsync.marks): 16 index bits and the turn's parity, framed
MARK_BITS, MARK_COLUMNS, MARK_ROWS = 17, 8, 6


def video_marker(index: int, epoch: int = 0) -> rtc.VideoFrame:
    """A WIDTH x HEIGHT RGBA frame spelling ``index`` (< 65536) and the turn's parity in
    :mod:`avsync.marks` blocks (8 x 6 of them, 8 pixels a side); the rest mid-grey."""
    image = np.full((HEIGHT, WIDTH, 4), 128, np.uint8)
    image[..., 3] = 255
    bits = framed_bits(index | (epoch % 2) << 16, MARK_BITS)
    paint_bits(image[..., :3], bits, MARK_COLUMNS, MARK_ROWS)
    return rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, image.tobytes())


def read_video_marker(frame: rtc.VideoFrame) -> tuple[int, int] | None:
    """(index, turn parity) of a marked frame; None for anything else (such as the black frames
    a VideoSource sends before the first capture)."""
    if frame.width != WIDTH or frame.height != HEIGHT:
        return None
    i420 = (
        frame if frame.type == rtc.VideoBufferType.I420 else frame.convert(rtc.VideoBufferType.I420)
    )
    plane = i420.get_plane(0)
    if plane is None:
        return None
    luma = np.frombuffer(plane, np.uint8)
    stride = len(luma) // HEIGHT
    rows = luma[: stride * HEIGHT].reshape(HEIGHT, stride)[:, :WIDTH]
    value = unframe_bits(read_bits(rows, MARK_COLUMNS, MARK_ROWS)[: MARK_BITS + 2])
    if value is None:
        return None
    return value & 0xFFFF, value >> 16


def audio_marker(step: int, epoch: int = 0) -> rtc.AudioFrame:
    """The marked audio of frame ``step``: media samples ``step * 1600 ..`` (1/30 s)."""
    samples = speech(step * STEP_SAMPLES, STEP_SAMPLES, epoch)
    return rtc.AudioFrame(samples.tobytes(), RATE, 1, STEP_SAMPLES)


# -- observing -------------------------------------------------------------------------------------


class Observer:
    """Reads an audio and a video source back through local tracks, noting when each audio tick
    was played and when each frame was captured."""

    def __init__(self, audio: rtc.AudioSource, video: rtc.VideoSource) -> None:
        self._audio_track = rtc.LocalAudioTrack.create_audio_track("observer-a", audio)
        self._video_track = rtc.LocalVideoTrack.create_video_track("observer-v", video)
        self.audio_stream = rtc.AudioStream.from_track(
            track=self._audio_track, sample_rate=RATE, num_channels=1
        )
        self.video_stream = rtc.VideoStream.from_track(track=self._video_track)
        #: (arrival, samples) of every audio tick
        self.audio: list[tuple[float, npt.NDArray[np.int16]]] = []
        #: (capture timestamp, index, parity) of every marked frame
        self.video: list[tuple[float, int, int]] = []
        #: when the observer got each of them (the capture call, plus the FFI's and the
        #: loop's delay in delivering it)
        self.video_arrivals: list[float] = []
        self._tasks = [
            asyncio.create_task(self._read_audio()),
            asyncio.create_task(self._read_video()),
        ]

    async def _read_audio(self) -> None:
        async for event in self.audio_stream:
            now = time.monotonic()
            self.audio.append((now, np.frombuffer(event.frame.data, np.int16).copy()))

    async def _read_video(self) -> None:
        async for event in self.video_stream:
            now = time.monotonic()
            mark = read_video_marker(event.frame)
            if mark is None:
                continue
            # the capture timestamp the frame carries into WebRTC (CLOCK_MONOTONIC, us: the
            # time of the capture call unless the caller gave one)
            stamp = event.timestamp_us / 1e6
            self.video.append((stamp if abs(now - stamp) < 1.0 else now, *mark))
            self.video_arrivals.append(now)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:  # (cancelled)
                pass
        await self.audio_stream.aclose()
        await self.video_stream.aclose()

    def ticks(self) -> list[float]:
        """When each audio tick was played: the native ticker's 10 ms schedule, fitted to the
        arrivals (:class:`avsync.livekit.TickGrid`), so that the loop's delay in delivering a
        tick to the observer is not counted as the synchroniser's (the native ticker runs in
        a thread of its own)."""
        grid = TickGrid(0.01)
        ticks = []
        for arrival, _ in self.audio:
            grid.add(arrival)
            ticks.append(grid.snap(arrival))
        # A tick delivered more than 3/4 of a period late snaps to a later tick; the ones
        # delivered with it, after a pause of the loop, show where it belongs: no tick was
        # played later than a period before the next one.
        for n in range(len(ticks) - 2, -1, -1):
            ticks[n] = min(ticks[n], ticks[n + 1] - 0.01)
        return ticks

    def heard(self, parity: int = 0) -> dict[int, float]:
        """When each media sample of the turns of ``parity`` was first heard: the time its tick
        was played (:meth:`ticks`) plus its position in the tick. Media indexes are unwrapped
        (the marks repeat every MARK_MODULUS samples) on the assumption that media time moves
        on by less than half of that between two ticks."""
        heard: dict[int, float] = {}
        last = 0
        for arrival, (_, samples) in zip(self.ticks(), self.audio, strict=True):
            for position, run_parity, media, count in speech_runs(samples):
                if run_parity != parity:
                    continue
                base = last - last % MARK_MODULUS
                candidates = (base - MARK_MODULUS, base, base + MARK_MODULUS)
                start = media + min(candidates, key=lambda c: abs(c + media - last))
                for n in range(count):
                    heard.setdefault(start + n, arrival + (position + n) / RATE)
                last = start + count
        return heard

    def shown(self, parity: int = 0, *, arrivals: bool = False) -> dict[int, float]:
        """When each frame of the turns of ``parity`` was first shown: its capture timestamp
        (the time WebRTC sends it with), or with ``arrivals`` when the observer got it."""
        shown: dict[int, float] = {}
        for (stamp, index, mark_parity), arrival in zip(
            self.video, self.video_arrivals, strict=True
        ):
            if mark_parity == parity:
                shown.setdefault(index, arrival if arrivals else stamp)
        return shown

    def offsets_ms(
        self, steps: Sequence[int], parity: int = 0, base: int = 0, *, arrivals: bool = False
    ) -> list[float]:
        """The offset of each frame of ``steps`` shown whose audio was heard, ms (frame
        ``step`` shows media time ``(step - base) / FPS``); see :meth:`shown`."""
        return [offset for _, offset in self.frame_offsets(steps, parity, base, arrivals=arrivals)]

    def frame_offsets(
        self, steps: Sequence[int], parity: int = 0, base: int = 0, *, arrivals: bool = False
    ) -> list[tuple[float, float]]:
        """(when shown, offset in ms) of each frame of ``steps`` shown whose audio was heard."""
        heard = self.heard(parity)
        shown = self.shown(parity, arrivals=arrivals)
        offsets = []
        for step in steps:
            media = (step - base) * STEP_SAMPLES
            if step in shown and media in heard:
                offsets.append((shown[step], (shown[step] - heard[media]) * 1000))
        return offsets

    def measure(
        self, steps: Sequence[int], lag: LoopLag, parity: int = 0, base: int = 0
    ) -> Offsets:
        """The :class:`Offsets` of ``steps``, those of frames that went through while the
        process was starved (``lag``) set apart."""
        frames = self.frame_offsets(steps, parity, base)
        kept = [offset for at, offset in frames if not lag.starved(at)]
        return Offsets.of(kept, len(steps), starved=len(frames) - len(kept), all_frames=frames)


@attrs.frozen
class Offsets:
    """The offsets of one run, over the frames that went through while the process ran
    (median, p99 of |offset|, extremes, how many), and over every frame measured."""

    median_ms: float
    p99_abs_ms: float
    min_ms: float
    max_ms: float
    frames: int  #: frames counted (shown, heard, not starved)
    expected: int  #: frames pushed in the measured stretch
    starved: int = 0  #: frames set apart: the process was starved while they went through
    all_median_ms: float = math.nan  #: over every frame measured, starved or not
    all_p99_abs_ms: float = math.nan

    @classmethod
    def of(
        cls,
        offsets: Sequence[float],
        expected: int,
        *,
        starved: int = 0,
        all_frames: Sequence[tuple[float, float]] | None = None,
    ) -> Offsets:
        every = [o for _, o in all_frames] if all_frames is not None else list(offsets)
        all_median, all_p99 = _median_p99(every)
        median, p99 = _median_p99(offsets)
        return cls(
            median,
            p99,
            min(offsets, default=math.nan),
            max(offsets, default=math.nan),
            len(offsets),
            expected,
            starved,
            all_median,
            all_p99,
        )


def _median_p99(offsets: Sequence[float]) -> tuple[float, float]:
    if not offsets:
        return math.nan, math.nan
    return statistics.median(offsets), float(np.percentile(np.abs(offsets), 99))


# -- scenarios -------------------------------------------------------------------------------------


class LoopLag:
    """Watches for the process being kept from running (by a loaded machine, or by itself): a
    task sleeps 5 ms at a time, and each wake-up more than STALL_MS late is a stall, from when
    it should have woken to when it did."""

    STALL_MS = 5.0

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.stalls: list[tuple[float, float]] = []
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            planned = time.monotonic() + 0.005
            await asyncio.sleep(0.005)
            woke = time.monotonic()
            late_ms = (woke - planned) * 1000
            self.worst_ms = max(self.worst_ms, late_ms)
            if late_ms > self.STALL_MS:
                self.stalls.append((planned, woke))

    def stop(self) -> float:
        self._task.cancel()
        return self.worst_ms

    def starved(self, at: float, before: float = 0.05, after: float = 0.002) -> bool:
        """Whether a stall overlaps ``at - before .. at + after`` (a frame shown at ``at`` went
        through the synchroniser in that time)."""
        return any(start < at + after and end > at - before for start, end in self.stalls)


#: the worst loop lag of the last scenario run (see :class:`LoopLag`), ms
last_loop_lag_ms = 0.0


class _Session:
    def __init__(self, factory: Factory) -> None:
        self.audio = rtc.AudioSource(RATE, 1)
        self.video = rtc.VideoSource(WIDTH, HEIGHT)
        self.observer = Observer(self.audio, self.video)
        self.sync = factory(self.audio, self.video)
        self.lag = LoopLag()

    async def aclose(self) -> None:
        global last_loop_lag_ms
        last_loop_lag_ms = self.lag.stop()
        await self.sync.aclose()
        await self.observer.aclose()
        await self.audio.aclose()
        await self.video.aclose()


async def _step(
    sync: LiveKitLike, step: int, epoch: int = 0, base: int = 0, timestamps: bool = True
) -> None:
    video_time = (step - base) / FPS if timestamps else None
    audio_time = (step - base + 1) / FPS if timestamps else None
    await sync.push(video_marker(step, epoch), video_time)
    await sync.push(audio_marker(step - base, epoch), audio_time)


async def _real_time(
    sync: LiveKitLike,
    steps: range,
    start: float,
    epoch: int = 0,
    base: int = 0,
    timestamps: bool = True,
) -> None:
    """Push ``steps`` each at ``start + (step - steps.start) / FPS`` (or as soon as it can)."""
    for step in steps:
        delay = start + (step - steps.start) / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await _step(sync, step, epoch, base, timestamps)


async def run_lockstep(
    factory: Factory,
    duration: float = 3.0,
    *,
    timestamps: bool = True,
    check: Callable[[LiveKitLike], None] | None = None,
) -> Offsets:
    """The lock-step producer for ``duration``; ``check`` is called with the synchroniser at
    the end (before it is closed)."""
    session = _Session(factory)
    try:
        await asyncio.sleep(0.1)
        steps = range(round(duration * FPS))
        await _real_time(session.sync, steps, time.monotonic(), timestamps=timestamps)
        await asyncio.sleep(0.3)
        if check is not None:
            check(session.sync)
        measured = steps[round(0.2 * FPS) :]  # (the start: LiveKit's pacer settling)
        return session.observer.measure(measured, session.lag)
    finally:
        await session.aclose()


async def run_stall(factory: Factory, before: float = 1.5, after: float = 1.5) -> Offsets:
    session = _Session(factory)
    try:
        await asyncio.sleep(0.1)
        first = round(before * FPS)
        stalled = round(0.25 * FPS)
        total = first + round(after * FPS)
        start = time.monotonic()
        await _real_time(session.sync, range(first), start)
        await asyncio.sleep(start + first / FPS + 0.25 - time.monotonic())  # the stall
        for step in range(first, first + stalled):  # the backlog, at once
            await _step(session.sync, step)
        resume = start + (first + stalled) / FPS
        await _real_time(session.sync, range(first + stalled, total), resume)
        await asyncio.sleep(0.4)
        measured = range(first + stalled + round(0.2 * FPS), total)  # after the backlog
        return session.observer.measure(measured, session.lag)
    finally:
        await session.aclose()


@attrs.frozen
class ClearResult:
    stale_frames: int  #: old-turn frames first seen after clear_queue() returned
    stale_audio_ms: (
        float  #: old-turn audio heard after clear_queue() returned, beyond the tick on air
    )
    clear_ms: float  #: how long clear_queue() took
    new_turn_offset: Offsets  #: the second turn's offsets


#: a tick or frame seen this soon after clear_queue() returned was already on its way (the
#: observer's own delivery from the native thread), not handed over after it
DELIVERY_GRACE_S = 0.0015
#: the AudioSource's native ticker plays 10 ms frames: one it took from its queue before
#: clear_queue() returned is on air, and the observer may see it up to a tick later
NATIVE_TICK_S = 0.01


async def run_clear(
    factory: Factory, first_turn: float = 1.0, second_turn: float = 1.0
) -> ClearResult:
    session = _Session(factory)
    observer = session.observer
    try:
        await asyncio.sleep(0.1)
        steps = range(round(first_turn * FPS))
        lead = 0.12
        producer = asyncio.create_task(
            _real_time(session.sync, range(steps.stop + 60), time.monotonic() - lead)
        )
        await asyncio.sleep(first_turn + 0.5 / FPS)  # (between two frames of a pacer)
        # the barge-in as an agent does it: stop producing, then clear the queue
        producer.cancel()
        try:
            await producer
        except asyncio.CancelledError:
            pass
        began = time.monotonic()
        await session.sync.clear_queue()
        cleared = time.monotonic()
        shown_before = {i for at, i, p in observer.video if p == 0 and at < cleared}
        second = range(1000, 1000 + round(second_turn * FPS))
        await _real_time(session.sync, second, time.monotonic(), epoch=1, base=1000)
        await asyncio.sleep(0.4)
        limit = cleared + DELIVERY_GRACE_S
        stale_frames = len(
            {i for at, i, p in observer.video if p == 0 and at > limit and i not in shown_before}
        )
        # Old-turn speech seen after the call counts, except one native tick's worth seen within
        # a tick of it (the frame the ticker had taken already: on air, past recall).
        stale_samples = on_air = 0
        for at, samples in observer.audio:
            stale = sum(c for _, parity, _, c in speech_runs(samples) if parity == 0)
            if at > limit + NATIVE_TICK_S:
                stale_samples += stale
            elif at > limit:
                on_air += stale
        stale_samples += max(0, on_air - round(NATIVE_TICK_S * RATE))
        measured = second[round(0.2 * FPS) :]
        offsets = observer.measure(measured, session.lag, parity=1, base=1000)
        stale_ms = stale_samples / RATE * 1000
        return ClearResult(stale_frames, stale_ms, (cleared - began) * 1000, offsets)
    finally:
        await session.aclose()


@attrs.frozen
class ResetResult:
    returned: bool  #: wait_for_playout() returned within the timeout
    wait_ms: float  #: how long it took (or the timeout)
    frames_after_reset: int  #: frames pushed after reset() that were seen


async def run_reset(factory: Factory, timeout: float = 3.0) -> ResetResult:
    session = _Session(factory)
    try:
        await asyncio.sleep(0.1)
        start = time.monotonic()
        # 0.5 s ahead of real time: frames are queued when reset() comes
        await asyncio.wait_for(_real_time(session.sync, range(30), start - 0.5), timeout)
        session.sync.reset()
        after = range(30, 45)

        async def push_on_and_wait() -> None:
            await _real_time(session.sync, after, time.monotonic())
            await session.sync.wait_for_playout()

        began = time.monotonic()
        try:
            await asyncio.wait_for(push_on_and_wait(), timeout)
            returned = True
        except TimeoutError:
            returned = False
        waited = (time.monotonic() - began) * 1000
        await asyncio.sleep(0.1)
        seen = len({i for _, i, p in session.observer.video if i in after})
        return ResetResult(returned, waited, seen)
    finally:
        await session.aclose()


@attrs.frozen
class IdleResult:
    idle_shown: int  #: idle frames (video only, timestamps going on) seen
    idle_expected: int
    longest_push_ms: float  #: the longest a push() waited
    second: Offsets  #: the second utterance's offsets


async def run_idle(
    factory: Factory, speech: float = 1.0, idle: float = 1.0, second: float = 1.0
) -> IdleResult:
    """An utterance, then idle video (frames only, their timestamps going on), then a second
    utterance on the same timeline: no frame may stay stuck behind audio that is not coming."""
    session = _Session(factory)
    try:
        await asyncio.sleep(0.1)
        first_end = round(speech * FPS)
        idle_end = first_end + round(idle * FPS)
        total = idle_end + round(second * FPS)
        gap = idle_end - first_end  # (the second utterance's marks carry on from the first's)
        start = time.monotonic()
        longest = 0.0
        for step in range(total):
            delay = start + step / FPS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            began = time.monotonic()
            await session.sync.push(video_marker(step), step / FPS)
            if not first_end <= step < idle_end:
                media_step = step if step < first_end else step - gap
                await session.sync.push(audio_marker(media_step), (step + 1) / FPS)
            longest = max(longest, time.monotonic() - began)
        await asyncio.sleep(0.3)
        shown = session.observer.shown()
        idle_shown = sum(1 for step in range(first_end, idle_end) if step in shown)
        measured = range(idle_end + round(0.2 * FPS), total)
        offsets = session.observer.measure(measured, session.lag, base=gap)
        return IdleResult(idle_shown, idle_end - first_end, longest * 1000, offsets)
    finally:
        await session.aclose()
