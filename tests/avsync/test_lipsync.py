"""Lip sync under MockClock: every frame's offset within 1 ms, video never ahead of audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trio
import trio.testing

import avsync
from avsync.testing import RATE, Recorder, Script, config, marked_frame, perform, recording, speech


async def run_script(script: Script, **overrides: object) -> tuple[Recorder, avsync.Stats]:
    async with recording(config(**overrides)) as (sync, recorder):
        await trio.sleep(0.05)  # a few ticks of idle output first
        await perform(sync, script)
        result = await sync.wait_for_playout()
        assert not result.interrupted
        assert result.position == pytest.approx(script.duration, abs=1 / RATE)
        await trio.sleep(0.2)
        stats = sync.stats()
    return recorder, stats


def check_outputs(recorder: Recorder) -> None:
    """Output pts strictly increase; audio advances by exactly one packet."""
    audio_pts = [r.pts for r in recorder.audio]
    assert np.all(np.diff(audio_pts) == 960)
    video_pts = [r.pts for r in recorder.video]
    assert np.all(np.diff(video_pts) > 0)


def check_sync(recorder: Recorder, script: Script, settle_s: float = 0.0) -> dict[int, float]:
    offsets = recorder.offsets_ms(script.frame_media)
    assert offsets, "no frame was measured"
    ahead = {i: o for i, o in offsets.items() if o < -1e-6}
    assert not ahead, f"video ahead of audio: {ahead}"
    settled = {i: o for i, o in offsets.items() if script.frame_media(i) >= settle_s}
    off = {i: o for i, o in settled.items() if abs(o) > 1.0}
    assert not off, f"offsets beyond 1 ms: {off}"
    check_outputs(recorder)
    return settled


SCENARIOS = {
    "real time, 20 ms chunks": Script(chunk_s=0.02, speed=1.0),
    "real time, 100 ms chunks": Script(chunk_s=0.1, speed=1.0),
    "2x real time": Script(speed=2.0),
    "whole utterance at once": Script(duration=5.0, chunk_s=5.0, speed=math.inf),
    "250 ms stall": Script(duration=3.0, stall_at=1.0, stall_s=0.25),
    "600 ms stall": Script(duration=3.0, stall_at=1.0, stall_s=0.6),
    "600 ms stall, then catching up at 2x": Script(
        duration=3.0, speed=2.0, stall_at=1.0, stall_s=0.6
    ),
    "video 60 ms early": Script(video_lag_s=-0.06),
    "video 60 ms early, audio 2x": Script(speed=2.0, video_speed=2.0, video_lag_s=-0.06),
    "25 fps into 30 fps": Script(fps=25.0),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_frame_within_1ms(name: str, autojump_clock: trio.testing.MockClock) -> None:
    script = SCENARIOS[name]
    recorder, stats = await run_script(script)
    offsets = check_sync(recorder, script)
    assert len(offsets) == script.frame_count(), "every frame is shown"
    assert stats.frames_dropped_late == 0
    assert stats.offset_max_ms <= 1.0


async def test_video_60ms_late_with_audio_at_2x_settles_once_the_buffer_covers_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(speed=2.0, video_lag_s=0.06)  # video at 2x too, 60 ms behind its audio
    recorder, _ = await run_script(script)
    offsets = check_sync(recorder, script, settle_s=0.13)
    assert len(offsets) >= script.frame_count() - 5


async def test_video_60ms_late_real_time_with_playout_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(speed=1.0, video_lag_s=0.06)
    recorder, _ = await run_script(script, playout_delay_s=0.1)
    offsets = check_sync(recorder, script)
    assert len(offsets) == script.frame_count()


async def test_stall_leaves_no_lasting_offset_and_counts_underrun(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(duration=3.0, stall_at=1.0, stall_s=0.25)
    recorder, stats = await run_script(script)
    check_sync(recorder, script)
    assert stats.audio_underrun_s == pytest.approx(0.26, abs=0.021)


async def test_a_packet_written_a_loop_turn_after_its_tick_is_not_an_underrun(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A writer due at the instant of a tick but run after the clock (as after a stall of the
    whole process, or in a busy turn of the loop): the tick waits for the packet."""
    async with recording(config()) as (sync, recorder):
        origin = trio.current_time()  # (the clock's, under MockClock: opening takes no time)
        await sync.write_audio(speech(0, 960))  # plays at the next tick, origin + 0.02
        for index in range(1, 10):
            await trio.sleep_until(origin + (index + 1) * 0.02)  # packet index's tick
            await trio.lowlevel.checkpoint()  # the clock's ring comes first
            await sync.write_audio(speech(index * 960, 960))
        await sync.end_audio()
        await sync.wait_for_playout()
        stats = sync.stats()
    assert stats.audio_underrun_s == 0
    played_at = [at for at, _, _ in recorder.speech_packets()]
    ticks = [origin + (index + 1) * 0.02 for index in range(10)]
    assert played_at == pytest.approx(ticks, abs=1e-9)


async def test_ptsless_frame_after_half_a_second_of_audio(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """0.5 s of audio buffered, then a frame: shown when that 0.5 s has played, not a tick later."""
    async with recording(config()) as (sync, recorder):
        await trio.sleep(0.05)
        await sync.write_audio(speech(0, RATE // 2))
        await sync.write_video(marked_frame(7))
        await trio.sleep(1.0)
    shown = recorder.first_shown()[(7, 0)]
    last_sample_heard = recorder.audio_heard_at(RATE // 2 - 1)
    assert last_sample_heard is not None
    assert shown == pytest.approx(last_sample_heard + 1 / RATE, abs=1e-6)


async def test_ptsless_frames_are_spaced_and_never_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with recording(config()) as (sync, recorder):
        await trio.sleep(0.05)
        await sync.write_audio(speech(0, RATE // 2))
        for index in range(5):
            await sync.write_video(marked_frame(index))
        await trio.sleep(1.0)
        stats = sync.stats()
    shown = recorder.first_shown()
    times = [shown[(i, 0)] for i in range(5)]
    assert np.allclose(np.diff(times), 1 / 30)
    assert stats.frames_dropped_late == 0


async def test_ptsless_real_time_provider_tracks_the_write_cursor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(with_pts=False)
    recorder, _ = await run_script(script)
    # each frame is written with the audio up to its media time: it shows when that is heard
    offsets = recorder.offsets_ms(script.frame_media)
    assert len(offsets) >= script.frame_count() - 2
    assert all(-1e-6 <= o <= 21 for o in offsets.values())  # at most one chunk of write skew
