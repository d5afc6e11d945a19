"""What a benchmark session's provider writes, and into what: the media (20 ms chunks of 48 kHz
mono int16 audio and 1280x720 yuv420p frames, made once and reused) and one endpoint per
synchroniser kind: ``avsync``, ``enqueue-time`` (:mod:`benchmarks.baseline`) and ``baseline``
(no synchroniser: two trio memory channels)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio

import avsync

from .baseline import open_baseline as open_enqueue_time_baseline

CONFIG = avsync.SyncConfig(width=1280, height=720, fps=30, sample_rate=48000, channels=1)
CHUNKS_PER_S = 50  # 20 ms audio chunks
FPS = 30
CHUNK_SAMPLES = CONFIG.sample_rate // CHUNKS_PER_S
FRAME_VARIANTS = 4
CHANNEL_CAPACITY = 16  # the baseline's memory channels

Samples = npt.NDArray[np.int16]


@attrs.frozen
class Media:
    """What every provider writes: one audio chunk and a few frames, made once and reused."""

    audio: Samples
    frames: tuple[av.VideoFrame, ...]


def make_media() -> Media:
    """A 20 ms sine chunk (four whole periods) and ``FRAME_VARIANTS`` grey frames."""
    t = np.arange(CHUNK_SAMPLES) / CONFIG.sample_rate
    audio = (8000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)  # 4 whole periods
    width, height = CONFIG.width, CONFIG.height
    frames = []
    for variant in range(FRAME_VARIANTS):
        image = np.full((height * 3 // 2, width), 128, np.uint8)
        image[:height] = 40 + 40 * variant
        frames.append(av.VideoFrame.from_ndarray(image, format="yuv420p"))
    return Media(audio, tuple(frames))


@attrs.frozen
class Endpoint:
    """What a provider writes into and the consumers read from."""

    write_audio: Callable[[Samples], Awaitable[None]]
    write_video: Callable[[av.VideoFrame, float], Awaitable[None]]
    audio_out: trio.abc.ReceiveChannel[Any]
    video_out: trio.abc.ReceiveChannel[Any]
    finish: Callable[[], Awaitable[None]]  #: no more writes: the outputs end
    stats: Callable[[], avsync.Stats] | None


Opener = Callable[[], AbstractAsyncContextManager[Endpoint]]


def _endpoint(sync: Any, stats: Callable[[], avsync.Stats] | None) -> Endpoint:
    """An endpoint over a synchroniser with avsync's write/output/close methods."""

    async def write_video(frame: av.VideoFrame, pts: float) -> None:
        await sync.write_video(frame, pts=pts)

    return Endpoint(
        sync.write_audio, write_video, sync.audio_frames(), sync.video_frames(), sync.aclose, stats
    )


@asynccontextmanager
async def open_avsync(config: avsync.SyncConfig = CONFIG) -> AsyncIterator[Endpoint]:
    """An avsync synchroniser with ``config`` (:data:`CONFIG` by default)."""
    async with avsync.open_synchronizer(config) as sync:
        yield _endpoint(sync, sync.stats)


@asynccontextmanager
async def open_enqueue_time() -> AsyncIterator[Endpoint]:
    """The enqueue-time baseline synchroniser (:mod:`benchmarks.baseline`)."""
    async with open_enqueue_time_baseline(fps=CONFIG.fps, sample_rate=CONFIG.sample_rate) as sync:
        yield _endpoint(sync, None)


@asynccontextmanager
async def open_baseline() -> AsyncIterator[Endpoint]:
    """No synchroniser: the writes go into two trio memory channels the consumers drain."""
    audio_send, audio_receive = trio.open_memory_channel[Samples](CHANNEL_CAPACITY)
    video_send, video_receive = trio.open_memory_channel[tuple[av.VideoFrame, float]](
        CHANNEL_CAPACITY
    )

    async def write_video(frame: av.VideoFrame, pts: float) -> None:
        await video_send.send((frame, pts))

    async def finish() -> None:
        await audio_send.aclose()
        await video_send.aclose()

    yield Endpoint(audio_send.send, write_video, audio_receive, video_receive, finish, None)


OPENERS: dict[str, Opener] = {
    "baseline": open_baseline,
    "enqueue-time": open_enqueue_time,
    "avsync": open_avsync,
}
