"""What the browser benchmark plays: marked media, the calibration source, and a misbehaving
real-time provider feeding a synchroniser (avsync or the enqueue-time baseline).

The media is one long utterance of tone bursts (:class:`avsync.loopback.MarkedUtterance`: a
burst starts on every 30th frame, at 0.5 s, 1.5 s, ...) with frames that carry their index in a
marker strip (:func:`avsync.marks.paint_strip`, epoch 0), which the page reads back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio
import trio_asyncio
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from avsync.loopback import MarkedUtterance
from avsync.marks import STRIP_INDEX_LIMIT, paint_strip
from avsync_demo._page import PageOnset, page_onsets
from avsync_demo._script import Write

__all__ = [
    "ChannelTrack",
    "Media",
    "PacedTracks",
    "ProviderPlan",
    "SynchroniserLike",
    "add_as_one_stream",
    "misbehaving_provider",
    "play",
]

PACKET_S = 0.02
ONSET_EVERY = 30  #: frames between tone onsets (one a second at 30 fps)


@attrs.frozen
class Media:
    """``duration_s`` of marked media at ``fps`` and ``rate``, frames ``width`` x ``height``."""

    width: int
    height: int
    duration_s: float
    fps: int = 30
    rate: int = 48000

    def __attrs_post_init__(self) -> None:
        if self.frame_count > STRIP_INDEX_LIMIT:
            raise ValueError(f"at most {STRIP_INDEX_LIMIT / self.fps:g} s of marked media")

    @property
    def frame_count(self) -> int:
        return math.floor(self.duration_s * self.fps + 1e-9)

    @property
    def utterance(self) -> MarkedUtterance:
        onsets = tuple(range(ONSET_EVERY // 2, self.frame_count, ONSET_EVERY))
        return MarkedUtterance(
            self.width, self.height, self.fps, self.rate, self.duration_s, onset_frames=onsets
        )

    def audio(self) -> npt.NDArray[np.int16]:
        return self.utterance.audio()

    def frame(self, index: int) -> av.VideoFrame:
        """Frame ``index``: mid-grey, its index in the marker strip (yuv420p, output size)."""
        image = np.full((self.height * 3 // 2, self.width), 128, np.uint8)
        paint_strip(image[: self.height], 0, index)
        return av.VideoFrame.from_ndarray(image, format="yuv420p")

    def page_onsets(self) -> list[PageOnset]:
        utterance = self.utterance
        return page_onsets(
            self.audio(),
            rate=self.rate,
            fps=self.fps,
            epoch=0,
            onset_frames=utterance.onset_frames,
        )


# -- the calibration source ------------------------------------------------------------------------


class _PacedTrack(MediaStreamTrack):
    """One track of :class:`PacedTracks`: item ``n`` handed over at ``start + n * period``."""

    def __init__(self, kind: str, period: float, make: Callable[[int], Any], start: list[float]):
        super().__init__()
        self.kind = kind
        self._period = period
        self._make = make
        self._start = start
        self._next = 0

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if not self._start:
            self._start.append(loop.time())
        await asyncio.sleep(max(0.0, self._start[0] + self._next * self._period - loop.time()))
        item = self._make(self._next)
        self._next += 1
        return item


class PacedTracks:
    """The calibration source: ``media`` as two aiortc tracks paced on one clock, no
    synchroniser. Both start at the first ``recv()`` of either; audio packet ``n`` (20 ms) is
    handed over at start + 20 ms * n, frame ``k`` at start + k / fps, each with the pts of that
    instant, so the source is in sync by construction. The media loops after its end."""

    def __init__(self, media: Media) -> None:
        self.media = media
        audio = media.audio()
        packet = round(PACKET_S * media.rate)
        audio = np.concatenate([audio, np.zeros(-len(audio) % packet, np.int16)])
        self._packets = audio.reshape(-1, packet)
        start: list[float] = []
        self.audio = _PacedTrack("audio", PACKET_S, self._audio_frame, start)
        self.video = _PacedTrack("video", 1 / media.fps, self._video_frame, start)

    def _audio_frame(self, number: int) -> av.AudioFrame:
        samples = self._packets[number % len(self._packets)]
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = self.media.rate
        frame.pts = number * len(samples)
        frame.time_base = Fraction(1, self.media.rate)
        return frame

    def _video_frame(self, number: int) -> av.VideoFrame:
        frame = self.media.frame(number % self.media.frame_count)
        frame.pts = round(number * 90000 / self.media.fps)
        frame.time_base = Fraction(1, 90000)
        return frame


def add_as_one_stream(
    pc: RTCPeerConnection, audio: MediaStreamTrack, video: MediaStreamTrack
) -> None:
    """Add two tracks to ``pc`` in one MediaStream, as :func:`avsync.webrtc.add_tracks` does
    for a synchroniser's (a browser lip-syncs only tracks of one stream)."""
    audio_sender = pc.addTrack(audio)
    pc.addTrack(video)._stream_id = audio_sender._stream_id


