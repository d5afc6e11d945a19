"""``avsync.vision_agents.AVSynchronizer``, the drop-in for Vision-Agents 0.6's synchroniser,
with the real Vision-Agents and getstream classes, in real time.

* Vision-Agents 0.6's synchroniser behaviours, each run against Vision-Agents' own class and
  against avsync's with only the import changed.
* Sync as published, wired as 0.6's Agent wires it: a task drains ``audio_output`` into
  getstream's ``AudioStreamTrack`` (its own 20 ms pacer), a consumer reads that track and
  ``video_output`` as aiortc's senders do, and the offset of each frame is measured from what
  the two tracks hand out (speech samples and frames are marked, :mod:`avsync.testing`).
* The stop, close and cancellation paths.

Skipped only where Vision-Agents 0.6 is not installed; CI runs it in Vision-Agents 0.6.9's
environment (.ci/environments).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import av
import numpy as np
import pytest

if importlib.util.find_spec("vision_agents") is None or (
    importlib.util.find_spec("vision_agents.core.avatars.av_synchronizer") is None
):
    pytest.skip("Vision-Agents 0.6 is not installed", allow_module_level=True)

from aiortc.mediastreams import MediaStreamError
from getstream.video.rtc.audio_track import AudioStreamTrack
from getstream.video.rtc.track_util import AudioFormat, PcmData
from vision_agents.core.agents.inference.audio import (
    AudioOutputChunk,
    AudioOutputFlush,
    AudioOutputStream,
)
from vision_agents.core.avatars import av_synchronizer as vision_agents_synchronizer
from vision_agents.core.utils.video_track import QueuedVideoTrack, VideoTrackClosedError

from avsync import vision_agents as avsync_synchronizer
from avsync.marks import stamp_frame
from avsync.testing import AudioRecord, Recorder, VideoRecord, read_mark, speech

from .harness import run_asyncio

pytestmark = pytest.mark.realtime

T = TypeVar("T")
W, H, FPS, RATE = 64, 48, 30, 48000
IMPLEMENTATIONS = {"vision-agents": vision_agents_synchronizer, "avsync": avsync_synchronizer}


def run(main: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    return run_asyncio(main, timeout=timeout)


def pcm(samples: np.ndarray, rate: int = RATE) -> PcmData:
    return PcmData(sample_rate=rate, format=AudioFormat.S16, samples=samples, channels=1)


def tone(seconds: float, value: int = 8000, rate: int = RATE) -> PcmData:
    return pcm(np.full(round(seconds * rate), value, np.int16), rate)


def frame_of(level: int, width: int = W, height: int = H) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8), "rgb24")


def brightness(frame: av.VideoFrame) -> float:
    return float(np.asarray(frame.to_ndarray(format="rgb24")).mean())


def is_blue(frame: av.VideoFrame) -> bool:
    r, g, b = np.asarray(frame.to_ndarray(format="rgb24")).reshape(-1, 3).mean(axis=0)
    return b > 200 and r < 40 and g < 40


async def drain(stream: AudioOutputStream, into: list[Any]) -> None:
    """Drain ``stream`` as the Agent does (``async for``) into a list."""
    async for item in stream:
        into.append(item)


def samples_at(items: list[Any], value: int) -> int:
    """How many samples of the chunks in ``items`` are at ``value``."""
    return sum(
        int(np.count_nonzero(item.data.samples == value))
        for item in items
        if isinstance(item, AudioOutputChunk) and item.data is not None
    )


def draining(stream: AudioOutputStream) -> tuple[list[Any], asyncio.Future[None]]:
    """Start draining ``stream`` as the Agent does; what it takes, and the task."""
    items: list[Any] = []
    return items, asyncio.ensure_future(drain(stream, items))


def pcm_seconds(items: list[Any]) -> float:
    return sum(
        item.data.duration
        for item in items
        if isinstance(item, AudioOutputChunk) and item.data is not None
    )


# == Vision-Agents 0.6's synchroniser behaviours, against both classes ===========================

implementation = pytest.mark.parametrize(
    "module", list(IMPLEMENTATIONS.values()), ids=list(IMPLEMENTATIONS)
)


@implementation
def test_builds_without_a_loop_and_hands_out_both_outputs(module: Any) -> None:
    sync = module.AVSynchronizer()
    assert isinstance(sync.video_output, QueuedVideoTrack)
    assert isinstance(sync.audio_output, AudioOutputStream)
    assert (sync.video_output.width, sync.video_output.height) == (1920, 1080)
    assert sync.video_output.fps == 30
    sync.close()


@implementation
@pytest.mark.parametrize("size", [0, -5, 1])
def test_max_queue_size_is_clamped_to_at_least_one(module: Any, size: int) -> None:
    module.AVSynchronizer(width=W, height=H, max_queue_size=size).close()


@implementation
def test_the_video_output_shows_blue_before_the_first_frame(module: Any) -> None:
    async def main() -> av.VideoFrame:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        try:
            frame: av.VideoFrame = await sync.video_output.recv()
            return frame
        finally:
            sync.close()

    frame = run(main)
    assert (frame.width, frame.height) == (W, H) and is_blue(frame)


@implementation
@pytest.mark.parametrize("fps", [15, 30])
def test_next_timestamp_paces_at_fps_on_a_90khz_clock(module: Any, fps: int) -> None:
    async def main() -> tuple[list[int], float, Any]:
        sync = module.AVSynchronizer(width=W, height=H, fps=fps)
        try:
            stamps = []
            started = time.monotonic()
            for _ in range(6):
                pts, time_base = await sync.video_output.next_timestamp()
                stamps.append(pts)
            return stamps, time.monotonic() - started, time_base
        finally:
            sync.close()

    stamps, elapsed, time_base = run(main)
    assert float(time_base) == 1 / 90000
    assert np.all(np.diff(stamps) == 90000 // fps)
    assert elapsed >= 4.5 / fps


@implementation
def test_a_frame_with_no_audio_buffered_comes_out_within_two_frames(module: Any) -> None:
    async def main() -> list[float]:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        try:
            await sync.video_output.recv()
            await sync.write_video(frame_of(200))
            return [brightness(await sync.video_output.recv()) for _ in range(3)]
        finally:
            sync.close()

    assert any(level > 150 for level in run(main))


@implementation
def test_a_frame_of_another_size_is_letterboxed_to_the_output_size(module: Any) -> None:
    async def main() -> av.VideoFrame:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        try:
            await sync.write_video(frame_of(255, 128, 48))  # wider: bars above and below
            for _ in range(5):
                frame: av.VideoFrame = await sync.video_output.recv()
                if not is_blue(frame):
                    return frame
            raise AssertionError("the frame never came out")
        finally:
            sync.close()

    frame = run(main)
    assert (frame.width, frame.height) == (W, H)
    rgb = np.asarray(frame.to_ndarray(format="rgb24"))
    assert rgb[H // 2].mean() > 200 and rgb[0].mean() < 30 and rgb[-1].mean() < 30


@implementation
def test_written_pcm_reaches_the_audio_output_in_full(module: Any) -> None:
    async def main() -> list[Any]:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        items, drainer = draining(sync.audio_output)
        await sync.write_audio(tone(0.3, rate=16000))
        await sync.write_audio(tone(0.2))
        await asyncio.sleep(0.8)
        sync.close()
        await asyncio.wait_for(drainer, 2)
        return items

    items = run(main)
    assert pcm_seconds(items) == pytest.approx(0.5, abs=0.021)
    assert all(isinstance(item, AudioOutputChunk) for item in items)


@implementation
def test_a_frame_written_after_audio_waits_for_that_audio(module: Any) -> None:
    async def main() -> float:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        _, drainer = draining(sync.audio_output)
        try:
            await sync.video_output.recv()
            await sync.write_audio(tone(0.5))
            written = time.monotonic()
            await sync.write_video(frame_of(200))
            while brightness(await sync.video_output.recv()) < 150:
                pass
            return time.monotonic() - written
        finally:
            sync.close()
            await asyncio.wait_for(drainer, 2)

    assert run(main) >= 0.4


@implementation
def test_flush_sends_an_audio_output_flush_after_the_old_audio(module: Any) -> None:
    async def main() -> list[Any]:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        items, drainer = draining(sync.audio_output)
        await sync.write_audio(tone(0.5))
        await asyncio.sleep(0.1)
        await sync.flush()
        await asyncio.sleep(0.3)
        sync.close()
        await asyncio.wait_for(drainer, 2)
        return items

    items = run(main)
    flushes = [i for i, item in enumerate(items) if isinstance(item, AudioOutputFlush)]
    assert len(flushes) == 1
    after = [item.data.samples for item in items[flushes[0] + 1 :] if item.data is not None]
    heard = np.count_nonzero(np.concatenate(after)) if after else 0
    assert heard <= 0.005 * RATE  # nothing of the old turn but avsync's 5 ms fade


@implementation
def test_flush_discards_the_pending_frame(module: Any) -> None:
    async def main() -> list[float]:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        _, drainer = draining(sync.audio_output)
        try:
            await sync.video_output.recv()
            await sync.write_audio(tone(0.3))
            await sync.write_video(frame_of(200))
            await sync.flush()
            return [brightness(await sync.video_output.recv()) for _ in range(15)]
        finally:
            sync.close()
            await asyncio.wait_for(drainer, 2)

    assert all(level < 150 for level in run(main))


@implementation
def test_the_last_frame_repeats_with_advancing_pts(module: Any) -> None:
    async def main() -> list[tuple[int, float]]:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        try:
            await sync.write_video(frame_of(200))
            shown = []
            for _ in range(8):
                frame = await sync.video_output.recv()
                shown.append((frame.pts, brightness(frame)))
            return shown
        finally:
            sync.close()

    shown = run(main)
    assert all(level > 150 for _, level in shown[-4:])
    assert all(b > a for (a, _), (b, _) in itertools.pairwise(shown))


@implementation
def test_after_the_video_output_stops_recv_raises_its_closed_error(module: Any) -> None:
    async def main() -> None:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        await sync.video_output.recv()
        sync.video_output.stop()
        assert sync.video_output.stopped
        with pytest.raises(VideoTrackClosedError):
            await sync.video_output.recv()
        await sync.write_video(frame_of(200))  # writes go on, quietly
        sync.close()

    run(main)


@implementation
def test_close_ends_the_audio_output_iteration(module: Any) -> None:
    async def main() -> None:
        sync = module.AVSynchronizer(width=W, height=H, fps=FPS)
        _, drainer = draining(sync.audio_output)
        await asyncio.sleep(0.05)
        assert sync.close() is None  # synchronous
        await asyncio.wait_for(drainer, 2)

    run(main)


@implementation
def test_close_without_ever_running_is_fine(module: Any) -> None:
    module.AVSynchronizer(width=W, height=H).close()


# == avsync's face only ===========================================================================


def test_the_stop_error_is_also_aiortcs() -> None:
    async def main() -> None:
        sync = avsync_synchronizer.AVSynchronizer(width=W, height=H, fps=FPS)
        sync.video_output.stop()
        with pytest.raises(MediaStreamError):
            await sync.video_output.recv()
        with pytest.raises(avsync_synchronizer.TrackClosedError):
            await sync.video_output.recv()
        await sync.aclose()

    run(main)


def test_close_ends_a_pending_recv_and_aclose_is_idempotent() -> None:
    async def main() -> None:
        sync = avsync_synchronizer.AVSynchronizer(width=W, height=H, fps=FPS)
        await sync.video_output.recv()
        pending = asyncio.ensure_future(sync.video_output.recv())
        await asyncio.sleep(0)
        sync.close()
        with pytest.raises(VideoTrackClosedError):
            await asyncio.wait_for(pending, 2)
        await sync.aclose()
        await sync.aclose()
        with pytest.raises(Exception, match="closed"):
            await sync.write_audio(tone(0.02))

    run(main)


def test_a_cancelled_write_or_flush_leaves_the_synchronizer_working() -> None:
    async def main() -> list[float]:
        sync = avsync_synchronizer.AVSynchronizer(width=W, height=H, fps=FPS, audio_buffer_s=0.2)
        items: list[Any] = []
        await sync.write_audio(tone(1.0))  # fills the buffer
        await sync.write_audio(tone(1.0))  # waits in the ingest mailbox
        blocked = asyncio.ensure_future(sync.write_audio(tone(1.0)))  # waits for room
        await asyncio.sleep(0.1)
        assert not blocked.done()
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        flushing = asyncio.ensure_future(sync.flush())
        await asyncio.sleep(0)
        flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flushing
        drainer = asyncio.ensure_future(drain(sync.audio_output, items))
        await sync.flush()
        await sync.write_video(frame_of(200))
        shown = [brightness(await sync.video_output.recv()) for _ in range(4)]
        await sync.write_audio(tone(0.1, value=3000))
        await sync.wait_for_playout()
        await sync.aclose()
        await asyncio.wait_for(drainer, 2)
        shown.append(samples_at(items, 3000) / RATE)
        return shown

    shown = run(main)
    assert any(level > 150 for level in shown[:4])
    assert shown[-1] == pytest.approx(0.1, abs=2 / RATE)  # (plus a sample of a fade, at most)


def test_undrained_audio_is_bounded_and_dropped_not_dumped_into_the_track() -> None:
    async def main() -> tuple[int, float, float]:
        sync = avsync_synchronizer.AVSynchronizer(width=W, height=H, fps=FPS)
        await sync.write_audio(tone(1.0))
        await asyncio.sleep(1.1)  # nobody drains: no participant yet
        held = sync.audio_output.size()
        items, drainer = draining(sync.audio_output)
        await asyncio.sleep(0.05)
        dumped = pcm_seconds(items)
        dropped = sync.audio_dropped_undrained_s
        await sync.aclose()
        await asyncio.wait_for(drainer, 2)
        return held, dumped, dropped

    held, dumped, dropped = run(main)
    assert held <= 3
    assert dumped <= avsync_synchronizer.HOLD_S + 0.001
    assert dropped == pytest.approx(1.0 - dumped, abs=0.061)


# == sync as published, wired as the Agent wires it ===============================================


@attrs.define
class Scenario:
    """A provider: ``fps`` frames a second, each followed by its audio, written ``speed`` times
    faster than real time; optionally a stall, and a barge-in with ``in_flight_s`` of the old
    turn written after it (tagged with the old epoch), then a new turn."""

    fps: float = 30.0
    speed: float = 1.5
    seconds: float = 2.0
    stall_at_s: float | None = None
    stall_s: float = 0.3
    barge_in_at_s: float | None = None
    in_flight_s: float = 0.2
    #: when aiortc's audio sender first reads the track, after the video sender: sets the phase
    #: of getstream's pacer against avsync's clock
    pacer_phase_s: float = 0.0


@attrs.define
class Published:
    offsets_ms: list[float]
    stale_frames: int
    stale_audio_s: float


async def agent_wiring(scenario: Scenario) -> Published:
    """One session wired as Vision-Agents 0.6's Agent wires an avatar: ``audio_output`` drained
    into getstream's ``AudioStreamTrack``, that track and ``video_output`` read as aiortc's
    senders read them. The recorder notes when each track hands each item out."""
    sync = avsync_synchronizer.AVSynchronizer(width=W, height=H, fps=30)
    track = AudioStreamTrack(sample_rate=RATE, channels=1)
    recorder = Recorder()

    async def agent() -> None:
        async for item in sync.audio_output:
            if isinstance(item, AudioOutputChunk) and item.data is not None:
                await track.write(item.data, final=item.final)
            elif isinstance(item, AudioOutputFlush):
                await track.flush()

    async def audio_sender() -> None:
        await asyncio.sleep(scenario.pacer_phase_s)
        while True:
            frame = await track.recv()
            samples = frame.to_ndarray().reshape(-1).astype(np.int16)
            recorder.audio.append(AudioRecord(time.monotonic(), frame.pts or 0, samples))
            recorder.events.append(("audio", samples))

    async def video_sender() -> None:
        with contextlib.suppress(MediaStreamError, VideoTrackClosedError):
            while True:
                frame = await sync.video_output.recv()
                mark = read_mark(frame)
                recorder.video.append(VideoRecord(time.monotonic(), frame.pts or 0, mark))
                recorder.events.append(("video", mark))

    tasks = [asyncio.ensure_future(job()) for job in (agent, audio_sender, video_sender)]
    await asyncio.sleep(0.2)  # the Agent has joined; the tracks run
    await provide(sync, scenario, recorder)
    await sync.wait_for_playout()
    await asyncio.sleep(0.2)
    sync.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    epoch = sync.epoch
    offsets = list(recorder.offsets_ms(lambda i: i / scenario.fps, epoch=epoch).values())
    frames, audio = recorder.stale_after_flush()
    return Published(offsets, frames, audio)


async def provide(
    sync: avsync_synchronizer.AVSynchronizer, scenario: Scenario, recorder: Recorder
) -> None:
    """Write the scenario's turns: frame k, then its 1/fps of marked speech."""
    epoch = sync.epoch
    per_frame = RATE / scenario.fps
    started = time.monotonic()
    count = math.floor(scenario.seconds * scenario.fps)
    barge_at = (
        None if scenario.barge_in_at_s is None else round(scenario.barge_in_at_s * scenario.fps)
    )
    stalled = False
    k = 0
    while k < count:
        if barge_at is not None and k == barge_at:
            # the barge-in: the provider is told, but its old turn is still in flight
            new_epoch = await sync.flush()
            recorder.events.append(("flushed", new_epoch))
            for j in range(k, k + round(scenario.in_flight_s * scenario.fps)):
                await write_frame(sync, j, per_frame, epoch)
            epoch, k, barge_at = new_epoch, 0, None
            count = math.floor(scenario.seconds * scenario.fps)
            started = time.monotonic()
            continue
        if (
            scenario.stall_at_s is not None
            and not stalled
            and k >= scenario.stall_at_s * scenario.fps
        ):
            stalled = True
            await asyncio.sleep(scenario.stall_s)
            started += scenario.stall_s
        await write_frame(sync, k, per_frame, epoch)
        k += 1
        due = started + k / scenario.fps / scenario.speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def write_frame(
    sync: avsync_synchronizer.AVSynchronizer, k: int, per_frame: float, epoch: int
) -> None:
    start, end = round(k * per_frame), round((k + 1) * per_frame)
    await sync.write_video(stamp_frame(k, epoch % 256, W, H), epoch=epoch)
    await sync.write_audio(pcm(speech(start, end - start, epoch)), epoch=epoch)


