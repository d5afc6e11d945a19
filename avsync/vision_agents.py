"""The Vision-Agents 0.6 face: :class:`AVSynchronizer`, a drop-in for
``vision_agents.core.avatars.av_synchronizer.AVSynchronizer``.

::

    from avsync.vision_agents import AVSynchronizer  # instead of Vision-Agents' own

    sync = AVSynchronizer(width=1920, height=1080, fps=30, max_queue_size=300)
    sync.video_output  # a QueuedVideoTrack, published by the Agent
    sync.audio_output  # an AudioOutputStream, drained by the Agent into its audio track
    await sync.write_audio(pcm)  # getstream PcmData, as the avatar provider sends it
    await sync.write_video(frame)  # av.VideoFrame, any size (letterboxed)
    await sync.flush()  # a barge-in

Behind it runs avsync's synchroniser (:class:`avsync.aio.AVSynchronizer`). Vision-Agents'
Agent drains ``audio_output`` into its edge's audio track (getstream's ``AudioStreamTrack``,
48 kHz mono, with a pacer of its own), so what users hear is paced by that track. This face
therefore hands the Agent each 20 ms packet of speech when avsync's clock emits it, never
ahead: the track plays it at its next 20 ms slot, 0-20 ms later (the pacer's phase, which
nothing here can see). Video is shown half a packet (10 ms) after its audio is emitted
(``av_offset_s``), which centres that error: whatever the phase, a frame is within 10 ms of its
audio as the two tracks publish them (docs/design.md, "The Vision-Agents face"). Packets of
silence are not handed over: the track makes its own silence when it has nothing, and so any
backlog in its buffer drains at each pause.

Rules of ``audio_output``:

- It holds only what was emitted in the last :data:`HOLD_S` (two packets): an older chunk, one
  the Agent has not drained (before a participant joins, it does not drain at all, or while the
  loop is stalled), would be heard late, so it is dropped and counted
  (:attr:`AVSynchronizer.audio_dropped_undrained_s`). The stream never grows without bound and
  never dumps a backlog into the track.
- :meth:`AVSynchronizer.flush` is avsync's turn change, then the stream's pending chunks are
  dropped and an ``AudioOutputFlush`` is sent, so that the Agent clears its track too.

Needs Vision-Agents 0.6 (``pip install 'avsync[vision-agents]'``). Everything here must be used
from the thread of the asyncio loop it runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any, Unpack

import av
import av.frame
from aiortc.mediastreams import MediaStreamError

try:
    from getstream.video.rtc.track_util import AudioFormat, PcmData
    from vision_agents.core.agents.inference.audio import (
        AudioOutputChunk,
        AudioOutputFlush,
        AudioOutputStream,
    )
    from vision_agents.core.utils.video_track import QueuedVideoTrack, VideoTrackClosedError
except ImportError as error:  # pragma: no cover - exercised by tests/avsync/test_vision_agents
    raise ImportError(
        "avsync.vision_agents needs Vision-Agents 0.6; install it with: "
        "pip install 'avsync[vision-agents]'"
    ) from error

from . import aio
from ._stats import PlayoutResult, Stats
from .webrtc import SyncVideoTrack

__all__ = ["AVSynchronizer", "TrackClosedError"]

RATE = 48000  #: the Agent's audio track: 48 kHz mono
PACKET_S = 0.02  #: one packet: the Agent's track plays 20 ms frames
#: audio_output drops a chunk not drained this long after avsync emitted it
HOLD_S = 2 * PACKET_S
#: the colour Vision-Agents' tracks show before the first frame (PIL's "blue")
PLACEHOLDER_RGB = (0, 0, 255)


class TrackClosedError(VideoTrackClosedError, MediaStreamError):
    """``video_output.recv()`` after a stop: Vision-Agents' error, and aiortc's, so that an
    aiortc sender ends quietly."""


@dataclasses.dataclass
class _PacedChunk(AudioOutputChunk):
    """A chunk of speech with the loop time avsync emitted it at."""

    emitted_at: float = 0.0


def _emitted_before(item: object, limit: float) -> bool:
    """Whether ``item`` is a packet avsync emitted before ``limit`` (a flush never is)."""
    return isinstance(item, _PacedChunk) and item.emitted_at < limit


class _AudioOutput(AudioOutputStream):
    """The stream the Agent drains: avsync's speech packets as they are emitted, each dropped
    if not drained within :data:`HOLD_S`."""

    def __init__(self, owner: AVSynchronizer) -> None:
        super().__init__()
        self._owner = owner
        self.dropped_s = 0.0

    def put_packet(self, pcm: PcmData, now: float) -> None:
        """Queue a packet emitted at ``now`` (after dropping what is too old to be heard in
        sync). Raises ``StreamClosed`` once closed."""
        self._drop_older_than(now - HOLD_S)
        # (Stream's own send_nowait: the packet is one 20 ms chunk already, nothing to re-cut)
        super(AudioOutputStream, self).send_nowait(_PacedChunk(data=pcm, emitted_at=now))

    def _drop_older_than(self, limit: float) -> None:
        items = self._items
        while items and _emitted_before(items[0], limit):
            self.dropped_s += PACKET_S
            items.popleft()

    async def get(self) -> AudioOutputChunk | AudioOutputFlush:
        """The next chunk or flush; starts the synchroniser if nothing did before."""
        self._owner._ensure_started()
        while True:
            item = await super().get()
            if not _emitted_before(item, asyncio.get_running_loop().time() - HOLD_S):
                return item
            self.dropped_s += PACKET_S


class _VideoOutput(QueuedVideoTrack):
    """Vision-Agents' ``QueuedVideoTrack``, showing what avsync's video track emits."""

    def __init__(self, owner: AVSynchronizer, source: SyncVideoTrack, fps: int) -> None:
        super().__init__(width=source.width, height=source.height, fps=fps, max_queue_size=1)
        self._owner = owner
        self._source = source
        self._slot: av.VideoFrame | None = None  #: the frame of the slot taken last

    async def add_frame(self, frame: av.VideoFrame) -> None:
        """Write ``frame`` to the synchroniser (as :meth:`AVSynchronizer.write_video`); ignored
        once the track is stopped, as Vision-Agents' track does."""
        if not self._stopped:
            await self._owner.write_video(frame)

    async def next_timestamp(self) -> tuple[int, Any]:
        """Wait for the next frame slot and return its ``(pts, time_base)`` (90 kHz, paced at
        ``fps`` by avsync's clock), as Vision-Agents' track does: each call takes a slot, and
        :meth:`recv` shows the frame of the slot it takes. Raises :class:`TrackClosedError`
        once the track or the synchroniser has ended."""
        if self._stopped or self.readyState != "live":
            raise TrackClosedError("Track stopped")
        try:
            self._slot = await self._source.recv()
        except MediaStreamError:
            raise TrackClosedError("Track stopped") from None
        return self._slot.pts or 0, self._slot.time_base

    async def recv(self) -> av.frame.Frame:
        """The next frame, when it is due; the placeholder (blue by default) until the first.
        Raises :class:`TrackClosedError` once the track or the synchroniser has ended."""
        await self.next_timestamp()
        assert self._slot is not None
        self.last_frame = self._slot
        return self._slot

    def stop(self) -> None:
        """End this track (``recv()`` raises :class:`TrackClosedError`); writes go on."""
        self._source.stop()
        super().stop()


