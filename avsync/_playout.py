"""The audio playout: what the clock emits at each tick, and where the epoch's speech stands.
Pure state, no trio: the clock actor is a thin loop around :class:`Playout`.

Ticks fall on an absolute schedule, ``origin + k * packet_s`` (no drift). At each tick the
playout takes the next packet of the current epoch from the audio buffer, or emits silence. The
epoch's speech moves through four states:

* ``IDLE``: no audio of the epoch has been taken yet;
* ``PENDING``: a packet is there but held until ``playout_delay_s`` after the epoch's audio first
  arrived (so that video trailing its audio can still be shown with it);
* ``ACTIVE``: speech is playing; a tick with no packet is *underrun* (silence, counted), and
  media time pauses;
* ``ENDED``: after ``end_audio()``, the last sample has been emitted; waiters are answered.

A tick that finds the playing speech's next packet missing is not an underrun at once
(:meth:`Playout.waits_for_packet`): the writer may be due at the same instant, or made late by
whatever made the clock late (a stall of the process, a busy turn of its event loop), and still
be waiting for its turn. The clock lets it run and asks again, up to ``PACKET_WAITS`` times until
a packet comes; so in a real pause of the speech the waits are used up at its first tick.

Under overload (see :mod:`avsync._load`), ticks that are already more than
``AUDIO_LATE_LIMIT_S`` overdue are skipped (:meth:`Playout.skip_overdue`): each one's packet is
taken and lost (counted), so the speech after them is heard on time. Every tick's lateness goes to
the :class:`~avsync._load.LoadMeter`.

A flush (or any message of a newer epoch, see :class:`~avsync._epochs.EpochGate`) starts the
next epoch: packets of older epochs still in the buffer are dropped (counted), and playout
waiters of the old epoch are answered as interrupted, with the position actually heard.

Waiters are opaque to this module (the clock uses ``actors.Reply``): every method returns the
answers due, as ``(waiter, PlayoutResult)`` pairs, for the caller to send.
"""

from __future__ import annotations

import math
from typing import Generic, Protocol, TypeVar

import attrs

from ._epochs import EpochGate
from ._load import AUDIO_LATE_LIMIT_S, LoadMeter
from ._messages import AudioPacket, SpeechState
from ._stats import PlayoutResult
from ._time import SAME_INSTANT_S

__all__ = ["PACKET_WAITS", "Answers", "ClockCounters", "PacketSource", "Playout", "Tick"]

W = TypeVar("W")

#: A tick whose packet is missing waits for it this many times at most until a packet comes
#: (each wait lets the writer run once).
PACKET_WAITS = 3


class PacketSource(Protocol):
    """The audio buffer, as the playout reads it (an ``actors.Mailbox`` is one)."""

    def __len__(self) -> int: ...

    def get_nowait(self) -> AudioPacket: ...


@attrs.define
class ClockCounters:
    """What the clock counts."""

    packets_emitted: int = 0
    underrun_s: float = 0.0  #: silence emitted while speech was active
    dropped_stale_s: float = 0.0  #: buffered speech of an older epoch, dropped at a flush


@attrs.frozen
class Tick:
    """What goes out at one tick: the packet (or silence) and where playout stands."""

    index: int  #: the tick's number since the origin (output audio pts = index * packet)
    at: float  #: when it goes out
    epoch: int
    packet: AudioPacket | None  #: None: silence
    speech: SpeechState  #: after this tick
    overloaded: bool  #: whether the session is overloaded (:meth:`LoadMeter.overloaded`)


Answers = list[tuple[W, PlayoutResult]]


