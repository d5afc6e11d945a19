"""The video schedule driven directly: plain numbers, no trio."""

from __future__ import annotations

from avsync._messages import ClockTick, FrameKind, SpeechState, VideoIn
from avsync._schedule import TICK, VideoSchedule
from avsync._video import black_image


def schedule() -> VideoSchedule:
    return VideoSchedule(fps=30, sample_rate=48000, capacity=8, placeholder=black_image(64, 48))


def frame(at: float) -> VideoIn:
    return VideoIn(0, black_image(64, 48), None, 0.0, at)


def test_a_frame_held_by_the_one_tick_gap_is_due_but_not_yet_emitted() -> None:
    video = schedule()
    placeholder, _ = video.poll(0.0)
    assert placeholder is not None and placeholder.kind is FrameKind.PLACEHOLDER
    video.on_tick(ClockTick(0, 0.0, 0, 960, SpeechState.ACTIVE))  # media 0 heard at 0.0
    video.add(VideoIn(0, black_image(64, 48), 0.0, 0.0, 0.0))  # due at once, but something
    # went out at this very instant
    emission, wake_at = video.poll(0.0)
    assert emission is None and wake_at == TICK
    assert video.new_frame_due(0.0)  # settling waits for it
    emission, _ = video.poll(TICK)
    assert emission is not None and emission.kind is FrameKind.NEW
    assert not video.new_frame_due(TICK)


def test_a_pts_less_frame_spaced_after_the_previous_one_is_not_due_yet() -> None:
    video = schedule()
    video.poll(0.0)
    video.add(frame(0.01))
    first, _ = video.poll(0.01)
    assert first is not None and first.kind is FrameKind.NEW
    video.add(frame(0.01))  # spaced 1/fps after the first: due later, so not due now
    assert not video.new_frame_due(0.01)
    assert video.new_frame_due(0.01 + 1 / 30)


def awaiting_schedule() -> VideoSchedule:
    return VideoSchedule(
        fps=30,
        sample_rate=48000,
        capacity=8,
        placeholder=black_image(64, 48),
        await_following_audio=True,
    )


def test_awaiting_following_audio_a_frame_before_the_speech_waits_for_the_next_tick() -> None:
    video = awaiting_schedule()
    video.poll(0.0)
    video.add(frame(0.01))
    assert not video.new_frame_due(0.015)  # does audio come after it? the next tick tells
    video.on_tick(ClockTick(0, 0.02, None, 0, SpeechState.IDLE))  # no: due at its arrival
    first, _ = video.poll(0.02)
    assert first is not None and first.kind is FrameKind.NEW and first.due == 0.01
    video.add(frame(0.05))
    assert not video.new_frame_due(0.055)
    video.on_tick(ClockTick(0, 0.06, 0, 960, SpeechState.ACTIVE))  # yes: due with it
    emission, _ = video.poll(0.06)
    while emission is not None and emission.kind is not FrameKind.NEW:
        emission, _ = video.poll(0.06)
    assert emission is not None and emission.due is not None
    assert abs(emission.due - 0.06) < 1e-9


def test_a_pts_less_frame_in_an_underrun_is_due_with_the_audio_written_after_it() -> None:
    """A provider writes a frame, then its audio: a frame that comes during an underrun, with
    everything before it heard, is shown when the audio after it starts, not at once."""
    video = awaiting_schedule()
    video.on_tick(ClockTick(0, 0.0, 0, 960, SpeechState.ACTIVE))  # media 0-0.02 heard 0-0.02
    video.on_tick(ClockTick(0, 0.02, None, 0, SpeechState.ACTIVE))  # an underrun
    video.poll(0.03)
    video.add(VideoIn(0, black_image(64, 48), None, 0.02, 0.03))  # at the end of the audio
    assert not video.new_frame_due(0.035)
    video.on_tick(ClockTick(0, 0.04, 960, 960, SpeechState.ACTIVE))  # its audio resumes
    emission, _ = video.poll(0.04)
    while emission is not None and emission.kind is not FrameKind.NEW:
        emission, _ = video.poll(0.04)
    assert emission is not None and abs(emission.at - 0.04) < 1e-9


# -- driven over time: properties ------------------------------------------------------------------

import itertools  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from avsync._schedule import Emission  # noqa: E402

RATE = 48000
PACKET = 960  # 20 ms
AUDIO_AT = 0.1  # the turn's audio is heard from here: media sample v at AUDIO_AT + v / RATE

Event = tuple[float, int, object]  # (time, order at that time, VideoIn | ClockTick | int flush)


