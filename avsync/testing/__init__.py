"""Helpers for measuring a synchroniser from its outputs alone: marked media, a scripted
provider and a recorder. Used by the tests and the benchmarks.

Frames carry their index and epoch in the first luma bytes (:mod:`avsync.marks` stamps; yuv420p
frames at the output size pass through unchanged). Speech samples are
``±(1 + media_index % MARK_MODULUS)``, negative in odd epochs, so every output packet says which
media samples it holds and which turn (of two consecutive ones) they belong to; silence is 0. A
run of speech is a stretch in which each sample is one more than the last (mod the modulus); a
fade (which ramps towards zero) is never one. The recorder notes when each output item is
received: under ``MockClock`` that is the emit time.

Everything here works on any object with the synchroniser's methods (:class:`Writer`,
:class:`Outputs`), so a different synchroniser can be measured the same way.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Protocol

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio

from .._config import SyncConfig
from .._synchronizer import Synchronizer, open_synchronizer
from ..marks import read_stamp, stamp_frame

__all__ = [
    "HEIGHT",
    "MARK_MODULUS",
    "RATE",
    "WIDTH",
    "AudioRecord",
    "Outputs",
    "Recorder",
    "Script",
    "SpeechRun",
    "VideoRecord",
    "Writer",
    "config",
    "marked_frame",
    "perform",
    "read_mark",
    "recording",
    "speech",
    "speech_runs",
]

WIDTH, HEIGHT = 64, 48
RATE = 48000
MARK_MODULUS = 30000

Samples = npt.NDArray[np.int16]


# -- marked media --------------------------------------------------------------------------------


def marked_frame(index: int, epoch: int = 0) -> av.VideoFrame:
    """A WIDTH x HEIGHT frame that says its index and epoch (:func:`avsync.marks.stamp_frame`)."""
    return stamp_frame(index, epoch, WIDTH, HEIGHT)


def read_mark(frame: av.VideoFrame) -> tuple[int, int] | None:
    """(index, epoch) of a :func:`marked_frame`, None for the placeholder."""
    return read_stamp(frame)


def speech(start: int, count: int, epoch: int = 0) -> Samples:
    """Marked speech samples for media indexes start .. start+count-1 of ``epoch``."""
    marks = 1 + (np.arange(start, start + count) % MARK_MODULUS)
    return (marks if epoch % 2 == 0 else -marks).astype(np.int16)


@attrs.frozen
class SpeechRun:
    """Consecutive speech samples of one output packet."""

    at: float  #: when the run's first sample was emitted
    parity: int  #: 0 for even epochs, 1 for odd ones
    media: int  #: media index of the first sample (unwrapped)
    count: int


def speech_runs(samples: Samples) -> Iterator[tuple[int, int, int, int]]:
    """(position, parity, media index mod MARK_MODULUS, count) of each run of marked speech in
    one packet. Runs of one sample are passed over: they cannot be told from a fade."""
    values = samples.astype(np.int64)
    magnitude = np.abs(values)
    media = (magnitude - 1 - np.arange(len(values))) % MARK_MODULUS
    key = np.where(values == 0, -1, media * 2 + (values < 0))
    edges = np.flatnonzero(np.diff(key)) + 1
    for begin, end in zip(
        np.concatenate([[0], edges]), np.concatenate([edges, [len(values)]]), strict=True
    ):
        if key[begin] >= 0 and end - begin >= 2:
            yield (
                int(begin),
                int(key[begin] % 2),
                int((magnitude[begin] - 1) % MARK_MODULUS),
                int(end - begin),
            )


def config(**overrides: object) -> SyncConfig:
    """A small SyncConfig (WIDTH x HEIGHT, 48 kHz mono) with ``overrides``."""
    return SyncConfig(width=WIDTH, height=HEIGHT, sample_rate=RATE, **overrides)  # type: ignore[arg-type]


# -- the recorder --------------------------------------------------------------------------------


class Outputs(Protocol):
    """What the recorder reads: a synchroniser's output channels."""

    def audio_frames(self) -> trio.abc.ReceiveChannel[av.AudioFrame]: ...

    def video_frames(self) -> trio.abc.ReceiveChannel[av.VideoFrame]: ...


@attrs.define
class AudioRecord:
    at: float
    pts: int
    samples: Samples


@attrs.define
class VideoRecord:
    at: float
    pts: int
    mark: tuple[int, int] | None


