"""The publisher actor: owns the output timeline and fans frames out to the sinks."""

from __future__ import annotations

import numpy as np

import actors

from ._config import SyncConfig
from ._epochs import EpochGate
from ._messages import (
    AudioOut,
    Barrier,
    Flush,
    FrameKind,
    Image,
    Samples,
    VideoOut,
    VideoSettled,
)
from ._sink import SinkRegistry, make_audio_frame
from ._video import to_video_frame

__all__ = ["PublisherActor", "PublisherState"]


class PublisherState:
    """The output timeline: pts for every packet and frame, and what is stale. Pure state, no
    trio; it outlives publisher restarts (the actor is rebuilt around it).

    Audio pts are ``packet index * packet samples`` on 1/sample_rate; video pts are the planned
    emission time since the origin on 1/90000, strictly increasing; both share the origin. Audio
    of an epoch older than the last flush is replaced by silence with the same pts (so audio
    stays gapless); a new video frame of an older epoch is dropped (a repeat of what is on screen
    still goes out). Both are counted.
    """

    def __init__(
        self, *, origin: float, packet_samples: int, channels: int, placeholder: Image
    ) -> None:
        self.origin = origin
        self.packet_samples = packet_samples
        self.gate = EpochGate()
        self.last_video_pts = -1
        self.frames_dropped_stale = 0
        self.audio_dropped_stale_s = 0.0
        self.silence: Samples = np.zeros((packet_samples, channels), np.int16)
        self.placeholder = placeholder  #: what a consumer that has been shown nothing sees
        self.shown = placeholder  #: the image of the last new frame that went out

    @property
    def epoch(self) -> int:
        return self.gate.epoch

    def audio(self, message: AudioOut, rate: int) -> tuple[int, Samples]:
        """The pts and samples to emit for one clock tick."""
        samples = message.samples
        if samples is None:
            samples = self.silence
        elif self.gate.is_stale(message.epoch):
            self.audio_dropped_stale_s += len(samples) / rate
            samples = self.silence
        return message.index * self.packet_samples, samples

    def video(self, message: VideoOut) -> int | None:
        """The pts to emit a frame with, or None if it is a stale new frame (counted)."""
        if message.kind is FrameKind.NEW and self.gate.is_stale(message.epoch):
            self.frames_dropped_stale += 1
            return None
        pts = max(round((message.at - self.origin) * 90000), self.last_video_pts + 1)
        self.last_video_pts = pts
        return pts

    def image(self, message: VideoOut) -> Image:
        """What an emission that goes out (see :meth:`video`) shows: its own image, except that a
        repeat of an image whose new frame never went out (it was stale) shows the last image
        that did, or the placeholder if none did yet."""
        if message.kind is FrameKind.NEW:
            self.shown = message.image
        elif message.kind is FrameKind.REPEAT and message.image is not self.shown:
            return self.shown
        return message.image

    def purged(self, audio_s: float, frames: int) -> None:
        """At a flush, the outputs purged this much stale media they held: count it."""
        self.audio_dropped_stale_s += audio_s
        self.frames_dropped_stale += frames


class PublisherActor(actors.Actor[AudioOut | VideoOut | VideoSettled]):
    """Runs the :class:`PublisherState` (pts, staleness) and fans every packet and frame out
    to the sinks, never waiting on one. At ``Flush(e)``, stale items already waiting in a sink
    are purged, and each sink's next audio fades from the last sample its consumer took.
    ``Barrier`` is answered once every flush before it has been applied; ``VideoSettled`` once
    every frame before it is in the sinks."""

    def __init__(
        self,
        config: SyncConfig,
        state: PublisherState,
        control: actors.Mailbox[Flush | Barrier],
        sinks: SinkRegistry,
    ) -> None:
        self.config = config
        self.state = state
        self.control = control
        self.sinks = sinks
        fade_samples = round(config.fade_ms * config.sample_rate / 1000)
        # from 1 (exclusive) down to 0 (exclusive): the first step is no larger than the others
        shape = (fade_samples - 1 - np.arange(fade_samples)) / max(fade_samples, 1)
        self.ramp = np.repeat(shape[:, None], config.channels, axis=1)

    async def run(self, context: actors.Context[AudioOut | VideoOut | VideoSettled]) -> None:
        # Handling never waits, so while idle the publisher is served in its senders' tasks
        # (the clock's, the video queue's): a packet or frame costs them a call, not a switch.
        await actors.serve(self.control, context.inbox, handle_now=self._handle)

    def _handle(self, message: AudioOut | VideoOut | VideoSettled | Flush | Barrier) -> bool:
        if isinstance(message, AudioOut):
            self._audio(message)
        elif isinstance(message, VideoOut):
            self._video(message)
        elif isinstance(message, VideoSettled):
            message.reply.send(None)  # every frame before it is in the sinks
        elif isinstance(message, Flush):
            self._flush(message.epoch)
        else:
            self._flush(message.epoch)
            message.reply.send(None)
        return True

    def _flush(self, epoch: int) -> None:
        if not self.state.gate.advance(epoch):
            return
        self.sinks.prune()
        # Every output purges what it holds; count the same stale packet or frame once (the
        # most any one output lost), not once per output.
        purged_audio = [sink.purge(epoch, self.ramp) for sink in self.sinks.audio]
        placeholder = self.state.placeholder
        purged_video = [sink.purge(epoch, placeholder) for sink in self.sinks.video]
        self.state.purged(max(purged_audio, default=0.0), max(purged_video, default=0))

    def _audio(self, message: AudioOut) -> None:
        config = self.config
        pts, samples = self.state.audio(message, config.sample_rate)
        if not self.sinks.audio:
            return
        frame = make_audio_frame(samples, pts, config.sample_rate, config.layout)
        epoch = self.state.epoch
        speech = samples is not self.state.silence
        for sink in self.sinks.audio:
            sink.push_packet(epoch, frame, samples, speech=speech)

    def _video(self, message: VideoOut) -> None:
        pts = self.state.video(message)
        if pts is None:
            return
        image = self.state.image(message)  # (with no output too: one may attach before a repeat)
        if not self.sinks.video:
            return
        frame = to_video_frame(image, pts)
        new = message.kind is FrameKind.NEW
        epoch = self.state.epoch
        for sink in self.sinks.video:
            sink.push_frame(epoch, frame, image, new)
