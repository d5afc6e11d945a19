"""The LiveKit face (``avsync.livekit.AVSynchronizer``) with the real ``livekit`` package, in
real time and without a server.

The scenarios and the measurement are :mod:`avsync.testing.livekit`'s: the synchroniser feeds an
``rtc.AudioSource`` and an ``rtc.VideoSource``, an observer reads them back through local tracks
and ``rtc.AudioStream`` / ``rtc.VideoStream``; audio samples and video frames carry marks, so
the offset of every frame is measured from what the sources deliver (positive = video late).
The limits are the face's: |median| <= 5 ms and p99 of |offset| <= 12 ms, in lock-step and
after a 250 ms producer stall followed by the backlog; nothing of the old turn after
``clear_queue()``; ``wait_for_playout()`` returns after ``reset()`` with frames queued.

Skipped only when the ``livekit`` package is not installed (``pip install 'avsync[livekit]'``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest

if importlib.util.find_spec("livekit") is None:  # pragma: no cover - CI installs it
    pytest.skip("the livekit package is not installed", allow_module_level=True)

from livekit import rtc

import avsync
from avsync.livekit import AVSynchronizer
from avsync.testing import livekit as scenarios

from .harness import run_asyncio

pytestmark = pytest.mark.realtime

T = TypeVar("T")
MEDIAN_LIMIT_MS = 5.0
P99_LIMIT_MS = 12.0
STARVED_SHARE = 0.2
ATTEMPTS = 3


def run(main: Callable[[], Awaitable[T]]) -> T:
    return run_asyncio(main, timeout=20.0)


def in_sync(offsets: scenarios.Offsets) -> bool:
    if offsets.frames + offsets.starved < offsets.expected - 2:  # (every frame is shown)
        return False
    if abs(offsets.all_median_ms) > MEDIAN_LIMIT_MS or abs(offsets.median_ms) > MEDIAN_LIMIT_MS:
        return False
    if offsets.all_p99_abs_ms <= P99_LIMIT_MS:
        return True
    return offsets.starved <= STARVED_SHARE * offsets.expected and (
        offsets.p99_abs_ms <= P99_LIMIT_MS
    )


def measured(scenario: Callable[[], Awaitable[scenarios.Offsets]]) -> scenarios.Offsets:
    """Run ``scenario`` and assert the limits.

    The machine is shared, so the process is sometimes kept from running for a while. A frame
    that went through the synchroniser during such a stall (seen by
    :class:`avsync.testing.livekit.LoopLag`: a 5 ms sleep that woke more than 5 ms late) says
    nothing about it: if the p99 over every frame misses the limit, it is taken over the others,
    provided that at most STARVED_SHARE of the frames were set apart (the median always counts
    them all). A run that still misses the limits is run again (ATTEMPTS runs in all): with about
    30 frames a run, its p99 is its worst frame, and one frame delayed by a hiccup the probe did
    not see (a clean-clone CI run missed by 0.004 ms, at 12.004 ms) is the machine, while a fault
    of the synchroniser misses in every run."""
    for _ in range(ATTEMPTS):
        offsets = run(scenario)
        lag = scenarios.last_loop_lag_ms
        if in_sync(offsets):
            break
    assert in_sync(offsets), f"{offsets} (worst loop lag {lag:.0f} ms, {ATTEMPTS} runs)"
    return offsets


@pytest.fixture(scope="module", autouse=True)
def warm_up() -> None:
    """A short session first, so that no measured scenario pays for first use (imports, the
    FFI's start, numpy's first calls: a few hundred ms)."""
    run(lambda: scenarios.run_lockstep(scenarios.avsync_synchronizer, 0.3))


def test_lockstep_with_timestamps() -> None:
    """A real-time producer pushing each frame and then its 1/30 s of audio, with timestamps:
    in sync at the sources; the read-only properties follow what was captured."""
    seen: dict[str, Any] = {}

    def check(sync: scenarios.LiveKitLike) -> None:
        assert isinstance(sync, AVSynchronizer)
        seen.update(fps=sync.actual_fps, video=sync.last_video_time, audio=sync.last_audio_time)

    measured(lambda: scenarios.run_lockstep(scenarios.avsync_synchronizer, 2.5, check=check))
    assert 27 <= seen["fps"] <= 33, seen
    assert seen["video"] == pytest.approx(74 / 30), seen  # the last frame's timestamp
    assert seen["audio"] == pytest.approx(2.5, abs=0.02), seen  # all heard: the last end time


def test_lockstep_without_timestamps() -> None:
    """The same producer without timestamps: each frame is shown when the audio pushed before
    it is heard (the enqueue-time rule), which here is its own audio's start."""
    measured(lambda: scenarios.run_lockstep(scenarios.avsync_synchronizer, 2.0, timestamps=False))


def test_stall_then_backlog() -> None:
    """After a 250 ms producer stall and the backlog pushed at once, still in sync (audio
    underran: video waited with it)."""
    measured(lambda: scenarios.run_stall(scenarios.avsync_synchronizer, before=0.8, after=1.4))


def test_clear_queue_is_a_barge_in() -> None:
    """Nothing of the old turn reaches the sources once ``clear_queue()`` has returned (but the
    one native 10 ms tick the AudioSource's ticker may have taken already, on air, seen within a
    tick of the call), and the next turn is in sync."""
    results: list[scenarios.ClearResult] = []

    async def scenario() -> scenarios.Offsets:
        results.append(await scenarios.run_clear(scenarios.avsync_synchronizer, 0.8, 1.0))
        return results[-1].new_turn_offset

    measured(scenario)
    for result in results:  # (whichever run counts, none may leave anything stale)
        assert result.stale_frames == 0, result
        assert result.stale_audio_ms == 0, result