class AVSynchronizer:
    """Vision-Agents 0.6's ``AVSynchronizer``, kept in sync by avsync.

    The same constructor, ``video_output`` (a ``QueuedVideoTrack``), ``audio_output`` (an
    ``AudioOutputStream``), ``write_video``, ``write_audio``, ``flush`` and ``close``. Extras:
    ``pts=`` and ``epoch=`` on the writes, :meth:`start_turn`, :meth:`wait_for_playout`,
    :meth:`stats`, :attr:`overloaded`, :meth:`aclose`. Other :class:`~avsync.SyncConfig`
    fields are keywords (``placeholder_rgb``, ``av_offset_s``, ...). The constructor needs no
    running loop; the synchroniser starts on the first awaited call, or when the Agent first
    reads either output.
    """

    def __init__(
        self,
        width: int = 1920,
        height: int = 1080,
        fps: int = 30,
        max_queue_size: int = 300,
        **options: Unpack[aio.SyncOptions],
    ) -> None:
        options.setdefault("placeholder_rgb", PLACEHOLDER_RGB)
        options.setdefault("await_following_audio", True)
        options.setdefault("av_offset_s", PACKET_S / 2)
        options.setdefault("packet_ms", PACKET_S * 1000)
        self._sync = aio.AVSynchronizer(
            width,
            height,
            fps,
            max(1, max_queue_size),
            sample_rate=RATE,
            channels=1,
            **options,
        )
        self._audio_output = _AudioOutput(self)
        self._video_output = _VideoOutput(self, self._sync.video_track, fps)
        self._pump: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # -- Vision-Agents' API ----------------------------------------------------------------------

    @property
    def video_output(self) -> QueuedVideoTrack:
        """The video to publish: a ``QueuedVideoTrack`` (``width``, ``height``, ``fps``,
        ``next_timestamp()``, ``stop()``)."""
        return self._video_output

    @property
    def audio_output(self) -> AudioOutputStream:
        """The audio for the Agent to drain into its audio track (see the module docstring)."""
        return self._audio_output

    async def write_video(
        self, frame: av.VideoFrame, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Queue a frame; another size is letterboxed. Shown when the audio written before it
        is heard (or, with ``pts``, the audio at that media time). See
        :meth:`avsync.aio.AVSynchronizer.write_video`."""
        self._ensure_started()
        await self._sync.write_video(frame, pts=pts, epoch=epoch)

    async def write_audio(
        self, pcm: PcmData, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Queue speech: getstream's ``PcmData`` (any rate, mono or stereo, s16 or f32), or any
        input :meth:`avsync.aio.AVSynchronizer.write_audio` takes."""
        self._ensure_started()
        await self._sync.write_audio(pcm, pts=pts, epoch=epoch)

    async def flush(self) -> int:
        """A barge-in: avsync's turn change (no frame or packet of the old turn is put out once
        it returns), the chunks ``audio_output`` still holds dropped, and an
        ``AudioOutputFlush`` sent so that the Agent clears its track. Returns the new epoch."""
        self._ensure_started()
        epoch = await self._sync.start_turn()
        self._audio_output.clear()
        with contextlib.suppress(Exception):  # (a closed stream: nothing to clear downstream)
            await self._audio_output.flush()
        return epoch

    def close(self) -> None:
        """End both outputs and close the synchroniser (in the background when a loop runs;
        :meth:`aclose` waits for it)."""
        self._audio_output.close()
        self._video_output.stop()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # (never started on a loop: nothing runs)
        if self._closer is None:
            self._closer = loop.create_task(self.aclose(), name="avsync.vision_agents close")

    # -- avsync's extras -------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The current epoch: pass it as ``epoch=`` with a turn's writes, so that writes of a
        turn that ``flush()`` ended are dropped."""
        return self._sync.epoch

    @property
    def overloaded(self) -> bool:
        """Whether the process cannot keep up with this session (see
        :attr:`avsync.Synchronizer.overloaded`)."""
        return self._sync.overloaded

    @property
    def audio_dropped_undrained_s(self) -> float:
        """Speech dropped from ``audio_output`` because the Agent did not drain it in time."""
        return self._audio_output.dropped_s

    async def start_turn(self) -> int:
        """The same as :meth:`flush`."""
        return await self.flush()

    async def wait_for_playout(self) -> PlayoutResult:
        """End the turn's audio and wait until avsync has emitted it (handed it to the Agent).
        See :meth:`avsync.aio.AVSynchronizer.wait_for_playout`."""
        self._ensure_started()
        await self._sync.end_audio()
        return await self._sync.wait_for_playout()

    def stats(self) -> Stats:
        """avsync's counters (see :meth:`avsync.Synchronizer.stats`); ``RuntimeError`` before
        the start."""
        return self._sync.stats()

    async def aclose(self) -> None:
        """Close and wait until everything has ended. Idempotent."""
        self._audio_output.close()
        self._video_output.stop()
        await self._sync.aclose()
        if self._pump is not None:
            await asyncio.wait((self._pump,))

    # -- the pump --------------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        """Start the task that hands avsync's speech to ``audio_output`` (its first ``recv()``
        starts the synchroniser)."""
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(
                self._run_pump(), name="avsync.vision_agents audio"
            )

    async def _run_pump(self) -> None:
        track = self._sync.audio_track
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError):
            while not self._audio_output.closed():
                frame = await track.recv()
                samples = frame.to_ndarray().reshape(-1)
                if not samples.any():
                    continue  # silence: the Agent's track makes its own
                pcm = PcmData(sample_rate=RATE, format=AudioFormat.S16, samples=samples)
                if self._audio_output.closed():
                    return
                self._audio_output.put_packet(pcm, loop.time())
