"""Output sinks: small drop-oldest buffers between the publisher and each consumer.

The publisher pushes without ever waiting, so a consumer that stalls costs only its own oldest
items (counted). A flush purges stale items still waiting in a sink: audio is replaced by a fade
or silence with the same pts (so audio pts stay gapless), video is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Generic, NamedTuple, TypeVar, cast

import av
import numpy as np
import numpy.typing as npt
import trio

from ._messages import Image, Samples
from ._video import to_video_frame

__all__ = ["AudioSink", "Shown", "SinkChannel", "SinkRegistry", "VideoChannel", "VideoSink"]

F = TypeVar("F", av.AudioFrame, av.VideoFrame)
X = TypeVar("X")


class _Sink(Generic[F, X]):
    """One consumer's buffer of (epoch, frame, extra) items, bounded, drop-oldest."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.dropped = 0
        self._items: deque[tuple[int, F, X]] = deque()
        self._closed = False  # producer side: no more items will come
        self._detached = False  # consumer side: closed by the consumer
        self._waiting: deque[trio.lowlevel.Task] = deque()  # consumers parked in receive()
        #: called (synchronously) after every push and at close: how a consumer outside trio,
        #: such as an aiortc track on asyncio, learns that there is something to take
        self.listener: Callable[[], None] | None = None

    @property
    def closed(self) -> bool:
        """No more items will come (the synchroniser has closed)."""
        return self._closed

    @property
    def detached(self) -> bool:
        return self._detached

    def _push(self, epoch: int, frame: F, extra: X) -> None:
        if self._closed:
            return
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append((epoch, frame, extra))
        if self._waiting:
            trio.lowlevel.reschedule(self._waiting.popleft())
        if self.listener is not None:
            self.listener()

    def close(self) -> None:
        self._closed = True
        while self._waiting:
            trio.lowlevel.reschedule(self._waiting.popleft())
        if self.listener is not None:
            self.listener()

    def detach(self) -> None:
        self._detached = True
        self._items.clear()
        self.close()

    def _delivered(self, extra: X) -> None:
        """Called with each item's extra as the consumer takes the item."""

    def _take(self) -> F:
        _, frame, extra = self._items.popleft()
        self._delivered(extra)
        return frame

    async def receive(self) -> F:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._detached:
            raise trio.ClosedResourceError("this output channel was closed")
        if self._items:
            frame = self._take()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return frame
        while not self._items:
            if self._closed:
                raise trio.EndOfChannel
            await self._park()
            if self._detached:
                raise trio.ClosedResourceError("this output channel was closed")
        return self._take()

    async def _park(self) -> None:
        """Wait for the next push or the close (one consumer woken per push, in arrival order).
        Cancellable: a cancelled consumer leaves the queue of waiters and takes nothing."""
        task = trio.lowlevel.current_task()
        self._waiting.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            self._waiting.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def receive_nowait(self) -> F:
        if self._detached:
            raise trio.ClosedResourceError("this output channel was closed")
        if not self._items:
            raise trio.EndOfChannel if self._closed else trio.WouldBlock
        return self._take()


class Shown(NamedTuple):
    """What a queued video frame shows, and whether it is a new frame (not a repeat)."""

    image: Image
    new: bool


