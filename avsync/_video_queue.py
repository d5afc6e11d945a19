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

    While it waits, messages are handled at once in their senders' tasks (as under
    :func:`actors.serve`): a frame by the writer's, a tick by the clock's, which then also take
    the decision the message allows and move the wait's deadline. Ticks no decision waits on
    are only taken in. So the actor's own task wakes only when its deadline comes.
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
        self._inbox: actors.Mailbox[VideoIn | VideoSettled] | None = None
        self._inbox_watched = False  # whether the current wait covers the inbox
        self._timer = trio.CancelScope()  # the current wait's; its deadline is the next due time

    async def run(self, context: actors.Context[VideoIn | VideoSettled]) -> None:
        inbox = self._inbox = context.inbox
        settled = True  # False right after waking on time: a repeat would wait one yield
        while True:
            # One timer for as long as it does not fire: its deadline follows the schedule's
            # next due time, so taking a message costs no cancel scope of its own.
            with trio.CancelScope() as timer:
                self._timer = timer
                while True:
                    now, wake_at = self._step(inbox, settled)
                    if not settled and wake_at == now:
                        # A repeat is due: let whatever else falls due at this instant (a frame,
                        # a tick) arrive first, so a repeat never goes out when a new frame is
                        # due.
                        timer.deadline = math.inf
                        await trio.lowlevel.checkpoint()
                        settled = True
                        continue
                    if wake_at is not None and wake_at <= trio.current_time():
                        # Due already: as a timed wait that has expired, yield once and wake.
                        timer.deadline = math.inf
                        await trio.lowlevel.cancel_shielded_checkpoint()
                        settled = False
                        continue
                    # Wait for a message to be queued (one handled at once in its sender's
                    # task, by _handle_now, does not end the wait), then take in what may be
                    # taken: a frame declined because the schedule is full stays queued.
                    sources = self._sources(inbox)
                    if any(source.closed for source in sources):
                        return  # (nothing is left in them: _step took it all)
                    self._inbox_watched = inbox in sources
                    timer.deadline = math.inf if wake_at is None else wake_at
                    if not await actors.wait_within(timer, *sources, handle_now=self._handle_now):
                        break  # the deadline came
                    settled = True
            settled = False  # the deadline came: woke on time

    def _handle_now(self, message: Flush | ClockTick | VideoIn | VideoSettled) -> bool:
        """Handle a message that came while the actor waits, in the sender's task, as the loop
        would: take it in, emit what is due and set the wait's deadline to the next due time
        (a past one wakes the actor at once). A tick no decision waits on is only taken in. What
        comes through the inbox (a frame, or a settle request behind frames) is declined, and
        stays queued, while the schedule is full and full means wait: as when the actor takes
        nothing from its inbox then."""
        if self._holding_back and isinstance(message, (VideoIn, VideoSettled)):
            return False
        decides = self.schedule.needs_tick or not isinstance(message, ClockTick)
        self._handle(message)
        if decides:
            assert self._inbox is not None
            now, wake_at = self._step(self._inbox, settled=True)
            if not self._inbox_watched and not self._holding_back:
                wake_at = now  # room now: the actor's wait must cover the inbox again
            self._timer.deadline = math.inf if wake_at is None else wake_at
        return True

    def _step(
        self, inbox: actors.Mailbox[VideoIn | VideoSettled], settled: bool
    ) -> tuple[float, float | None]:
        """Take in what is queued, emit what is due now, and again while that made room for
        frames waiting in the inbox; return now and when to wake at the latest (None: at a
        message)."""
        schedule = self.schedule
        control, ticks = self.control, self.ticks
        now = trio.current_time()
        while True:
            while len(control) or len(ticks) or (len(inbox) and not self._holding_back):
                self._handle(actors.receive_first_nowait(*self._sources(inbox))[1])
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
        """What to take messages from, in priority order: flushes, then ticks, then frames
        (unless the schedule is full and full means wait, overflow="block": then frames stay in
        the inbox and writers wait)."""
        if self._holding_back:
            return (self.control, self.ticks)
        return (self.control, self.ticks, inbox)

    def _handle(self, message: Flush | ClockTick | VideoIn | VideoSettled) -> None:
        if isinstance(message, Flush):
            self.schedule.flush(message.epoch)
        elif isinstance(message, ClockTick):
            self.schedule.on_tick(message)
        elif isinstance(message, VideoSettled):
            self.settling.append(message)
        else:
            self.schedule.add(message)
