"""Real WebRTC sessions on 127.0.0.1 inside one trio run, for tests, examples and demos.

Everything here runs inside ``trio_asyncio.open_loop()``; aiortc objects are asyncio objects
and are called from trio through ``trio_asyncio.aio_as_trio``. Networking never leaves the
machine: peer connections are made with ``RTCConfiguration(iceServers=[])`` while
:func:`avsync.webrtc.loopback_candidates` restricts ICE to 127.0.0.1 host candidates. These
sessions run against the real clock: never under ``trio.testing.MockClock``, which would turn
aiortc's network timers virtual. Importing this module imports ``trio_asyncio``, which installs
its event-loop policy for the whole process (a later plain ``asyncio.run()`` then creates a
trio-asyncio loop); ``avsync`` itself never imports it.

::

    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config) as sync:
        async with loopback.open_peers(2) as (agent, user):
            avsync.webrtc.add_tracks(agent, sync)
            received = loopback.Receiver(user)  # records what the user's side gets
            await loopback.connect(agent, user)
            ...
            await received.aclose()

The second half of the module is marked media for measuring sync end to end: video frames that
carry their index in large luma blocks (:func:`avsync.marks.grid_frame`, readable after VP8),
and an utterance of tone bursts whose onsets fall on known frames (detectable after Opus).
:class:`MediaLog` records when each frame is handed over, by the sender (:class:`TapTrack`) or
to the receiver (:class:`Receiver`), and :meth:`MediaLog.skews_ms` turns that into A/V skew per
marker.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio
import trio_asyncio
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ._audio import int16_samples
from .marks import grid_frame, read_grid
from .webrtc import close_peer_connection, loopback_candidates

if TYPE_CHECKING:
    from ._synchronizer import Synchronizer

__all__ = [
    "AudioArrival",
    "MarkedUtterance",
    "MediaLog",
    "Receiver",
    "TapTrack",
    "VideoArrival",
    "close",
    "connect",
    "find_onsets",
    "open_peers",
    "tap",
]

CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0

# -- peer connections ----------------------------------------------------------------------------


@asynccontextmanager
async def open_peers(count: int = 2) -> AsyncIterator[list[RTCPeerConnection]]:
    """``count`` peer connections that can only reach each other over 127.0.0.1; all are
    closed on exit (shielded from cancellation, for at most ``CLOSE_TIMEOUT_S`` each).

    Must run inside ``trio_asyncio.open_loop()``. ICE is restricted to loopback host candidates
    for the whole block (see :func:`avsync.webrtc.loopback_candidates`), so keep the block around
    the negotiation of every connection it makes.
    """
    with loopback_candidates():
        peers = [RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in range(count)]
        try:
            yield peers
        finally:
            with trio.CancelScope(shield=True):
                for pc in peers:
                    with trio.move_on_after(CLOSE_TIMEOUT_S):
                        await close(pc)


async def close(pc: RTCPeerConnection) -> None:
    """Close ``pc`` from trio: :func:`avsync.webrtc.close_peer_connection`, which stops the
    tracks it sends before ``pc.close()`` (a plain close can hang under trio_asyncio)."""
    await trio_asyncio.aio_as_trio(close_peer_connection)(pc)


async def connect(
    offerer: RTCPeerConnection, answerer: RTCPeerConnection, *, timeout_s: float = CONNECT_TIMEOUT_S
) -> None:
    """Negotiate ``offerer`` with ``answerer`` (offer/answer with gathering complete, no trickle)
    and return once both are connected (ICE and DTLS done, media can flow).

    Add tracks before calling it. Raises ``trio.TooSlowError`` after ``timeout_s`` and
    ``ConnectionError`` if a connection fails. Cancellation leaves the connections half-made;
    close them.
    """
    with trio.fail_after(timeout_s):
        await trio_asyncio.aio_as_trio(_negotiate)(offerer, answerer)


async def _negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    connected = [_connected(offerer), _connected(answerer)]
    try:
        # aiortc gathers every candidate in setLocalDescription: the descriptions are complete
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await asyncio.gather(*connected)
    finally:
        for waiter in connected:
            waiter.cancel()


def _connected(pc: RTCPeerConnection) -> asyncio.Future[None]:
    """A future that is done when ``pc`` is connected (failed: ``ConnectionError``)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def changed() -> None:
        state = pc.connectionState
        if done.done():
            return
        if state == "connected":
            done.set_result(None)
        elif state in ("failed", "closed"):
            done.set_exception(ConnectionError(f"peer connection {state}"))

    def forget(_: object) -> None:
        pc.remove_listener("connectionstatechange", changed)

    pc.on("connectionstatechange", changed)
    done.add_done_callback(forget)
    changed()
    return done


