"""Overload: the bounds of avsync._load, on the pure state (plain numbers), on whole
synchronisers whose loop is held by a time thief under MockClock, and once in real time with a
task that holds the CPU."""

from __future__ import annotations

import asyncio
import itertools
import math

import attrs
import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import avsync
from avsync._load import (
    AUDIO_LATE_LIMIT_S,
    LAG_BUDGET_S,
    OVERLOAD_REPEAT_S,
    OVERLOAD_WINDOW_S,
    VIDEO_LATE_LIMIT_S,
    LoadMeter,
)
from avsync._messages import ClockTick, FrameKind, SpeechState, VideoIn
from avsync._schedule import Emission, VideoSchedule
from avsync._time import SAME_INSTANT_S
from avsync._video import black_image
from avsync.testing import RATE, config, marked_frame, speech

from .test_playout_state import PACKET, Buffer, packet, playout

PACKET_S = PACKET / RATE
EPS = 1e-9

# -- the load meter -----------------------------------------------------------------------------


def test_one_pause_of_the_loop_is_not_overload_but_a_run_of_late_ticks_is() -> None:
    meter = LoadMeter(packet_s=PACKET_S)
    for k in range(50):  # a second on time, but for one 30 ms pause (two ticks over budget)
        due = k * PACKET_S
        meter.emitted(due, due + (0.030 if k in (20, 21) else 0.001))
    assert not meter.overloaded(1.0)
    assert meter.counters.ticks_over_budget == 2
    for k in range(50, 60):  # ten ticks in a row over budget: a fifth of a second
        meter.emitted(k * PACKET_S, k * PACKET_S + LAG_BUDGET_S + 0.002)
    assert meter.overloaded(60 * PACKET_S)
    assert meter.counters.over_budget_s == pytest.approx(12 * PACKET_S)
    assert not meter.overloaded(60 * PACKET_S + OVERLOAD_WINDOW_S + 0.01)  # it passes


def test_a_skipped_tick_makes_the_session_overloaded_for_the_window() -> None:
    meter = LoadMeter(packet_s=PACKET_S)
    meter.skipped(3, now=5.0)
    assert meter.counters.audio_skipped_s == pytest.approx(3 * PACKET_S)
    assert meter.overloaded(5.0 + OVERLOAD_WINDOW_S - 0.01)
    assert not meter.overloaded(5.0 + OVERLOAD_WINDOW_S + 0.01)


# -- the clock's playout: ticks too late are skipped, the speech is not --------------------------


def test_ticks_over_the_late_limit_are_skipped_with_their_speech_and_the_rest_is_on_time() -> None:
    state, buffer = playout(), Buffer()
    buffer.items.extend(packet(0, index) for index in range(6))
    now = 0.1  # the clock wakes 100 ms after tick 0 was due
    assert state.skip_overdue(now, buffer) == []  # ticks at 0 and 0.02 (0.04 is at the limit)
    assert state.next_tick_at == pytest.approx(now - AUDIO_LATE_LIMIT_S)
    played = []
    while state.next_tick_at <= now + EPS:
        tick = state.tick(buffer, now)[0]
        played.append(tick)
    assert [tick.index for tick in played] == [2, 3, 4, 5]  # a gap in the output timeline
    starts = [t.packet.start for t in played if t.packet]
    assert starts == [2 * PACKET, 3 * PACKET, 4 * PACKET, 5 * PACKET]  # each at its own time
    load = state.load.counters
    assert load.audio_skipped_s == pytest.approx(2 * PACKET_S)
    assert load.speech_lost_s == pytest.approx(2 * PACKET_S)
    assert state.position == pytest.approx(4 * PACKET_S)  # what was heard
    assert state.counters.underrun_s == 0
    assert played[-1].overloaded
    assert load.ticks_skipped == 2
    state.skip_overdue(now, buffer)
    assert load.ticks_skipped == 2


@given(st.lists(st.floats(0.0, 0.5), min_size=1, max_size=40))
def test_whatever_the_wake_ups_no_tick_goes_out_later_than_the_limit(lags: list[float]) -> None:
    """The clock as its actor runs it, woken ``lag`` late each time: every tick is skipped or
    goes out at most AUDIO_LATE_LIMIT_S after it was due, and ticks stay in order."""
    state, buffer = playout(), Buffer()
    emitted: list[int] = []
    for lag in lags:
        now = state.next_tick_at + lag
        state.skip_overdue(now, buffer)
        while state.next_tick_at <= now + EPS:
            assert now - state.next_tick_at <= AUDIO_LATE_LIMIT_S + EPS
            emitted.append(state.tick(buffer, now)[0].index)
    assert emitted == sorted(set(emitted))
    assert len(emitted) + state.load.counters.ticks_skipped == state.ticks


