"""Test harness: a scripted provider and a recorder that measures sync from the outputs alone.

Frames carry their index in the first luma bytes (yuv420p frames at the output size pass through
unchanged); speech samples are ``1 + media_index % 30000`` so every output packet says which
media samples it holds; silence is 0. The recorder notes when each output item is received —
under MockClock that is the emit time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
import av
import numpy as np
import trio

import avsync

WIDTH, HEIGHT = 64, 48
RATE = 48000
MARK_MODULUS = 30000


def marked_frame(index: int, epoch: int = 0) -> av.VideoFrame:
    image = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
    image[0, 0] = index % 256
    image[0, 1] = index // 256
    image[0, 2] = epoch
    image[0, 3] = 1  # a real frame (the placeholder has 16 here)
    return av.VideoFrame.from_ndarray(image, format="yuv420p")


def read_mark(frame: av.VideoFrame) -> tuple[int, int] | None:
    """(index, epoch) of a marked frame, None for the placeholder."""
    row = frame.to_ndarray()[0]
    if row[3] != 1:
        return None
    return int(row[0]) + 256 * int(row[1]), int(row[2])


def speech(start: int, count: int) -> np.ndarray:
    """Marked speech samples for media indexes start .. start+count-1."""
    return (1 + (np.arange(start, start + count) % MARK_MODULUS)).astype(np.int16)


def config(**overrides: object) -> avsync.SyncConfig:
    return avsync.SyncConfig(width=WIDTH, height=HEIGHT, sample_rate=RATE, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def recording(
    cfg: avsync.SyncConfig | None = None, *, lag_s: float = 0.0
) -> AsyncIterator[tuple[avsync.Synchronizer, Recorder]]:
    """A synchroniser with a recorder on its outputs; closed (outputs drained) on exit."""
    recorder = Recorder(lag_s=lag_s)
    async with avsync.open_synchronizer(cfg or config()) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, sync)
            yield sync, recorder
            await sync.aclose()


@attrs.define
class AudioRecord:
    at: float
    pts: int
    samples: np.ndarray


@attrs.define
class VideoRecord:
    at: float
    pts: int
    mark: tuple[int, int] | None


@attrs.define
class Recorder:
    """Records every output of a synchroniser."""

    audio: list[AudioRecord] = attrs.Factory(list)
    video: list[VideoRecord] = attrs.Factory(list)
    events: list[tuple[str, object]] = attrs.Factory(list)  #: shared log, in true order
    lag_s: float = 0.0  #: a slow consumer: pause this long after each item received

    async def run(self, sync: avsync.Synchronizer, task_status: trio.TaskStatus[None]) -> None:
        audio_out = sync.audio_frames()
        video_out = sync.video_frames()
        task_status.started()

        async def audio() -> None:
            async for frame in audio_out:
                samples = frame.to_ndarray().reshape(-1)
                self.audio.append(AudioRecord(trio.current_time(), frame.pts, samples))
                self.events.append(("audio", samples))
                if self.lag_s:
                    await trio.sleep(self.lag_s)

        async def video() -> None:
            async for frame in video_out:
                mark = read_mark(frame)
                self.video.append(VideoRecord(trio.current_time(), frame.pts, mark))
                self.events.append(("video", mark))
                if self.lag_s:
                    await trio.sleep(self.lag_s)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(audio)
            nursery.start_soon(video)

    # -- analysis --------------------------------------------------------------------------------

    def speech_packets(self) -> list[tuple[float, int, int]]:
        """(emit time, media start index, speech samples) of each packet holding speech."""
        packets = []
        previous = -1
        for record in self.audio:
            nonzero = np.flatnonzero(record.samples)
            if len(nonzero) == 0:
                continue
            first = int(nonzero[0])
            mark = int(record.samples[first]) - 1
            media = mark - first
            while media < previous:  # unwrap the modulus
                media += MARK_MODULUS
            previous = media
            packets.append((record.at, media, len(nonzero)))
        return packets

    def audio_heard_at(self, media_index: float) -> float | None:
        """When the speech sample at ``media_index`` was emitted (None if it never was)."""
        for at, start, count in self.speech_packets():
            if start <= media_index < start + count:
                return at + (media_index - start) / RATE
        return None

    def first_shown(self) -> dict[tuple[int, int], float]:
        shown: dict[tuple[int, int], float] = {}
        for record in self.video:
            if record.mark is not None and record.mark not in shown:
                shown[record.mark] = record.at
        return shown

    def offsets_ms(self, media_of: Callable[[int], float], epoch: int = 0) -> dict[int, float]:
        """Sync offset (ms) of each shown frame of ``epoch`` whose audio was heard."""
        offsets = {}
        packets = self.speech_packets()
        for (index, frame_epoch), shown_at in self.first_shown().items():
            if frame_epoch != epoch:
                continue
            media = media_of(index) * RATE
            for at, start, count in packets:
                if start <= media < start + count:
                    offsets[index] = (shown_at - (at + (media - start) / RATE)) * 1000
                    break
        return offsets
