"""The publisher actor: owns the output timeline and fans frames out to the sinks."""

from __future__ import annotations

import attrs
import numpy as np
import trio

import actors

from ._config import SyncConfig
from ._messages import AudioOut, Barrier, Flush, FrameKind, VideoOut, VideoSettled
from ._sink import SinkRegistry, make_audio_frame
from ._video import to_video_frame

__all__ = ["PublisherActor", "PublisherState"]


@attrs.define
class PublisherState:
    """What outlives a publisher restart: the timeline and the counters."""

    origin: float
    epoch: int = 0
    last_video_pts: int = -1
    frames_dropped_stale: int = 0
    audio_dropped_stale_s: float = 0.0


class PublisherActor(actors.Actor[AudioOut | VideoOut | VideoSettled]):
    """Stamps output pts and fans every frame out to the sinks, never waiting on one.

    Audio pts are ``packet index * packet samples`` on 1/sample_rate; video pts are the planned
    emission time since the origin on 1/90000, strictly increasing; both share the origin. After
    ``Flush(e)``, audio of an older epoch is replaced by silence (same pts, so audio stays
    gapless) and new video frames of an older epoch are dropped; stale items already waiting in
    a sink are purged, and each sink's next audio fades from the last sample its consumer took.
    """

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
        self.silence = np.zeros((config.packet_samples, config.channels), np.int16)

    async def run(self, context: actors.Context[AudioOut | VideoOut | VideoSettled]) -> None:
        inbox = context.inbox
        while True:
            try:
                _, message = await actors.receive_first(self.control, inbox)
            except trio.EndOfChannel:
                return
            self._handle(message)
            while len(self.control) or len(inbox):  # take in whatever else is already here
                self._handle(actors.receive_first_nowait(self.control, inbox)[1])

    def _handle(self, message: AudioOut | VideoOut | VideoSettled | Flush | Barrier) -> None:
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

    def _flush(self, epoch: int) -> None:
        state = self.state
        if epoch <= state.epoch:
            return
        state.epoch = epoch
        self.sinks.prune()
        # Every output purges what it holds; count the same stale packet or frame once (the
        # most any one output lost), not once per output.
        purged_audio = [sink.purge(epoch, self.ramp) for sink in self.sinks.audio]
        purged_video = [sink.purge(epoch) for sink in self.sinks.video]
        state.audio_dropped_stale_s += max(purged_audio, default=0.0)
        state.frames_dropped_stale += max(purged_video, default=0)

    def _audio(self, message: AudioOut) -> None:
        samples = message.samples
        if samples is None:
            samples = self.silence
        elif message.epoch < self.state.epoch:
            self.state.audio_dropped_stale_s += len(samples) / self.config.sample_rate
            samples = self.silence
        if not self.sinks.audio:
            return
        pts = message.index * self.config.packet_samples
        frame = make_audio_frame(samples, pts, self.config.sample_rate, self.config.layout)
        for sink in self.sinks.audio:
            sink.push_packet(self.state.epoch, frame, samples)

    def _video(self, message: VideoOut) -> None:
        state = self.state
        if message.kind is FrameKind.NEW and message.epoch < state.epoch:
            state.frames_dropped_stale += 1
            return
        pts = max(round((message.at - state.origin) * 90000), state.last_video_pts + 1)
        state.last_video_pts = pts
        if not self.sinks.video:
            return
        frame = to_video_frame(message.image, pts)
        new = message.kind is FrameKind.NEW
        for sink in self.sinks.video:
            sink.push_frame(state.epoch, frame, message.image, new)
