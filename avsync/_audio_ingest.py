"""The audio-ingest actor: converts written audio and cuts it into stamped packets."""

from __future__ import annotations

import attrs
import numpy as np
import trio

import actors

from ._audio import AudioConverter, Packetizer, duration_samples
from ._config import SyncConfig
from ._messages import AudioIn, AudioPacket, EndAudio, EndOfSpeech, Flush, Samples, WaitPlayout

__all__ = ["AudioIngestActor", "IngestCounters"]

PTS_JITTER_S = 0.001  # a gap in audio pts up to this long is jitter, not silence


@attrs.define
class IngestCounters:
    """What the audio ingest counts (seconds of audio)."""

    dropped_stale_s: float = 0.0  #: written for an epoch that a flush ended on the way
    dropped_overflow_s: float = 0.0  #: evicted from the buffer (``overflow="drop-oldest"``)


class AudioIngestActor(actors.Actor[AudioIn | EndAudio]):
    """Turns ``AudioIn`` chunks into packets of exactly ``packet_ms`` in the output format,
    stamped with their epoch and media time, and hands them to the clock's packet buffer (which
    is the bounded audio buffer: its overflow policy is the config's).

    Every sample written comes out once, unless a flush or the overflow policy dropped it
    (counted). A gap in audio pts is filled with silence. Cancellation loses at most the chunk
    being converted.
    """

    def __init__(
        self,
        config: SyncConfig,
        control: actors.Mailbox[Flush],
        packets: actors.ActorRef[AudioPacket],
        clock_requests: actors.ActorRef[EndOfSpeech | WaitPlayout],
        counters: IngestCounters,
    ) -> None:
        self.config = config
        self.control = control
        self.packets = packets
        self.clock_requests = clock_requests
        self.counters = counters
        self.epoch = 0
        self._start_epoch(0)

    def _start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.converter = AudioConverter(self.config.sample_rate, self.config.layout)
        self.packetizer = Packetizer(self.config.packet_samples, self.config.channels)
        self.next_start: int | None = None  # media sample of the next packet's first sample
        self.first_arrival = 0.0

    async def run(self, context: actors.Context[AudioIn | EndAudio]) -> None:
        while True:
            try:
                _, message = await actors.receive_first(self.control, context.inbox)
            except trio.EndOfChannel:
                return
            if isinstance(message, Flush):
                self._flush(message.epoch)
            elif isinstance(message, AudioIn):
                await self._audio(message)
            else:
                await self._end(message)

    def _flush(self, epoch: int) -> None:
        if epoch <= self.epoch:
            return
        pending = self.packetizer.pending + len(self.converter.flush())
        self.counters.dropped_stale_s += pending / self.config.sample_rate
        self._start_epoch(epoch)

    def _apply_flushes(self) -> None:
        while len(self.control):
            self._flush(self.control.get_nowait().epoch)

    def _is_stale(self, epoch: int) -> bool:
        self._apply_flushes()
        if epoch > self.epoch:
            self._flush(epoch)
        return epoch < self.epoch

    async def _audio(self, chunk: AudioIn) -> None:
        rate = self.config.sample_rate
        if self._is_stale(chunk.epoch):
            self.counters.dropped_stale_s += chunk.audio.duration
            return
        samples = self.converter.convert(chunk.audio)
        if self.next_start is None:
            self.first_arrival = chunk.arrived_at
            self.next_start = duration_samples(chunk.pts or 0.0, rate)
        elif chunk.pts is not None:
            gap = duration_samples(chunk.pts, rate) - (self.next_start + self.packetizer.pending)
            if gap > PTS_JITTER_S * rate:  # the writer skipped ahead: silence keeps media time
                silence = np.zeros((gap, self.config.channels), np.int16)
                samples = np.concatenate([silence, samples])
        size = self.config.packet_samples
        await self._send(chunk.epoch, [(packet, size) for packet in self.packetizer.push(samples)])

    async def _end(self, message: EndAudio) -> None:
        if self._is_stale(message.epoch):
            return
        size = self.config.packet_samples
        packets = [(packet, size) for packet in self.packetizer.push(self.converter.flush())]
        last = self.packetizer.finish()
        if last is not None:
            packets.append(last)
        if self.next_start is None:  # a turn without audio
            self.next_start = 0
        if await self._send(message.epoch, packets):
            end = self.next_start - (size - packets[-1][1] if packets else 0)
            await self.clock_requests.tell(EndOfSpeech(message.epoch, end))

    async def _send(self, epoch: int, packets: list[tuple[Samples, int]]) -> bool:
        """Hand ``(samples, real samples)`` packets to the audio buffer, in order. Returns False
        if a flush made them stale on the way (the rest are then dropped and counted)."""
        rate = self.config.sample_rate
        for index, (samples, real) in enumerate(packets):
            if self._is_stale(epoch):  # a flush arrived while we waited for room
                self.counters.dropped_stale_s += sum(n for _, n in packets[index:]) / rate
                return False
            assert self.next_start is not None
            packet = AudioPacket(epoch, self.next_start, samples, real, self.first_arrival)
            self.next_start += len(samples)
            dropped_before = self.packets.stats().dropped
            try:
                self.packets.tell_nowait(packet)
            except trio.WouldBlock:  # overflow="block" and the buffer is full: wait for room
                try:
                    await self.packets.tell(packet)
                except actors.MailboxClosed:
                    return False  # the synchroniser is closing
            except actors.MailboxClosed:
                return False
            evicted = self.packets.stats().dropped - dropped_before
            if evicted:
                self.counters.dropped_overflow_s += evicted * len(samples) / rate
        return not self._is_stale(epoch)
