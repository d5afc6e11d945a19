"""The comparison: an enqueue-time delay synchroniser, as today's tools build one.

- Audio goes into a buffer; a loop on an absolute schedule takes ``packet_ms`` of it every
  ``packet_ms`` and emits it (padded with silence when the buffer runs short).
- Each frame, when written, gets ``release_at = now + audio buffered`` and joins a FIFO queue;
  its pts, if any, is ignored. Audio buffered is the time until the audio written so far will
  have been heard: what the buffer holds, plus the rest of the packet being played (an audio
  source's "queued duration").
- A video loop ticks every 1/fps and releases at most one frame whose ``release_at`` has passed;
  otherwise it repeats the last frame.
- An interrupt (``start_turn()``) clears both queues. There are no epochs: whatever the provider
  still delivers for the old turn afterwards is queued and played like anything else.

It has the duck-typed surface of :class:`avsync.Synchronizer` that the benchmarks use, and writes
48 kHz mono int16 audio and frames already at the output size (no conversion).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fractions import Fraction
from typing import Any, TypeVar

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio

__all__ = ["BaselineStats", "EnqueueTimeSynchronizer", "open_baseline"]

F = TypeVar("F")
SINK_CAPACITY = 16  #: items an output holds for its consumer before it drops the newest
VIDEO_QUEUE = 300  #: frames the video queue holds before it drops the oldest


@attrs.define
class BaselineStats:
    """The baseline's own counters."""

    epoch: int = 0
    frames_emitted: int = 0
    frames_repeated: int = 0
    frames_dropped_overflow: int = 0  #: the video queue was full: the oldest frame went
    frames_cleared: int = 0  #: queued frames thrown away by an interrupt
    audio_cleared_s: float = 0.0  #: buffered audio thrown away by an interrupt
    packets_emitted: int = 0
    sink_items_dropped: int = 0  #: a consumer did not keep up
    flushes: int = 0


class _Output:
    """Fan-out to the consumers' channels; never waits for a consumer."""

    def __init__(self, stats: BaselineStats) -> None:
        self._stats = stats
        self._channels: list[trio.MemorySendChannel[Any]] = []

    def open(self) -> trio.MemoryReceiveChannel[Any]:
        send, receive = trio.open_memory_channel[Any](SINK_CAPACITY)
        self._channels.append(send)
        return receive

    def emit(self, item: object) -> None:
        for channel in list(self._channels):
            try:
                channel.send_nowait(item)
            except trio.WouldBlock:
                self._stats.sink_items_dropped += 1
            except trio.BrokenResourceError:
                self._channels.remove(channel)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()


class EnqueueTimeSynchronizer:
    """Enqueue-time delay: each frame waits as long as the audio buffered when it was written."""

    def __init__(self, *, fps: float = 30.0, sample_rate: int = 48000, packet_ms: int = 20) -> None:
        self.fps = fps
        self.sample_rate = sample_rate
        self.packet_samples = sample_rate * packet_ms // 1000
        self._audio: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self._heard_until = 0.0  #: when the audio of the last packet emitted has been heard
        self._video: collections.deque[tuple[float, av.VideoFrame]] = collections.deque()
        self._stats = BaselineStats()
        self._audio_out = _Output(self._stats)
        self._video_out = _Output(self._stats)
        self._cancel = trio.CancelScope()

    @property
    def epoch(self) -> int:
        return self._stats.epoch

    def buffered_s(self) -> float:
        """Seconds until the audio written so far has been heard."""
        playing = max(0.0, self._heard_until - trio.current_time())
        return playing + len(self._audio) / self.sample_rate

    async def write_audio(
        self, samples: npt.NDArray[np.int16], *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Append to the audio buffer (``pts`` and ``epoch`` are ignored)."""
        self._audio = np.concatenate([self._audio, samples.reshape(-1)])
        await trio.lowlevel.checkpoint()

    async def write_video(
        self, frame: av.VideoFrame, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Queue the frame for now + the audio buffered (``pts`` and ``epoch`` are ignored)."""
        if len(self._video) >= VIDEO_QUEUE:
            self._video.popleft()
            self._stats.frames_dropped_overflow += 1
        self._video.append((trio.current_time() + self.buffered_s(), frame))
        await trio.lowlevel.checkpoint()

    async def end_audio(self, *, epoch: int | None = None) -> None:
        await trio.lowlevel.checkpoint()

    async def start_turn(self) -> int:
        """The interrupt: clear the audio buffer and the video queue."""
        self._stats.audio_cleared_s += len(self._audio) / self.sample_rate
        self._stats.frames_cleared += len(self._video)
        self._audio = self._audio[:0]
        self._video.clear()
        self._stats.epoch += 1
        self._stats.flushes += 1
        await trio.lowlevel.checkpoint()
        return self._stats.epoch

    flush = start_turn

    def audio_frames(self) -> trio.MemoryReceiveChannel[av.AudioFrame]:
        return self._audio_out.open()

    def video_frames(self) -> trio.MemoryReceiveChannel[av.VideoFrame]:
        return self._video_out.open()

    def stats(self) -> BaselineStats:
        return attrs.evolve(self._stats)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The audio and video loops, until :meth:`aclose`."""
        with self._cancel:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._play_audio, trio.current_time())
                nursery.start_soon(self._play_video, trio.current_time())
                task_status.started()

    async def aclose(self) -> None:
        """Stop the loops and end the outputs (idempotent)."""
        self._cancel.cancel()
        self._audio_out.close()
        self._video_out.close()
        await trio.lowlevel.checkpoint()

    async def _play_audio(self, start: float) -> None:
        size = self.packet_samples
        for index in itertools.count():
            await trio.sleep_until(start + index * size / self.sample_rate)
            taken, self._audio = self._audio[:size], self._audio[size:]
            packet = np.zeros((1, size), np.int16)
            packet[0, : len(taken)] = taken
            frame = av.AudioFrame.from_ndarray(packet, format="s16", layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = index * size
            frame.time_base = Fraction(1, self.sample_rate)
            self._heard_until = trio.current_time() + len(taken) / self.sample_rate
            self._stats.packets_emitted += 1
            self._audio_out.emit(frame)

    async def _play_video(self, start: float) -> None:
        last: av.VideoFrame | None = None
        for tick in itertools.count():
            await trio.sleep_until(start + tick / self.fps)
            if self._video and self._video[0][0] <= trio.current_time():
                last = self._video.popleft()[1]
                frame = last
            elif last is None:
                continue
            else:  # a new frame object: consumers may still hold the last one, with its pts
                self._stats.frames_repeated += 1
                frame = av.VideoFrame.from_ndarray(last.to_ndarray(), format=last.format.name)
            frame.pts = round(tick * 90000 / self.fps)
            frame.time_base = Fraction(1, 90000)
            self._stats.frames_emitted += 1
            self._video_out.emit(frame)


@asynccontextmanager
async def open_baseline(
    *, fps: float = 30.0, sample_rate: int = 48000, packet_ms: int = 20
) -> AsyncIterator[EnqueueTimeSynchronizer]:
    """A running baseline synchroniser, closed on exit."""
    sync = EnqueueTimeSynchronizer(fps=fps, sample_rate=sample_rate, packet_ms=packet_ms)
    async with trio.open_nursery() as nursery:
        await nursery.start(sync.run)
        try:
            yield sync
        finally:
            await sync.aclose()
