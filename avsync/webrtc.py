"""The WebRTC face: a synchroniser's outputs as aiortc tracks.

Use it where aiortc runs: inside ``trio_asyncio.open_loop()`` with the trio API, or in a plain
asyncio program through :class:`avsync.aio.AVSynchronizer`::

    async with trio_asyncio.open_loop():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        audio_sender, video_sender = avsync.webrtc.add_tracks(pc, sync)

Each track is an output of the synchroniser with its own small buffer: ``recv()`` returns every
frame at its emit time (never in bursts — aiortc stamps its RTCP sender reports with the send
time, so whatever it is handed late is heard late), with the publisher's pts. After ``aclose()``
the tracks are ended and ``recv()`` raises ``MediaStreamError`` at once, discarding anything
still queued, as aiortc's own tracks do.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

import aioice.ice
import av
import trio
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ._sink import SinkChannel, VideoChannel
from ._synchronizer import Synchronizer

__all__ = [
    "HasTracks",
    "SyncAudioTrack",
    "SyncVideoTrack",
    "add_tracks",
    "close_peer_connection",
    "loopback_candidates",
    "tracks",
]

F = TypeVar("F", av.AudioFrame, av.VideoFrame)


class _SyncTrack(MediaStreamTrack, Generic[F]):
    """An aiortc track that hands over what one synchroniser output receives."""

    def __init__(self, output: SinkChannel[F]) -> None:
        super().__init__()
        self._output: SinkChannel[F] = output
        self._waiter: asyncio.Future[None] | None = None
        self._start: Callable[[], Awaitable[None]] | None = None
        output.set_listener(self._wake)

    def start_on_recv(self, start: Callable[[], Awaitable[None]]) -> None:
        """Have the first ``recv()`` await ``start()`` first (the asyncio face starts its
        synchroniser so). If ``start()`` raises, that ``recv()`` raises ``MediaStreamError``."""
        self._start = start

    @property
    def readyState(self) -> str:
        return "ended" if self._output.closed else str(super().readyState)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> F:
        """The next frame, at its emit time. Raises ``MediaStreamError`` once the track has
        ended (the synchroniser was closed, or ``stop()`` was called)."""
        if self._start is not None and super().readyState == "live":
            try:
                await self._start()
            except Exception as error:
                self.stop()
                raise MediaStreamError from error
            self._start = None
        while True:
            if self._output.closed or super().readyState != "live":
                if super().readyState == "live":
                    self.stop()
                raise MediaStreamError
            try:
                return self._take()
            except trio.WouldBlock:
                pass
            except (trio.EndOfChannel, trio.ClosedResourceError):
                self.stop()
                raise MediaStreamError from None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take(self) -> F:
        """The next frame to hand over, if one is there (else ``trio.WouldBlock``)."""
        return self._output.receive_nowait()

    def stop(self) -> None:
        """End this track only and detach it from the synchroniser's output: its ``recv()``
        raises ``MediaStreamError`` from then on; the synchroniser and its other outputs go on,
        and writes keep working."""
        super().stop()
        self._output.close()
        self._wake()

    @property
    def dropped(self) -> int:
        """Frames this track lost because aiortc fell behind (its buffer drops the oldest)."""
        return self._output.dropped


class SyncAudioTrack(_SyncTrack[av.AudioFrame]):
    """The synchronised audio: s16 frames of ``packet_ms``, pts on 1/sample_rate, every packet
    in order (audio is never skipped)."""

    kind = "audio"

    def __init__(self, output: SinkChannel[av.AudioFrame], *, sample_rate: int, channels: int):
        super().__init__(output)
        self.sample_rate = sample_rate
        self.channels = channels


class SyncVideoTrack(_SyncTrack[av.VideoFrame]):
    """The synchronised video: yuv420p frames of ``width x height``, pts on 1/90000.

    ``recv()`` hands over every new frame, but not a repeat (or placeholder) that something
    newer has already superseded: a consumer that reads late, or for the first time, gets what is
    on screen now, not a backlog of stale repeats."""

    kind = "video"

    def __init__(self, output: VideoChannel, *, width: int, height: int, fps: float) -> None:
        super().__init__(output)
        self._video_output = output
        self.width = width
        self.height = height
        self.fps = fps

    def _take(self) -> av.VideoFrame:
        return self._video_output.receive_current_nowait()


class HasTracks(Protocol):
    """Anything with a synchroniser's two tracks, such as ``aio.AVSynchronizer``."""

    @property
    def audio_track(self) -> SyncAudioTrack: ...

    @property
    def video_track(self) -> SyncVideoTrack: ...


_tracks: weakref.WeakKeyDictionary[Synchronizer, tuple[SyncAudioTrack, SyncVideoTrack]] = (
    weakref.WeakKeyDictionary()
)


def tracks(sync: Synchronizer) -> tuple[SyncAudioTrack, SyncVideoTrack]:
    """The synchroniser's audio and video as aiortc tracks: one pair per synchroniser, made on
    the first call from two of its outputs (``audio_frames()`` / ``video_frames()``). They may be
    made before the synchroniser runs; they end when it closes."""
    pair = _tracks.get(sync)
    if pair is None:
        config = sync.config
        audio = SyncAudioTrack(
            sync.audio_frames(), sample_rate=config.sample_rate, channels=config.channels
        )
        video = SyncVideoTrack(
            sync.video_frames(), width=config.width, height=config.height, fps=config.fps
        )
        pair = _tracks[sync] = (audio, video)
    return pair


def add_tracks(
    pc: RTCPeerConnection, sync: Synchronizer | HasTracks
) -> tuple[RTCRtpSender, RTCRtpSender]:
    """Add the synchroniser's audio and video tracks (:func:`tracks`, or the asyncio face's) to
    ``pc`` as one MediaStream and return the two senders (audio, video).

    A browser lip-syncs two tracks only when they belong to one MediaStream (the same msid in
    the SDP); some aiortc versions give each sender a stream id of its own, so both senders are
    given the same one here.
    """
    audio, video = (
        tracks(sync) if isinstance(sync, Synchronizer) else (sync.audio_track, sync.video_track)
    )
    audio_sender = pc.addTrack(audio)
    video_sender = pc.addTrack(video)
    video_sender._stream_id = audio_sender._stream_id
    return audio_sender, video_sender


async def close_peer_connection(pc: RTCPeerConnection) -> None:
    """Close ``pc`` reliably (an asyncio coroutine): stop the tracks it sends, then close it.

    Under trio-asyncio a plain ``pc.close()`` can wait for as long as a synchroniser track
    lives: aiortc's sender cancels its RTP task while that task awaits the encoder in
    ``loop.run_in_executor``; trio-asyncio cannot interrupt the thread call and resolves the
    future with the encoder's result, so the task never sees the cancellation and goes on pulling
    from the track. A stopped track ends that loop at its next ``recv()``. From trio, call it as
    ``await trio_asyncio.aio_as_trio(close_peer_connection)(pc)``.
    """
    for sender in pc.getSenders():
        if sender.track is not None:
            sender.track.stop()
    await pc.close()


@contextmanager
def loopback_candidates() -> Iterator[None]:
    """Make aioice gather host candidates on 127.0.0.1 only, for tests and demos that must not
    leave the machine. (aioice advertises every interface by default and skips loopback.)

    Use together with ``RTCConfiguration(iceServers=[])`` so that no STUN or TURN server is asked.
    Restores aioice on exit. Not thread-safe: it patches a module attribute.
    """
    original = aioice.ice.get_host_addresses

    def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = loopback_only
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original
