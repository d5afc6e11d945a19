"""The asyncio face, in real time: each test is a plain asyncio program (``asyncio.run``) using
``avsync.aio.AVSynchronizer`` with no trio at the call site.

Frames are yuv420p at the output size stamped with their index (``avsync.marks``), so they pass
through unchanged and are recognised at the output; the placeholder is black. After each
program, no trio run may be left in the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import av
import numpy as np
import pytest
import trio
import trio_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import actors
import avsync
import avsync.aio
from avsync._publisher import PublisherActor
from avsync.aio import AVSynchronizer
from avsync.marks import read_stamp, stamp_frame
from avsync.webrtc import SyncVideoTrack, add_tracks, loopback_candidates

from .harness import assert_frame_steps
from .harness import run_asyncio as run

pytestmark = pytest.mark.realtime

T = TypeVar("T")
W, H = 64, 48
RATE = 48000


def marked(index: int, width: int = W, height: int = H) -> av.VideoFrame:
    return stamp_frame(index, 0, width, height)


def mark_of(frame: av.VideoFrame) -> int | None:
    stamp = read_stamp(frame)
    return None if stamp is None else stamp[0]


def speech(seconds: float, value: int = 8000) -> np.ndarray:
    return np.full(round(seconds * RATE), value, np.int16)


def small(**options: Any) -> AVSynchronizer:
    return AVSynchronizer(width=W, height=H, fps=30, sample_rate=RATE, channels=1, **options)


async def until_marked(track: SyncVideoTrack, index: int) -> tuple[av.VideoFrame, float]:
    """Read ``track`` until the frame marked ``index``; return it and when it came."""
    while True:
        frame = await track.recv()
        if mark_of(frame) == index:
            return frame, asyncio.get_running_loop().time()


class Log:
    """Records what an output track hands over, with the loop time of each."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []

    async def read(self, track: MediaStreamTrack, what: Callable[[Any], Any]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                self.items.append((loop.time(), what(frame)))
        except MediaStreamError:
            pass

    def since(self, at: float) -> list[Any]:
        return [item for time, item in self.items if time > at]


# -- construction ----------------------------------------------------------------------------------


def test_the_constructor_validates_without_a_running_loop() -> None:
    sync = AVSynchronizer()
    config = sync.config
    assert (config.width, config.height, config.fps) == (1920, 1080, 30)
    assert (config.sample_rate, config.channels) == (48000, 2)
    assert config.video_queue_frames == 300
    assert AVSynchronizer(fps=29.97, max_queue_size=300).config.video_queue_frames == 300
    assert AVSynchronizer(fps=60, max_queue_size=7).config.video_queue_frames == 7
    assert AVSynchronizer(playout_delay_s=0.05).config.playout_delay_s == 0.05
    assert AVSynchronizer(copy_video=True).config.copy_video
    assert sync.epoch == 0 and not sync.closed
    assert isinstance(sync.video_track, MediaStreamTrack) and sync.video_track.kind == "video"
    assert isinstance(sync.audio_track, MediaStreamTrack) and sync.audio_track.kind == "audio"
    with pytest.raises(RuntimeError, match="not started"):
        sync.stats()

    cases: list[tuple[dict[str, Any], str]] = [
        ({"fps": 0}, "fps"),
        ({"width": 641}, "width"),
        ({"channels": 3}, "channels"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"max_queue_size": 2.5}, "max_queue_size"),
        ({"overflow": "drop-newest"}, "overflow"),
        ({"audio_buffer_s": -1.0}, "audio_buffer_s"),
    ]
    for bad, field in cases:
        with pytest.raises(ValueError, match=field):
            AVSynchronizer(**bad)
    with pytest.raises(TypeError):
        AVSynchronizer(video_buffer_s=2.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AVSynchronizer(colour="red")  # type: ignore[call-arg]


# -- timing ----------------------------------------------------------------------------------------


def test_with_no_audio_a_frame_comes_out_promptly() -> None:
    async def main() -> float:
        async with small() as sync:
            track = sync.video_track
            await track.recv()  # the placeholder is flowing
            start = asyncio.get_running_loop().time()
            await sync.write_video(marked(1))
            _, shown = await until_marked(track, 1)
            return shown - start

    assert run(main) < 0.1


def test_a_frame_waits_for_the_audio_buffered_before_it() -> None:
    async def main() -> tuple[float, float]:
        async with small() as sync:
            video, audio = sync.video_track, sync.audio_track
            heard = Log()
            reader = asyncio.create_task(heard.read(audio, lambda f: f.to_ndarray().any()))
            await video.recv()
            start = asyncio.get_running_loop().time()
            await sync.write_audio(speech(0.5))
            await sync.write_video(marked(1))
            _, shown = await until_marked(video, 1)
            first_speech = min(at for at, loud in heard.items if loud)
            await sync.aclose()
            await reader
            return shown - start, shown - first_speech

    after_write, after_speech = run(main)
    assert 0.48 <= after_write <= 0.56, after_write
    assert after_speech == pytest.approx(0.5, abs=0.015)  # in sync with what was heard


def test_pts_less_frames_after_audio_come_out_in_order() -> None:
    async def main() -> list[tuple[float, int]]:
        async with small() as sync:
            track = sync.video_track
            await sync.write_audio(speech(0.3))
            await sync.write_video(marked(1))
            await sync.write_video(marked(2))
            shown: list[tuple[float, int]] = []
            loop = asyncio.get_running_loop()
            while not shown or shown[-1][1] != 2:
                mark = mark_of(await track.recv())
                if mark is not None and (not shown or shown[-1][1] != mark):
                    shown.append((loop.time(), mark))
            return shown

    shown = run(main)
    assert [mark for _, mark in shown] == [1, 2]
    assert shown[1][0] - shown[0][0] >= 0.025  # spaced about 1/fps apart


def test_the_last_frame_repeats_when_nothing_new_is_written() -> None:
    async def main() -> list[av.VideoFrame]:
        async with small() as sync:
            track = sync.video_track
            await sync.write_video(marked(5))
            first, _ = await until_marked(track, 5)
            return [first] + [await track.recv() for _ in range(8)]

    frames = run(main)
    assert [mark_of(frame) for frame in frames] == [5] * 9
    assert_frame_steps([frame.pts for frame in frames], 3000)


@pytest.mark.parametrize("fps, step", [(60, 1500), (30, 3000), (15, 6000)])
def test_repeats_advance_the_video_pts_by_one_frame_interval(fps: int, step: int) -> None:
    async def main() -> list[int]:
        async with AVSynchronizer(width=W, height=H, fps=fps, channels=1) as sync:
            track = sync.video_track
            await sync.write_video(marked(1))
            first, _ = await until_marked(track, 1)
            frames = [first] + [await track.recv() for _ in range(8)]
            assert all(mark_of(frame) == 1 for frame in frames)
            return [frame.pts for frame in frames]

    assert_frame_steps(run(main), step)


def test_several_synchronizers_share_one_loop() -> None:
    async def one(fps: int, index: int) -> list[int]:
        async with AVSynchronizer(width=W, height=H, fps=fps, channels=1) as sync:
            track = sync.video_track
            await sync.write_video(marked(index))
            first, _ = await until_marked(track, index)
            frames = [first] + [await track.recv() for _ in range(6)]
            assert [mark_of(frame) for frame in frames] == [index] * 7
            return [frame.pts for frame in frames]

    async def main() -> list[list[int | None]]:
        return list(await asyncio.gather(one(60, 1), one(30, 2), one(15, 3)))

    for pts, step in zip(run(main), (1500, 3000, 6000), strict=True):
        assert_frame_steps(pts, step)


# -- flush, resize ---------------------------------------------------------------------------------


def test_flush_discards_pending_video_and_audio() -> None:
    fade = round(5.0 * RATE / 1000)  # fade_ms of 5 at 48 kHz

    async def main() -> tuple[Log, Log, float, int, avsync.Stats]:
        async with small() as sync:
            frames, packets = Log(), Log()
            readers = [
                asyncio.create_task(frames.read(sync.video_track, mark_of)),
                asyncio.create_task(packets.read(sync.audio_track, lambda f: f.to_ndarray())),
            ]
            await sync.write_audio(speech(2.0))
            for index in range(10):
                await sync.write_video(marked(index), pts=0.5 + 0.1 * index)
            await asyncio.sleep(0.15)  # speech is playing; no frame is due yet
            epoch = await sync.flush()
            flushed = asyncio.get_running_loop().time()
            await asyncio.sleep(0.3)
            stats = sync.stats()
            await sync.aclose()
            await asyncio.gather(*readers)
            return frames, packets, flushed, epoch, stats

    frames, packets, flushed, epoch, stats = run(main)
    assert epoch == 1
    before = [p for at, p in packets.items if at <= flushed]
    assert any(p.any() for p in before), "speech was playing before the flush"
    after = packets.since(flushed)
    assert len(after) >= 10
    assert not after[0].reshape(-1)[fade:].any(), "only the fade after a flush"
    assert not any(p.any() for p in after[1:]), "silence after the fade"
    assert [mark for _, mark in frames.items if mark is not None] == [], "no old frame shown"
    assert stats.frames_dropped_stale == 10
    assert stats.audio_dropped_stale_s > 1.5


def test_a_larger_frame_is_scaled_to_the_output_size() -> None:
    async def main() -> list[av.VideoFrame]:
        async with AVSynchronizer(width=640, height=480, fps=30, channels=1) as sync:
            track = sync.video_track
            await sync.write_video(np.full((720, 1280, 3), 255, np.uint8))
            frames = [await track.recv()]
            while frames[-1].to_ndarray()[240, 320] < 200:  # until the white frame is shown
                frames.append(await track.recv())
            return frames

    frames = run(main)
    assert all((frame.width, frame.height) == (640, 480) for frame in frames)
    luma = frames[-1].to_ndarray()[:480]
    assert luma[240].min() > 200
    assert luma[10].max() < 30 and luma[470].max() < 30  # letterboxed: 16:9 into 4:3


# -- errors, closing -------------------------------------------------------------------------------


def test_bad_input_raises_the_trio_apis_errors_and_the_session_goes_on() -> None:
    async def main() -> None:
        async with small() as sync:
            with pytest.raises(avsync.InvalidAudioError, match="finite"):
                await sync.write_audio(np.array([0.0, np.nan], np.float32))
            with pytest.raises(avsync.InvalidAudioTypeError):
                await sync.write_audio([1, 2, 3])
            with pytest.raises(avsync.InvalidVideoTypeError):
                await sync.write_video("frame")
            with pytest.raises(avsync.EpochError, match="newer"):
                await sync.write_video(marked(1), epoch=4)
            await sync.write_audio(speech(0.1), pts=1.0)
            with pytest.raises(avsync.InvalidAudioError, match=r"backwards|overlaps"):
                await sync.write_audio(speech(0.1), pts=0.5)
            assert await sync.start_turn() == 1 and sync.epoch == 1
            await sync.write_video(marked(2))
            await until_marked(sync.video_track, 2)

    run(main)


def test_after_aclose_tracks_end_and_writes_raise_at_once() -> None:
    async def main() -> None:
        sync = small(overflow="block", audio_buffer_s=0.1)
        await sync.start()
        track = sync.video_track
        await track.recv()
        await sync.write_audio(speech(1.0))
        await sync.write_audio(speech(1.0))
        blocked = asyncio.create_task(sync.write_audio(speech(1.0)))  # waits for room

        async def read_forever() -> None:
            while True:
                await track.recv()

        reading = asyncio.create_task(read_forever())  # waits in recv() across aclose()
        await asyncio.sleep(0.05)
        assert not blocked.done()
        await sync.aclose()
        assert sync.closed
        with pytest.raises(avsync.SynchronizerClosed):
            await blocked
        await asyncio.sleep(0)
        assert reading.done()
        with pytest.raises(MediaStreamError):
            await reading
        with pytest.raises(MediaStreamError):
            await track.recv()
        with pytest.raises(MediaStreamError):
            await sync.audio_track.recv()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.write_audio(speech(0.1))
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.write_video(marked(1))
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.flush()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.start()
        assert loop.time() - start < 0.05
        await sync.aclose()  # idempotent

        never_started = small()
        await never_started.aclose()
        with pytest.raises(avsync.SynchronizerClosed):
            await never_started.write_audio(speech(0.1))

        closed_while_starting = small()
        starting = asyncio.create_task(closed_while_starting.start())
        await asyncio.sleep(0)
        await closed_while_starting.aclose()
        with pytest.raises(avsync.SynchronizerClosed):
            await starting

    run(main)


def test_cancelling_a_blocked_write_leaves_the_synchronizer_healthy() -> None:
    async def main() -> None:
        async with small(overflow="block", audio_buffer_s=0.1) as sync:
            heard = Log()
            reader = asyncio.create_task(heard.read(sync.audio_track, lambda f: f.to_ndarray()))
            await sync.write_audio(speech(1.0, 1000))  # fills the buffer
            await sync.write_audio(speech(1.0, 1000))  # waits in the ingest mailbox
            blocked = asyncio.create_task(sync.write_audio(speech(1.0, 1000)))
            await asyncio.sleep(0.2)
            assert not blocked.done(), "the write should wait for buffer space"
            blocked.cancel()
            with pytest.raises(asyncio.CancelledError):
                await blocked
            assert sync._calls is not None and not sync._calls.child_tasks, "a trio call is left"

            assert await sync.start_turn() == 1  # flushes the two seconds written
            turned = asyncio.get_running_loop().time()
            await sync.write_audio(speech(0.2, 2000))
            await sync.write_video(marked(3))
            await until_marked(sync.video_track, 3)
            await sync.end_audio()
            result = await sync.wait_for_playout()
            assert not result.interrupted and result.position == pytest.approx(0.2)
            assert any((p == 2000).any() for p in heard.since(turned)), "the new turn is heard"
            assert not any((p == 1000).any() for p in heard.since(turned + 0.05))
        await reader
        assert sync._calls is None and not trio.lowlevel.in_trio_run()

    run(main)


def test_a_failure_of_the_synchronizer_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = False
    video = PublisherActor._video

    def failing_video(self: PublisherActor, message: Any) -> None:
        if armed:
            raise RuntimeError("injected publisher crash")
        video(self, message)

    monkeypatch.setattr(PublisherActor, "_video", failing_video)

    async def main() -> None:
        nonlocal armed
        sync = small()
        await sync.start()
        track = sync.video_track
        await track.recv()
        armed = True  # the publisher crashes on its next frame (within 1/fps)
        with pytest.raises(MediaStreamError):
            while True:
                await track.recv()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.write_video(marked(1))
        with pytest.raises(BaseExceptionGroup) as failure:
            await sync.aclose()
        assert failure.group_contains(actors.ActorFailed)
        await sync.aclose()  # reported once
        with pytest.raises(avsync.SynchronizerClosed) as closed:
            await sync.write_audio(speech(0.1))
        assert closed.value.__cause__ is failure.value

    run(main)


def test_a_failure_to_start_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(sync: avsync.Synchronizer) -> Any:
        raise OSError("no synchroniser today")

    monkeypatch.setattr(avsync.aio, "running", broken)

    async def main() -> None:
        sync = small()
        with pytest.raises(OSError, match="no synchroniser today"):
            async with sync:
                pass
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.write_audio(speech(0.1))
        for track in (sync.audio_track, sync.video_track):  # handed out before: they end
            with pytest.raises(MediaStreamError):
                await track.recv()
        await sync.aclose()

    run(main)


def test_leaving_asyncio_run_without_aclose_ends_the_trio_run() -> None:
    tracks: list[MediaStreamTrack] = []

    async def main() -> None:
        sync = small()
        await sync.write_audio(speech(1.0))  # starts it
        tracks.append(sync.video_track)

    run(main)  # checks that no trio run is left
    assert tracks[0].readyState == "ended"


# -- aiortc in the same program --------------------------------------------------------------------


def test_tracks_stream_over_an_rtc_peer_connection() -> None:
    async def main() -> tuple[dict[str, int], float, str]:
        with loopback_candidates():
            async with AVSynchronizer(width=160, height=120, fps=30, channels=1) as sync:
                sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                counts = {"audio": 0, "video": 0}
                brightest = [0.0]
                readers: list[asyncio.Task[None]] = []

                async def consume(track: MediaStreamTrack) -> None:
                    try:
                        while True:
                            frame = await track.recv()
                            counts[track.kind] += 1
                            if isinstance(frame, av.VideoFrame):
                                luma = frame.to_ndarray(format="gray")
                                brightest[0] = max(brightest[0], float(luma.mean()))
                    except MediaStreamError:
                        pass

                @receiver.on("track")
                def on_track(track: MediaStreamTrack) -> None:
                    readers.append(asyncio.create_task(consume(track)))

                try:
                    add_tracks(sender, sync)
                    await sender.setLocalDescription(await sender.createOffer())
                    await receiver.setRemoteDescription(sender.localDescription)
                    await receiver.setLocalDescription(await receiver.createAnswer())
                    await sender.setRemoteDescription(receiver.localDescription)
                    offer = sender.localDescription.sdp

                    await sync.write_audio(speech(1.0))
                    await sync.write_video(np.full((120, 160, 3), 255, np.uint8))
                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + 5.0
                    while loop.time() < deadline and (
                        counts["audio"] < 25 or counts["video"] < 10 or brightest[0] < 150
                    ):
                        await asyncio.sleep(0.05)
                finally:
                    await sender.close()
                    await receiver.close()
                    for reader in readers:
                        reader.cancel()
                    await asyncio.gather(*readers, return_exceptions=True)
        return counts, brightest[0], offer

    counts, brightest, offer = run(main, timeout=15)
    assert counts["audio"] >= 25 and counts["video"] >= 10, counts
    assert brightest >= 150, "the written (white) frame crossed the connection"
    streams = {line.split()[0] for line in offer.splitlines() if line.startswith("a=msid:")}
    assert len(streams) == 1, "both tracks in one MediaStream"


# -- on a trio-asyncio loop ------------------------------------------------------------------------


def test_on_a_trio_asyncio_loop_the_synchronizers_join_its_trio_run() -> None:
    """Once trio_asyncio is imported, ``asyncio.run()`` makes a trio-asyncio loop, inside a trio
    run: there is no room for a guest run, and the synchronisers are hosted in that run."""

    async def main() -> tuple[list[int | None], float]:
        assert isinstance(asyncio.get_running_loop(), trio_asyncio.BaseTrioEventLoop)
        async with small() as first, small() as second:
            marks = []
            for index, sync in enumerate((first, second)):
                await sync.write_video(marked(index))
                frame, _ = await until_marked(sync.video_track, index)
                marks.append(mark_of(frame))
            await first.write_audio(speech(0.2))
            start = asyncio.get_running_loop().time()
            await first.write_video(marked(7))
            _, shown = await until_marked(first.video_track, 7)
        with pytest.raises(avsync.SynchronizerClosed):
            await first.write_audio(speech(0.1))
        with pytest.raises(MediaStreamError):
            await second.video_track.recv()
        return marks, shown - start

    asyncio.set_event_loop_policy(None)  # trio-asyncio's own (it is imported above)
    marks, waited = asyncio.run(asyncio.wait_for(main(), 10))
    assert not trio.lowlevel.in_trio_run()
    assert marks == [0, 1]
    assert 0.18 <= waited <= 0.26