# -- the video schedule: late frames shed, repeats thinned ---------------------------------------

AUDIO_AT = 0.1


def video_schedule() -> VideoSchedule:
    return VideoSchedule(fps=30, sample_rate=RATE, capacity=64, placeholder=black_image(64, 48))


def tick(k: int, *, overloaded: bool = False) -> ClockTick:
    """The k-th packet of speech, heard from AUDIO_AT on."""
    at = AUDIO_AT + k * PACKET_S
    return ClockTick(0, at, k * PACKET, PACKET, SpeechState.ACTIVE, overloaded)


def frame(index: int, arrival: float) -> VideoIn:
    return VideoIn(0, np.full((72, 64), index, np.uint8), index / 30, 0.0, arrival)


def test_a_frame_polled_over_the_limit_after_its_due_time_is_shed_not_shown() -> None:
    video = video_schedule()
    video.poll(0.0)  # the placeholder
    video.add(frame(0, 0.0))
    video.add(frame(3, 0.0))  # due at AUDIO_AT + 0.1
    for k in range(10):
        video.on_tick(tick(k))
    late = AUDIO_AT + VIDEO_LATE_LIMIT_S + 0.005  # frame 0 is due at AUDIO_AT
    emission, _ = video.poll(late)
    assert emission is None or emission.kind is not FrameKind.NEW
    assert video.counters.shed_late == 1
    on_time = AUDIO_AT + 0.1 + VIDEO_LATE_LIMIT_S - 0.005  # frame 3: late, but within the limit
    emission, _ = video.poll(on_time)
    while emission is not None and emission.kind is not FrameKind.NEW:
        emission, _ = video.poll(on_time)
    assert emission is not None and emission.at == on_time  # stamped with the time it went out


def test_a_frame_that_arrives_over_the_limit_after_its_due_time_is_shed_too() -> None:
    """Late is late, whoever made it so: shown, its lips would trail its voice by that much."""
    video = video_schedule()
    video.poll(0.0)
    for k in range(30):
        video.on_tick(tick(k))
    arrival = AUDIO_AT + 0.3  # frame 0 was due 300 ms ago
    video.add(frame(0, arrival))
    video.add(frame(12, arrival))  # due at AUDIO_AT + 0.4, in 100 ms
    emission, _ = video.poll(arrival)
    while emission is not None:
        assert emission.kind is not FrameKind.NEW
        emission, _ = video.poll(arrival)  # (the placeholder's repeat was due)
    assert video.counters.shed_late == 1
    emission, _ = video.poll(AUDIO_AT + 0.4)
    assert emission is not None and emission.kind is FrameKind.NEW
    assert emission.at == pytest.approx(AUDIO_AT + 0.4)


def test_while_overloaded_the_last_frame_repeats_only_every_half_second() -> None:
    video = video_schedule()
    video.poll(0.0)
    video.add(frame(0, 0.0))
    video.on_tick(tick(0, overloaded=True))
    emission, _ = video.poll(AUDIO_AT)
    assert emission is not None and emission.kind is FrameKind.NEW
    emission, wake_at = video.poll(AUDIO_AT + 0.05)
    assert emission is None and wake_at == pytest.approx(AUDIO_AT + OVERLOAD_REPEAT_S)
    shed_before = video.counters.repeats_shed
    emission, _ = video.poll(AUDIO_AT + OVERLOAD_REPEAT_S)
    assert emission is not None and emission.kind is FrameKind.REPEAT
    slots = math.floor(OVERLOAD_REPEAT_S * 30 + EPS)
    assert video.counters.repeats_shed - shed_before == slots - 1
    video.on_tick(tick(1, overloaded=False))  # the load passes: repeats at the frame rate again
    emission, wake_at = video.poll(AUDIO_AT + OVERLOAD_REPEAT_S + 0.001)
    assert emission is None and wake_at == pytest.approx(AUDIO_AT + OVERLOAD_REPEAT_S + 1 / 30)


@attrs.frozen
class Sent:
    now: float  #: when the schedule let it out
    emission: Emission


