"""The video schedule: which frame is on screen, and from when. Pure state, no trio.

Given frames (with a media time each) and clock ticks (which media time of the epoch's audio is
heard when), it decides at every instant whether to show a new frame, repeat the last one, show the
placeholder, or wait, and tells the caller when to ask again. See docs/design.md, section 3.

Rules, in order of precedence:

* a frame with media time ``v`` is due when the audio sample at ``v`` is emitted, plus
  ``av_offset_s``; while audio underruns, media time pauses and so does video;
* with no speech in the epoch yet, timestamped frames wait up to ``hold_s`` for audio to start;
  then, and after the speech has ended, media time follows the wall clock (free-run). A frame
  whose audio was written before it (its pts below the audio write cursor: the audio is there,
  short of a whole packet) waits for that audio however long, as a frame without pts does;
* a frame without pts is aligned with the audio write cursor at its arrival, and spaced at least
  1/fps after the previous such frame (wall time); frames written with no audio between them
  (aligned alike) are never dropped as superseded, each is shown in turn (only, like any frame,
  when too late, below). With ``await_following_audio``, one that arrives while no audio plays
  (before the speech, or in an underrun) with all the audio before it heard waits for the first
  tick ``FOLLOWING_AUDIO_S`` after it, which either starts the audio written after it (the
  frame is due with it) or is silence (the frame is due at its arrival);
* when several frames are due at once, the newest is shown, the rest are dropped-late (a
  provider faster than ``fps``): timestamped frames by their pts, frames without pts by their
  own alignment, not the spacing above;
* new frames are due at least 1/fps apart (a newer due frame replaces one waiting for that).
  The spacing is measured from the previous frame's due time, not from when it went out, so a
  frame that was late (or held back by this rule at a turn's change of phase) never makes the
  frames after it late;
* the last frame (or the placeholder) repeats 1/fps after the last emission, unless a new frame
  is expected before the repeat after it would be due;
* never two frames at one instant: a new frame due at the instant of the previous emission goes
  out one tick of the 90 kHz output clock later;
* bounded lateness (see :mod:`avsync._load`): a new frame is dropped (``shed_late``) rather than
  emitted more than ``VIDEO_LATE_LIMIT_S`` behind its plan (its due time, or the fps cap's
  release), whether the loop was late or the frame arrived late; while the clock reports the
  session overloaded (``shedding``), the last frame repeats only every ``OVERLOAD_REPEAT_S``
  (the repeat slots skipped are counted in ``repeats_shed``).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import attrs
import numpy as np

from ._epochs import EpochGate
from ._load import OVERLOAD_REPEAT_S, VIDEO_LATE_LIMIT_S
from ._messages import ClockTick, FrameKind, Image, SpeechState, VideoIn
from ._time import SAME_INSTANT_S

__all__ = ["Emission", "VideoSchedule"]

EPS = SAME_INSTANT_S
TICK = 1 / 90000  # one step of the output video clock: the shortest gap between two frames
LATE_SLACK_S = 0.005  # an emission this much behind plan is stamped with the real time
DEFAULT_HOLD_S = 0.25
#: with ``await_following_audio``: a tick this long after a frame came tells whether audio
#: followed it (the provider's next write, through the ingest, reaches the clock by then)
FOLLOWING_AUDIO_S = 0.01


@attrs.frozen
class Emission:
    """A frame to hand to the publisher now."""

    kind: FrameKind
    image: Image
    epoch: int
    at: float  #: the planned emission time (pts come from this)
    due: float | None  #: for new frames, when the frame was due


@attrs.define(eq=False)
class _Frame:
    epoch: int
    image: Image
    media: float  #: pts, or the audio write cursor for pts-less frames (seconds)
    timestamped: bool
    arrived_at: float
    audio_first: bool  #: its media's audio was written before it (pts below the write cursor)


@attrs.define
class _AudioHeard:
    """How far the current epoch's audio has been heard."""

    speech: SpeechState = SpeechState.IDLE
    played_until: float = 0.0  #: media time (s) just after the last real sample emitted
    played_until_at: float = 0.0  #: when that instant is heard
    last_tick_real: bool = False  #: False while the audio underruns
    last_tick_at: float = -math.inf  #: when the last tick was emitted
    heard: bool = False  #: whether any of the epoch's audio has been emitted
    free_anchor: tuple[float, float] | None = None  #: (wall, media) of free-run, if any