class VideoSink(_Sink[av.VideoFrame, Shown]):
    """Also knows which image is on this consumer's screen, so that after a flush it repeats
    that image rather than a stale frame the consumer never received."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._screen: Image | None = None  # the newest image delivered or queued here
        self._delivered_image: Image | None = None
        self.superseded = 0  #: repeats skipped by receive_current_nowait

    def push_frame(self, epoch: int, frame: av.VideoFrame, image: Image, new: bool) -> None:
        """Queue ``frame`` (showing ``image``). A repeat of an image this consumer has neither
        received nor queued (it was purged) shows what is on its screen instead."""
        if new or self._screen is None:
            self._screen = image
        elif image is not self._screen:
            frame = to_video_frame(self._screen, frame.pts or 0)
            image = self._screen
        self._push(epoch, frame, Shown(image, new))

    def receive_current_nowait(self) -> av.VideoFrame:
        """As :meth:`receive_nowait`, but first skip queued repeats (and placeholders) that a
        later queued frame supersedes: every new frame is received, stale repeats are not."""
        items = self._items
        while len(items) > 1 and not items[0][2].new:
            items.popleft()
            self.superseded += 1
        return self.receive_nowait()

    def _delivered(self, extra: Shown) -> None:
        self._delivered_image = extra.image

    def purge(self, epoch: int, placeholder: Image) -> int:
        """Drop queued frames older than ``epoch``; return how many. What is on the screen is
        then the newest frame kept, or else the last one delivered, or else ``placeholder``:
        never an image the consumer has not received."""
        kept = deque(item for item in self._items if item[0] >= epoch)
        purged = len(self._items) - len(kept)
        self._items = kept
        if purged:
            if kept:
                self._screen = kept[-1][2].image
            elif self._delivered_image is not None:
                self._screen = self._delivered_image
            else:
                self._screen = placeholder
        return purged


class _Heard(NamedTuple):
    """What a queued audio packet holds, besides its frame."""

    samples: Samples  #: its samples: a fade after a flush starts from the last one delivered
    speech: bool  #: whether it carries speech (purging silence loses nothing)


class AudioSink(_Sink[av.AudioFrame, _Heard]):
    """Also remembers the last sample its consumer took, to fade out from it after a flush."""

    def __init__(self, capacity: int, channels: int) -> None:
        super().__init__(capacity)
        self.channels = channels
        self._delivered_samples: Samples = np.zeros((1, channels), np.int16)  # of the last taken
        self._fade: Samples | None = None  # ramp still to add to the next packets

    def push_packet(
        self, epoch: int, frame: av.AudioFrame, samples: Samples, *, speech: bool = True
    ) -> None:
        """Queue ``frame`` (whose int16 samples are ``samples``; ``speech``: not the clock's
        silence), adding any pending fade."""
        if self._fade is not None:
            samples, fade = _add_ramp(samples, self._fade)
            self._fade = fade
            frame = make_audio_frame(samples, frame.pts, frame.sample_rate, frame.layout.name)
        self._push(epoch, frame, _Heard(samples, speech))

    def _delivered(self, extra: _Heard) -> None:
        self._delivered_samples = extra.samples

    @property
    def last_delivered(self) -> Samples:
        """The last sample its consumer took (silence before the first), one value a channel."""
        last: Samples = self._delivered_samples[-1]
        return last

    def purge(self, epoch: int, ramp: npt.NDArray[np.float64]) -> float:
        """Replace queued packets older than ``epoch`` by a fade from the last sample delivered
        (then silence), keeping their pts; if none are queued, fade the next packet pushed.
        ``ramp`` is the fade's shape, from 1 down to 0, one row per sample. Return the seconds
        of stale speech purged (purged silence is not counted)."""
        shaped = (ramp * self.last_delivered.astype(np.float64)).round().astype(np.int16)
        fade: Samples | None = shaped if len(shaped) and np.any(shaped) else None
        purged = 0.0
        items: deque[tuple[int, av.AudioFrame, _Heard]] = deque()
        for item in self._items:
            item_epoch, frame, heard = item
            if item_epoch >= epoch:
                items.append(item)
                continue
            if heard.speech:
                purged += frame.samples / frame.sample_rate
            silence = np.zeros((frame.samples, self.channels), np.int16)
            if fade is not None:
                silence, fade = _add_ramp(silence, fade)
            replacement = make_audio_frame(silence, frame.pts, frame.sample_rate, frame.layout.name)
            items.append((epoch, replacement, _Heard(silence, False)))
        self._items = items
        self._fade = fade
        return purged


def _add_ramp(samples: Samples, ramp: Samples) -> tuple[Samples, Samples | None]:
    """``samples`` with the start of ``ramp`` added (clipped), and what is left of the ramp."""
    n = min(len(samples), len(ramp))
    mixed = samples.copy()
    mixed[:n] = np.clip(samples[:n].astype(np.int32) + ramp[:n], -32768, 32767)
    rest = ramp[n:]
    return mixed, (rest if len(rest) else None)


def make_audio_frame(samples: Samples, pts: int | None, rate: int, layout: str) -> av.AudioFrame:
    """An s16 packed ``av.AudioFrame`` of ``samples`` (shape (n, channels)), a copy of them.

    Built as a bare frame whose one plane is filled from ``samples`` (one memcpy), which costs
    half of ``av.AudioFrame.from_ndarray`` and its checks."""
    frame = av.AudioFrame(format="s16", layout=layout, samples=len(samples))
    # PyAV's stub says bytes; update() takes any buffer of the plane's size.
    frame.planes[0].update(cast(bytes, np.ascontiguousarray(samples)))
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = _time_base(rate)
    return frame


_TIME_BASES: dict[int, Fraction] = {}


def _time_base(rate: int) -> Fraction:
    base = _TIME_BASES.get(rate)
    if base is None:
        base = _TIME_BASES[rate] = Fraction(1, rate)
    return base


class SinkChannel(trio.abc.ReceiveChannel[F]):
    """One output of the synchroniser: a trio receive channel over its own small buffer (from
    ``audio_frames()`` / ``video_frames()``). Besides the channel API it offers what a consumer
    outside trio needs (``avsync.webrtc``'s tracks use it): :meth:`receive_nowait`,
    :attr:`closed`, :meth:`set_listener` and :meth:`close`."""

    def __init__(self, sink: _Sink[F, Any]) -> None:
        self._sink: _Sink[F, Any] = sink

    async def receive(self) -> F:
        """The next frame. Raises ``trio.EndOfChannel`` once the synchroniser is closed and
        everything before has been received. Cancellation takes nothing."""
        return await self._sink.receive()

    def receive_nowait(self) -> F:
        """The next frame if one is there; else ``trio.WouldBlock`` (``trio.EndOfChannel``
        once the synchroniser is closed and everything was received)."""
        return self._sink.receive_nowait()

    @property
    def closed(self) -> bool:
        """No more frames will come: the synchroniser was closed, or :meth:`close` was called."""
        return self._sink.closed

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Have ``listener`` called (synchronously, from the synchroniser's trio task) after
        every frame queued here and when the output ends: how a consumer on another event loop
        in the same thread learns that there is something to take."""
        self._sink.listener = listener

    @property
    def dropped(self) -> int:
        """Frames this consumer lost because it fell behind."""
        return int(self._sink.dropped)

    def close(self) -> None:
        """Detach from the output at once (what :meth:`aclose` does, without a checkpoint):
        what is queued is discarded and receiving raises ``trio.ClosedResourceError``."""
        self._sink.detach()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


class VideoChannel(SinkChannel[av.VideoFrame]):
    """A video output; it can also skip repeats that something newer superseded."""

    def __init__(self, sink: VideoSink) -> None:
        super().__init__(sink)
        self._video_sink = sink

    def receive_current_nowait(self) -> av.VideoFrame:
        """As :meth:`receive_nowait`, but skip queued repeats (and placeholders) that a later
        queued frame supersedes: every new frame is received, stale repeats are not."""
        return self._video_sink.receive_current_nowait()


class SinkRegistry:
    """The sinks currently attached to the outputs; shared by the publisher and the facade, so
    it survives a restart of the publisher."""

    def __init__(self, channels: int, audio_capacity: int, video_capacity: int) -> None:
        self.channels = channels
        self.audio_capacity = audio_capacity
        self.video_capacity = video_capacity
        self.audio: list[AudioSink] = []
        self.video: list[VideoSink] = []
        self.closed = False
        self.dropped_by_detached = 0

    def add_audio(self) -> AudioSink:
        sink = AudioSink(self.audio_capacity, self.channels)
        if self.closed:
            sink.close()
        else:
            self.audio.append(sink)
        return sink

    def add_video(self) -> VideoSink:
        sink = VideoSink(self.video_capacity)
        if self.closed:
            sink.close()
        else:
            self.video.append(sink)
        return sink

    def prune(self) -> None:
        """Forget sinks whose consumer has closed them."""
        self.dropped_by_detached += sum(s.dropped for s in self.audio if s.detached)
        self.dropped_by_detached += sum(s.dropped for s in self.video if s.detached)
        self.audio = [sink for sink in self.audio if not sink.detached]
        self.video = [sink for sink in self.video if not sink.detached]

    @property
    def dropped(self) -> int:
        return (
            self.dropped_by_detached
            + sum(sink.dropped for sink in self.audio)
            + sum(sink.dropped for sink in self.video)
        )

    def close(self) -> None:
        """End every output: consumers get what is queued, then ``EndOfChannel``."""
        self.closed = True
        for audio in self.audio:
            audio.close()
        for video in self.video:
            video.close()