class Playout(Generic[W]):
    """The clock's state: tick schedule, epoch, speech state, held packet, playout waiters."""

    def __init__(
        self, *, origin: float, packet_s: float, sample_rate: int, playout_delay_s: float
    ) -> None:
        self.origin = origin
        self.packet_s = packet_s
        self.rate = sample_rate
        self.playout_delay_s = playout_delay_s
        self.ticks = 0  #: ticks passed so far (emitted, or skipped as overdue)
        self.gate = EpochGate()
        self.counters = ClockCounters()
        self.load = LoadMeter(packet_s=packet_s)
        self.overloaded = False  #: the load meter's verdict at the last tick
        self._packet_waits = 0  #: ticks' waits for a missing packet since a packet last came
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.speech = SpeechState.IDLE
        self.held: AudioPacket | None = None  #: taken from the buffer, not played yet
        self.emitted_samples = 0  #: speech samples of the epoch emitted
        self.emitted_end: int | None = None  #: media sample after the last one emitted
        self.end: int | None = None  #: media sample where the epoch's speech ends, once known
        self._waiters: list[W] = []

    # -- reading ---------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.gate.epoch

    @property
    def next_tick_at(self) -> float:
        return self.origin + self.ticks * self.packet_s

    @property
    def position(self) -> float:
        """Seconds of the epoch's speech emitted."""
        return self.emitted_samples / self.rate

    @property
    def held_packets(self) -> int:
        """Packets taken from the buffer but not played yet (0 or 1)."""
        return 0 if self.held is None else 1

    # -- messages --------------------------------------------------------------------------------

    def flush(self, epoch: int, buffer: PacketSource) -> Answers[W]:
        """Start ``epoch`` if it is newer: drop older packets (counted), answer the waiters as
        interrupted at the position heard."""
        interrupted_at = self.position
        if not self.gate.advance(epoch):
            return []
        answers = [(waiter, PlayoutResult(interrupted_at, True)) for waiter in self._waiters]
        stale = [self.held] if self.held is not None else []
        self._start_epoch()
        while len(buffer):
            packet = buffer.get_nowait()
            if packet.epoch >= epoch:
                self.held = packet
                break
            stale.append(packet)
        self._count_stale(stale)
        return answers

    def end_of_speech(self, epoch: int, end: int, buffer: PacketSource) -> Answers[W]:
        """The epoch's speech ends at media sample ``end`` (after ``end_audio()``)."""
        answers = self.flush(epoch, buffer)
        if epoch != self.epoch:
            return answers  # stale
        self.end = end
        if self.emitted_end is None and self.held is None and not len(buffer):
            self.emitted_end = end  # none of this turn's audio is left to play
        return answers + self._check_ended()

    def wait(self, epoch: int, waiter: W, buffer: PacketSource) -> Answers[W]:
        """``waiter`` wants to know when the epoch's speech has been emitted: answered now (a
        stale epoch: interrupted at 0; speech already ended) or later, by a tick or a flush."""
        answers = self.flush(epoch, buffer)
        if self.gate.is_stale(epoch):
            return [*answers, (waiter, PlayoutResult(0.0, interrupted=True))]
        if self.speech is SpeechState.ENDED:
            return [*answers, (waiter, PlayoutResult(self.position, interrupted=False))]
        self._waiters.append(waiter)
        return answers

    def close(self) -> list[W]:
        """The clock stops: the waiters still waiting, to be told so."""
        waiters, self._waiters = self._waiters, []
        return waiters

    # -- ticking ---------------------------------------------------------------------------------

    def waits_for_packet(self, buffer: PacketSource) -> bool:
        """Whether the tick due at :attr:`next_tick_at` should wait for its packet instead of
        going out as an underrun: speech is playing, nothing is buffered, the end of the speech
        is not known yet (once it is, every packet of the speech is in the buffer) and fewer
        than ``PACKET_WAITS`` waits were used since a packet last came. True counts a wait: the
        caller lets the writer run (the clock: one turn of the event loop) and asks again."""
        if (
            self.speech is not SpeechState.ACTIVE
            or self.held is not None
            or len(buffer)
            or self.end is not None
            or self._packet_waits >= PACKET_WAITS
        ):
            return False
        self._packet_waits += 1
        return True

    def skip_overdue(self, now: float, buffer: PacketSource) -> Answers[W]:
        """Skip the ticks that are more than ``AUDIO_LATE_LIMIT_S`` overdue at ``now``. Each
        takes the packet it would have played and loses it (counted), so the speech after them
        keeps its time: the output loses time, later packets gain no latency. The schedule stays
        absolute: the next tick is the first one not that late."""
        overdue = now - AUDIO_LATE_LIMIT_S - self.next_tick_at
        if overdue <= SAME_INSTANT_S:
            return []
        answers: Answers[W] = []
        count = math.ceil(overdue / self.packet_s - SAME_INSTANT_S)
        lost = 0
        for _ in range(count):
            packet, more = self._advance(buffer, skipped=True)
            answers += more
            lost += 0 if packet is None else packet.real
        self.load.skipped(count, now, lost / self.rate)
        return answers

    def tick(self, buffer: PacketSource, now: float | None = None) -> tuple[Tick, Answers[W]]:
        """Emit the tick due at :attr:`next_tick_at`: the next packet, or silence. ``now`` is
        when it goes out (default: on time), for the load meter."""
        at = self.next_tick_at
        now = at if now is None else now
        self.load.emitted(at, now)
        index = self.ticks
        packet, answers = self._advance(buffer, skipped=False)
        self.overloaded = self.load.overloaded(now)
        tick = Tick(index, at, self.epoch, packet, self.speech, self.overloaded)
        self.counters.packets_emitted += 1
        return tick, answers

    def _advance(
        self, buffer: PacketSource, *, skipped: bool
    ) -> tuple[AudioPacket | None, Answers[W]]:
        """Pass the tick due at :attr:`next_tick_at`: take its packet, if any, and move on. A
        skipped tick's packet is not heard: it counts in neither the position nor underrun."""
        at = self.next_tick_at
        answers: Answers[W] = []
        packet = None
        if self.speech is not SpeechState.ENDED:
            packet, answers = self._next_packet(at, buffer)
        if packet is not None:
            self._packet_waits = 0
            if not skipped:
                self.emitted_samples += packet.real
            self.emitted_end = packet.start + packet.real
            answers += self._check_ended()
        elif self.speech is SpeechState.ACTIVE:
            if self.end is not None and self.held is None and not len(buffer):
                self.emitted_end = self.end  # the rest was dropped: nothing more will come
                answers += self._check_ended()
            elif not skipped:
                self.counters.underrun_s += self.packet_s
        self.ticks += 1
        return packet, answers

    def _next_packet(
        self, now: float, buffer: PacketSource
    ) -> tuple[AudioPacket | None, Answers[W]]:
        """The packet to play now, if one is there and its playout may start."""
        answers: Answers[W] = []
        packet, self.held = self.held, None
        while packet is None or self.gate.is_stale(packet.epoch):
            if packet is not None:
                self._count_stale([packet])
            if not len(buffer):
                return None, answers
            packet = buffer.get_nowait()
        if packet.epoch > self.epoch:
            # (the flush may take the packet after this one into `held`: it plays next)
            answers = self.flush(packet.epoch, buffer)
        if self.speech is SpeechState.IDLE:
            self.speech = SpeechState.PENDING
        if self.speech is SpeechState.PENDING:
            if now < packet.first_arrival + self.playout_delay_s - SAME_INSTANT_S:
                self.held = packet
                return None, answers
            self.speech = SpeechState.ACTIVE
        return packet, answers

    def _check_ended(self) -> Answers[W]:
        if self.end is None or self.emitted_end is None or self.emitted_end < self.end:
            return []
        if self.speech is SpeechState.ENDED:
            return []
        self.speech = SpeechState.ENDED
        waiters, self._waiters = self._waiters, []
        return [(waiter, PlayoutResult(self.position, interrupted=False)) for waiter in waiters]

    def _count_stale(self, packets: list[AudioPacket]) -> None:
        self.counters.dropped_stale_s += sum(packet.real for packet in packets) / self.rate
