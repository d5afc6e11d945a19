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
    """Runs the :class:`~avsync._playout.Playout`: at each tick of its absolute schedule, emits
    the tick's packet (or silence) to the publisher as ``AudioOut`` and where playout stands to the
    video queue as ``ClockTick``, without ever waiting on either.

    Its wake-ups are an :class:`actors.Alarm` set to the next tick (one that never rings early:
    a packet written at the very instant of its tick must still make it), and it is served
    (:func:`actors.serve`): a ring is handled in the alarm service's task, a flush or request in
    its sender's, each as it comes, so its own task stays parked. Woken late, it emits every tick
    due by then at once, after skipping those more than ``AUDIO_LATE_LIMIT_S`` overdue
    (:meth:`Playout.skip_overdue`): audio never falls further behind than that. A tick whose
    packet is missing while speech plays waits for it a few turns of the loop
    (:meth:`Playout.waits_for_packet`): its alarm is left set to its own time, now past, so it
    rings again once the tasks runnable now (the writer among them) have run. Flushes come first
    among messages queued at once. When it stops, playout waiters get ``SynchronizerClosed``.
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
        self.alarm = actors.Alarm("clock.alarm")  # (a restart builds a new actor, and alarm)

    async def run(self, context: actors.Context[EndOfSpeech | WaitPlayout]) -> None:
        alarm = self.alarm
        try:
            alarm.set(self.playout.next_tick_at)
            await actors.serve(self.control, alarm.mailbox, context.inbox, handle_now=self._handle)
        finally:
            alarm.close()
            for waiter in self.playout.close():
                waiter.fail(SynchronizerClosed("the synchroniser was closed"))

    def _handle(self, message: float | Flush | EndOfSpeech | WaitPlayout) -> bool:
        playout, packets = self.playout, self.packets
        if isinstance(message, float):
            self._tick(message)
        elif isinstance(message, Flush):
            _send(playout.flush(message.epoch, packets))
        elif isinstance(message, EndOfSpeech):
            _send(playout.end_of_speech(message.epoch, message.end, packets))
        else:
            _send(playout.wait(message.epoch, message.reply, packets))
        self.alarm.set(playout.next_tick_at)
        return True

    def _tick(self, deadline: float) -> None:
        """The alarm rang for ``deadline``: every tick due by then goes out (none more than the
        late limit behind: older ones are skipped), up to one whose packet it waits for."""
        playout = self.playout
        now = max(trio.current_time(), deadline)  # (a ring queued behind a flush may be stale)
        _send(playout.skip_overdue(now, self.packets))
        while playout.next_tick_at <= now + SAME_INSTANT_S:
            if playout.waits_for_packet(self.packets):
                return  # the alarm, set to this tick's time (past), rings after a loop turn
            tick, answers = playout.tick(self.packets, now)
            self._emit(tick)
            _send(answers)

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
