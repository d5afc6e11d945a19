"""Backpressure, slow sinks, closing the outputs, stats."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

import avsync
from actors.testing import live_tasks
from avsync.testing import RATE, Recorder, config, marked_frame, recording, speech


async def write_chunks_timed(sync: avsync.Synchronizer, seconds: int) -> list[float]:
    """Write ``seconds`` of audio in 100 ms chunks as fast as allowed; when each write returned."""
    returned = []
    for index in range(seconds * 10):
        await sync.write_audio(speech(index * 4800, 4800))
        returned.append(trio.current_time())
    return returned


async def test_block_waits_once_the_buffer_is_full_and_resumes_as_it_drains(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(config(audio_buffer_s=1.0)) as sync:
        start = trio.current_time()
        returned = await write_chunks_timed(sync, 3)
        waits = np.array(returned) - start
        assert np.all(waits[:9] == 0)  # the first second goes straight in
        # then the writer is paced by playout: 3 s written, ~1 s buffered, the rest played
        assert waits[-1] == pytest.approx(2.0, abs=0.25)
        assert np.all(np.diff(waits[15:]) == pytest.approx(0.1, abs=0.021))
        assert sync.stats().audio_buffered_s <= 1.0
        await sync.end_audio()
        result = await sync.wait_for_playout()
        assert result.position == pytest.approx(3.0)  # nothing lost
        assert sync.stats().audio_dropped_overflow_s == 0


async def test_drop_oldest_never_waits_and_counts(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config(audio_buffer_s=1.0, overflow="drop-oldest")) as sync:
        start = trio.current_time()
        returned = await write_chunks_timed(sync, 3)
        assert returned[-1] == start
        await sync.end_audio()
        result = await sync.wait_for_playout()
        stats = sync.stats()
        assert stats.audio_dropped_overflow_s == pytest.approx(2.0, abs=0.05)
        assert result.position + stats.audio_dropped_overflow_s == pytest.approx(3.0, abs=0.001)


async def test_video_queue_is_bounded_and_blocks(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config(video_buffer_s=0.5)) as sync:  # 15 frames
        await sync.write_audio(speech(0, 960))  # speech has started: frames wait for audio
        with trio.move_on_after(1.0):
            for index in range(40):
                await sync.write_video(marked_frame(index), pts=1 + index / 30)
        assert 15 <= index <= 18  # the queue plus a frame or two in flight
        assert 15 <= sync.stats().video_queued <= 18
        assert sync.stats().frames_dropped_overflow == 0  # "block" waits, it never drops


async def test_room_in_a_full_video_queue_takes_the_waiting_frames_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overflow="block": frames written ahead of the audio wait in the inbox while the schedule
    is full. Whenever the schedule has room, none is left waiting, also when the room was made
    by a clock tick handled in the clock's task (not at the video queue's next wake-up)."""
    async with avsync.open_synchronizer(config(video_buffer_s=0.1)) as sync:  # 3 frames
        waiting_with_room: list[float] = []

        async def watch() -> None:
            while True:
                if sync._video_inbox.stats().depth and not sync._schedule.full:
                    waiting_with_room.append(trio.current_time())
                await trio.sleep(0.001)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                await sync.write_audio(speech(0, RATE))
                for index in range(30):  # 1 s of frames, written as fast as they are taken
                    await sync.write_video(marked_frame(index), pts=index / 30)
                nursery.cancel_scope.cancel()
        assert sync.stats().frames_dropped_overflow == 0
        assert waiting_with_room == []


async def test_frames_written_after_a_flush_emptied_a_full_video_queue_are_taken_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """overflow="block": the queue is full of frames waiting for audio, with more waiting in
    the inbox, when start_turn() flushes it all (in the control actor's task). The frames of
    the new turn are taken in as they come, not at the video queue's next due time."""
    async with avsync.open_synchronizer(config(video_buffer_s=0.1)) as sync:  # 3 frames
        await sync.write_audio(speech(0, 960))
        with trio.move_on_after(0.5):
            for index in range(10):  # beyond the audio: 3 in the queue, the rest wait
                await sync.write_video(marked_frame(index), pts=1 + index / 30)
        await sync.start_turn()
        waiting_with_room: list[int] = []
        for index in range(3):
            await sync.write_video(marked_frame(20 + index), pts=5 + index / 30)
            await trio.sleep(0)
            if sync._video_inbox.stats().depth and not sync._schedule.full:
                waiting_with_room.append(index)
        assert waiting_with_room == []
        assert sync.stats().video_queued == 3


