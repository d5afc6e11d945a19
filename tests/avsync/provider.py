"""A scripted provider: writes an utterance's audio and video on a timetable."""

from __future__ import annotations

import math

import attrs
import trio

import avsync

from .harness import RATE, marked_frame, speech


@attrs.frozen
class Script:
    """How a provider delivers one utterance of ``duration`` seconds.

    Audio is written in chunks of ``chunk_s`` at ``speed`` times real time (``math.inf``: all at
    once). Video frames at ``fps`` are written at ``video_speed`` times real time, ``video_lag_s``
    after their media time would be written (negative: early). A stall pauses both streams for
    ``stall_s`` once they reach media time ``stall_at``.
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

    def write_time(self, media: float, speed: float) -> float:
        at = 0.0 if math.isinf(speed) else media / speed
        if self.stall_at is not None and media >= self.stall_at - 1e-9:
            at += self.stall_s
        return at

    def frame_count(self) -> int:
        return math.floor(self.duration * self.fps + 1e-9)

    def frame_media(self, index: int) -> float:
        return index / self.fps


async def perform(sync: avsync.Synchronizer, script: Script, epoch: int | None = None) -> None:
    """Write the utterance on the script's timetable, starting now; then ``end_audio()``."""
    start = trio.current_time()
    events: list[tuple[float, int, int]] = []  # (time, 0 audio / 1 video, index)
    chunk = round(script.chunk_s * RATE)
    total = round(script.duration * RATE)
    for index, first in enumerate(range(0, total, chunk)):
        events.append((script.write_time(first / RATE, script.speed), 0, index))
    video_speed = script.video_speed if script.video_speed is not None else script.speed
    for index in range(script.frame_count()):
        media = script.frame_media(index)
        events.append((script.write_time(media, video_speed) + script.video_lag_s, 1, index))
    events.sort()
    for at, kind, index in events:
        await trio.sleep_until(max(start + at, trio.current_time()))
        if kind == 0:
            first = index * chunk
            count = min(chunk, total - first)
            await sync.write_audio(speech(first, count), epoch=epoch)
        else:
            pts = script.frame_media(index) if script.with_pts else None
            await sync.write_video(
                marked_frame(index, sync.epoch if epoch is None else epoch), pts=pts, epoch=epoch
            )
    if script.end:
        await sync.end_audio(epoch=epoch)