def drive(video: VideoSchedule, events: list[Event], until: float) -> list[Emission]:
    """Run the schedule as its actor does: take in what is due by now, poll until nothing is
    due, sleep until the earlier of the next event and the time the schedule asked for."""
    events = sorted(events, key=lambda event: (event[0], event[1]))
    emitted: list[Emission] = []
    now, index = 0.0, 0
    while now <= until:
        while index < len(events) and events[index][0] <= now + 1e-9:
            item = events[index][2]
            if isinstance(item, VideoIn):
                video.add(item)
            elif isinstance(item, ClockTick):
                video.on_tick(item)
            else:
                video.flush(int(str(item)))
            index += 1
        emission, wake_at = video.poll(now)
        while emission is not None:
            emitted.append(emission)
            emission, wake_at = video.poll(now)
        next_event = events[index][0] if index < len(events) else math.inf
        now = min(next_event, math.inf if wake_at is None else wake_at)
        if math.isinf(now):
            break
    return emitted


def speech_ticks(epoch: int, packets: int, start_at: float) -> list[Event]:
    """The clock's ticks for ``packets`` packets of speech from ``start_at``, then silence."""
    ticks: list[Event] = []
    for k in range(packets + 5):
        at = start_at + k * PACKET / RATE
        if k < packets:
            tick = ClockTick(epoch, at, k * PACKET, PACKET, SpeechState.ACTIVE)
        else:
            tick = ClockTick(epoch, at, None, 0, SpeechState.ACTIVE)  # underrun
        ticks.append((at, 0, tick))
    return ticks


def timestamped(epoch: int, index: int, pts: float, arrival: float) -> VideoIn:
    image = np.full((72, 64), index % 250, np.uint8)
    return VideoIn(epoch, image, pts, 0.0, arrival)


frame_arrivals = st.lists(st.floats(-0.5, 0.05), min_size=1, max_size=30)


@given(frame_arrivals)
def test_frames_that_arrive_in_time_are_shown_exactly_when_their_audio_is_heard(
    leads: list[float],
) -> None:
    """Frame i has pts i/30 and arrives ``lead`` seconds from its due time: those that arrive
    before it are shown at exactly that instant; the rest are shown late or dropped-late, never
    early; nothing is lost uncounted."""
    video = VideoSchedule(fps=30, sample_rate=RATE, capacity=64, placeholder=black_image(64, 48))
    events = speech_ticks(0, 90, AUDIO_AT)
    frames = []
    for index, lead in enumerate(leads):
        due = AUDIO_AT + index / 30
        frame = timestamped(0, index, index / 30, max(0.0, due + lead))
        frames.append(frame)
        events.append((frame.arrived_at, 1, frame))
    emitted = drive(video, events, until=2.0)
    new = [e for e in emitted if e.kind is FrameKind.NEW]
    shown = {id(e.image): e for e in new}
    for index, frame in enumerate(frames):
        due = AUDIO_AT + index / 30
        emission = shown.get(id(frame.image))
        if emission is None:
            continue
        assert emission.due is not None and abs(emission.due - due) < 1e-6
        assert emission.at >= due - 1e-6  # never early
        if frame.arrived_at < due - 1e-6:
            assert abs(emission.at - due) < 1e-6  # exactly on time
    counters = video.counters
    assert len(new) + counters.dropped_late + counters.shed_late + video.queued == len(frames)
    times = [e.at for e in emitted]
    assert all(b - a >= TICK - 1e-9 for a, b in itertools.pairwise(times))


@given(st.lists(st.tuples(st.floats(0.0, 1.5), st.booleans()), min_size=1, max_size=25))
def test_after_a_flush_nothing_of_an_older_epoch_is_shown_and_every_frame_is_counted(
    writes: list[tuple[float, bool]],
) -> None:
    """Frames of epoch 0 and, after a flush at 0.7 s, of epoch 1 (some of them still tagged 0,
    as a provider's in-flight output is): after the flush no new frame of epoch 0 goes out, and
    every frame is shown, counted as dropped, or still queued."""
    video = VideoSchedule(fps=30, sample_rate=RATE, capacity=64, placeholder=black_image(64, 48))
    events: list[Event] = [(0.7, 0, 1)]
    events += speech_ticks(0, 30, AUDIO_AT)
    events += [e for e in speech_ticks(1, 40, 0.72)]
    for index, (arrival, stale_tag) in enumerate(writes):
        epoch = 0 if arrival < 0.7 or stale_tag else 1
        events.append((arrival, 2, timestamped(epoch, index, arrival / 2, arrival)))
    emitted = drive(video, events, until=2.5)
    for emission in emitted:
        if emission.kind is FrameKind.NEW and emission.at > 0.7 + 1e-9:
            assert emission.epoch == 1
    counters = video.counters
    new = sum(1 for e in emitted if e.kind is FrameKind.NEW)
    dropped = (
        counters.dropped_late
        + counters.shed_late
        + counters.dropped_stale
        + counters.dropped_overflow
    )
    assert new + dropped + video.queued == len(writes)


