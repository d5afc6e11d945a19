"""The clock actor: the only owner of real time. Emits one audio packet per tick."""

from __future__ import annotations

import trio

import actors

from ._audio_ingest import AudioCounters
from ._config import SyncConfig
from ._errors import SynchronizerClosed
from ._messages import (
    AudioOut,
    AudioPacket,
    ClockTick,
    EndOfSpeech,
    Flush,
    SpeechState,
    VideoOut,
    WaitPlayout,
)
from ._stats import PlayoutResult

__all__ = ["ClockActor", "ClockState"]

EPS = 1e-9


class ClockState:
    """What must survive a restart of the clock: the origin and the tick count."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.ticks = 0
        self.held_packets = 0  #: packets taken from the buffer but not played yet (0 or 1)


class ClockActor(actors.Actor[EndOfSpeech | WaitPlayout]):
    """Ticks once per packet on an absolute schedule (``origin + k * packet``, no drift) and at
    each tick emits the next packet of the current epoch's speech, or silence.

    Each tick goes to the publisher as ``AudioOut`` and to the video queue as ``ClockTick`` ("media
    time m of epoch e is heard at wall time w"), without ever waiting on either. While speech is
    active and no packet is there, the silence counts as underrun and media time pauses. The first
    packet of an epoch waits until ``playout_delay_s`` after its audio first arrived.
    """

    def __init__(
        self,
        config: SyncConfig,
        state: ClockState,
        control: actors.Mailbox[Flush],
        packets: actors.Mailbox[AudioPacket],
        publisher: actors.ActorRef[AudioOut | VideoOut],
        ticks: actors.ActorRef[ClockTick],
        counters: AudioCounters,
    ) -> None:
        self.config = config
        self.state = state
        self.control = control
        self.packets = packets
        self.publisher = publisher
        self.ticks = ticks
        self.counters = counters
        self.epoch = 0
        self._new_epoch(0)

    def _new_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.speech = SpeechState.IDLE
        self.held: AudioPacket | None = None  # taken from the buffer, waiting for playout_delay
        self.emitted_samples = 0
        self.emitted_end: int | None = None  # media sample after the last one emitted
        self.end: int | None = None  # from EndOfSpeech
        self.waiters: list[actors.Reply[PlayoutResult]] = []

    @property
    def position(self) -> float:
        return self.emitted_samples / self.config.sample_rate

    async def run(self, context: actors.Context[EndOfSpeech | WaitPlayout]) -> None:
        packet_s = self.config.packet_s
        try:
            while True:
                tick_at = self.state.origin + self.state.ticks * packet_s
                with trio.move_on_at(tick_at):
                    try:
                        _, message = await actors.receive_first(self.control, context.inbox)
                    except trio.EndOfChannel:
                        return
                    self._handle(message)
                    continue
                self._drain(context.inbox)
                self._tick(tick_at)
                self.state.ticks += 1
                self.state.held_packets = 0 if self.held is None else 1
        finally:
            self._release_waiters(SynchronizerClosed("the synchroniser was closed"))

    def _drain(self, inbox: actors.Mailbox[EndOfSpeech | WaitPlayout]) -> None:
        """Handle what arrived at this very instant before ticking (flushes first)."""
        while len(self.control) or len(inbox):
            self._handle(actors.receive_first_nowait(self.control, inbox)[1])

    def _handle(self, message: Flush | EndOfSpeech | WaitPlayout) -> None:
        if message.epoch > self.epoch:  # its flush is still on the way: catch up
            self._flush(message.epoch)
        if isinstance(message, Flush):
            self._flush(message.epoch)
        elif isinstance(message, EndOfSpeech):
            if message.epoch == self.epoch:
                self.end = message.end
                if self.emitted_end is None and self.held is None and not len(self.packets):
                    self.emitted_end = self.end  # none of this turn's audio is left to play
                self._check_ended()
        elif message.epoch < self.epoch:
            message.reply.send(PlayoutResult(0.0, interrupted=True))
        elif self.speech is SpeechState.ENDED and message.epoch == self.epoch:
            message.reply.send(PlayoutResult(self.position, interrupted=False))
        else:
            self.waiters.append(message.reply)

    def _flush(self, epoch: int) -> None:
        if epoch <= self.epoch:
            return
        interrupted_at = self.position
        for reply in self.waiters:
            reply.send(PlayoutResult(interrupted_at, interrupted=True))
        stale = [self.held] if self.held is not None else []
        self._new_epoch(epoch)
        while len(self.packets):
            packet = self.packets.get_nowait()
            if packet.epoch >= epoch:
                self.held = packet
                break
            stale.append(packet)
        self._count_stale(stale)

    def _count_stale(self, packets: list[AudioPacket]) -> None:
        real = sum(packet.real for packet in packets)
        self.counters.dropped_stale_s += real / self.config.sample_rate

    def _next_packet(self, now: float) -> AudioPacket | None:
        """The packet to play now, if one is there and its playout may start."""
        packet = self.held
        self.held = None
        while packet is None or packet.epoch < self.epoch:
            if packet is not None:
                self._count_stale([packet])
            if not len(self.packets):
                return None
            packet = self.packets.get_nowait()
        if packet.epoch > self.epoch:
            self._flush(packet.epoch)
        if self.speech is SpeechState.IDLE:
            self.speech = SpeechState.PENDING
        if self.speech is SpeechState.PENDING:
            start_at = packet.first_arrival + self.config.playout_delay_s
            if now < start_at - EPS:
                self.held = packet
                return None
            self.speech = SpeechState.ACTIVE
        return packet

    def _tick(self, at: float) -> None:
        packet = self._next_packet(at) if self.speech is not SpeechState.ENDED else None
        index = self.state.ticks
        rate = self.config.sample_rate
        if packet is not None:
            self.emitted_samples += packet.real
            self.emitted_end = packet.start + packet.real
            self._check_ended()
            self.publisher.tell_nowait(AudioOut(self.epoch, index, packet.samples, at))
            self.ticks.tell_nowait(
                ClockTick(self.epoch, at, packet.start, packet.real, self.speech)
            )
        else:
            if self.speech is SpeechState.ACTIVE:
                if self.end is not None and self.held is None and not len(self.packets):
                    self.emitted_end = self.end  # the rest was dropped: nothing more will come
                    self._check_ended()
                else:
                    self.counters.underrun_s += self.config.packet_samples / rate
            self.publisher.tell_nowait(AudioOut(self.epoch, index, None, at))
            self.ticks.tell_nowait(ClockTick(self.epoch, at, None, 0, self.speech))
        self.counters.packets_emitted += 1

    def _check_ended(self) -> None:
        if self.end is None or self.emitted_end is None or self.emitted_end < self.end:
            return
        if self.speech is not SpeechState.ENDED:
            self.speech = SpeechState.ENDED
            self._release_waiters(None)

    def _release_waiters(self, error: BaseException | None) -> None:
        waiters, self.waiters = self.waiters, []
        for reply in waiters:
            if error is None:
                reply.send(PlayoutResult(self.position, interrupted=False))
            else:
                reply.fail(error)