async def test_video_drop_oldest_counts_overflow(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config(video_buffer_s=0.5, overflow="drop-oldest")) as sync:
        await sync.write_audio(speech(0, 960))
        for index in range(40):
            await sync.write_video(marked_frame(index), pts=1 + index / 30)
        await trio.sleep(0)
        stats = sync.stats()
        assert stats.frames_dropped_overflow == 40 - 15
        assert stats.video_queued == 15


async def test_a_sink_that_never_reads_stalls_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    recorder = Recorder()
    async with avsync.open_synchronizer(config()) as sync:
        stalled_audio = sync.audio_frames()
        stalled_video = sync.video_frames()
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, sync)
            packets_before = sync.stats().packets_emitted
            await trio.sleep(2.0)
            stats = sync.stats()
            dropped = stalled_audio.dropped + stalled_video.dropped
            await sync.aclose()
    # the clock kept its schedule and the reading sink got everything
    assert stats.packets_emitted - packets_before == pytest.approx(2.0 / 0.02, abs=1)
    assert len(recorder.audio) == pytest.approx(2.0 / 0.02, abs=1)
    assert len(recorder.video) == pytest.approx(2.0 * 30, abs=1)
    assert stalled_audio.dropped > 0 and stalled_video.dropped > 0
    assert stats.sink_frames_dropped == dropped
    # what the stalled consumer still holds is bounded and then the channel ends
    held = [frame async for frame in stalled_audio]
    assert 0 < len(held) <= 10


async def test_outputs_end_after_what_they_hold(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        audio = sync.audio_frames()
        video = sync.video_frames()
        await trio.sleep(0.1)
    assert len([frame async for frame in audio]) >= 1
    assert len([frame async for frame in video]) >= 1
    late = sync.audio_frames()  # opened after close: ends at once
    with pytest.raises(trio.EndOfChannel):
        await late.receive()
    assert live_tasks() == []


async def test_a_closed_output_is_detached(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        audio = sync.audio_frames()
        await audio.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await audio.receive()
        await trio.sleep(0.1)  # the publisher keeps going without it


async def test_run_synchronizer_in_a_nursery(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        sync = await nursery.start(avsync.run_synchronizer, config())
        assert isinstance(sync, avsync.Synchronizer)
        await sync.write_audio(speech(0, 960))
        await sync.aclose()
    assert live_tasks() == []


async def test_stats_match_what_happened(autojump_clock: trio.testing.MockClock) -> None:
    async with recording(config()) as (sync, recorder):
        emitted_before = sync.stats().frames_emitted
        await sync.write_audio(speech(0, RATE))
        for index in range(30):
            await sync.write_video(marked_frame(index), pts=index / 30)
        await sync.write_video(marked_frame(99), pts=0.0)  # same media time: the newer wins
        await sync.end_audio()
        await sync.wait_for_playout()
        await trio.sleep(0.5)  # idle: the last frame repeats
        await sync.start_turn()
        await sync.write_audio(speech(0, 960), epoch=0)  # stale
    stats = sync.stats()  # after closing: every output has been received
    new_frames = [r for r in recorder.video if r.mark is not None]
    shown = recorder.first_shown()
    assert stats.epoch == 1 and stats.flushes == 1
    assert stats.frames_emitted - emitted_before == len(recorder.video)
    assert stats.frames_emitted - stats.frames_repeated == len(shown)
    assert len(new_frames) - len(shown) > 0  # repeats of real frames
    assert stats.frames_dropped_late == 1 and (0, 0) not in shown and (99, 0) in shown
    assert stats.audio_dropped_stale_s == pytest.approx(0.02)
    assert stats.audio_underrun_s == 0
    assert stats.audio_buffered_s == 0 and stats.video_queued == 0
    assert stats.offset.count == len(shown)
    assert stats.offset_max_ms <= 1e-6 and stats.offset_p99_ms <= stats.offset_max_ms