@attrs.define
class ScheduleCounters:
    emitted: int = 0
    repeated: int = 0
    dropped_stale: int = 0
    dropped_late: int = 0
    dropped_overflow: int = 0
    shed_late: int = 0  #: new frames dropped: they would have gone out too far behind plan
    repeats_shed: int = 0  #: repeat slots skipped while overloaded


class VideoSchedule:
    """Decides what the video output shows, and when."""

    def __init__(
        self,
        *,
        fps: float,
        sample_rate: int,
        capacity: int,
        av_offset_s: float = 0.0,
        hold_s: float = DEFAULT_HOLD_S,
        placeholder: Image,
        offsets_kept: int = 65536,
        await_following_audio: bool = False,
    ) -> None:
        self.interval = 1.0 / fps
        self.await_following_audio = await_following_audio
        self.rate = sample_rate
        self.capacity = capacity
        self.av_offset = av_offset_s
        self.hold = hold_s
        self.gate = EpochGate()
        self.counters = ScheduleCounters()
        self._frames: deque[_Frame] = deque()
        self._playout = _AudioHeard()
        self._on_screen: Image = placeholder
        self._showing_placeholder = True
        self._last_emit_at: float | None = None
        self._last_new_due: float | None = None
        self._last_untimed_due: float | None = None
        self.needs_tick = False  #: whether the next decision waits on a clock tick
        self.shedding = False  #: whether the clock last reported the session overloaded
        self._offsets = np.zeros(offsets_kept, np.float64)
        self._offsets_count = 0

    # -- inputs ----------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._frames)

    @property
    def full(self) -> bool:
        return len(self._frames) >= self.capacity

    @property
    def epoch(self) -> int:
        return self.gate.epoch

    def flush(self, epoch: int) -> None:
        """Drop every frame older than ``epoch``; the frame on screen stays and may repeat."""
        if not self.gate.advance(epoch):
            return
        kept = [frame for frame in self._frames if frame.epoch >= epoch]
        self.counters.dropped_stale += len(self._frames) - len(kept)
        self._frames = deque(kept)
        self._playout = _AudioHeard()
        self._last_untimed_due = None
        self._last_new_due = None  # a new turn's timeline has its own phase: the cap starts afresh

    def add(self, frame: VideoIn) -> bool:
        """Queue a frame; return False if it was stale (and counted). When full, the oldest
        queued frame is dropped (counted) — callers that must not drop check :attr:`full` first."""
        self.flush(frame.epoch)  # a newer epoch: catch up
        if self.gate.is_stale(frame.epoch):
            self.counters.dropped_stale += 1
            return False
        while len(self._frames) >= self.capacity:
            self._frames.popleft()
            self.counters.dropped_overflow += 1
        timestamped = frame.pts is not None
        entry = _Frame(
            frame.epoch,
            frame.image,
            frame.pts if frame.pts is not None else frame.cursor,
            timestamped,
            frame.arrived_at,
            frame.pts is not None and frame.pts < frame.cursor - EPS,
        )
        frames = self._frames
        if not frames or frames[-1].media <= entry.media or not timestamped:
            frames.append(entry)
        else:  # out of media order: keep the queue sorted (rare)
            ordered = list(frames)
            bisect.insort_right(ordered, entry, key=lambda f: f.media)
            self._frames = deque(ordered)
        return True

    def on_tick(self, tick: ClockTick) -> None:
        """Take in where the epoch's audio playout stands, and whether the session is
        overloaded."""
        self.shedding = tick.overloaded
        self.flush(tick.epoch)  # a newer epoch: catch up
        if self.gate.is_stale(tick.epoch):
            return
        playout = self._playout
        playout.speech = tick.speech
        playout.last_tick_at = tick.at
        if tick.start is not None:
            playout.heard = True
            playout.played_until = (tick.start + tick.real) / self.rate
            playout.played_until_at = tick.at + tick.real / self.rate
            playout.last_tick_real = True
            playout.free_anchor = None
        else:
            playout.last_tick_real = False
        if tick.speech is SpeechState.ENDED and not playout.heard:
            playout.speech = SpeechState.IDLE  # a turn without audio: nothing to follow
        elif tick.speech is SpeechState.ENDED and playout.free_anchor is None:
            playout.free_anchor = (playout.played_until_at, playout.played_until)

    # -- timing ----------------------------------------------------------------------------------

    def _due(self, frame: _Frame, now: float) -> float | None:
        """When ``frame`` is due, if that is known yet (without the pts-less spacing).

        When a timestamped frame's hold expires in an epoch without audio, this fixes the
        epoch's free-run anchor (that frame is shown at the end of its hold, the rest follow)."""
        playout = self._playout
        v = frame.media
        speech = playout.speech
        if speech is SpeechState.ACTIVE:
            # A timestamped frame needs the sample at v itself; a pts-less one is aligned with
            # the end of the audio written before it, which is heard when the sample before ends.
            if not playout.last_tick_real and self._awaits_next_tick(frame):
                return None
            if v < playout.played_until - EPS or (
                not frame.timestamped and v <= playout.played_until + EPS
            ):
                return playout.played_until_at - (playout.played_until - v) + self.av_offset
            return None
        if speech is SpeechState.PENDING:
            return None
        if not frame.timestamped:
            if speech is SpeechState.IDLE:
                if v > playout.played_until + EPS or self._awaits_next_tick(frame):
                    return None  # audio was written before it: wait until that is heard
                return frame.arrived_at + self.av_offset
            anchor_at, anchor_media = playout.free_anchor or (frame.arrived_at, v)
            return max(anchor_at + (v - anchor_media), frame.arrived_at) + self.av_offset
        if speech is SpeechState.IDLE and frame.audio_first:
            return None  # its audio was written first (not a whole packet yet): wait for it
        if speech is SpeechState.IDLE and playout.free_anchor is None:
            if now < frame.arrived_at + self.hold - EPS:
                return None
            playout.free_anchor = (frame.arrived_at + self.hold, v)
        assert playout.free_anchor is not None
        anchor_at, anchor_media = playout.free_anchor
        return anchor_at + (v - anchor_media) + self.av_offset

    def _awaits_next_tick(self, frame: _Frame) -> bool:
        """Whether a pts-less ``frame`` that came while no audio was playing (before the
        speech, or in an underrun) with all the audio before it heard waits for a tick: the
        audio written after it (a provider writes a frame, then its audio) starts at the first
        tick :data:`FOLLOWING_AUDIO_S` after the frame came, and a tick of silence then says
        that none followed."""
        playout = self._playout
        return (
            self.await_following_audio
            and not frame.timestamped
            and frame.media >= playout.played_until - EPS
            and playout.last_tick_at < frame.arrived_at + FOLLOWING_AUDIO_S - EPS
        )

    def _untimed_due(self, frame: _Frame, now: float) -> float | None:
        due = self._due(frame, now)
        if due is None or self._last_untimed_due is None:
            return due
        return max(due, self._last_untimed_due + self.interval)

    def _expected(self, frame: _Frame) -> float | None:
        """When ``frame`` will be due if the audio keeps playing without a gap, or the hold
        expires; None if nobody can tell."""
        playout = self._playout
        if playout.speech is SpeechState.ACTIVE and playout.last_tick_real:
            due = playout.played_until_at + (frame.media - playout.played_until) + self.av_offset
        elif (
            playout.speech is SpeechState.IDLE
            and frame.timestamped
            and not frame.audio_first
            and playout.free_anchor is None
        ):
            due = frame.arrived_at + self.hold
        else:
            return None
        if not frame.timestamped and self._last_untimed_due is not None:
            due = max(due, self._last_untimed_due + self.interval)
        return due

    # -- decisions -------------------------------------------------------------------------------

    def poll(self, now: float, *, repeat: bool = True) -> tuple[Emission | None, float | None]:
        """What to emit at ``now`` (at most one frame), and when to poll again at the latest
        (None: not before a frame or a tick arrives). After an emission, poll again at once.

        With ``repeat=False`` a repeat that is due is not emitted; the answer is then
        ``(None, now)``: let whatever else is due at this instant arrive, and poll again."""
        while True:
            choice, head_due = self._choose_new(now)
            self.needs_tick = False
            if choice is None:
                break
            frame, due = choice
            release = self._release()
            if release is not None and now < release - EPS:
                return None, release  # cap: wait (a newer frame due by then replaces this one)
            plan = due if release is None else max(due, release)
            if now > plan + VIDEO_LATE_LIMIT_S + EPS:
                self._frames.popleft()  # too late to show: the next frame may still be on time
                self.counters.shed_late += 1
                continue
            if self._last_emit_at is not None and now < self._last_emit_at + TICK - EPS:
                return None, self._last_emit_at + TICK  # never two at one instant
            return self._emit_new(frame, due, now), now
        if self._last_emit_at is None:
            if not repeat:
                return None, now
            return self._emit_repeat(now, now), now  # the placeholder, from the start
        upcoming = head_due
        if upcoming is None and self._frames:
            upcoming = self._expected(self._frames[0])
        # An expected frame whose time has come hinges on a tick that is on its way.
        upcoming_deadline = upcoming if upcoming is not None and upcoming > now + EPS else None
        # Ticks matter while speech may start (IDLE, PENDING) or nobody can tell when the head
        # frame is due; otherwise the next deadline comes first and ticks can wait until then.
        self.needs_tick = bool(self._frames) and (
            upcoming_deadline is None
            or self._playout.speech in (SpeechState.IDLE, SpeechState.PENDING)
        )
        next_repeat = self._last_emit_at + self._repeat_interval
        if now < next_repeat - EPS:
            return None, _earliest(next_repeat, upcoming_deadline)
        if upcoming is not None and upcoming < next_repeat + self.interval - EPS:
            return None, upcoming_deadline  # a new frame comes before the repeat after this one
        if not repeat:
            return None, now
        return self._emit_repeat(next_repeat, now), now

    def _choose_new(self, now: float) -> tuple[tuple[_Frame, float] | None, float | None]:
        """The frame to show now and its due time, if one is due (of several due timestamped
        frames the newest; the older are dropped-late); otherwise when the head frame falls due,
        if that is known."""
        frames = self._frames
        while frames:
            frame = frames[0]
            due = self._due(frame, now) if frame.timestamped else self._untimed_due(frame, now)
            if due is None or due > now + EPS:
                return None, due
            if len(frames) == 1 or frame.timestamped != frames[1].timestamped:
                return (frame, due), None
            if not frame.timestamped and frames[1].media <= frame.media + EPS:
                return (frame, due), None  # written with no audio between: shown in turn
            next_due = self._due(frames[1], now)
            if next_due is None or next_due > now + EPS:
                return (frame, due), None
            frames.popleft()  # a newer frame is due too: this one is late
            self.counters.dropped_late += 1
        return None, None

    def new_frame_due(self, now: float) -> bool:
        """Whether a queued frame is due by ``now`` but not yet emitted (it waits for the fps cap
        or the one-tick gap between emissions)."""
        if not self._frames:
            return False
        head = self._frames[0]
        due = self._due(head, now) if head.timestamped else self._untimed_due(head, now)
        return due is not None and due <= now + EPS

    @property
    def _repeat_interval(self) -> float:
        return OVERLOAD_REPEAT_S if self.shedding else self.interval

    def _count_shed_repeats(self, at: float) -> None:
        """While shedding, count the repeat slots skipped before an emission at ``at``."""
        if self.shedding and self._last_emit_at is not None:
            slots = math.floor((at - self._last_emit_at) / self.interval + EPS)
            self.counters.repeats_shed += max(0, slots - 1)

    def _release(self) -> float | None:
        """The earliest time the next new frame may go out (the fps cap), if any."""
        return None if self._last_new_due is None else self._last_new_due + self.interval

    def _emit_new(self, frame: _Frame, due: float, now: float) -> Emission:
        self._frames.popleft()
        release = self._release()
        slot = due if release is None else max(due, release)
        at = self._stamp(slot, now)
        self._count_shed_repeats(at)
        if not frame.timestamped:
            self._last_untimed_due = due
        self._on_screen = frame.image
        self._showing_placeholder = False
        self._last_new_due = due  # not the slot: a frame held by the cap must not hold the next
        self._last_emit_at = at
        self.counters.emitted += 1
        self._offsets[self._offsets_count % len(self._offsets)] = now - due
        self._offsets_count += 1
        return Emission(FrameKind.NEW, frame.image, frame.epoch, at, due)

    def _emit_repeat(self, planned: float, now: float) -> Emission:
        at = self._stamp(planned, now)
        self._count_shed_repeats(at)
        self._last_emit_at = at
        self.counters.emitted += 1
        self.counters.repeated += 1
        kind = FrameKind.PLACEHOLDER if self._showing_placeholder else FrameKind.REPEAT
        return Emission(kind, self._on_screen, self.gate.epoch, at, None)

    def _stamp(self, planned: float, now: float) -> float:
        """The time an emission is stamped with: its plan, unless it is badly behind plan; and
        never within one 90 kHz tick of the previous emission (a late frame planned at the
        instant a repeat went out is stamped one tick after it)."""
        at = planned if planned >= now - LATE_SLACK_S else now
        if self._last_emit_at is not None and at < self._last_emit_at + TICK - EPS:
            at = self._last_emit_at + TICK
        return at

    # -- stats -----------------------------------------------------------------------------------

    def offsets_ms(self) -> np.ndarray:
        """(emit time - due time) of the most recent new frames, in ms."""
        count = min(self._offsets_count, len(self._offsets))
        return self._offsets[:count] * 1000.0


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