class ChannelTrack(MediaStreamTrack):
    """An aiortc track that hands over what a trio channel yields (the baseline's outputs), as
    it comes. Use inside ``trio_asyncio.open_loop()``."""

    def __init__(self, kind: str, channel: trio.abc.ReceiveChannel[Any]) -> None:
        super().__init__()
        self.kind = kind
        self._receive = trio_asyncio.trio_as_aio(channel.receive)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            return await self._receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self.stop()
            raise MediaStreamError from None


# -- the misbehaving provider ----------------------------------------------------------------------


@attrs.frozen
class ProviderPlan:
    """A real-time provider's writes: 20 ms audio chunks as their media time comes, each frame
    40-100 ms behind its audio (jittered), both streams stopping for ``stall_s`` at
    ``stall_at`` (media seconds), and ``burst_s`` of media written at once at ``burst_at``."""

    writes: tuple[Write, ...]
    stall_at: float
    stall_s: float
    burst_at: float
    burst_s: float


def misbehaving_provider(
    media: Media, *, seed: int = 1, stall_s: float = 0.4, burst_s: float = 2.0
) -> ProviderPlan:
    """The provider's timetable for ``media``: the stall at 20% of it, the burst at 40% (0 s
    for either: none)."""
    rng = np.random.default_rng(seed)
    stall_at = round(0.2 * media.duration_s)
    burst_at = round(0.4 * media.duration_s)

    def when(media_s: float) -> float:
        """Seconds after the start at which the provider has the media of ``media_s``."""
        at = media_s + (stall_s if media_s >= stall_at else 0.0)
        if media_s >= burst_at:  # the burst's media comes at once, the rest that much early
            at -= min(media_s - burst_at, burst_s)
        return at

    packet = round(PACKET_S * media.rate)
    total = round(media.duration_s * media.rate)
    writes = [
        Write(when(first / media.rate), 1, "audio", first, min(packet, total - first))
        for first in range(0, total, packet)
    ]
    writes += [
        Write(when(index / media.fps) + float(rng.uniform(0.04, 0.1)), 1, "video", index)
        for index in range(media.frame_count)
    ]
    # Writes due at one instant (the burst's) go in media order, audio first: ``when`` gives
    # them times a float rounding apart, which must not reorder them (audio without pts is
    # written in sequence: reordered, its content would be permuted).
    writes.sort(key=lambda write: (round(write.at, 6), write.kind != "audio", write.first))
    return ProviderPlan(tuple(writes), stall_at, stall_s, burst_at, burst_s)


class SynchroniserLike(Protocol):
    """What :func:`play` writes into: avsync's ``Synchronizer`` or the baseline."""

    async def write_audio(
        self, samples: npt.NDArray[np.int16], *, epoch: int | None = None
    ) -> None: ...

    async def write_video(
        self, frame: av.VideoFrame, *, pts: float | None = None, epoch: int | None = None
    ) -> None: ...


async def play(sync: SynchroniserLike, plan: ProviderPlan, media: Media, origin: float) -> None:
    """Write ``plan`` into ``sync`` with its time 0 at trio time ``origin`` (frames with pts)."""
    audio = media.audio()
    for write in plan.writes:
        await trio.sleep_until(origin + write.at)
        if write.kind == "audio":
            await sync.write_audio(audio[write.first : write.first + write.count], epoch=0)
        else:
            frame = media.frame(write.first)
            await sync.write_video(frame, pts=write.first / media.fps, epoch=0)
