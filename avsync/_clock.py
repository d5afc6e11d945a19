"""The clock actor: the only owner of real time. Emits one audio packet per tick."""

from __future__ import annotations

import trio

import actors

from ._errors import SynchronizerClosed
from ._messages import (
    AudioOut,
    AudioPacket,
    ClockTick,
    EndOfSpeech,
    Flush,
    VideoOut,
    VideoSettled,
    WaitPlayout,
)
from ._playout import Answers, Playout, Tick
from ._stats import PlayoutResult
from ._time import SAME_INSTANT_S

__all__ = ["ClockActor"]


class ClockActor(actors.Actor[EndOfSpeech | WaitPlayout]):
    """Runs the :class:`~avsync._playout.Playout`: sleeps until each tick of its absolute
    schedule, then emits the tick's packet (or silence) to the publisher as ``AudioOut`` and
    where playout stands to the video queue as ``ClockTick``, without ever waiting on either.
    Woken late, it emits every tick due by then at once, after skipping those more than
    ``AUDIO_LATE_LIMIT_S`` overdue (:meth:`Playout.skip_overdue`): audio never falls further
    behind than that.
    Between ticks it takes flushes (first) and requests. Messages that arrive at the very instant
    of a tick are taken before it. When it stops, playout waiters get ``SynchronizerClosed``.
    """

    def __init__(
        self,
        playout: Playout[actors.Reply[PlayoutResult]],
        control: actors.Mailbox[Flush],
        packets: actors.Mailbox[AudioPacket],
        publisher: actors.ActorRef[AudioOut | VideoOut | VideoSettled],
        ticks: actors.ActorRef[ClockTick],
    ) -> None:
        self.playout = playout
        self.control = control
        self.packets = packets
        self.publisher = publisher
        self.ticks = ticks

    async def run(self, context: actors.Context[EndOfSpeech | WaitPlayout]) -> None:
        inbox = context.inbox
        playout = self.playout
        try:
            while True:
                tick_at = playout.next_tick_at
                if tick_at > trio.current_time():
                    # A timed wait per message, none raising at the tick (no Cancelled).
                    try:
                        while got := await actors.receive_first_before(
                            tick_at, self.control, inbox
                        ):
                            self._handle(got[1])
                    except trio.EndOfChannel:
                        return
                else:
                    await trio.lowlevel.checkpoint()  # late: no timer, one yield
                for message in actors.receive_all_nowait(self.control, inbox):
                    self._handle(message)  # what arrived at this very instant
                # Every tick due by now goes out at once (none is more than the late limit
                # behind: older ones are skipped), then the clock sleeps until the next one.
                now = trio.current_time()
                _send(playout.skip_overdue(now, self.packets))
                while playout.next_tick_at <= now + SAME_INSTANT_S:
                    tick, answers = playout.tick(self.packets, now)
                    self._emit(tick)
                    _send(answers)
        finally:
            for waiter in self.playout.close():
                waiter.fail(SynchronizerClosed("the synchroniser was closed"))

    def _handle(self, message: Flush | EndOfSpeech | WaitPlayout) -> None:
        playout, packets = self.playout, self.packets
        if isinstance(message, Flush):
            _send(playout.flush(message.epoch, packets))
        elif isinstance(message, EndOfSpeech):
            _send(playout.end_of_speech(message.epoch, message.end, packets))
        else:
            _send(playout.wait(message.epoch, message.reply, packets))

    def _emit(self, tick: Tick) -> None:
        packet = tick.packet
        if packet is None:
            samples, start, real = None, None, 0
        else:
            samples, start, real = packet.samples, packet.start, packet.real
        self.publisher.tell_nowait(AudioOut(tick.epoch, tick.index, samples, tick.at))
        self.ticks.tell_nowait(
            ClockTick(tick.epoch, tick.at, start, real, tick.speech, tick.overloaded)
        )


def _send(answers: Answers[actors.Reply[PlayoutResult]]) -> None:
    for reply, result in answers:
        reply.send(result)
