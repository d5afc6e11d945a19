"""A Vision-Agents 0.6 avatar plugin kept in sync by avsync: only the synchroniser's import
differs from a plugin written for Vision-Agents' own ``AVSynchronizer``.

The avatar takes the Agent's speech (its ``input_audio_stream``), "renders" a face for each
20 ms of it (a grey picture whose brightness follows the loudness: a stand-in for a real
provider's lip-synced frames), and writes the frame and then its audio to the synchroniser. The
Agent publishes ``video_output()`` and drains ``audio_output()`` into its audio track. On a
barge-in the Agent sends an ``AudioOutputFlush`` down the avatar's input; the avatar flushes.

``main()`` runs it in-process the way the Agent wires it, with getstream's real
``AudioStreamTrack``, and prints what the two tracks published. Needs Vision-Agents 0.6
(``pip install -e '.[vision-agents]'``). Run from the repository root:
``python -m examples.vision_agents_avatar``.
"""

from __future__ import annotations

import asyncio
import contextlib

import av
import numpy as np
from getstream.video.rtc.audio_track import AudioStreamTrack
from getstream.video.rtc.track_util import AudioFormat, PcmData
from vision_agents.core.agents.inference.audio import (
    AudioOutputChunk,
    AudioOutputFlush,
    AudioOutputStream,
)
from vision_agents.core.avatars import Avatar

from avsync.vision_agents import AVSynchronizer  # instead of vision_agents.core.avatars'

WIDTH, HEIGHT, FPS = 320, 240, 30


class LoudnessAvatar(Avatar):
    """An avatar plugin: frames from the Agent's speech, in sync with it."""

    provider_name = "loudness"

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self._width, self._height = width, height
        self._sync = AVSynchronizer(width=width, height=height, fps=FPS)
        self._task: asyncio.Task[None] | None = None

    def video_output(self) -> object:
        return self._sync.video_output

    def audio_output(self) -> AudioOutputStream:
        return self._sync.audio_output

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sync.close()

    async def _run(self) -> None:
        async for item in self.input_audio_stream:
            if isinstance(item, AudioOutputFlush):
                await self._sync.flush()  # a barge-in: the old turn is gone
            elif isinstance(item, AudioOutputChunk) and item.data is not None:
                await self._sync.write_video(self._render(item.data))
                await self._sync.write_audio(item.data)

    def _render(self, pcm: PcmData) -> av.VideoFrame:
        samples = np.asarray(pcm.samples, np.float32)
        level = min(255, int(np.sqrt(np.mean(samples**2)) / 40))
        picture = np.full((self._height, self._width, 3), level, np.uint8)
        return av.VideoFrame.from_ndarray(picture, format="rgb24")


async def main(seconds: float = 2.0) -> tuple[int, int]:
    """Run the avatar as the Agent would for ``seconds`` of speech with a barge-in halfway;
    returns (video frames, audio frames) the two tracks published."""
    speech = AudioOutputStream()  # what the Agent's TTS writes
    avatar = LoudnessAvatar()
    avatar.attach_audio_input(speech)
    track = AudioStreamTrack(sample_rate=48000, channels=1)
    published = {"video": 0, "audio": 0}

    async def drain_audio() -> None:  # the Agent's audio producer
        async for item in avatar.audio_output():
            if isinstance(item, AudioOutputChunk) and item.data is not None:
                await track.write(item.data, final=item.final)
            elif isinstance(item, AudioOutputFlush):
                await track.flush()

    async def send(media: object, kind: str) -> None:  # aiortc's senders
        while True:
            await media.recv()  # type: ignore[attr-defined]
            published[kind] += 1

    await avatar.start()
    tasks = [
        asyncio.create_task(drain_audio()),
        asyncio.create_task(send(avatar.video_output(), "video")),
        asyncio.create_task(send(track, "audio")),
    ]
    t = np.arange(16000 * 0.02) / 16000
    for index in range(round(seconds / 0.02)):
        if index == round(seconds / 0.04):
            speech.send_nowait(AudioOutputFlush())  # the user barges in
        voice = (8000 * np.sin(2 * np.pi * 220 * t) * (index % 10 < 7)).astype(np.int16)
        await speech.send(
            AudioOutputChunk(data=PcmData(sample_rate=16000, format=AudioFormat.S16, samples=voice))
        )
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    await avatar.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"published {published['video']} video frames and {published['audio']} audio frames")
    return published["video"], published["audio"]


if __name__ == "__main__":
    asyncio.run(main())