# -- recording -----------------------------------------------------------------------------------


@attrs.define
class VideoArrival:
    """A video frame handed over: when (``time.monotonic()``), its pts, its decoded mark."""

    at: float
    pts: int | None
    mark: object  #: what the log's ``read`` made of the frame (default: a marked frame's index)


@attrs.define
class AudioArrival:
    """An audio frame handed over: when, its pts, its first channel as int16 samples."""

    at: float
    pts: int | None
    rate: int
    samples: npt.NDArray[np.int16]


@attrs.define
class MediaLog:
    """Every frame handed over at one point of a pipeline, in order, with its arrival time.

    ``read`` turns each video frame into its mark (None for an unmarked frame); ``listener``,
    if set, is called with each frame and its arrival time after it is logged.
    """

    video: list[VideoArrival] = attrs.Factory(list)
    audio: list[AudioArrival] = attrs.Factory(list)
    clock: Callable[[], float] = time.monotonic
    read: Callable[[av.VideoFrame], object] = attrs.field(default=lambda frame: read_grid(frame))
    listener: Callable[[object, float], None] | None = None

    def record(self, frame: object) -> None:
        at = self.clock()
        if isinstance(frame, av.VideoFrame):
            self.video.append(VideoArrival(at, frame.pts, self.read(frame)))
        elif isinstance(frame, av.AudioFrame):
            first_channel = int16_samples(frame)[:, 0].copy()
            self.audio.append(AudioArrival(at, frame.pts, frame.sample_rate, first_channel))
        if self.listener is not None:
            self.listener(frame, at)

    # -- analysis ---------------------------------------------------------------------------------

    def marks(self) -> list[Any]:
        """The marks of the marked frames, in arrival order, each once."""
        return list(self.first_arrivals())

    def first_arrivals(self) -> dict[Any, float]:
        """When each marked frame first arrived."""
        first: dict[Any, float] = {}
        for arrival in self.video:
            if arrival.mark is not None and arrival.mark not in first:
                first[arrival.mark] = arrival.at
        return first

    def onset_times(self, threshold: int = 4000) -> list[float]:
        """When each tone onset arrived: the arrival of its frame plus its position in it."""
        if not self.audio:
            return []
        samples = np.concatenate([arrival.samples for arrival in self.audio])
        starts = np.cumsum([0] + [len(arrival.samples) for arrival in self.audio])
        times = []
        for onset in find_onsets(samples, self.audio[0].rate, threshold):
            index = int(np.searchsorted(starts, onset, side="right")) - 1
            arrival = self.audio[index]
            times.append(arrival.at + (onset - starts[index]) / arrival.rate)
        return times

    def skews_ms(self, onset_frames: Sequence[int], threshold: int = 4000) -> list[float]:
        """A/V skew at each marker, in ms: (first arrival of the frame marking an onset) -
        (arrival of the onset). Positive: video late. The k-th onset heard is paired with
        ``onset_frames[k]``; raises ``ValueError`` if onsets or frames are missing."""
        onsets = self.onset_times(threshold)
        if len(onsets) != len(onset_frames):
            raise ValueError(f"{len(onsets)} tone onsets found, {len(onset_frames)} expected")
        first = self.first_arrivals()
        missing = [index for index in onset_frames if index not in first]
        if missing:
            raise ValueError(f"marked frames never arrived: {missing}")
        return [(first[index] - at) * 1000 for index, at in zip(onset_frames, onsets, strict=True)]


class TapTrack(MediaStreamTrack):
    """A pass-through track that records into ``log`` the instant each frame of ``source`` is
    handed to whoever pulls from it (aiortc's sender). Stopping it stops the source."""

    def __init__(self, source: MediaStreamTrack, log: MediaLog) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._log = log

    async def recv(self) -> Any:
        frame = await self._source.recv()
        self._log.record(frame)
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def tap(sender: RTCRtpSender, log: MediaLog) -> TapTrack:
    """Put a :class:`TapTrack` between ``sender`` and its track; call before :func:`connect`."""
    track = TapTrack(sender.track, log)
    sender.replaceTrack(track)
    return track


