"""How an agent wires an avatar provider through avsync: a runnable walk-through (~6 s).

    provider ──WebRTC──▶ agent ──write_audio / write_video──▶ synchroniser ──add_tracks──▶ user

The provider is simulated as its own aiortc peer that streams a talking face (audio and video,
in real time) to the agent; the user is a third peer that receives what the agent republishes.
Everything runs on 127.0.0.1 inside one trio run (aiortc on asyncio through trio_asyncio).

What to copy into a real agent:

1. Capture ``epoch = sync.epoch`` when you send the provider input, and pass ``epoch=`` on every
   write of the output that input produces.
2. On barge-in, ``await sync.start_turn()`` first, then interrupt the provider: frames still in
   flight from the old response arrive tagged with the old epoch and are dropped.
3. Frames from a WebRTC connection share no timeline you can use as ``pts``: write them without
   ``pts`` and give a real-time provider some ``playout_delay_s``.
4. Republish with ``avsync.webrtc.add_tracks(pc, sync)``: one MediaStream, so browsers lip-sync.

Run from the repository root: ``python -m examples.provider_integration``. See
docs/integration.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
import trio
import trio_asyncio
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame

import avsync
from avsync import loopback
from avsync.webrtc import add_tracks

WIDTH, HEIGHT, FPS, RATE = 320, 240, 30, 48000
PACKET = RATE // 50  # 20 ms


# -- the avatar provider (simulated) -------------------------------------------------------------


class AvatarProvider:
    """Streams a face over its own peer connection: a closed mouth while idle; while speaking, a
    voice and a mouth that opens with it. ``speak()`` is the agent's input, ``interrupt()`` stops
    the current response (a real provider exposes both over HTTP or a data channel)."""

    def __init__(self) -> None:
        self.speech_from = self.speech_until = 0.0  # wall-clock window of the current response
        self.audio = PacedTrack("audio", PACKET / RATE, self.audio_frame)
        self.video = PacedTrack("video", 1 / FPS, self.video_frame)

    async def speak(self, seconds: float) -> None:
        self.speech_from = time.monotonic()
        self.speech_until = self.speech_from + seconds

    async def interrupt(self) -> None:
        self.speech_until = min(self.speech_until, time.monotonic())

    def openness(self, at: float) -> float:
        """How open the mouth is at wall time ``at``: syllables at 3 Hz while speaking."""
        if not self.speech_from <= at < self.speech_until:
            return 0.0
        return float(abs(np.sin(2 * np.pi * 3 * (at - self.speech_from))))

    def audio_frame(self, index: int, at: float) -> av.AudioFrame:
        t = at + np.arange(PACKET) / RATE
        voice = np.sin(2 * np.pi * 180 * t) * self.openness(at)
        samples = (voice * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, index * PACKET, Fraction(1, RATE)
        return frame

    def video_frame(self, index: int, at: float) -> av.VideoFrame:
        face = np.full((HEIGHT, WIDTH, 3), (224, 172, 140), np.uint8)
        face[70:90, 100:130] = face[70:90, 190:220] = 40  # eyes
        mouth = 4 + round(40 * self.openness(at))
        face[170 - mouth // 2 : 170 + mouth // 2, 120:200] = (120, 20, 30)
        frame = av.VideoFrame.from_ndarray(face, format="rgb24")
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90000)
        return frame


class PacedTrack(MediaStreamTrack):
    """A track that hands out ``make(index, wall time)`` once per ``period``, in real time."""

    def __init__(self, kind: str, period: float, make: Callable[[int, float], Frame]) -> None:
        super().__init__()
        self.kind, self.period, self.make = kind, period, make
        self.start: float | None = None
        self.index = 0

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        at = self.start + self.index * self.period
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        self.index += 1
        return self.make(self.index - 1, at)


# -- the agent -----------------------------------------------------------------------------------


class Agent:
    """Relays the provider's media into the synchroniser, tagged with the epoch of the request
    that produced it."""

    def __init__(self, sync: avsync.Synchronizer, provider: AvatarProvider) -> None:
        self.sync, self.provider = sync, provider
        self.epoch = sync.epoch  # the epoch of the input the provider is answering
        self.relayed = {"audio": 0, "video": 0}

    async def ask(self, seconds: float) -> None:
        """Send the provider input (here: how long to talk)."""
        self.epoch = self.sync.epoch  # captured when the input goes out
        await self.provider.speak(seconds)

    async def barge_in(self) -> None:
        """The user interrupts: cut the synchroniser first, then the provider."""
        await self.sync.start_turn()  # once this returns, nothing older reaches the user
        await self.provider.interrupt()  # what it already sent arrives tagged as stale

    async def relay(self, track: MediaStreamTrack) -> None:
        """Write every frame of one of the provider's remote tracks into the synchroniser."""
        while True:
            try:
                frame = await trio_asyncio.aio_as_trio(track.recv)()
            except MediaStreamError:
                return
            if track.kind == "audio":
                await self.sync.write_audio(frame, epoch=self.epoch)
            else:
                await self.sync.write_video(frame, epoch=self.epoch)  # no pts: see docstring
            self.relayed[track.kind] += 1


