"""The LiveKit face: :class:`AVSynchronizer`, a drop-in for ``livekit.rtc.AVSynchronizer``.

::

    from avsync.livekit import AVSynchronizer  # instead of: from livekit.rtc import AVSynchronizer

    av_sync = AVSynchronizer(audio_source=audio_source, video_source=video_source, video_fps=30)
    await av_sync.push(video_frame, timestamp)  # rtc.VideoFrame, any buffer type
    await av_sync.push(audio_frame, timestamp)  # rtc.AudioFrame; timestamp = its END time

Same constructor, methods and properties as LiveKit's class; behind them runs avsync's
synchroniser (:class:`avsync.aio.AVSynchronizer`, trio as a guest of the asyncio loop), so video
is shown when its audio is *heard* instead of being paced at ``video_fps``:

- **Timestamps are used** (LiveKit's class only keeps them for logging): an audio frame's
  timestamp is the end of the frame, a video frame's is its own time, in seconds on one media
  timeline; a frame is shown when the audio at its timestamp is heard. Without timestamps, a
  frame is shown when the audio pushed before it has been heard (the enqueue-time rule).
- **The publishing task**: avsync emits audio in 10 ms packets and video frames at their due
  times; each audio packet goes to ``audio_source.capture_frame()`` as it is emitted, each new
  video frame to ``video_source.capture_frame()``, untouched (the very ``rtc.VideoFrame`` that
  was pushed: avsync schedules a tiny stand-in image that names it, so no pixel is converted).
- **The AudioSource's own queue**: a native ``AudioSource`` (``queue_size_ms > 0``) plays what
  it holds in 10 ms ticks from a thread of its own, so audio is heard some milliseconds after
  it is captured. A monitor stream on the source (a local track, never published) sees every
  tick; each is matched sample for sample against what was captured, which gives when each
  captured sample is heard (the ticks timed on the ticker's 10 ms grid, not when the loop got
  round to them). Video is captured that much after avsync emits it, so what the tracks carry
  is in sync, not only what avsync emits. While there is no speech, packets of silence are
  added or left out so that the queue holds about ``QUEUE_TARGET_S`` (30 ms) ahead of the
  ticker: the publishing task may run that late (a busy loop, a loaded machine) before the
  ticker finds the queue empty, which would put the audio a tick later.
- :meth:`clear_queue` is a barge-in: avsync's epoch flush, the source's native queue cleared,
  and nothing of the old turn captured once it returns.
- :meth:`wait_for_playout` returns once the monitor has heard the last sample pushed; it
  closes the turn's speech (avsync's ``end_audio``), and audio pushed afterwards begins a new
  turn once that has played. Idle video (timestamped frames beyond all the audio, see
  ``IDLE_GAP_S`` and ``IDLE_WAIT_S``) closes it too, so that such frames run on the clock
  instead of waiting for audio that is not coming.
- :meth:`push` waits while the queue is full, as LiveKit's does: video while
  ``video_queue_size_ms`` of frames are queued (at least one frame), audio while 1 s is buffered
  (the default ``queue_size_ms`` of an ``AudioSource``).

Needs the ``livekit`` package (``pip install 'avsync[livekit]'``). Everything here must be used
from the thread of the asyncio loop it was created on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

import attrs
import numpy as np

try:
    from livekit import rtc
except ImportError as error:  # pragma: no cover - exercised by tests/avsync/test_livekit_import
    raise ImportError(
        "avsync.livekit needs the livekit package; install it with: pip install 'avsync[livekit]'"
    ) from error

from . import aio
from ._errors import InvalidAudioError, SynchronizerClosed
from ._livekit_ledger import PACKET_MS, AudioLedger, Samples, TickGrid
from .marks import ID_HEIGHT, ID_WIDTH, id_frame, read_id

__all__ = ["AVSynchronizer", "TickGrid"]

AUDIO_BUFFER_S = 1.0  #: push(audio) waits while this much is buffered (AudioSource's default)
#: a timestamped frame this far beyond the audio pushed so far means the speech has ended (the
#: producer is making idle video): the turn's speech is closed so that the video runs on the clock
IDLE_GAP_S = 0.25
#: so does a video push that waits for room while no audio has come for this long, its frame
#: beyond all the audio (the queue is full of frames waiting for audio that is not coming)
IDLE_WAIT_S = 0.1
#: audio timestamps this far behind the audio already pushed begin a new timeline
TIMELINE_JITTER_S = 0.001
#: how much audio the AudioSource's queue is kept holding ahead of its ticker: the publishing
#: task may be this late (the loop busy, the machine loaded) before the ticker finds the queue
#: empty and the audio latency jumps by a tick. Held by adding or leaving out packets of
#: silence while there is no speech; during speech nothing is added or left out.
QUEUE_TARGET_S = 0.03
HEARD_STALL_S = 1.0  #: wait_for_playout gives up on the monitor after this long without a tick


@attrs.define
class _Turn:
    """The face's view of the current epoch's audio."""

    epoch: int
    cursor: float = 0.0  #: end of the audio pushed so far, avsync media seconds
    audio: bool = False  #: any audio pushed in this epoch
    ended: bool = False  #: end_audio() was called for it


class AVSynchronizer:
    """``livekit.rtc.AVSynchronizer``, backed by avsync (see the module docstring).

    Create it inside a running asyncio loop (like LiveKit's, it starts its tasks at once).
    ``video_queue_size_ms`` sizes the video queue: ``int(video_fps * video_queue_size_ms /
    1000)`` frames, at least one (``<= 0``: 10 s of frames).
    """

    def __init__(
        self,
        *,
        audio_source: rtc.AudioSource,
        video_source: rtc.VideoSource,
        video_fps: float,
        video_queue_size_ms: float = 100,
    ) -> None:
        if not isinstance(audio_source, rtc.AudioSource):
            raise TypeError(f"audio_source must be an rtc.AudioSource, got {audio_source!r}")
        if not isinstance(video_source, rtc.VideoSource):
            raise TypeError(f"video_source must be an rtc.VideoSource, got {video_source!r}")
        if isinstance(video_fps, bool) or not isinstance(video_fps, (int, float)):
            raise TypeError(f"video_fps must be a number, got {video_fps!r}")
        if not (math.isfinite(video_fps) and video_fps > 0):
            raise ValueError(f"video_fps must be finite and positive, got {video_fps!r}")
        self._loop = asyncio.get_running_loop()
        self._audio_source = audio_source
        self._video_source = video_source
        self._video_fps = float(video_fps)
        self._rate = audio_source.sample_rate
        self._channels = audio_source.num_channels
        if video_queue_size_ms > 0:
            queue = max(1, int(video_fps * video_queue_size_ms / 1000))
        else:
            queue = max(1, math.ceil(video_fps * 10))
        self._sync = aio.AVSynchronizer(
            width=ID_WIDTH,
            height=ID_HEIGHT,
            fps=video_fps,
            max_queue_size=queue,
            sample_rate=self._rate,
            channels=self._channels,
            packet_ms=PACKET_MS,
            audio_buffer_s=AUDIO_BUFFER_S,
        )
        self._ledger = AudioLedger(self._channels, self._rate, time.monotonic())
        self._last_emitted_at = -math.inf  #: avsync emit time of the newest audio packet taken
        self._closing = False
        self._origin = math.inf  #: output time 0 of avsync, on time.monotonic()
        # video: frames pushed and not yet captured, by stand-in id
        self._ids = itertools.count(1)
        self._frames: dict[int, tuple[rtc.VideoFrame, float | None]] = {}
        self._first_current_id = 1  #: ids below this belong to a cleared turn
        self._last_id = 0  #: the id of the frame captured last
        self._due_video: deque[tuple[float, int, rtc.VideoFrame, float | None]] = deque()
        self._video_timer: asyncio.TimerHandle | None = None  #: for the next frame due
        self._capture_lock = asyncio.Lock()  #: held while audio is captured; clear_queue takes it
        self._generation = 0  #: bumped by clear_queue: work begun before it is dropped
        self._turn = _Turn(0)
        self._new_turn_lock = asyncio.Lock()
        self._last_audio_push = -math.inf  #: when push() last queued audio
        self._timeline_offset: float | None = 0.0  #: added to timestamps; None: set by next push
        self._send_times: deque[float] = deque(maxlen=max(2, int(video_fps)))
        self._last_video_time = 0.0
        self._last_audio_time = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._monitor: rtc.AudioStream | None = None
        self._failure: BaseException | None = None  #: why a publishing task ended
        self._closed: asyncio.Task[None] | None = None  #: aclose()'s work
        self._started = self._loop.create_task(self._start(), name="avsync.livekit start")

    # -- lifecycle -------------------------------------------------------------------------------

    async def _start(self) -> None:
        await self._sync.start()
        track = rtc.LocalAudioTrack.create_audio_track("avsync-monitor", self._audio_source)
        self._monitor = rtc.AudioStream.from_track(
            track=track, sample_rate=self._rate, num_channels=self._channels
        )
        self._spawn("monitor", self._run_monitor(self._monitor))
        self._spawn("audio", self._run_audio())
        self._spawn("video", self._run_video())

    def _spawn(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine, name=f"avsync.livekit {name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A publishing task ended: unless closing, that is a failure (the source was closed,
        say); calls raise ``SynchronizerClosed`` from then on, with it as the cause."""
        if task.cancelled() or self._closing:
            return
        error = task.exception()
        self._failure = error or RuntimeError(f"{task.get_name()} ended")
        self._loop.call_exception_handler(
            {"message": f"{task.get_name()} failed", "exception": self._failure, "task": task}
        )

    def _check_open(self) -> None:
        if self._failure is not None:
            raise SynchronizerClosed(f"the synchroniser failed: {self._failure!r}") from (
                self._failure
            )
        if self._closing:
            raise SynchronizerClosed("the synchroniser is closed")

    async def _ready(self) -> None:
        self._check_open()
        if not self._started.done():
            await asyncio.shield(self._started)
        self._started.result()
        self._check_open()

    async def aclose(self) -> None:
        """Stop: the publishing tasks end, avsync closes (calls raise ``SynchronizerClosed``,
        and pushes still waiting end with it); the sources stay open (they are the caller's).
        Idempotent. Nothing queued is captured any more once it has begun. If the caller is
        cancelled, the close still completes (in the background)."""
        self._closing = True
        if self._closed is None:
            self._closed = self._loop.create_task(self._close(), name="avsync.livekit close")
        await asyncio.shield(self._closed)

    async def _close(self) -> None:
        tasks = [self._started, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        self._tasks.clear()
        if self._monitor is not None:
            monitor, self._monitor = self._monitor, None
            await monitor.aclose()
        self._ledger.reset(time.monotonic())
        self._due_video.clear()
        self._cancel_video_timer()
        self._frames.clear()
        await self._sync.aclose()

    # -- properties ------------------------------------------------------------------------------

    @property
    def actual_fps(self) -> float:
        """New frames captured per second, over the last ``video_fps`` of them."""
        times = self._send_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def last_video_time(self) -> float:
        """The timestamp of the last video frame captured (of those pushed with one)."""
        return self._last_video_time

    @property
    def last_audio_time(self) -> float:
        """The timestamp of the audio being heard now: the last audio timestamp pushed less
        what is still queued (in avsync and in the AudioSource)."""
        queued = self._ledger.queued_s
        if not self._sync.closed and self._started.done():
            with contextlib.suppress(Exception):
                queued += self._sync.stats().audio_buffered_s
        return self._last_audio_time - queued

    # -- input -----------------------------------------------------------------------------------

    async def push(
        self, frame: rtc.VideoFrame | rtc.AudioFrame, timestamp: float | None = None
    ) -> None:
        """Queue ``frame``; waits while the queue it goes to is full.

        ``timestamp`` (seconds, one media timeline for both kinds): for an audio frame the end
        of the frame, for a video frame its own time; a video frame is captured when the audio
        at its timestamp is heard. Without one, a video frame is captured when the audio pushed
        before it has been heard. Audio timestamps that go back begin a new timeline that
        continues the audio already pushed (as after :meth:`reset`). Raises
        ``SynchronizerClosed`` after ``aclose()``, and avsync's ``ValueError``/``TypeError``
        subclasses for malformed frames and timestamps. Cancelled while waiting, nothing was
        queued.
        """
        await self._ready()
        if timestamp is not None:
            if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
                raise TypeError(f"timestamp must be a number of seconds, got {timestamp!r}")
            if not math.isfinite(timestamp):
                raise ValueError(f"timestamp must be finite, got {timestamp!r}")
        if isinstance(frame, rtc.AudioFrame):
            await self._push_audio(frame, timestamp)
        elif isinstance(frame, rtc.VideoFrame):
            await self._push_video(frame, timestamp)
        else:
            raise TypeError(f"push takes an rtc.AudioFrame or rtc.VideoFrame, got {frame!r}")

    def _current_turn(self) -> _Turn:
        epoch = self._sync.epoch
        if self._turn.epoch != epoch:
            self._turn = _Turn(epoch)
        return self._turn

    def _media(self, start: float) -> float:
        """avsync media time of the timestamp ``start``."""
        if self._timeline_offset is None:  # reset(): this timeline continues the audio pushed
            self._timeline_offset = self._current_turn().cursor - start
        return max(0.0, start + self._timeline_offset)

    async def _push_audio(self, frame: rtc.AudioFrame, timestamp: float | None) -> None:
        samples = np.frombuffer(frame.data, np.int16).copy()
        if frame.num_channels not in (1, self._channels):
            raise InvalidAudioError(
                f"audio frame has {frame.num_channels} channels, the AudioSource "
                f"{self._channels} (mono is taken too)"
            )
        samples = samples.reshape(-1, frame.num_channels)  # (mono: avsync spreads it)
        duration = frame.samples_per_channel / frame.sample_rate
        turn = self._current_turn()
        if turn.ended:
            turn = await self._begin_new_turn(turn)
        pts = None if timestamp is None else self._media(timestamp - duration)
        if pts is not None and turn.audio and pts < turn.cursor - TIMELINE_JITTER_S:
            # the timestamps went back: a new timeline, continuing the audio pushed (as after
            # reset()); LiveKit's class ignores timestamps, so a drop-in must not refuse this
            assert self._timeline_offset is not None
            self._timeline_offset += turn.cursor - pts
            pts = turn.cursor
        await self._sync.write_audio(
            samples, sample_rate=frame.sample_rate, pts=pts, epoch=turn.epoch
        )
        self._last_audio_push = time.monotonic()
        if turn is self._turn:
            turn.cursor = (turn.cursor if pts is None else max(turn.cursor, pts)) + duration
            turn.audio = True
        if timestamp is not None:
            self._last_audio_time = timestamp

    async def _begin_new_turn(self, turn: _Turn) -> _Turn:
        """The turn's speech was closed (wait_for_playout, idle video): once its audio has been
        emitted, begin the next turn for the audio that follows."""
        async with self._new_turn_lock:
            if self._sync.epoch == turn.epoch and turn.ended:
                await self._sync.wait_for_playout()
                if self._sync.epoch == turn.epoch:  # (not if clear_queue() came meanwhile)
                    await self._sync.start_turn()
            return self._current_turn()

    async def _push_video(self, frame: rtc.VideoFrame, timestamp: float | None) -> None:
        turn = self._current_turn()
        pts = None if timestamp is None else self._media(timestamp)
        if pts is not None and pts > turn.cursor + IDLE_GAP_S:
            await self._end_speech(turn)  # video runs ahead of all the audio: idle video
        frame_id = next(self._ids)
        self._frames[frame_id] = (frame, timestamp)
        write = self._loop.create_task(
            self._sync.write_video(id_frame(frame_id), pts=pts, epoch=turn.epoch)
        )
        try:
            while True:
                done, _ = await asyncio.wait((write,), timeout=IDLE_WAIT_S / 4)
                if done:
                    write.result()
                    return
                # Waiting for room: the queue may be full of frames beyond the audio, waiting
                # for audio that is not coming (idle video after the speech). No audio for
                # IDLE_WAIT_S while this frame is beyond all of it: the speech is over.
                idle = time.monotonic() - self._last_audio_push > IDLE_WAIT_S
                if idle and (pts is None or pts > turn.cursor):
                    await self._end_speech(turn)
        except BaseException:
            if not write.done():
                write.cancel()
                await asyncio.wait((write,))
            if write.done() and not write.cancelled() and write.exception() is None:
                raise  # (it was written after all)
            self._frames.pop(frame_id, None)
            raise

    async def _end_speech(self, turn: _Turn) -> None:
        """Close the speech of ``turn`` (video runs on the clock once its audio has played); the
        next audio begins a new turn."""
        if turn.audio and not turn.ended and turn.epoch == self._sync.epoch:
            turn.ended = True
            await self._sync.end_audio(epoch=turn.epoch)

    # -- control ---------------------------------------------------------------------------------

    async def clear_queue(self) -> None:
        """Barge-in: drop everything queued, in avsync (its epoch flush) and in the AudioSource's
        native queue. Once this returns, nothing pushed before it is captured (a push still
        waiting for room is dropped). If cancelled, the flush still completes."""
        await self._ready()
        await asyncio.shield(self._clear())

    async def _clear(self) -> None:
        async with self._capture_lock:
            await self._sync.start_turn()
            self._audio_source.clear_queue()
            self._generation += 1
            self._first_current_id = next(self._ids)
            self._frames.clear()
            self._due_video.clear()
            self._cancel_video_timer()
            self._ledger.reset(time.monotonic())

    async def wait_for_playout(self) -> None:
        """Return once all the audio pushed so far has been heard: emitted by avsync, captured,
        and played by the AudioSource (as its monitor sees it, not estimated). This closes the
        turn's speech: audio pushed afterwards begins a new turn. Returns early if
        ``clear_queue()`` interrupts it. Cancellation leaves the synchroniser unaffected."""
        await self._ready()
        turn = self._current_turn()
        generation = self._generation
        if turn.audio and not turn.ended:
            turn.ended = True
            await self._sync.end_audio(epoch=turn.epoch)
        if turn.audio:
            await self._sync.wait_for_playout()
        done_at = time.monotonic()
        # what avsync emitted up to now is captured within a packet: then wait until heard
        while self._last_emitted_at < done_at - PACKET_MS / 2000:
            if generation != self._generation or time.monotonic() > done_at + HEARD_STALL_S:
                return  # (a clear_queue(); or the audio task has stopped: do not hang)
            self._check_open()
            await asyncio.sleep(PACKET_MS / 4000)
        position = self._ledger.captured
        waiter = self._ledger.wait_heard(position)
        while not waiter.done() and generation == self._generation:
            self._check_open()
            stalled = time.monotonic() - self._ledger.last_heard_at
            if stalled > HEARD_STALL_S:  # the monitor has stopped: do not hang
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), HEARD_STALL_S)

    def reset(self) -> None:
        """Restart the frame-rate statistics and the timestamp timeline: the next timestamp
        pushed, whatever its value, continues from the audio already pushed. Nothing queued is
        dropped and nothing waits (this never blocks or hangs a task)."""
        self._send_times.clear()
        self._timeline_offset = None

    # -- publishing ------------------------------------------------------------------------------

    def _emitted_at(self, pts: int | None, time_base: float, now: float) -> float:
        """When avsync emitted an output item of ``pts``: its origin is estimated from the
        arrivals (the lowest arrival - pts seen), as avsync emits on an absolute schedule."""
        offset = (pts or 0) * time_base
        self._origin = min(self._origin, now - offset)
        return self._origin + offset

    async def _run_audio(self) -> None:
        track = self._sync.audio_track
        while True:
            frame = await track.recv()
            now = time.monotonic()
            emitted_at = self._emitted_at(frame.pts, 1 / self._rate, now)
            generation = self._generation
            samples: Samples = np.asarray(frame.to_ndarray(), np.int16).reshape(-1)
            async with self._capture_lock:
                if generation != self._generation or self._closing:
                    continue  # taken before clear_queue(): of the old turn; or closing
                self._last_emitted_at = emitted_at
                ledger = self._ledger
                queued = (ledger.captured - ledger.heard) / self._rate
                silence = not samples.any()
                packet = len(samples) / self._channels / self._rate
                if silence and queued > QUEUE_TARGET_S + 1.5 * packet:
                    ledger.shifted(-packet)
                    continue  # the queue holds more than it needs: leave this silence out
                if silence and queued < QUEUE_TARGET_S - packet / 2:
                    ledger.shifted(packet)
                    await self._capture(samples, math.nan)  # fill the queue up with silence
                await self._capture(samples, emitted_at)

    async def _capture(self, samples: Samples, emitted_at: float) -> None:
        """Hand ``samples`` (interleaved; emitted by avsync at ``emitted_at``, NaN for silence
        of our own) to the AudioSource."""
        count = len(samples) // self._channels
        frame = rtc.AudioFrame(samples.tobytes(), self._rate, self._channels, count)
        self._ledger.capture(samples, emitted_at)
        await self._audio_source.capture_frame(frame)

    async def _run_monitor(self, stream: rtc.AudioStream) -> None:
        async for event in stream:
            now = time.monotonic()
            samples = np.frombuffer(event.frame.data, np.int16)
            self._ledger.on_tick(samples, now)

    async def _run_video(self) -> None:
        track = self._sync.video_track
        while True:
            frame = await track.recv()
            now = time.monotonic()
            emitted_at = self._emitted_at(frame.pts, 1 / 90000, now)
            frame_id = read_id(frame)
            if frame_id is None or frame_id == self._last_id or frame_id < self._first_current_id:
                continue  # the placeholder, a repeat, or a frame of a cleared turn
            self._last_id = frame_id
            entry = self._frames.pop(frame_id, None)
            for old in [i for i in self._frames if i < frame_id]:
                del self._frames[old]  # dropped by avsync (late, overflow)
            if entry is None:
                continue
            due = emitted_at + self._ledger.latency()
            self._due_video.append((due, self._generation, *entry))
            if len(self._due_video) == 1:
                self._capture_due_video()

    def _cancel_video_timer(self) -> None:
        if self._video_timer is not None:
            self._video_timer.cancel()
            self._video_timer = None

    def _capture_due_video(self) -> None:
        """Capture the frames that are due, then come back (a timer callback, no task in
        between) when the next one is."""
        self._video_timer = None
        queue = self._due_video
        while queue and not self._closing:
            due, generation, frame, timestamp = queue[0]
            delay = due - time.monotonic()
            if delay > 0:  # (call_later: a loop's own clock need not be time.monotonic())
                self._video_timer = self._loop.call_later(delay, self._capture_due_video)
                return
            queue.popleft()
            if generation != self._generation:
                continue
            # (not stamped with its due time: the native source passes capture timestamps
            # through a filter that aligns them with its own clock, slowly)
            self._video_source.capture_frame(frame)
            self._send_times.append(time.monotonic())
            if timestamp is not None:
                self._last_video_time = timestamp
