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

    It is served (:func:`actors.serve`): while idle, a flush, or a chunk whose packets all fit
    in the buffer, is handled at once in the writer's task. A chunk that may have to wait for
    room (``overflow="block"``), and the end of the audio, are handled by the actor's own task.
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
        self.buffer_may_wait = packets.overflow is actors.Overflow.BLOCK

    async def run(self, context: actors.Context[AudioIn | EndAudio]) -> None:
        await actors.serve(
            self.control, context.inbox, handle_now=self._handle_now, handle=self._handle
        )

    def _handle_now(self, message: Flush | AudioIn | EndAudio) -> bool:
        """Flushes, and chunks whose packets fit in the buffer now; False for the rest."""
        if isinstance(message, Flush):
            self.state.flush(message.epoch)
            return True
        if isinstance(message, AudioIn) and (
            not self.buffer_may_wait or self.packets.room >= self.state.max_packets(message)
        ):
            self._offer(self.state.chunk(message))
            return True
        return False

    async def _handle(self, message: AudioIn | EndAudio) -> None:
        if isinstance(message, AudioIn):
            await self._send(self.state.chunk(message))
        else:
            ended = self.state.end(message)
            if ended is not None and await self._send(ended[0]):
                await self.clock_requests.tell(ended[1])

    def _apply_flushes(self) -> None:
        while len(self.control):
            self.state.flush(self.control.get_nowait().epoch)

    def _offer(self, packets: list[AudioPacket]) -> None:
        """Put ``packets`` in the buffer, which has room for them or evicts (counted)."""
        for packet in packets:
            self._put_nowait(packet)

    def _put_nowait(self, packet: AudioPacket) -> None:
        """Put one packet in the buffer without waiting; count what it evicts. Raises
        ``trio.WouldBlock`` when full under ``overflow="block"``; does nothing once closing."""
        dropped_before = self.packets.dropped
        try:
            self.packets.tell_nowait(packet)
        except actors.MailboxClosed:
            return
        evicted = self.packets.dropped - dropped_before
        self.state.counters.dropped_overflow_s += evicted * packet.real / self.state.rate

    async def _send(self, packets: list[AudioPacket]) -> bool:
        """Hand ``packets`` (of one epoch) to the audio buffer, in order, waiting for room.
        Returns False if a flush made them stale on the way (the rest are then dropped and
        counted) or the synchroniser is closing."""
        state = self.state
        for index, packet in enumerate(packets):
            self._apply_flushes()
            if state.gate.is_stale(packet.epoch):  # a flush came while we waited for room
                state.drop(packets[index:])
                return False
            try:
                self._put_nowait(packet)
            except trio.WouldBlock:  # overflow="block" and the buffer is full: wait for room
                try:
                    await self.packets.tell(packet)
                except actors.MailboxClosed:
                    return False
            if self.packets.closed:
                return False
        self._apply_flushes()
        return not packets or not state.gate.is_stale(packets[0].epoch)
