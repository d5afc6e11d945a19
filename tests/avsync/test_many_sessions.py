"""100 synchronisers in one trio run under MockClock: 5 s of media each, a minute each in the
long run (``HYPOTHESIS_PROFILE=long pytest``, the soak before a release)."""

from __future__ import annotations

import os
import time

import numpy as np
import trio
import trio.testing

import avsync
from actors.testing import live_tasks
from avsync.testing import RATE, config, marked_frame, speech

SESSIONS = 100
MEDIA_S = 60.0 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 5.0
TURN_AT_S = MEDIA_S / 2


async def session(index: int, results: dict[int, dict[str, object]]) -> None:
    """A real-time provider (20 ms chunks, 30 fps with pts), a turn change half way, a
    consumer that checks the output timeline as it goes."""
    checks: dict[str, object] = {"audio_pts_ok": True, "video_pts_ok": True, "audio": 0, "video": 0}
    async with avsync.open_synchronizer(config()) as sync:

        async def consume_audio() -> None:
            previous = None
            async for frame in sync.audio_frames():
                if previous is not None and frame.pts != previous + 960:
                    checks["audio_pts_ok"] = False
                previous = frame.pts
                checks["audio"] = int(checks["audio"]) + 1  # type: ignore[call-overload]

        async def consume_video() -> None:
            previous = -1
            async for frame in sync.video_frames():
                if frame.pts <= previous:
                    checks["video_pts_ok"] = False
                previous = frame.pts
                checks["video"] = int(checks["video"]) + 1  # type: ignore[call-overload]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume_audio)
            nursery.start_soon(consume_video)
            await trio.sleep(0.01 * (index % 7))  # stagger the sessions
            start = trio.current_time()
            frames = [marked_frame(i % 64, 0) for i in range(64)]
            frame_index = 0
            media_base = 0.0
            for chunk in range(int(MEDIA_S / 0.02)):
                media = chunk * 0.02
                if media == TURN_AT_S:
                    await sync.start_turn()
                    media_base = TURN_AT_S
                await trio.sleep_until(start + media)
                local = round((media - media_base) * RATE)
                await sync.write_audio(speech(local, 960))
                while frame_index / 30 < media + 0.02 - 1e-9:
                    await sync.write_video(
                        frames[frame_index % 64], pts=frame_index / 30 - media_base
                    )
                    frame_index += 1
            await sync.end_audio()
            result = await sync.wait_for_playout()
            checks["playout"] = result
            checks["stats"] = sync.stats()
            await sync.aclose()
    results[index] = checks


def test_hundred_sessions_in_one_trio_run() -> None:
    results: dict[int, dict[str, object]] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for index in range(SESSIONS):
                nursery.start_soon(session, index, results)
        assert live_tasks() == []

    started = time.perf_counter()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    elapsed = time.perf_counter() - started
    assert len(results) == SESSIONS
    for index, checks in results.items():
        stats = checks["stats"]
        assert isinstance(stats, avsync.Stats)
        assert checks["audio_pts_ok"] and checks["video_pts_ok"], index
        assert stats.epoch == 1 and stats.flushes == 1
        # every frame is shown once, or was cut by the barge-in before its audio was heard
        assert stats.offset.count + stats.frames_dropped_stale == MEDIA_S * 30, index
        assert stats.frames_dropped_stale <= 2
        assert stats.offset_max_ms <= 1.0, (index, stats)
        assert stats.frames_dropped_late == 0 and stats.frames_dropped_overflow == 0
        assert stats.audio_dropped_overflow_s == 0
        # the real-time provider runs one packet ahead at most: no underrun mid-speech
        assert stats.audio_underrun_s <= 0.04, (index, stats)
        playout = checks["playout"]
        assert isinstance(playout, avsync.PlayoutResult) and not playout.interrupted
        assert np.isclose(playout.position, MEDIA_S - TURN_AT_S)
        # a packet per 20 ms of media, less the opening tick's (out before the consumer attaches)
        assert int(checks["audio"]) >= MEDIA_S / 0.02 - 1  # type: ignore[call-overload]
    print(f"{SESSIONS} sessions x {MEDIA_S:.0f} s of media in {elapsed:.1f} s")
