"""The video-queue actor: holds frames and shows each one when its audio is heard."""

from __future__ import annotations

import math
from typing import Any

import trio

import actors

from ._messages import AudioOut, ClockTick, Flush, VideoIn, VideoOut, VideoSettled
from ._schedule import VideoSchedule

__all__ = ["VideoQueueActor"]


class VideoQueueActor(actors.Actor[VideoIn | VideoSettled]):
    """Runs the :class:`VideoSchedule`: takes frames (its inbox), clock ticks and flushes, and
    at each instant the schedule names, hands the publisher the frame to show (new, repeat or
    placeholder). Wakes at each frame's own due time, not at a 1/fps tick.

    With ``overflow="block"`` it stops taking frames while the schedule is full, so
    ``write_video`` waits; with ``"drop-oldest"`` the schedule drops its oldest frame (counted).

    A :class:`VideoSettled` request (which follows frames through the inbox) is passed on to the
    publisher once no frame taken in before it is due and waiting, so it reaches the publisher
    behind every frame that fell due.

    Its wake-ups are an :class:`actors.Alarm` set to the schedule's next due time. While it
    waits, messages are handled at once in their senders' tasks (as under :func:`actors.serve`):
    a frame by the writer's, a tick by the clock's, a ring by the alarm service's, which then also
    take the decision the message allows and set the alarm. Ticks no decision waits on are only
    taken in. A ring may come up to ``actors.SLACK_S`` early: the schedule then decides as at its
    deadline. So the actor's own task wakes only for what a sender cannot do for it: take frames
    in once the schedule has room again after its wait left the inbox out.
    """

    def __init__(
        self,
        schedule: VideoSchedule,
        control: actors.Mailbox[Flush],
        ticks: actors.Mailbox[ClockTick],
        publisher: actors.ActorRef[AudioOut | VideoOut | VideoSettled],
        block_when_full: bool,
    ) -> None:
        self.schedule = schedule
        self.control = control
        self.ticks = ticks
        self.publisher = publisher
        self.block_when_full = block_when_full
        self.settling: list[VideoSettled] = []  # requests to pass on once nothing is due
        # (a restart builds a new actor, and alarm)
        self.alarm = actors.Alarm("video-queue.alarm", early=True)
        self._inbox: actors.Mailbox[VideoIn | VideoSettled] | None = None
        self._inbox_watched = False  # whether the current wait covers the inbox
        self._repeat_at = math.nan  # a repeat due then was put off to a second ring at that time

    async def run(self, context: actors.Context[VideoIn | VideoSettled]) -> None:
        inbox = self._inbox = context.inbox
        try:
            while True:
                now, wake_at = self._step(inbox, settled=True)
                # Wait for a message to be queued (one handled at once in its sender's task, by
                # _handle_now, does not end the wait), then take in what may be taken: a frame
                # declined because the schedule is full stays queued.
                sources = self._sources(inbox)
                if any(source.closed for source in sources):
                    return  # (nothing is left in them: _step took it all)
                self._inbox_watched = inbox in sources
                self._decide(now, wake_at)
                await actors.wait_queued(*sources, handle_now=self._handle_now)
        finally:
            self.alarm.close()

    def _handle_now(self, message: float | Flush | ClockTick | VideoIn | VideoSettled) -> bool:
        """Handle a message that came while the actor waits, in the sender's task, as the loop
        would: take it in, emit what is due and set the alarm to the next due time. A tick no
        decision waits on is only taken in. Declined, and left queued for the actor's own task:
        what comes through the inbox (a frame, or a settle request behind frames) while the
        schedule is full and full means wait, as when the actor takes nothing from its inbox
        then; and a ring while the schedule has room again but the wait leaves the inbox out
        (the actor's task must take the frames in)."""
        holding_back = self._holding_back
        if isinstance(message, float):
            if not self._inbox_watched and not holding_back:
                return False
            settled = message == self._repeat_at
            now, wake_at = self._step(self._inbox_or_fail(), settled, at=message)
            if not settled and wake_at == now:
                # A repeat is due: ring again at this instant, so that whatever else falls due
                # at it (a frame, a tick) arrives first and a repeat never goes out when a new
                # frame is due.
                self._repeat_at = now
                self.alarm.set(now)
                return True
            self._decide(now, wake_at)
            return True
        if holding_back and isinstance(message, (VideoIn, VideoSettled)):
            return False
        decides = self.schedule.needs_tick or not isinstance(message, ClockTick)
        self._handle(message)
        if decides:
            self._decide(*self._step(self._inbox_or_fail(), settled=True))
        return True

    def _decide(self, now: float, wake_at: float | None) -> None:
        """Set the alarm to ``wake_at`` (None: not before a message); at once if the schedule has
        room again while the wait leaves the inbox out, so that the actor's task takes frames."""
        if not self._inbox_watched and not self._holding_back:
            wake_at = now
        self._repeat_at = math.nan
        self.alarm.set(math.inf if wake_at is None else wake_at)

    def _inbox_or_fail(self) -> actors.Mailbox[VideoIn | VideoSettled]:
        assert self._inbox is not None, "the video queue is not running"
        return self._inbox

    def _step(
        self, inbox: actors.Mailbox[VideoIn | VideoSettled], settled: bool, at: float = -math.inf
    ) -> tuple[float, float | None]:
        """Take in what is queued, emit what is due now (or at ``at``, a ring's deadline, if that
        is later), and again while that made room for frames waiting in the inbox; return that
        instant and when to wake at the latest (None: at a message)."""
        schedule = self.schedule
        control, ticks, rings = self.control, self.ticks, self.alarm.mailbox
        now = max(trio.current_time(), at)
        while True:
            while (
                len(control) or len(ticks) or len(rings) or (len(inbox) and not self._holding_back)
            ):
                message = actors.receive_first_nowait(*self._sources(inbox))[1]
                if isinstance(message, float):
                    now = max(now, message)  # a ring that found the actor busy
                else:
                    self._handle(message)
            emission, wake_at = schedule.poll(now, repeat=settled)
            while emission is not None:
                self.publisher.tell_nowait(
                    VideoOut(emission.epoch, emission.image, emission.at, emission.kind)
                )
                emission, wake_at = schedule.poll(now)
            if not len(inbox) or self._holding_back:
                break
        if self.settling and not schedule.new_frame_due(now):
            for request in self.settling:
                self.publisher.tell_nowait(request)
            self.settling.clear()
        return now, wake_at

    @property
    def _holding_back(self) -> bool:
        """Frames stay in the inbox (writers wait): the schedule is full and full means wait."""
        return self.block_when_full and self.schedule.full

    def _sources(
        self, inbox: actors.Mailbox[VideoIn | VideoSettled]
    ) -> tuple[actors.Mailbox[Any], ...]:
        """What to take messages from, in priority order: flushes, then ticks, then rings, then
        frames (unless the schedule is full and full means wait, overflow="block": then frames
        stay in the inbox and writers wait)."""
        if self._holding_back:
            return (self.control, self.ticks, self.alarm.mailbox)
        return (self.control, self.ticks, self.alarm.mailbox, inbox)

    def _handle(self, message: Flush | ClockTick | VideoIn | VideoSettled) -> None:
        if isinstance(message, Flush):
            self.schedule.flush(message.epoch)
        elif isinstance(message, ClockTick):
            self.schedule.on_tick(message)
        elif isinstance(message, VideoSettled):
            self.settling.append(message)
        else:
            self.schedule.add(message)
