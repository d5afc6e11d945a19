"""The audio-ingest actor: converts written audio and cuts it into stamped packets."""

from __future__ import annotations

import trio

import actors

from ._ingest_state import IngestState
from ._messages import AudioIn, AudioPacket, EndAudio, EndOfSpeech, Flush, WaitPlayout

__all__ = ["AudioIngestActor"]


class AudioIngestActor(actors.Actor[AudioIn | EndAudio]):
    """Runs the :class:`~avsync._ingest_state.IngestState`: turns ``AudioIn`` chunks into
    packets of exactly ``packet_ms``, stamped with their epoch and media time, and hands them to
    the clock's packet buffer (the bounded audio buffer: its overflow policy is the config's,
    evictions are counted). After ``EndAudio`` it tells the clock where the speech ends.

    Flushes are taken first, also while waiting for room in the buffer: packets a flush made
    stale on the way are dropped (counted). Cancellation loses at most the chunk in hand.
    """

    def __init__(
        self,
        state: IngestState,
        control: actors.Mailbox[Flush],
        packets: actors.ActorRef[AudioPacket],
        clock_requests: actors.ActorRef[EndOfSpeech | WaitPlayout],
    ) -> None:
        self.state = state
        self.control = control
        self.packets = packets
        self.clock_requests = clock_requests

    async def run(self, context: actors.Context[AudioIn | EndAudio]) -> None:
        while True:
            try:
                _, message = await actors.receive_first(self.control, context.inbox)
            except trio.EndOfChannel:
                return
            if isinstance(message, Flush):
                self.state.flush(message.epoch)
            elif isinstance(message, AudioIn):
                self._apply_flushes()
                await self._send(self.state.chunk(message))
            else:
                self._apply_flushes()
                ended = self.state.end(message)
                if ended is not None and await self._send(ended[0]):
                    await self.clock_requests.tell(ended[1])

    def _apply_flushes(self) -> None:
        while len(self.control):
            self.state.flush(self.control.get_nowait().epoch)

    async def _send(self, packets: list[AudioPacket]) -> bool:
        """Hand ``packets`` (of one epoch) to the audio buffer, in order. Returns False if a
        flush made them stale on the way (the rest are then dropped and counted) or the
        synchroniser is closing."""
        state = self.state
        for index, packet in enumerate(packets):
            self._apply_flushes()
            if state.gate.is_stale(packet.epoch):  # a flush came while we waited for room
                state.drop(packets[index:])
                return False
            dropped_before = self.packets.dropped
            try:
                self.packets.tell_nowait(packet)
            except trio.WouldBlock:  # overflow="block" and the buffer is full: wait for room
                try:
                    await self.packets.tell(packet)
                except actors.MailboxClosed:
                    return False
            except actors.MailboxClosed:
                return False
            evicted = self.packets.dropped - dropped_before
            state.counters.dropped_overflow_s += evicted * packet.real / state.rate
        self._apply_flushes()
        return not packets or not state.gate.is_stale(packets[0].epoch)