def test_reset_with_frames_queued_hangs_nothing() -> None:
    """``reset()`` while frames are queued, then pushing on: the frames are shown and
    ``wait_for_playout()`` returns."""
    result = run(lambda: scenarios.run_reset(scenarios.avsync_synchronizer, timeout=3.0))
    assert result.returned, result
    assert result.frames_after_reset == 15, result


def test_idle_video_between_utterances() -> None:
    """Speech, then idle video (frames only, timestamps going on), then speech again: the idle
    frames are not held for audio that is not coming (the speech is closed once no audio has
    come for 0.1 s while they wait), and the second utterance is in sync."""
    results: list[scenarios.IdleResult] = []

    async def scenario() -> scenarios.Offsets:
        results.append(await scenarios.run_idle(scenarios.avsync_synchronizer, 0.8, 0.8, 1.2))
        return results[-1].second

    measured(scenario)
    result = results[-1]
    assert result.idle_shown >= result.idle_expected - 6, result  # (the first 0.15 s may go)
    assert result.longest_push_ms < 300, result


def test_livekit_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    """LiveKit's own ``rtc.AVSynchronizer`` through two of the same scenarios, reported beside
    avsync's limits (not asserted: they are LiveKit's figures; see ``python -m
    benchmarks.livekit`` for the whole table)."""
    lockstep = run(lambda: scenarios.run_lockstep(scenarios.livekit_synchronizer, 1.5))
    stall = run(lambda: scenarios.run_stall(scenarios.livekit_synchronizer, before=0.8, after=0.8))
    with capsys.disabled():
        print(
            f"\nlivekit.rtc.AVSynchronizer: lock-step median {lockstep.median_ms:+.1f} ms, p99 "
            f"{lockstep.p99_abs_ms:.1f} ms; after a stall median {stall.median_ms:+.1f} ms, "
            f"p99 {stall.p99_abs_ms:.1f} ms (avsync's limits: |median| <= {MEDIAN_LIMIT_MS}, "
            f"p99 <= {P99_LIMIT_MS})"
        )
    assert lockstep.frames > 0 and stall.frames > 0  # the harness measured it


def test_api_errors_and_close() -> None:
    """Bad arguments raise at once; after ``aclose()`` a push raises ``SynchronizerClosed``;
    ``aclose()`` is idempotent and leaves the sources to their owner."""

    async def main() -> None:
        audio = rtc.AudioSource(48000, 1)
        video = rtc.VideoSource(64, 48)
        with pytest.raises(ValueError, match="video_fps"):
            AVSynchronizer(audio_source=audio, video_source=video, video_fps=0)
        with pytest.raises(TypeError, match="audio_source"):
            AVSynchronizer(audio_source=video, video_source=video, video_fps=30)  # type: ignore[arg-type]
        sync = AVSynchronizer(audio_source=audio, video_source=video, video_fps=30)
        with pytest.raises(TypeError, match=r"AudioFrame or rtc\.VideoFrame"):
            await sync.push(b"\0\0")  # type: ignore[arg-type]
        with pytest.raises(avsync.InvalidAudioError, match="channels"):
            await sync.push(rtc.AudioFrame.create(48000, 2, 480))
        await sync.push(scenarios.video_marker(0), 0.0)
        await sync.push(scenarios.audio_marker(0), 1 / 30)
        await sync.push(scenarios.audio_marker(1), 1 / 30)  # back: a new timeline, not an error
        await sync.wait_for_playout()
        assert sync.last_audio_time == pytest.approx(1 / 30, abs=0.011)
        await sync.aclose()
        await sync.aclose()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.push(scenarios.video_marker(1), 1 / 30)
        await audio.capture_frame(rtc.AudioFrame.create(48000, 1, 480))  # still the caller's
        await audio.aclose()
        await video.aclose()

    run(main)


def test_stereo_at_another_rate() -> None:
    """A stereo 24 kHz AudioSource: the audio is heard as pushed (interleaved samples matched
    tick by tick), and ``wait_for_playout()`` returns once it has been."""

    async def main() -> None:
        rate = 24000
        audio = rtc.AudioSource(rate, 2)
        video = rtc.VideoSource(64, 48)
        track = rtc.LocalAudioTrack.create_audio_track("observer", audio)
        stream = rtc.AudioStream.from_track(track=track, sample_rate=rate, num_channels=2)
        heard: list[tuple[float, int]] = []  # (arrival, left sample) of the marked samples

        async def listen() -> None:
            async for event in stream:
                now = time.monotonic()
                samples = np.frombuffer(event.frame.data, np.int16).reshape(-1, 2)
                marked = samples[(samples[:, 0] != 0) & (samples[:, 1] == -samples[:, 0])]
                heard.extend((now, int(v)) for v in marked[:, 0])

        listener = asyncio.create_task(listen())
        sync = AVSynchronizer(audio_source=audio, video_source=video, video_fps=30)
        left = (1 + np.arange(rate // 5)).astype(np.int16)  # 0.2 s: 1 .. 4800
        pcm = np.stack([left, -left], axis=1)
        await sync.push(scenarios.video_marker(0), 0.0)
        await sync.push(rtc.AudioFrame(pcm.tobytes(), rate, 2, len(pcm)), 0.2)
        await sync.wait_for_playout()
        returned = time.monotonic()
        await asyncio.sleep(0.1)
        assert [v for _, v in heard] == list(range(1, rate // 5 + 1))  # all of it, in order
        last_heard = heard[-1][0]
        assert returned >= last_heard - 0.005, (returned, last_heard)  # not before it was heard
        assert returned <= last_heard + 0.1
        await sync.aclose()
        listener.cancel()
        await stream.aclose()

    run(main)