@attrs.define
class Recorder:
    """Records every output of a synchroniser, and measures sync from the records."""

    audio: list[AudioRecord] = attrs.Factory(list)
    video: list[VideoRecord] = attrs.Factory(list)
    #: shared log in true order: ("audio", samples), ("video", mark), and whatever the caller
    #: adds, such as ("flushed", new_epoch) right after ``start_turn()`` returns
    events: list[tuple[str, object]] = attrs.Factory(list)
    lag_s: float = 0.0  #: a slow consumer: pause this long after each item received

    async def run(self, sync: Outputs, task_status: trio.TaskStatus[None]) -> None:
        """Record both outputs until they end. Use with ``nursery.start``."""
        audio_out = sync.audio_frames()
        video_out = sync.video_frames()
        task_status.started()

        async def audio() -> None:
            async for frame in audio_out:
                samples = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                self.audio.append(AudioRecord(trio.current_time(), frame.pts or 0, samples))
                self.events.append(("audio", samples))
                if self.lag_s:
                    await trio.sleep(self.lag_s)

        async def video() -> None:
            async for frame in video_out:
                mark = read_mark(frame)
                self.video.append(VideoRecord(trio.current_time(), frame.pts or 0, mark))
                self.events.append(("video", mark))
                if self.lag_s:
                    await trio.sleep(self.lag_s)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(audio)
            nursery.start_soon(video)

    # -- analysis --------------------------------------------------------------------------------

    def runs(self) -> list[SpeechRun]:
        """Every run of speech emitted, in order; media indexes unwrapped within each turn."""
        runs = []
        parity, previous = -1, 0
        for record in self.audio:
            for position, run_parity, media, count in speech_runs(record.samples):
                if run_parity != parity:  # a new turn: its media time starts afresh
                    parity, previous = run_parity, 0
                while media < previous:
                    media += MARK_MODULUS
                previous = media
                runs.append(SpeechRun(record.at + position / RATE, run_parity, media, count))
        return runs

    def speech_packets(self) -> list[tuple[float, int, int]]:
        """(time of the first speech sample, media start index, samples) of each run of speech."""
        return [(run.at, run.media, run.count) for run in self.runs()]

    def audio_heard_at(self, media_index: float, epoch: int = 0) -> float | None:
        """When the speech sample at ``media_index`` was emitted (None if it never was)."""
        for run in self.runs():
            if run.parity == epoch % 2 and run.media <= media_index < run.media + run.count:
                return run.at + (media_index - run.media) / RATE
        return None

    def first_shown(self) -> dict[tuple[int, int], float]:
        """When each marked (index, epoch) frame was first emitted."""
        shown: dict[tuple[int, int], float] = {}
        for record in self.video:
            if record.mark is not None and record.mark not in shown:
                shown[record.mark] = record.at
        return shown

    def offsets_ms(self, media_of: Callable[[int], float], epoch: int = 0) -> dict[int, float]:
        """Sync offset (ms, positive = video late) of each shown frame of ``epoch`` whose audio
        was heard; ``media_of(index)`` is the frame's media time in seconds."""
        runs = [run for run in self.runs() if run.parity == epoch % 2]
        starts = [run.media for run in runs]
        offsets = {}
        for (index, frame_epoch), shown_at in self.first_shown().items():
            if frame_epoch != epoch:
                continue
            media = media_of(index) * RATE
            position = int(np.searchsorted(starts, media, side="right")) - 1
            if position >= 0 and media < runs[position].media + runs[position].count:
                heard_at = runs[position].at + (media - runs[position].media) / RATE
                offsets[index] = (shown_at - heard_at) * 1000
        return offsets

    def underrun_s(self) -> float:
        """Silence (or anything but the turn's speech) emitted between the first and last
        speech sample of each turn."""
        spans: list[list[float]] = []  # per turn: [first sample at, last sample end, samples]
        parity = -1
        for run in self.runs():
            if run.parity != parity:
                parity = run.parity
                spans.append([run.at, run.at, 0.0])
            spans[-1][1] = run.at + run.count / RATE
            spans[-1][2] += run.count
        return sum(max(0.0, (end - first) - samples / RATE) for first, end, samples in spans)

    def stale_after_flush(self) -> tuple[int, float]:
        """(frames, seconds of speech) of older turns first emitted after the first
        ("flushed", new_epoch) event in :attr:`events`."""
        new_epoch: int | None = None
        shown: set[tuple[int, int]] = set()
        frames, samples = 0, 0
        for kind, value in self.events:
            if kind == "flushed" and new_epoch is None:
                assert isinstance(value, int)
                new_epoch = value
            elif kind == "video" and isinstance(value, tuple):
                if new_epoch is not None and value[1] < new_epoch and value not in shown:
                    frames += 1
                shown.add(value)
            elif kind == "audio" and new_epoch is not None and isinstance(value, np.ndarray):
                stale_parity = (new_epoch - 1) % 2
                samples += sum(
                    count for _, parity, _, count in speech_runs(value) if parity == stale_parity
                )
        return frames, samples / RATE


