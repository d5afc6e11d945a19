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

    async def run(self, context: actors.Context[VideoIn | VideoSettled]) -> None:
        inbox = context.inbox
        schedule = self.schedule
        settled = True  # False right after waking on time: a repeat would wait one yield
        while True:
            sources = self._sources(inbox, ticks=True)
            while any(len(source) for source in sources):
                self._handle(actors.receive_first_nowait(*sources)[1])
                sources = self._sources(inbox, ticks=True)
            now = trio.current_time()
            emission, wake_at = schedule.poll(now, repeat=settled)
            while emission is not None:
                self.publisher.tell_nowait(
                    VideoOut(emission.epoch, emission.image, emission.at, emission.kind)
                )
                emission, wake_at = schedule.poll(now)
            if self.settling and not schedule.new_frame_due(now):
                for request in self.settling:
                    self.publisher.tell_nowait(request)
                self.settling.clear()
            if not settled and wake_at == now:
                # A repeat is due: let whatever else falls due at this instant (a frame, a
                # tick) arrive first, so a repeat never goes out when a new frame is due.
                await trio.lowlevel.checkpoint()
                settled = True
                continue
            # Ticks wake this actor only when a decision waits on one; otherwise they queue up
            # and are taken in at the next wake-up (a frame, a flush, or a due time).
            sources = self._sources(inbox, ticks=schedule.needs_tick)
            with trio.move_on_at(math.inf if wake_at is None else wake_at) as wait:
                try:
                    _, message = await actors.receive_first(*sources)
                except trio.EndOfChannel:
                    return
                self._handle(message)
            settled = not wait.cancelled_caught

    def _sources(
        self, inbox: actors.Mailbox[VideoIn | VideoSettled], *, ticks: bool
    ) -> tuple[actors.Mailbox[Any], ...]:
        """What to take messages from, in priority order: flushes, then ticks (unless no
        decision waits on one), then frames (unless the schedule is full and full means wait,
        overflow="block": then frames stay in the inbox and writers wait)."""
        sources: list[actors.Mailbox[Any]] = [self.control]
        if ticks:
            sources.append(self.ticks)
        if not (self.block_when_full and self.schedule.full):
            sources.append(inbox)
        return tuple(sources)

    def _handle(self, message: Flush | ClockTick | VideoIn | VideoSettled) -> None:
        if isinstance(message, Flush):
            self.schedule.flush(message.epoch)
        elif isinstance(message, ClockTick):
            self.schedule.on_tick(message)
        elif isinstance(message, VideoSettled):
            self.settling.append(message)
        else:
            self.schedule.add(message)
