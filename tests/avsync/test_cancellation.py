"""Cancellation at random points never hangs, never leaks a task, never leaves a track live.

Trio (MockClock, virtual time): a short random program of writes, waits, ``start_turn``,
``end_audio`` + ``wait_for_playout`` and ``aclose`` runs while a canceller cancels the enclosing
scope after a random virtual delay and a random number of scheduler steps. Either the scope
encloses the whole synchroniser (cancelled mid-operation, its ``async with`` exit must still
close everything) or only the operations (then the synchroniser must carry on as if nothing
happened: it takes a turn, plays a turn's audio to the end and closes). Every scenario is bounded
by ``trio.fail_after``; afterwards ``actors.testing.live_tasks()`` is empty and the aiortc tracks,
when they were created, report ``readyState == "ended"``.

asyncio (real time, a few examples): the same kind of program through
``avsync.aio.AVSynchronizer`` in a plain ``asyncio.run``, the task running it cancelled after a
random real delay; afterwards the synchroniser is closed, its tracks ended, no trio guest run is
left in the thread and a fresh ``trio.run`` works.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import avsync
import avsync.webrtc
from actors.testing import live_tasks, run_scenario
from avsync.aio import AVSynchronizer
from avsync.testing import HEIGHT, RATE, WIDTH, config, marked_frame, speech

from . import harness

SCENARIO_LIMIT_S = 60.0  # virtual seconds; a hang shows up as TooSlowError
REAL_LIMIT_S = 3.0  # wall seconds: a livelock (busy at one virtual instant) never lets
# virtual time reach the limit above, so a watchdog thread cancels the run from outside


@contextlib.contextmanager
def watchdog(scope: trio.CancelScope, limit_s: float = REAL_LIMIT_S) -> Iterator[list[bool]]:
    """Cancel ``scope`` from a thread if the block takes more than ``limit_s`` of real time;
    yields a flag list that is non-empty if it fired."""
    fired: list[bool] = []
    token = trio.lowlevel.current_trio_token()

    def fire() -> None:
        fired.append(True)
        token.run_sync_soon(scope.cancel)

    timer = threading.Timer(limit_s, fire)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


Step = tuple[str, int]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("audio"), st.integers(1, RATE // 2)),
        st.tuples(st.just("video"), st.integers(0, 1)),
        st.tuples(st.just("turn"), st.just(0)),
        st.tuples(st.just("sleep"), st.integers(0, 300)),
        st.tuples(st.just("playout"), st.just(0)),
        st.tuples(st.just("close"), st.just(0)),
    ),
    max_size=12,
)


async def perform(sync: avsync.Synchronizer, program: list[Step]) -> None:
    """Run the program; a step after ``aclose()`` raises SynchronizerClosed, which ends it."""
    cursor = 0
    frame = 0
    try:
        for kind, amount in program:
            if kind == "audio":
                try:
                    await sync.write_audio(speech(cursor, amount))
                except avsync.InvalidAudioError as error:  # after end_audio() in this turn
                    assert "end_audio" in str(error)
                cursor += amount
            elif kind == "video":
                pts = cursor / RATE if amount else None
                await sync.write_video(marked_frame(frame, sync.epoch), pts=pts)
                frame += 1
            elif kind == "turn":
                await sync.start_turn()
                cursor = 0
            elif kind == "sleep":
                await trio.sleep(amount / 1000)
            elif kind == "playout":
                await sync.end_audio()
                await sync.wait_for_playout()
            else:
                await sync.aclose()
    except avsync.SynchronizerClosed:
        assert sync.closed


async def consume(channel: Any, lag_s: float) -> None:
    async for _ in channel:
        if lag_s:
            await trio.sleep(lag_s)


async def canceller(scope: trio.CancelScope, delay_s: float, steps_before: int) -> None:
    await trio.sleep(delay_s)
    for _ in range(steps_before):
        await trio.lowlevel.cancel_shielded_checkpoint()
    scope.cancel()


def check_nothing_left(tracks: list[Any]) -> None:
    assert live_tasks() == [], f"tasks left behind: {live_tasks()}"
    for track in tracks:
        assert track.readyState == "ended", f"{track.kind} track still {track.readyState}"


@settings(max_examples=60, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    program=steps,
    delay_ms=st.integers(0, 1500),
    steps_before=st.integers(0, 200),
    whole=st.booleans(),
    touch_tracks=st.booleans(),
    overflow=st.sampled_from(["block", "drop-oldest"]),
    consumer_lag=st.sampled_from([0.0, 0.05]),
)
def test_cancelling_at_a_random_point_leaves_nothing_behind(
    program: list[Step],
    delay_ms: int,
    steps_before: int,
    whole: bool,
    touch_tracks: bool,
    overflow: str,
    consumer_lag: float,
) -> None:
    cfg = config(overflow=overflow, audio_buffer_s=0.2, video_buffer_s=0.2)

    async def body(sync: avsync.Synchronizer, tracks: list[Any]) -> None:
        if touch_tracks:
            tracks += avsync.webrtc.tracks(sync)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume, sync.audio_frames(), consumer_lag)
            nursery.start_soon(consume, sync.video_frames(), consumer_lag)
            await perform(sync, program)
            nursery.cancel_scope.cancel()

    async def scenario() -> None:
        tracks: list[Any] = []
        outer = trio.CancelScope()
        with outer, watchdog(outer) as fired, trio.fail_after(SCENARIO_LIMIT_S):
            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()
                nursery.start_soon(canceller, scope, delay_ms / 1000, steps_before)
                if whole:
                    opened: list[avsync.Synchronizer] = []
                    with scope:
                        async with avsync.open_synchronizer(cfg) as sync:
                            opened.append(sync)
                            await body(sync, tracks)
                    assert all(sync.closed for sync in opened)
                else:
                    async with avsync.open_synchronizer(cfg) as sync:
                        with scope:
                            await body(sync, tracks)
                        await still_works(sync)
                nursery.cancel_scope.cancel()  # the canceller, if the program ended first
        assert not fired, f"livelock: still busy after {REAL_LIMIT_S} s of real time"
        check_nothing_left(tracks)

    run_scenario(scenario)


async def still_works(sync: avsync.Synchronizer) -> None:
    """After an interrupted operation the synchroniser still takes a turn, plays a whole
    turn's audio and closes (or was closed by the program, and says so)."""
    if sync.closed:
        return
    async with trio.open_nursery() as nursery:
        audio = sync.audio_frames()
        nursery.start_soon(consume, audio, 0.0)
        epoch = await sync.start_turn()
        assert sync.epoch == epoch == sync.stats().epoch
        await sync.write_audio(speech(0, RATE // 10))
        await sync.write_video(marked_frame(0, epoch), pts=0.0)
        await sync.end_audio()
        result = await sync.wait_for_playout()
        assert not result.interrupted
        assert abs(result.position - 0.1) < 0.001, result
        await sync.aclose()


# -- asyncio ---------------------------------------------------------------------------------


def run_asyncio(main: Any) -> None:
    """``asyncio.run`` on a plain asyncio loop (not trio-asyncio's), then check that no trio
    guest run is left in the thread and that a fresh trio run works."""
    harness.run_asyncio(main)
    assert trio.run(trio.sleep, 0) is None


@pytest.mark.realtime
@settings(max_examples=6, deadline=None)
@given(
    delay_ms=st.integers(0, 120),
    touch_tracks=st.booleans(),
    inside_with=st.booleans(),
)
def test_cancelling_an_asyncio_task_leaves_nothing_behind(
    delay_ms: int, touch_tracks: bool, inside_with: bool
) -> None:
    async def main() -> None:
        sync = AVSynchronizer(
            width=WIDTH, height=HEIGHT, fps=30, sample_rate=RATE, channels=1, max_queue_size=6
        )
        tracks: list[Any] = []

        async def program() -> None:
            if touch_tracks:
                tracks.extend([sync.audio_track, sync.video_track])
            for turn in range(3):
                await sync.write_audio(np.full(RATE // 20, 1000 * (turn + 1), np.int16))
                image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
                await sync.write_video(image, pts=0.0)
                await sync.end_audio()
                await sync.wait_for_playout()
                await sync.start_turn()

        async def scenario() -> None:
            if inside_with:
                async with sync:
                    await program()
            else:
                await sync.start()
                await program()

        task = asyncio.create_task(scenario())
        await asyncio.sleep(delay_ms / 1000)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sync.aclose()  # idempotent; the scenario may not have reached it
        assert sync.closed
        for track in tracks:
            assert track.readyState == "ended", f"{track.kind} track still {track.readyState}"

    run_asyncio(main)
