"""The audio ingest's state: written chunks in, stamped packets out. Pure state, no trio: the
audio-ingest actor is a thin loop around :class:`IngestState`.

Each chunk is converted to the output format (PyAV's resampler, through
:class:`~avsync._audio.AudioConverter`) and cut into packets of exactly ``packet_ms``
(:class:`~avsync._audio.Packetizer`), each stamped with its epoch and media time in output
samples. A chunk that starts after a gap (its ``start`` lies beyond the audio before it, as the
facade's :class:`~avsync._timeline.AudioTimeline` decided) is preceded by that much silence, so
media time stays true. ``end_audio()`` pads the last partial packet with silence and says where
the speech ends.

Every sample written comes out once, in order, unless a flush made it stale (counted).
"""

from __future__ import annotations

import attrs
import numpy as np

from ._audio import AudioConverter, Packetizer
from ._epochs import EpochGate
from ._messages import AudioIn, AudioPacket, EndAudio, EndOfSpeech, Samples

__all__ = ["IngestCounters", "IngestState"]


@attrs.define
class IngestCounters:
    """What the audio ingest counts (seconds of audio)."""

    dropped_stale_s: float = 0.0  #: written for an epoch that a flush ended on the way
    dropped_overflow_s: float = 0.0  #: evicted from the buffer (``overflow="drop-oldest"``)


class IngestState:
    """The epoch being ingested: converter, packetizer and the next packet's media time."""

    def __init__(self, *, sample_rate: int, layout: str, packet_samples: int) -> None:
        self.rate = sample_rate
        self.layout = layout
        self.channels = 1 if layout == "mono" else 2
        self.packet_samples = packet_samples
        self.gate = EpochGate()
        self.counters = IngestCounters()
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.converter = AudioConverter(self.rate, self.layout)
        self.packetizer = Packetizer(self.packet_samples, self.channels)
        self.next_start: int | None = None  #: media sample of the next packet's first sample
        self.first_arrival = 0.0  #: when the epoch's first audio arrived

    def flush(self, epoch: int) -> None:
        """Start ``epoch`` if it is newer; audio of the old one still held is dropped (counted)."""
        if not self.gate.advance(epoch):
            return
        pending = self.packetizer.pending + len(self.converter.flush())
        self.counters.dropped_stale_s += pending / self.rate
        self._start_epoch()

    def chunk(self, chunk: AudioIn) -> list[AudioPacket]:
        """The packets a written chunk completes (none if it is stale: counted)."""
        self.flush(chunk.epoch)
        if self.gate.is_stale(chunk.epoch):
            self.counters.dropped_stale_s += chunk.audio.duration
            return []
        parts: list[Samples] = []
        if self.next_start is None:
            self.first_arrival = chunk.arrived_at
            self.next_start = chunk.start or 0
        elif chunk.start is not None:  # after a gap: what the resampler holds, then silence
            held = self.converter.flush()
            written_end = self.next_start + self.packetizer.pending + len(held)
            gap = max(0, chunk.start - written_end)
            parts += [held, np.zeros((gap, self.channels), np.int16)]
        parts.append(self.converter.convert(chunk.audio))
        samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return self._stamp(chunk.epoch, [(p, len(p)) for p in self.packetizer.push(samples)])

    def max_packets(self, chunk: AudioIn) -> int:
        """At most how many packets :meth:`chunk` returns for ``chunk``: a bound to check room
        in the buffer with before taking it in."""
        samples = self.packetizer.pending + self.converter.max_output(chunk.audio)
        if chunk.start is not None and self.next_start is not None:
            samples += max(0, chunk.start - self.next_start)  # the most silence a gap adds
        return samples // self.packet_samples

    def end(self, message: EndAudio) -> tuple[list[AudioPacket], EndOfSpeech] | None:
        """The rest of the epoch's audio, the last packet padded, and where the speech ends
        (None if the epoch is stale)."""
        self.flush(message.epoch)
        if self.gate.is_stale(message.epoch):
            return None
        size = self.packet_samples
        parts = [(p, size) for p in self.packetizer.push(self.converter.flush())]
        last = self.packetizer.finish()
        if last is not None:
            parts.append(last)
        if self.next_start is None:  # a turn without audio
            self.next_start = 0
        packets = self._stamp(message.epoch, parts)
        end = packets[-1].start + packets[-1].real if packets else self.next_start
        return packets, EndOfSpeech(message.epoch, end)

    def drop(self, packets: list[AudioPacket]) -> None:
        """``packets`` went stale on their way to the buffer: count them."""
        self.counters.dropped_stale_s += sum(packet.real for packet in packets) / self.rate

    def _stamp(self, epoch: int, parts: list[tuple[Samples, int]]) -> list[AudioPacket]:
        assert self.next_start is not None
        packets = []
        for samples, real in parts:
            packets.append(AudioPacket(epoch, self.next_start, samples, real, self.first_arrival))
            self.next_start += len(samples)
        return packets
