"""The video schedule driven directly: plain numbers, no trio."""

from __future__ import annotations

from avsync._messages import FrameKind, VideoIn
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
    video.add(frame(0.0))  # due at once, but something went out at this very instant
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