# -- the session ---------------------------------------------------------------------------------


def stream_ids(sdp: str) -> set[str]:
    """The MediaStream ids of an SDP's m-lines (``a=msid:<stream> <track>``)."""
    return {line[7:].split()[0] for line in sdp.splitlines() if line.startswith("a=msid:")}


async def main() -> None:
    # the provider talks in real time and its audio path is slower than its video (aiortc's
    # audio jitter buffer): hold each turn's audio 100 ms so its video can be shown with it
    config = avsync.SyncConfig(
        width=WIDTH, height=HEIGHT, fps=FPS, sample_rate=RATE, playout_delay_s=0.1
    )
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config) as sync:
        async with loopback.open_peers(4) as (provider_pc, agent_in, agent_out, user_pc):
            provider = AvatarProvider()
            provider_pc.addTrack(provider.audio)
            provider_pc.addTrack(provider.video)
            provider_tracks: list[MediaStreamTrack] = []
            agent_in.on("track", provider_tracks.append)
            await loopback.connect(provider_pc, agent_in)

            add_tracks(agent_out, sync)  # one MediaStream for the user's browser
            user = loopback.Receiver(user_pc)
            await loopback.connect(agent_out, user_pc)

            agent = Agent(sync, provider)
            async with trio.open_nursery() as nursery:
                for track in provider_tracks:
                    nursery.start_soon(agent.relay, track)

                await agent.ask(seconds=4.0)  # "tell me a story"
                await trio.sleep(2.5)
                at_barge_in = sync.stats()
                await agent.barge_in()  # the user starts talking
                await trio.sleep(0.6)  # ... and finishes; in-flight media arrives, stale
                stale = sync.stats()
                await agent.ask(seconds=1.5)  # the answer to what the user said
                await trio.sleep(2.5)
                nursery.cancel_scope.cancel()

            stats = sync.stats()
            streams = stream_ids(user_pc.remoteDescription.sdp)
            await user.aclose()
        await sync.aclose()

    video, audio = agent.relayed["video"], agent.relayed["audio"]
    dropped_frames = stale.frames_dropped_stale - at_barge_in.frames_dropped_stale
    dropped_audio = stale.audio_dropped_stale_s - at_barge_in.audio_dropped_stale_s
    print(f"provider -> agent: {video} video frames, {audio} audio packets relayed")
    print(f"barge-in:          start_turn() -> epoch {stale.epoch}, then provider.interrupt()")
    print(f"  dropped as stale: {dropped_frames} frames, {dropped_audio:.2f} s of audio (queued,")
    print("  in flight, or sent before the next request: all tagged with the old epoch)")
    print(
        f"agent -> user:     {len(user.log.video)} video frames, {len(user.log.audio)} audio"
        f" packets, in {len(streams)} MediaStream"
    )
    print(
        f"synchroniser:      offset p50 {stats.offset_p50_ms:.1f} ms, p99"
        f" {stats.offset_p99_ms:.1f} ms; underrun {stats.audio_underrun_s:.2f} s"
    )


if __name__ == "__main__":
    trio.run(main)
