"""The asyncio face: :class:`AVSynchronizer`, the synchroniser for plain asyncio programs.

::

    async def main() -> None:
        async with AVSynchronizer(width=1280, height=720, fps=30, channels=1) as sync:
            pc = RTCPeerConnection()
            avsync.webrtc.add_tracks(pc, sync)  # sync.audio_track, sync.video_track
            await sync.write_audio(pcm)
            await sync.write_video(frame)

    asyncio.run(main())  # no trio at the call site

Underneath runs the trio :class:`~avsync.Synchronizer`, unchanged (same clock, epoch guarantee
and errors), with trio as a *guest* of the running asyncio loop (:mod:`avsync._guest`: one trio
run per thread hosts every synchroniser of the loop). Each awaited method starts a trio task
making the same call through the run's ``TrioToken`` and awaits a future it resolves with the
result or the very exception; a cancelled caller cancels that task and waits for it, so a
cancelled write wrote all or nothing. Lifecycle, tracks and failures: :class:`AVSynchronizer`
and docs/design.md, section 5 ("The asyncio face").

Everything here must be used from the thread of the loop it runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack

import attrs
import trio

from actors import Overflow

from ._config import SyncConfig
from ._errors import SynchronizerClosed
from ._guest import TrioHost, wait_for
from ._stats import PlayoutResult, Stats
from ._synchronizer import Synchronizer, running
from .webrtc import SyncAudioTrack, SyncVideoTrack, tracks

__all__ = ["AVSynchronizer", "SyncOptions"]

T = TypeVar("T")


class SyncOptions(TypedDict, total=False):
    """The other :class:`~avsync.SyncConfig` fields ``AVSynchronizer`` takes as keywords."""

    packet_ms: float
    audio_buffer_s: float
    overflow: Overflow | Literal["block", "drop-oldest"]
    av_offset_s: float
    playout_delay_s: float
    fade_ms: float
    copy_video: bool
    placeholder_rgb: tuple[int, int, int]
    await_following_audio: bool


def _make_config(
    width: int,
    height: int,
    fps: float,
    max_queue_size: int,
    sample_rate: int,
    channels: int,
    options: dict[str, Any],
) -> SyncConfig:
    if "video_buffer_s" in options:
        raise TypeError("AVSynchronizer sizes its video queue with max_queue_size (in frames)")
    if (
        isinstance(max_queue_size, bool)
        or not isinstance(max_queue_size, int)
        or max_queue_size <= 0
    ):
        raise ValueError(f"max_queue_size must be a positive int, got {max_queue_size!r}")
    config = SyncConfig(
        width=width, height=height, fps=fps, sample_rate=sample_rate, channels=channels, **options
    )
    # the queue holds floor(video_buffer_s * fps) frames: make that exactly max_queue_size
    buffer_s = max_queue_size / config.fps
    while math.floor(buffer_s * config.fps) < max_queue_size:
        buffer_s = math.nextafter(buffer_s, math.inf)
    return attrs.evolve(config, video_buffer_s=buffer_s)


def _closed_error(failure: BaseException | None) -> SynchronizerClosed:
    if failure is None:
        return SynchronizerClosed("the synchroniser is closed")
    error = SynchronizerClosed(f"the synchroniser failed: {failure!r}")
    error.__cause__ = failure
    return error


class _Call(Generic[T]):
    """One asyncio-side call, run as a trio task; ``future`` gets its outcome."""

    __slots__ = ("fn", "future", "scope")

    def __init__(self, fn: Callable[[Synchronizer], Awaitable[T]], future: asyncio.Future[T]):
        self.fn = fn
        self.future = future
        self.scope = trio.CancelScope()  # cancelled (from trio) when the asyncio caller gives up

    def succeed(self, value: T) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def cancel(self) -> None:
        self.future.cancel()


class AVSynchronizer:
    """An audio/video synchroniser for asyncio programs: the trio :class:`~avsync.Synchronizer`
    run as a trio guest of the running asyncio loop (see the module docstring).

    ``max_queue_size`` is the most frames the video queue holds (``video_buffer_s =
    max_queue_size / fps``); the other arguments and keywords are :class:`~avsync.SyncConfig`
    fields. Invalid values raise ``ValueError`` naming the field. The constructor needs no
    running loop, and the tracks are there from construction; the synchroniser starts in
    :meth:`start` (or ``async with``, or the first awaited call or track ``recv()``) and is bound
    to that loop.
    """

    def __init__(
        self,
        width: int = 1920,
        height: int = 1080,
        fps: float = 30,
        max_queue_size: int = 300,
        sample_rate: int = 48000,
        channels: int = 2,
        **options: Unpack[SyncOptions],
    ) -> None:
        self._config = _make_config(
            width, height, fps, max_queue_size, sample_rate, channels, dict(options)
        )
        # Built now, started later: its tracks exist from here on, and their first recv()
        # starts it like the first awaited call does.
        self._sync = Synchronizer(self._config)
        self._audio_track, self._video_track = tracks(self._sync)
        self._audio_track.start_on_recv(self.start)
        self._video_track.start_on_recv(self.start)
        self._running = False  # the trio side has started the synchroniser
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host_run: TrioHost | None = None
        self._calls: trio.Nursery | None = None
        self._pending: set[_Call[Any]] = set()
        self._close_requested = trio.Event()
        self._started: asyncio.Future[None] | None = None
        #: resolved when the trio side has ended: None, or the synchroniser's failure
        self._finished: asyncio.Future[None] | None = None
        self._launcher: asyncio.Task[None] | None = None
        self._closing = False  # aclose() was called: calls are refused
        self._ended = False  # the trio side has ended (or never started)
        self._failure: BaseException | None = None
        self._failure_reported = False

    # -- properties ------------------------------------------------------------------------------

    @property
    def config(self) -> SyncConfig:
        """The :class:`~avsync.SyncConfig` in force."""
        return self._config

    @property
    def epoch(self) -> int:
        """The current epoch (0 until the first ``start_turn()``)."""
        return self._sync.epoch

    @property
    def closed(self) -> bool:
        """``aclose()`` was called, or the synchroniser failed."""
        return self._closing or self._ended

    @property
    def audio_track(self) -> SyncAudioTrack:
        """The synchronised audio as an aiortc ``MediaStreamTrack`` (one per synchroniser),
        there from construction (``sample_rate``, ``channels``); its first ``recv()`` starts the
        synchroniser if nothing did before. ``stop()`` ends this track only."""
        return self._audio_track

    @property
    def video_track(self) -> SyncVideoTrack:
        """The synchronised video as an aiortc ``MediaStreamTrack`` (one per synchroniser),
        there from construction (``width``, ``height``, ``fps``); its first ``recv()`` starts the
        synchroniser if nothing did before. ``stop()`` ends this track only."""
        return self._video_track

    @property
    def overloaded(self) -> bool:
        """Whether the process cannot keep up with this session (see
        :attr:`avsync.Synchronizer.overloaded`); False before the start."""
        return self._running and self._sync.overloaded

    def stats(self) -> Stats:
        """A snapshot of the counters (see :meth:`avsync.Synchronizer.stats`). Raises
        ``RuntimeError`` before the synchroniser has started."""
        if not self._running:
            raise RuntimeError(
                "the AVSynchronizer is not started: use `async with AVSynchronizer(...)` "
                "or `await sync.start()` first"
            )
        return self._sync.stats()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the synchroniser on the running loop (joining or starting the trio guest run).
        Idempotent. Raises :class:`~avsync.SynchronizerClosed` after ``aclose()``, and the
        failure itself if the synchroniser fails to start. Cancelling the caller does not stop
        the start; ``aclose()`` does."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            if self._closing:
                raise _closed_error(None)
            self._loop = loop
            self._started = loop.create_future()
            self._finished = loop.create_future()
            self._launcher = loop.create_task(self._launch(), name="avsync.aio start")
        elif self._loop is not loop:
            raise RuntimeError("this AVSynchronizer was started on another event loop")
        assert self._started is not None
        if not self._started.done():
            await asyncio.wait((self._started,))  # (asyncio.wait never cancels what it waits on)
        if self._started.exception() is not None:
            self._report_failure()
            raise _closed_error(self._failure)
        if self._closing or self._ended:
            raise _closed_error(self._failure)

    async def __aenter__(self) -> AVSynchronizer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close: inputs are refused (``SynchronizerClosed``, at once), the trio synchroniser
        closes (every output ends; tracks raise ``MediaStreamError``), and the trio guest run
        ends if this was its last synchroniser; returns when all that is done. Idempotent.
        Raises the synchroniser's failure, if it failed and that was not yet raised. If the
        caller is cancelled, the close still completes in the background."""
        self._request_close()
        if self._finished is None:  # never started: end the tracks it handed out
            self._end(None)
            return
        if not self._finished.done():
            await asyncio.wait((self._finished,))
        host = self._host_run
        if host is not None and host.stopping and not host.done.done():
            await asyncio.wait((host.done,))
        self._report_failure()

    def _report_failure(self) -> None:
        """Raise the failure once (start() or aclose(), whichever sees it first)."""
        finished = self._finished
        if finished is None or not finished.done() or self._failure_reported:
            return
        failure = finished.exception()  # marks it retrieved
        if failure is not None:
            self._failure_reported = True
            raise failure

    def _request_close(self) -> None:
        self._closing = True
        host = self._host_run
        if host is not None and not self._ended:
            with contextlib.suppress(trio.RunFinishedError):
                host.token.run_sync_soon(self._close_requested.set)

    async def _launch(self) -> None:
        try:
            host = await TrioHost.join(self)
        except BaseException as exc:
            self._end(None if isinstance(exc, asyncio.CancelledError) else exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._host_run = host
        if self._closing:
            self._end(None)
            return
        try:
            host.spawn(self)
        except trio.RunFinishedError:
            self._end(None)

    async def _host(self) -> None:
        """The trio side: holds the synchroniser open until ``aclose()``; calls run in
        ``self._calls``."""
        failure: BaseException | None = None
        try:
            async with running(self._sync) as sync:
                async with trio.open_nursery() as calls:
                    self._running = True
                    self._calls = calls
                    if self._started is not None and not self._started.done():
                        self._started.set_result(None)
                    await self._close_requested.wait()
                    await sync.aclose()  # waiting calls end with SynchronizerClosed
                    calls.cancel_scope.cancel()
        except Exception as exc:
            failure = exc
        finally:
            self._end(failure)

    def _end(self, failure: BaseException | None) -> None:
        """The trio side has ended (or never started): settle everything still waiting."""
        if self._ended:
            return
        self._ended = True
        self._calls = None
        self._failure = failure
        self._sync._mark_closed()  # (already so if it ran) its tracks end
        for call in list(self._pending):
            call.fail(_closed_error(failure))
        for future in (self._started, self._finished):
            if future is not None and not future.done():
                if failure is None:
                    future.set_result(None)
                else:
                    future.set_exception(failure)
        if self._host_run is not None:
            self._host_run.leave(self)

    # -- calls -----------------------------------------------------------------------------------

    async def _call(self, fn: Callable[[Synchronizer], Awaitable[T]]) -> T:
        """Run ``fn(synchronizer)`` as a trio task and return its result or raise its error."""
        loop = asyncio.get_running_loop()
        if not self._running or loop is not self._loop:
            await self.start()
        host = self._host_run
        if self._closing or self._ended or host is None:
            raise _closed_error(self._failure)
        future: asyncio.Future[T] = loop.create_future()
        call = _Call(fn, future)
        self._pending.add(call)
        try:
            try:
                host.token.run_sync_soon(self._spawn_call, call)
            except trio.RunFinishedError:
                raise _closed_error(self._failure) from None
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if not future.done():
                    with contextlib.suppress(trio.RunFinishedError):
                        host.token.run_sync_soon(call.scope.cancel)
                    await wait_for(future)
                if not future.cancelled():
                    future.exception()  # it completed before the cancellation reached trio
                raise
        finally:
            self._pending.discard(call)

    def _spawn_call(self, call: _Call[Any]) -> None:
        """(In trio.) Start the task of ``call``, or settle it if that is too late."""
        if call.future.done():
            return
        calls = self._calls
        if calls is None:
            call.fail(_closed_error(self._failure))
            return
        if call.scope.cancel_called:
            call.cancel()
            return
        try:
            calls.start_soon(self._run_call, call, name="avsync.aio call")
        except RuntimeError:  # the nursery is closed
            call.fail(_closed_error(self._failure))

    async def _run_call(self, call: _Call[Any]) -> None:
        try:
            with call.scope:
                call.succeed(await call.fn(self._sync))
                return
            call.cancel()  # the scope caught the cancellation the asyncio caller asked for
        except trio.Cancelled:  # the synchroniser is closing
            call.fail(_closed_error(self._failure))
            raise
        except Exception as exc:
            call.fail(exc)

    # -- the trio API, from asyncio --------------------------------------------------------------

    async def write_audio(
        self,
        samples: Any,
        *,
        sample_rate: int | None = None,
        pts: float | None = None,
        epoch: int | None = None,
    ) -> None:
        """Queue audio: numpy int16 or float32, shape ``(n,)`` or ``(n, channels)``, an
        ``av.AudioFrame``, or a PCM object such as getstream's ``PcmData`` (``samples``,
        ``sample_rate``, ``channels``, optionally ``format``). Same rules, errors and waiting as
        :meth:`avsync.Synchronizer.write_audio` (with ``overflow="block"`` it waits while
        ``audio_buffer_s`` is buffered)."""
        await self._call(
            lambda sync: sync.write_audio(samples, sample_rate=sample_rate, pts=pts, epoch=epoch)
        )

    async def write_video(
        self, frame: Any, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        """Queue a frame (``av.VideoFrame`` or a numpy uint8 RGB, RGBA or gray array), shown at
        ``width x height``; see :meth:`avsync.Synchronizer.write_video`. Returns once the frame
        is queued, or, if it was due at once (no audio buffered before it), handed to the
        outputs: the next ``video_track.recv()`` returns it. The frame is handed over: a
        ``yuv420p`` frame of the output size is not copied, so do not modify it afterwards
        (``copy_video=True`` copies each one, for callers that reuse frames)."""

        async def write(sync: Synchronizer) -> None:
            await sync.write_video(frame, pts=pts, epoch=epoch)
            await sync.settle_video()

        await self._call(write)

    async def end_audio(self, *, epoch: int | None = None) -> None:
        """No more audio for this turn: speech ends once what was written has been emitted."""
        await self._call(lambda sync: sync.end_audio(epoch=epoch))

    async def start_turn(self) -> int:
        """Begin a new turn: bump the epoch and flush everything older; returns the new epoch.
        Once this returns, no output receives audio, or a frame not already shown, of an older
        epoch."""
        return await self._call(lambda sync: sync.start_turn())

    async def flush(self) -> int:
        """The same as :meth:`start_turn`."""
        return await self._call(lambda sync: sync.flush())

    async def wait_for_playout(self) -> PlayoutResult:
        """Wait until the current epoch's audio has been emitted, after ``end_audio()``; see
        :meth:`avsync.Synchronizer.wait_for_playout`."""
        return await self._call(lambda sync: sync.wait_for_playout())