class Receiver:
    """Consumes every remote track of ``pc`` as it arrives and records it into :attr:`log`.

    Create it before :func:`connect`. Consumption runs as asyncio tasks that end when the
    tracks end (the connection closes); :meth:`aclose` cancels what is left.
    """

    def __init__(self, pc: RTCPeerConnection, log: MediaLog | None = None) -> None:
        self.log = MediaLog() if log is None else log
        self.kinds: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.kinds.append(track.kind)
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                self.log.record(await track.recv())
        except MediaStreamError:
            pass

    async def aclose(self) -> None:
        """Stop consuming (from trio); raises what a consumer raised (a failing ``MediaLog``
        listener, say) rather than losing it."""
        for task in self._tasks:
            task.cancel()
        if not self._tasks:
            return
        with trio.CancelScope(shield=True):
            outcomes = await trio_asyncio.aio_as_trio(_settle)(self._tasks)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome


async def _settle(tasks: list[asyncio.Task[None]]) -> list[object]:
    return list(await asyncio.gather(*tasks, return_exceptions=True))


# -- marked media --------------------------------------------------------------------------------


def find_onsets(
    samples: npt.NDArray[np.int16], rate: int, threshold: int, quiet_s: float = 0.05
) -> list[int]:
    """Indexes of the samples where a sound starts: the first sample whose magnitude exceeds
    ``threshold`` after at least ``quiet_s`` without any."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if len(loud) == 0:
        return []
    gaps = np.diff(loud) > quiet_s * rate
    return [int(loud[0])] + [int(i) for i in loud[1:][gaps]]


@attrs.frozen
class MarkedUtterance:
    """``duration_s`` of speech at ``fps``: silence with a ``tone_hz`` burst of ``tone_s``
    starting on every frame of ``onset_frames``, and a marked frame per frame index.

    Onsets fall on frame times, so the frame marking an onset and the onset itself belong to
    the same media instant: their skew is the A/V skew of the pipeline.
    """

    width: int
    height: int
    fps: int = 30
    rate: int = 48000
    duration_s: float = 3.5
    onset_frames: tuple[int, ...] = (15, 30, 45, 60, 75, 90)
    tone_hz: float = 1000.0
    tone_s: float = 0.1
    amplitude: float = 0.5

    @property
    def frame_count(self) -> int:
        return math.floor(self.duration_s * self.fps + 1e-9)

    def audio(self) -> npt.NDArray[np.int16]:
        samples = np.zeros(round(self.duration_s * self.rate), np.float64)
        burst = np.arange(round(self.tone_s * self.rate))
        # start at a quarter period so the onset sample is loud, not zero
        tone = np.sin(2 * np.pi * self.tone_hz * burst / self.rate + np.pi / 2)
        for index in self.onset_frames:
            start = index * self.rate // self.fps
            end = min(start + len(tone), len(samples))
            samples[start:end] = tone[: end - start]
        return np.round(samples * self.amplitude * 32767).astype(np.int16)

    async def perform(
        self,
        sync: Synchronizer,
        *,
        speed: float = 2.0,
        chunk_s: float = 0.02,
        epoch: int | None = None,
    ) -> None:
        """Write the utterance into ``sync`` at ``speed`` times real time, starting now: audio
        in ``chunk_s`` chunks, frames with pts on the audio timeline; then ``end_audio()``."""
        audio = self.audio()
        chunk = round(chunk_s * self.rate)
        events = [(first / self.rate, 0, first) for first in range(0, len(audio), chunk)]
        events += [(index / self.fps, 1, index) for index in range(self.frame_count)]
        events.sort()
        start = trio.current_time()
        for media, kind, value in events:
            await trio.sleep_until(start + media / speed)
            if kind == 0:
                await sync.write_audio(audio[value : value + chunk], epoch=epoch)
            else:
                frame = grid_frame(value, self.width, self.height)
                await sync.write_video(frame, pts=value / self.fps, epoch=epoch)
        await sync.end_audio(epoch=epoch)