def drive_late(video: VideoSchedule, frames: list[VideoIn], lags: list[float]) -> list[Sent]:
    """The video queue as its actor runs it, but every wake-up comes ``lag`` late (the lags
    repeat): it takes in the ticks and frames that arrived by then and polls until nothing is
    due."""
    events: list[tuple[float, object]] = [(f.arrived_at, f) for f in frames]
    events += [(AUDIO_AT + k * PACKET_S, tick(k)) for k in range(100)]
    events.sort(key=lambda event: event[0])
    sent: list[Sent] = []
    now, index, lag = 0.0, 0, itertools.cycle(lags)
    while now < 2.5:
        while index < len(events) and events[index][0] <= now + EPS:
            item = events[index][1]
            if isinstance(item, VideoIn):
                video.add(item)
            else:
                assert isinstance(item, ClockTick)
                video.on_tick(item)
            index += 1
        emission, wake_at = video.poll(now)
        while emission is not None:
            sent.append(Sent(now, emission))
            emission, wake_at = video.poll(now)
        next_event = events[index][0] if index < len(events) else math.inf
        planned = min(next_event, math.inf if wake_at is None else wake_at)
        if math.isinf(planned):
            break
        now = max(planned, now) + next(lag)
    return sent


@given(
    st.lists(st.floats(0.0, 0.2), min_size=1, max_size=20),
    st.lists(st.floats(-0.2, 0.1), min_size=1, max_size=40),
)
def test_whatever_the_wake_ups_no_new_frame_goes_out_later_than_the_limit(
    lags: list[float], leads: list[float]
) -> None:
    """Frame i (pts i/30) arrives ``lead`` from its due time; the queue wakes ``lag`` late. A
    new frame goes out at most VIDEO_LATE_LIMIT_S after its plan (its due time or the fps cap's
    release); none is early; every frame is shown or counted."""
    video = video_schedule()
    frames = [frame(i, max(0.0, AUDIO_AT + i / 30 + lead)) for i, lead in enumerate(leads)]
    sent = drive_late(video, frames, lags)
    previous_due: float | None = None
    new = [s for s in sent if s.emission.kind is FrameKind.NEW]
    for item in new:
        due = item.emission.due
        assert due is not None and item.now >= due - SAME_INSTANT_S
        plan = due if previous_due is None else max(due, previous_due + 1 / 30)
        assert item.now <= plan + VIDEO_LATE_LIMIT_S + EPS
        previous_due = due
    counters = video.counters
    assert len(new) + counters.dropped_late + counters.shed_late + video.queued == len(frames)


# -- whole synchronisers, the loop held by a time thief (MockClock) ------------------------------


async def steal_time(clock: trio.testing.MockClock, hold: float, every: float) -> None:
    """A load injector: holds the loop for ``hold`` of every ``every`` seconds, as a task that
    keeps the CPU would (every other task wakes up to ``hold`` late)."""
    while True:
        await trio.sleep(every - hold)
        clock.jump(hold)


@attrs.define
class Run:
    stats: avsync.Stats | None = None
    overloaded_seen: bool = False
    audio_packets: int = 0
    audio_gaps: int = 0  #: jumps in the output audio pts (skipped ticks)
    video_frames: int = 0
    ended_at: float = 0.0
    queued_max: int = 0


async def provider_session(seconds: float, run: Run) -> None:
    """A real-time provider (20 ms chunks of speech, 30 fps frames with pts, written together
    and catching up on real time like benchmarks.soak's) and consumers that drain the outputs."""
    async with avsync.open_synchronizer(config()) as sync:

        async def consume_audio() -> None:
            previous = None
            async for out in sync.audio_frames():
                run.audio_packets += 1
                if previous is not None and out.pts != previous + PACKET:
                    run.audio_gaps += 1
                previous = out.pts

        async def consume_video() -> None:
            async for _ in sync.video_frames():
                run.video_frames += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume_audio)
            nursery.start_soon(consume_video)
            start = trio.current_time()
            frames = [marked_frame(i, 0) for i in range(30)]
            written, frame_index = 0.0, 0
            while written < seconds:
                while written < min(seconds, trio.current_time() - start + PACKET_S):
                    await sync.write_audio(speech(round(written * RATE), PACKET))
                    written += PACKET_S
                    while frame_index / 30 < written:
                        await sync.write_video(frames[frame_index % 30], pts=frame_index / 30)
                        frame_index += 1
                run.overloaded_seen |= sync.overloaded
                run.queued_max = max(run.queued_max, sync.stats().video_queued)
                await trio.sleep(PACKET_S)
            await sync.end_audio()
            await sync.wait_for_playout()
            run.stats = sync.stats()
            await sync.aclose()
    run.ended_at = trio.current_time()