@asynccontextmanager
async def recording(
    cfg: SyncConfig | None = None, *, lag_s: float = 0.0
) -> AsyncIterator[tuple[Synchronizer, Recorder]]:
    """A synchroniser with a recorder on its outputs; closed (outputs drained) on exit."""
    recorder = Recorder(lag_s=lag_s)
    async with open_synchronizer(cfg or config()) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, sync)
            yield sync, recorder
            await sync.aclose()


# -- a scripted provider -------------------------------------------------------------------------


class Writer(Protocol):
    """What the scripted provider writes into: a synchroniser's inputs."""

    @property
    def epoch(self) -> int: ...

    async def write_audio(self, samples: Samples, *, epoch: int | None = None) -> None: ...

    async def write_video(
        self, frame: av.VideoFrame, *, pts: float | None = None, epoch: int | None = None
    ) -> None: ...

    async def end_audio(self, *, epoch: int | None = None) -> None: ...


@attrs.frozen
class Script:
    """How a provider delivers one utterance of ``duration`` seconds.

    Audio is written in chunks of ``chunk_s`` at ``speed`` times real time (``math.inf``: all at
    once), or not at all (``audio=False``: idle video). Video frames at ``fps`` are written at
    ``video_speed`` times real time, ``video_lag_s`` after their media time would be written
    (negative: early). A stall pauses both streams for ``stall_s`` once they reach media time
    ``stall_at``.
    """

    duration: float = 2.0
    chunk_s: float = 0.02
    speed: float = 1.0
    fps: float = 30.0
    video_speed: float | None = None  # None: same as audio
    video_lag_s: float = 0.0
    stall_at: float | None = None
    stall_s: float = 0.0
    with_pts: bool = True
    end: bool = True
    audio: bool = True

    def write_time(self, media: float, speed: float) -> float:
        """When (s after the start) the media at ``media`` is written at ``speed``."""
        at = 0.0 if math.isinf(speed) else media / speed
        if self.stall_at is not None and media >= self.stall_at - 1e-9:
            at += self.stall_s
        return at

    def frame_count(self) -> int:
        return math.floor(self.duration * self.fps + 1e-9)

    def frame_media(self, index: int) -> float:
        return index / self.fps


async def perform(sync: Writer, script: Script, epoch: int | None = None) -> None:
    """Write the utterance on the script's timetable, starting now; then ``end_audio()``.

    Writes are tagged with ``epoch`` (None: the synchroniser's current epoch at each write)."""
    start = trio.current_time()
    events: list[tuple[float, int, int]] = []  # (time, 0 audio / 1 video, index)
    chunk = round(script.chunk_s * RATE)
    total = round(script.duration * RATE)
    if script.audio:
        for index, first in enumerate(range(0, total, chunk)):
            events.append((script.write_time(first / RATE, script.speed), 0, index))
    video_speed = script.video_speed if script.video_speed is not None else script.speed
    for index in range(script.frame_count()):
        media = script.frame_media(index)
        events.append((script.write_time(media, video_speed) + script.video_lag_s, 1, index))
    events.sort()
    for at, kind, index in events:
        await trio.sleep_until(max(start + at, trio.current_time()))
        tag = sync.epoch if epoch is None else epoch
        if kind == 0:
            first = index * chunk
            count = min(chunk, total - first)
            await sync.write_audio(speech(first, count, tag), epoch=epoch)
        else:
            pts = script.frame_media(index) if script.with_pts else None
            await sync.write_video(marked_frame(index, tag), pts=pts, epoch=epoch)
    if script.end:
        await sync.end_audio(epoch=epoch)