SCENARIOS = {
    "fast provider": Scenario(),
    **{
        f"pacer phase {ms} ms": Scenario(seconds=1.0, pacer_phase_s=ms / 1000) for ms in (5, 10, 15)
    },
    "stall": Scenario(stall_at_s=0.8),
    "barge-in": Scenario(barge_in_at_s=0.8),
    "25 fps provider": Scenario(fps=25),
    "60 fps provider": Scenario(fps=60),
}
MEDIAN_LIMIT_MS, P99_LIMIT_MS = 10.0, 25.0
ATTEMPTS = 3


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_sync_at_the_tracks_the_agent_publishes(name: str) -> None:
    """|median| <= 10 ms and p99 <= 25 ms of what the two tracks hand out, whatever the phase
    of getstream's pacer; nothing stale after a barge-in. A run on this shared machine can be
    starved of the CPU for longer than the limits: a miss is run again (ATTEMPTS in all); a
    fault of the face misses every time."""
    scenario = SCENARIOS[name]
    for _ in range(ATTEMPTS):
        published = run(lambda: agent_wiring(scenario), timeout=30)
        offsets = np.array(published.offsets_ms)
        median = float(np.median(offsets))
        p99 = float(np.percentile(np.abs(offsets), 99))
        if abs(median) <= MEDIAN_LIMIT_MS and p99 <= P99_LIMIT_MS:
            break
    assert len(offsets) >= 0.9 * scenario.seconds * scenario.fps * (0.5 if scenario.fps > 30 else 1)
    assert abs(median) <= MEDIAN_LIMIT_MS and p99 <= P99_LIMIT_MS, (name, median, p99)
    assert published.stale_frames == 0 and published.stale_audio_s == 0


def test_the_example_avatar_plugin_publishes_in_real_time() -> None:
    from examples import vision_agents_avatar

    video, audio = run(lambda: vision_agents_avatar.main(1.0))
    assert video >= 0.8 * 1.3 * 30 and audio >= 0.8 * 1.3 * 50  # 1.3 s of both tracks
