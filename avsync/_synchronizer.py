"""The public trio API: a Synchronizer facade over the five actors."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import av
import trio

import actors

from ._audio import prepare_audio
from ._audio_ingest import AudioIngestActor
from ._clock import ClockActor
from ._config import SyncConfig
from ._control import ControlActor, EpochState, StartTurn
from ._errors import EpochError, InvalidAudioError, InvalidVideoError, SynchronizerClosed
from ._ingest_state import IngestState
from ._messages import (
    AudioIn,
    AudioOut,
    AudioPacket,
    Barrier,
    ClockTick,
    EndAudio,
    EndOfSpeech,
    Flush,
    VideoIn,
    VideoOut,
    VideoSettled,
    WaitPlayout,
)
from ._playout import Playout
from ._publisher import PublisherActor, PublisherState
from ._schedule import DEFAULT_HOLD_S, VideoSchedule
from ._sink import SinkChannel, SinkRegistry, VideoChannel
from ._stats import OffsetSummary, OverloadStats, PlayoutResult, Stats
from ._timeline import AudioTimeline
from ._video import placeholder_image, prepare_video
from ._video_queue import VideoQueueActor

__all__ = ["Synchronizer", "open_synchronizer", "run_synchronizer", "running"]

SHUTDOWN_GRACE_S = 0.25
START_TURN_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 1.0  # settle_video() returns after this long at most
AUDIO_SINK_S = 0.2  # each audio output buffers at most this much
VIDEO_SINK_FRAMES = 4  # each video output buffers at most this many frames
#: Supervision. The publisher and the video queue keep their state outside the actor instance
#: (PublisherState and the sinks; the VideoSchedule), so a crash costs only the message being
#: handled (one packet or frame) and they are restarted, up to 3 times in 10 s. The clock,
#: audio-ingest and control hold in-flight state that cannot be rebuilt safely (the playout
#: position and its waiters, the resampler and media cursor, a half-done turn): a crash there
#: fails the session fast — every output ends at once and the error surfaces from
#: open_synchronizer.
RESTARTABLE = actors.RestartPolicy(max_restarts=3, within_s=10.0)


def _check_pts(pts: object, error: type[ValueError]) -> float | None:
    if pts is None:
        return None
    if isinstance(pts, bool) or not isinstance(pts, (int, float)):
        raise error(f"pts must be a number of seconds, got {pts!r}")
    if not math.isfinite(pts) or pts < 0:
        raise error(f"pts must be finite and non-negative, got {pts!r}")
    return float(pts)


class Synchronizer:
    """One audio/video synchroniser. Create it with :func:`open_synchronizer` or
    :func:`run_synchronizer`; docs/design.md, section 5, states the contract."""

    def __init__(self, config: SyncConfig) -> None:
        self._config = config
        self._epoch_state = EpochState()
        self._stale_audio_s = 0.0  # audio written with an older epoch, dropped here
        self._timeline = AudioTimeline(0, config.sample_rate)  # of the epoch written last
        self._facade_stale_frames = 0
        self._closed = False
        self._closed_event = trio.Event()
        self._group: actors.ActorGroup | None = None
        self._group_stopped = False
        packet_s = config.packet_s
        self._sinks = SinkRegistry(
            config.channels, max(2, math.ceil(AUDIO_SINK_S / packet_s)), VIDEO_SINK_FRAMES
        )

    # -- wiring ----------------------------------------------------------------------------------

    async def _start(self, group: actors.ActorGroup) -> None:
        config = self._config
        self._group = group
        origin = trio.current_time()
        block = config.overflow == "block"

        def control_box(name: str) -> actors.Mailbox[Any]:
            return actors.Mailbox(64, actors.Overflow.BLOCK, name=f"{name}.control")

        topic: actors.Topic[Flush] = actors.Topic("flush")
        publisher_control: actors.Mailbox[Flush | Barrier] = control_box("publisher")
        video_control: actors.Mailbox[Flush] = control_box("video-queue")
        clock_control: actors.Mailbox[Flush] = control_box("clock")
        ingest_control: actors.Mailbox[Flush] = control_box("audio-ingest")
        # Downstream first: an actor served in the flushing task may emit at once what the flush
        # lets through, which must find the actors after it in the new epoch already.
        for box in (publisher_control, video_control, clock_control, ingest_control):
            topic.subscribe(box.ref)
        self._packets: actors.Mailbox[AudioPacket] = actors.Mailbox(
            config.audio_buffer_packets, config.overflow, name="audio-buffer"
        )
        ticks: actors.Mailbox[ClockTick] = actors.Mailbox(
            256, actors.Overflow.DROP_OLDEST, name="video-queue.ticks"
        )
        placeholder = placeholder_image(config.width, config.height, config.placeholder_rgb)
        self._schedule = VideoSchedule(
            fps=config.fps,
            sample_rate=config.sample_rate,
            capacity=config.video_queue_frames,
            av_offset_s=config.av_offset_s,
            hold_s=max(DEFAULT_HOLD_S, config.playout_delay_s),
            placeholder=placeholder,
            await_following_audio=config.await_following_audio,
        )
        self._publisher_state = PublisherState(
            origin=origin,
            packet_samples=config.packet_samples,
            channels=config.channels,
            placeholder=placeholder,
        )
        self._ingest_state = IngestState(
            sample_rate=config.sample_rate,
            layout=config.layout,
            packet_samples=config.packet_samples,
        )
        self._playout: Playout[actors.Reply[PlayoutResult]] = Playout(
            origin=origin,
            packet_s=config.packet_s,
            sample_rate=config.sample_rate,
            playout_delay_s=config.playout_delay_s,
        )

        publisher: actors.ActorRef[AudioOut | VideoOut | VideoSettled] = await group.spawn(
            lambda: PublisherActor(config, self._publisher_state, publisher_control, self._sinks),
            name="publisher",
            capacity=1024,
            overflow=actors.Overflow.DROP_OLDEST,
            restart=RESTARTABLE,
        )
        self._video_inbox: actors.ActorRef[VideoIn | VideoSettled] = await group.spawn(
            lambda: VideoQueueActor(self._schedule, video_control, ticks, publisher, block),
            name="video-queue",
            capacity=2,
            restart=RESTARTABLE,
        )
        self._clock_requests: actors.ActorRef[EndOfSpeech | WaitPlayout] = await group.spawn(
            lambda: ClockActor(self._playout, clock_control, self._packets, publisher, ticks.ref),
            name="clock",
            capacity=256,
        )
        self._ingest: actors.ActorRef[AudioIn | EndAudio] = await group.spawn(
            lambda: AudioIngestActor(
                self._ingest_state, ingest_control, self._packets.ref, self._clock_requests
            ),
            name="audio-ingest",
            capacity=1,
        )
        self._control: actors.ActorRef[StartTurn] = await group.spawn(
            lambda: ControlActor(self._epoch_state, topic, publisher_control.ref),
            name="control",
            capacity=16,
        )

    # -- properties ------------------------------------------------------------------------------

    @property
    def config(self) -> SyncConfig:
        return self._config

    @property
    def epoch(self) -> int:
        """The current epoch (0 until the first ``start_turn()``)."""
        return self._epoch_state.epoch

    @property
    def closed(self) -> bool:
        return self._closed

    # -- writing ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SynchronizerClosed("the synchroniser is closed")

    def _resolve_epoch(self, epoch: object) -> int:
        current = self._epoch_state.epoch
        if epoch is None:
            return current
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise EpochError(f"epoch must be an int, got {epoch!r}")
        if epoch > current:
            raise EpochError(f"epoch {epoch} is newer than the current epoch {current}")
        return epoch

    def _timeline_for(self, epoch: int) -> AudioTimeline:
        if self._timeline.epoch != epoch:
            self._timeline = AudioTimeline(epoch, self._config.sample_rate)
        return self._timeline

    async def write_audio(
        self,
        samples: Any,
        *,
        sample_rate: int | None = None,
        pts: float | None = None,
        epoch: int | None = None,
    ) -> None:
        """Queue audio for playout. ``samples``: numpy int16 or float32, shape ``(n,)`` or
        ``(n, channels)``, or an ``av.AudioFrame`` (any format, layout and rate from 8 to 96 kHz).

        Raises a ``ValueError``/``TypeError`` subclass for malformed input, :class:`EpochError`
        for an epoch newer than the current one, :class:`SynchronizerClosed` after ``aclose()``.
        Audio of an older epoch is counted and dropped. With ``overflow="block"``, waits while
        ``audio_buffer_s`` is buffered. If cancelled while waiting, nothing was written.
        """
        self._check_open()
        epoch = self._resolve_epoch(epoch)
        prepared = prepare_audio(samples, sample_rate, self._config)
        start = _check_pts(pts, InvalidAudioError)
        if self._epoch_state.gate.is_stale(epoch):
            self._stale_audio_s += prepared.duration
            return
        timeline = self._timeline_for(epoch)
        placement = timeline.place(start, prepared.duration)
        message = AudioIn(epoch, prepared, placement.start, trio.current_time())
        await self._send(self._ingest, message)
        timeline.commit(placement)

    async def write_video(
        self, frame: Any, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Queue a frame: an ``av.VideoFrame`` of any size in any pixel format a decoder or a
        renderer hands over (yuv420p, yuvj420p, nv12, rgb24, bgr24, rgba, bgra, argb, gray,
        ...), or a numpy uint8 ``(h, w, 3)`` RGB, ``(h, w, 4)`` RGBA or ``(h, w)`` gray array,
        shown at ``width x height`` (letterboxed if the aspect differs).

        With ``pts`` (seconds, on the epoch's audio timeline) the frame is shown when that audio
        is heard; without, when the audio written so far has been heard. Same errors, stale-epoch
        and waiting behaviour as :meth:`write_audio` (the queue holds ``video_buffer_s * fps``).

        Ownership: the frame is handed over. A ``yuv420p`` frame of the output size is not
        copied: its pixels are shown (and handed to the outputs) as they are, so after
        ``write_video`` the caller must not modify the frame; to reuse frames, set
        ``SyncConfig(copy_video=True)``, which copies each one. Other frames are converted
        into a new image, so they are the caller's again at once.
        """
        self._check_open()
        epoch = self._resolve_epoch(epoch)
        image = prepare_video(frame, self._config)
        media = _check_pts(pts, InvalidVideoError)
        if self._epoch_state.gate.is_stale(epoch):
            self._facade_stale_frames += 1
            return
        cursor = self._timeline_for(epoch).cursor_s
        message = VideoIn(epoch, image, media, cursor, trio.current_time())
        await self._send(self._video_inbox, message)

    async def settle_video(self) -> None:
        """Wait until the video queue has taken in every frame written before this call, and
        every frame that was due by then has been handed to every output (so a frame written
        while no audio is buffered is in the outputs when this returns). Returns after at most
        :data:`SETTLE_TIMEOUT_S` even if an actor restarted meanwhile. Raises
        :class:`SynchronizerClosed` if the synchroniser is closed. Cancellation leaves the
        synchroniser unaffected."""
        self._check_open()
        try:
            await self._video_inbox.ask(VideoSettled, timeout=SETTLE_TIMEOUT_S)
        except actors.MailboxClosed:
            raise SynchronizerClosed("the synchroniser is closed") from None
        except actors.AskTimeout:
            pass  # a restart lost the request; the frames were taken in all the same

    async def end_audio(self, *, epoch: int | None = None) -> None:
        """No more audio for this turn: speech ends once what was written has been emitted."""
        self._check_open()
        epoch = self._resolve_epoch(epoch)
        if self._epoch_state.gate.is_stale(epoch):
            return
        timeline = self._timeline_for(epoch)
        if timeline.ended:
            return
        timeline.end()
        await self._send(self._ingest, EndAudio(epoch))

    async def _send(self, ref: actors.ActorRef[Any], message: object) -> None:
        try:
            await ref.tell(message)
        except actors.MailboxClosed:
            raise SynchronizerClosed("the synchroniser is closed") from None

    # -- turns -----------------------------------------------------------------------------------

    async def start_turn(self) -> int:
        """Begin a new turn: bump the epoch and flush everything older. Returns the new epoch.

        Once this returns, no sink receives audio, or a frame not already shown, of an older
        epoch; writes stamped with an older epoch are counted and dropped.
        """
        self._check_open()
        try:
            return await self._control.ask(StartTurn, timeout=START_TURN_TIMEOUT_S)
        except actors.MailboxClosed:
            raise SynchronizerClosed("the synchroniser is closed") from None

    async def flush(self) -> int:
        """The same as :meth:`start_turn`."""
        return await self.start_turn()

    async def wait_for_playout(self) -> PlayoutResult:
        """Wait until the current epoch's audio has been emitted, after ``end_audio()``.

        Returns the seconds of the epoch's audio emitted and whether a flush interrupted the
        wait (then ``position`` is what was actually heard). Raises :class:`SynchronizerClosed`
        if the synchroniser closes meanwhile. Cancellation leaves the synchroniser unaffected.
        """
        self._check_open()
        reply: actors.Reply[PlayoutResult] = actors.Reply()
        await self._send(self._clock_requests, WaitPlayout(self._epoch_state.epoch, reply))
        return await reply.wait()

    # -- outputs ---------------------------------------------------------------------------------

    def audio_frames(self) -> SinkChannel[av.AudioFrame]:
        """A new output: every audio packet emitted from now on (``packet_ms`` each, s16, pts on
        1/sample_rate). Ends with ``EndOfChannel`` after ``aclose()``."""
        self._sinks.prune()
        return SinkChannel(self._sinks.add_audio())

    def video_frames(self) -> VideoChannel:
        """A new output: every video frame emitted from now on (``width x height`` yuv420p, pts
        on 1/90000). Ends with ``EndOfChannel`` after ``aclose()``."""
        self._sinks.prune()
        return VideoChannel(self._sinks.add_video())

    def stats(self) -> Stats:
        schedule = self._schedule.counters
        offset = OffsetSummary.of(self._schedule.offsets_ms())
        ingest = self._ingest_state.counters
        clock = self._playout.counters
        publisher = self._publisher_state
        buffered_packets = len(self._packets) + self._playout.held_packets
        return Stats(
            epoch=self._epoch_state.epoch,
            audio_buffered_s=buffered_packets * self._config.packet_s,
            video_queued=self._schedule.queued + self._video_inbox.stats().depth,
            frames_emitted=schedule.emitted,
            frames_repeated=schedule.repeated,
            frames_dropped_stale=(
                schedule.dropped_stale + publisher.frames_dropped_stale + self._facade_stale_frames
            ),
            frames_dropped_late=schedule.dropped_late,
            frames_dropped_overflow=schedule.dropped_overflow,
            audio_dropped_stale_s=(
                self._stale_audio_s
                + ingest.dropped_stale_s
                + clock.dropped_stale_s
                + publisher.audio_dropped_stale_s
            ),
            audio_dropped_overflow_s=ingest.dropped_overflow_s,
            audio_underrun_s=clock.underrun_s,
            packets_emitted=clock.packets_emitted,
            sink_frames_dropped=self._sinks.dropped,
            flushes=self._epoch_state.flushes,
            offset=offset,
            offset_p50_ms=offset.p50_ms,
            offset_p99_ms=offset.p99_ms,
            offset_max_ms=offset.max_ms,
            overload=OverloadStats.of(
                overloaded=self.overloaded,
                meter=self._playout.load,
                frames_shed_late=schedule.shed_late,
                repeats_shed=schedule.repeats_shed,
            ),
        )

    @property
    def overloaded(self) -> bool:
        """Whether the event loop is not keeping up with this session (see
        :class:`OverloadStats`), as the clock found at its last tick: audio ticks went out late
        or were skipped within the last second, and repeats are being shed. A provider can skip
        work while it is true (render fewer frames, or smaller ones)."""
        if self._group is None:
            return False
        return self._playout.overloaded

    # -- closing ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop: inputs are refused, the actors stop, every output ends (trio channels after
        what they hold). Idempotent; safe to call from any task."""
        if self._group is not None and not self._group_stopped:
            self._group_stopped = True
            self._closed = True
            # Refuse input first (a writer waiting for room gets SynchronizerClosed), then wake
            # an ingest waiting for room in the audio buffer; then stop the actors in order.
            self._ingest.close()
            self._video_inbox.close()
            self._packets.close()
            await self._group.shutdown()
        self._mark_closed()
        await trio.lowlevel.checkpoint()

    def _mark_closed(self) -> None:
        self._closed = True
        self._sinks.close()
        self._closed_event.set()


@asynccontextmanager
async def open_synchronizer(config: SyncConfig | None = None) -> AsyncIterator[Synchronizer]:
    """Start a synchroniser (its actors run in an actor group of their own) and close it on
    exit.

    If an actor fails, the error propagates from here and every output ends.
    """
    config = SyncConfig() if config is None else config
    if not isinstance(config, SyncConfig):
        raise TypeError(f"config must be an avsync.SyncConfig, got {type(config).__name__}")
    async with running(Synchronizer(config)) as sync:
        yield sync


@asynccontextmanager
async def running(sync: Synchronizer) -> AsyncIterator[Synchronizer]:
    """Start ``sync``, built but never started (``Synchronizer(config)`` needs no trio run, so
    its tracks can be handed out before it runs), and close it on exit; otherwise as
    :func:`open_synchronizer`. Raises ``RuntimeError`` if ``sync`` was started or closed before."""
    if sync._group is not None or sync.closed:
        raise RuntimeError("a Synchronizer runs once: this one was started or closed before")
    try:
        async with actors.open_group("avsync", grace_s=SHUTDOWN_GRACE_S) as group:
            await sync._start(group)
            try:
                yield sync
            except BaseException:
                # An actor failed (the group cancels this block) or the caller was cancelled:
                # end every output at once, before the orderly shutdown.
                sync._mark_closed()
                raise
            finally:
                await sync.aclose()
    finally:
        sync._mark_closed()


async def run_synchronizer(
    config: SyncConfig | None = None,
    *,
    task_status: trio.TaskStatus[Synchronizer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a synchroniser until ``aclose()`` (or cancellation), for ``nursery.start``:
    ``sync = await nursery.start(avsync.run_synchronizer, config)``."""
    async with open_synchronizer(config) as sync:
        task_status.started(sync)
        await sync._closed_event.wait()