def test_a_frame_whose_audio_was_written_first_waits_for_it_past_the_hold() -> None:
    """Idle video free-runs after the hold, but a frame whose audio was written before it (less
    than a packet of it: nothing is heard yet) waits for that audio, however long: shown in
    free-run, its lips would move before its voice. (Found by the stateful test.)"""
    video = VideoSchedule(fps=30, sample_rate=RATE, capacity=8, placeholder=black_image(64, 48))
    video.poll(0.0)
    video.add(VideoIn(0, np.zeros((72, 64), np.uint8), 0.0, 0.0, 0.0))  # no audio yet: held
    emission, _ = video.poll(0.25)  # the hold is over: free-run, shown
    while emission is not None and emission.kind is not FrameKind.NEW:
        emission, _ = video.poll(0.25)
    assert emission is not None and emission.kind is FrameKind.NEW
    one_sample = 1 / RATE
    video.add(VideoIn(0, np.ones((72, 64), np.uint8), 0.0, one_sample, 0.3))  # audio first
    for now in (0.3, 0.6, 1.0):
        emission, _ = video.poll(now)
        assert emission is None or emission.kind is not FrameKind.NEW, now
    video.on_tick(ClockTick(0, 1.2, 0, PACKET, SpeechState.ACTIVE))  # its audio is heard at 1.2
    emission, _ = video.poll(1.2)
    while emission is not None and emission.kind is not FrameKind.NEW:
        emission, _ = video.poll(1.2)
    assert emission is not None and emission.kind is FrameKind.NEW and emission.at == 1.2


def untimed(index: int, cursor: float, arrival: float) -> VideoIn:
    return VideoIn(0, np.full((72, 64), index % 250, np.uint8), None, cursor, arrival)


@given(st.sampled_from([24.0, 25.0, 30.0, 50.0, 60.0, 90.0]), st.floats(1.0, 3.0))
def test_pts_less_frames_faster_than_fps_stay_in_sync_and_are_counted(
    provider_fps: float, speed: float
) -> None:
    """A provider at ``provider_fps`` (each frame followed by its audio, written ``speed``
    times faster than real time) into a 30 fps schedule: every frame shown is on screen within
    one frame interval of its audio, however long the run (a faster provider's extra frames are
    dropped-late, not queued up); at or below 30 fps none is dropped."""
    video = VideoSchedule(fps=30, sample_rate=RATE, capacity=256, placeholder=black_image(64, 48))
    seconds = 2.0
    count = int(seconds * provider_fps)
    events = speech_ticks(0, int(seconds * RATE / PACKET), AUDIO_AT)
    frames = []
    for index in range(count):
        media = index / provider_fps
        frame = untimed(index, media, media / speed)
        frames.append(frame)
        events.append((frame.arrived_at, 1, frame))
    emitted = drive(video, events, until=AUDIO_AT + seconds + 0.5)
    shown = {id(e.image): e for e in emitted if e.kind is FrameKind.NEW}
    for frame in frames:
        emission = shown.get(id(frame.image))
        if emission is not None and frame.cursor > 0:  # (the first, with no audio yet: at once)
            assert AUDIO_AT + frame.cursor - 1e-6 <= emission.at
            assert emission.at <= AUDIO_AT + frame.cursor + 1 / 30 + 1e-6
    counters = video.counters
    assert len(shown) + counters.dropped_late + video.queued == count
    if provider_fps <= 30:
        assert counters.dropped_late == 0


def test_pts_less_frames_written_with_no_audio_between_are_shown_in_turn() -> None:
    """Three frames written back to back after the same audio are all shown, 1/fps apart."""
    video = VideoSchedule(fps=30, sample_rate=RATE, capacity=8, placeholder=black_image(64, 48))
    events = speech_ticks(0, 50, AUDIO_AT)
    frames = [untimed(index, 0.2, 0.0) for index in range(3)]
    events += [(0.0, 1, frame) for frame in frames]
    emitted = [e for e in drive(video, events, until=1.0) if e.kind is FrameKind.NEW]
    assert [id(e.image) for e in emitted] == [id(frame.image) for frame in frames]
    assert np.allclose(np.diff([e.at for e in emitted]), 1 / 30)
    assert video.counters.dropped_late == 0