async def held_sessions(
    clock: trio.testing.MockClock, hold: float, every: float, sessions: int = 3
) -> list[Run]:
    runs = [Run() for _ in range(sessions)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(steal_time, clock, hold, every)
        async with trio.open_nursery() as group:
            for run in runs:
                group.start_soon(provider_session, 6.0, run)
        nursery.cancel_scope.cancel()
    return runs


def run_held(hold: float, every: float) -> list[Run]:
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(held_sessions, clock, hold, every, clock=clock)


def test_a_loop_held_15_of_every_21_ms_is_overloaded_but_nothing_is_skipped_or_shed() -> None:
    """(21 ms, not 20: the ticks then fall at every phase of the hold.)"""
    for run in run_held(0.015, 0.021):
        stats = run.stats
        assert stats is not None
        load = stats.overload
        assert run.overloaded_seen and load.over_budget_s > 0
        assert 10 < load.loop_lag_max_ms <= 15 + 1e-6
        assert load.audio_skipped_s == 0 and run.audio_gaps == 0
        assert load.frames_shed_late == 0
        assert stats.offset_max_ms <= 15 + 1e-6
        assert stats.audio_underrun_s <= 0.1  # the provider, held too, may fall behind a little


def test_a_loop_held_100_of_every_150_ms_skips_audio_sheds_video_and_ends_on_time() -> None:
    for run in run_held(0.100, 0.150):
        stats = run.stats
        assert stats is not None
        load = stats.overload
        assert run.overloaded_seen
        # audio: never more than the limit behind, the time lost counted, the speech not lost
        assert load.loop_lag_max_ms <= (AUDIO_LATE_LIMIT_S + SAME_INSTANT_S) * 1000
        assert load.audio_skipped_s > 0 and run.audio_gaps > 0
        packets_out = stats.packets_emitted * PACKET_S
        assert packets_out + load.audio_skipped_s == pytest.approx(run.ended_at, abs=0.2)
        # video: no new frame shown over the limit behind; what was not shown is counted
        assert stats.offset_max_ms <= (VIDEO_LATE_LIMIT_S + SAME_INSTANT_S) * 1000
        assert load.frames_shed_late > 0
        # bounded: the queue never grew, and the session ended within a second of its media
        assert run.queued_max <= 10
        assert run.ended_at <= 6.0 + 1.0


# -- real time: a task that really holds the CPU -------------------------------------------------


async def hog_cpu(hold: float, every: float) -> None:
    """Keeps the CPU (and so the loop) for ``hold`` of every ``every`` seconds."""
    import time

    while True:
        until = time.perf_counter() + hold
        while time.perf_counter() < until:
            pass
        await trio.sleep(every - hold)


@pytest.mark.realtime
async def test_in_real_time_a_hog_of_the_loop_is_reported_and_the_bounds_hold() -> None:
    """Three sessions while a task holds the loop 60 of every 80 ms (far past what the sessions
    need): the bounds hold (they are enforced, so they hold on a loaded machine too), the
    sessions say they are overloaded, audio keeps flowing and the run ends on time."""
    runs = [Run() for _ in range(3)]
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hog_cpu, 0.060, 0.080)
        async with trio.open_nursery() as group:
            for run in runs:
                group.start_soon(provider_session, 3.0, run)
        nursery.cancel_scope.cancel()
    for run in runs:
        stats = run.stats
        assert stats is not None
        assert run.overloaded_seen and stats.overload.over_budget_s > 0
        assert stats.offset_max_ms <= (VIDEO_LATE_LIMIT_S + SAME_INSTANT_S) * 1000
        # audio flowed: at least half of the session's output time went out as packets
        assert stats.packets_emitted * PACKET_S >= 0.5 * 3.0
        assert run.queued_max <= 30
    assert trio.current_time() - started < 3.0 + 2.5


@pytest.mark.realtime
def test_the_asyncio_face_says_when_its_loop_is_blocked() -> None:
    """An asyncio program that blocks its own loop (a synchronous call of 100 ms, four times in a
    row) is told so by the face: ``overloaded`` and ``stats().overload``. (Whether it is
    overloaded before and after depends on the machine's load; the meter's window is tested on
    plain numbers above.)"""
    import time

    from avsync.aio import AVSynchronizer

    from .harness import run_asyncio

    async def main() -> tuple[bool, bool, avsync.OverloadStats]:
        sync = AVSynchronizer(width=64, height=48)
        unstarted = sync.overloaded
        async with sync:
            await asyncio.sleep(0.3)
            for _ in range(4):
                time.sleep(0.1)  # blocks the loop, and the trio guest in it
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            return unstarted, sync.overloaded, sync.stats().overload

    unstarted, during, load = run_asyncio(main)
    assert not unstarted and during and load.overloaded
    assert load.audio_skipped_s > 0
    assert load.loop_lag_max_ms <= (AUDIO_LATE_LIMIT_S + SAME_INSTANT_S) * 1000
