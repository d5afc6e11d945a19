"""``avsync.aio.AVSynchronizer`` as a drop-in for Vision-Agents' ``AVSynchronizer``: the seed's
behaviour list, called exactly as an avatar plugin written for it calls it.

Such a plugin builds the synchroniser in its ``__init__`` (no event loop yet), hands
``video_track`` / ``audio_track`` to the WebRTC layer at once, reads the tracks' attributes, and
later awaits ``write_video(frame)``, ``write_audio(pcm)`` (a ``PcmData``: ``samples``,
``sample_rate``, ``channels``, ``format``) and ``flush()``; aiortc may ``stop()`` a track. Each
test is a plain asyncio program (``asyncio.run``) in plain pytest.

The PCM objects are getstream's real ``PcmData`` when getstream is installed (an outside run does
that), else a look-alike with the same attributes: avsync itself never imports getstream.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import avsync
from avsync.aio import AVSynchronizer

from .test_aio import mark_of, marked, run

pytestmark = pytest.mark.realtime

W, H = 64, 48
RATE = 48000


class AudioFormat(str, enum.Enum):  # noqa: UP042 (as getstream defines it)
    S16 = "s16"
    F32 = "f32"


class LookAlikePcmData:
    """getstream's ``PcmData`` as avsync sees it: the same constructor and attributes."""

    def __init__(
        self, sample_rate: int, format: Any, samples: Any = None, channels: int = 1
    ) -> None:
        self.sample_rate = sample_rate
        self.format = format
        self.samples = samples
        self.channels = channels


try:
    from getstream.video.rtc.track_util import AudioFormat as RealAudioFormat
    from getstream.video.rtc.track_util import PcmData as RealPcmData
except ImportError:
    PcmData: Any = LookAlikePcmData
    S16: Any = AudioFormat.S16
else:  # pragma: no cover - only in the outside run
    PcmData = RealPcmData
    S16 = RealAudioFormat.S16


def stereo_pcm(seconds: float, value: int = 8000, *, planar: bool = False) -> Any:
    """Stereo int16 speech as a TTS plugin hands it over: 1-D interleaved, or ``(2, n)`` planar
    (what getstream's ``PcmData.from_bytes`` makes of stereo)."""
    frames = round(seconds * RATE)
    samples = np.full((2, frames) if planar else frames * 2, value, np.int16)
    return PcmData(sample_rate=RATE, format=S16, samples=samples, channels=2)


class AvatarPlugin:
    """What a plugin for Vision-Agents does with its synchroniser (only the import changed)."""

    def __init__(self, **sync_args: Any) -> None:
        self.sync = AVSynchronizer(**sync_args)  # no event loop runs here
        self.published: list[MediaStreamTrack] = [self.sync.video_track, self.sync.audio_track]

    async def on_video(self, frame: av.VideoFrame) -> None:
        await self.sync.write_video(frame)

    async def on_audio(self, pcm: Any) -> None:
        await self.sync.write_audio(pcm)

    async def on_interrupt(self) -> None:
        await self.sync.flush()


@pytest.fixture
def plugin() -> Iterator[AvatarPlugin]:
    """Built in a plain fixture: no event loop runs. Each test's program closes it."""
    yield AvatarPlugin(width=W, height=H, fps=30, sample_rate=RATE, channels=2)


async def shown_at(track: MediaStreamTrack, index: int, since: float) -> float:
    """Seconds from ``since`` until ``track`` hands over the frame marked ``index``."""
    loop = asyncio.get_running_loop()
    while mark_of(await track.recv()) != index:
        pass
    return loop.time() - since


# -- construction ----------------------------------------------------------------------------------


def test_defaults_and_custom_values_read_back_from_the_tracks() -> None:
    default = AVSynchronizer()  # no loop runs
    video, audio = default.video_track, default.audio_track
    assert isinstance(video, MediaStreamTrack) and isinstance(audio, MediaStreamTrack)
    assert (video.kind, audio.kind) == ("video", "audio")
    assert (video.width, video.height, video.fps) == (1920, 1080, 30)
    assert (audio.sample_rate, audio.channels) == (48000, 2)

    custom = AVSynchronizer(width=640, height=360, fps=25, sample_rate=16000, channels=1)
    assert (custom.video_track.width, custom.video_track.height) == (640, 360)
    assert custom.video_track.fps == 25
    assert (custom.audio_track.sample_rate, custom.audio_track.channels) == (16000, 1)
    assert custom.video_track is custom.video_track  # one track per synchroniser


def test_the_tracks_are_handed_out_before_anything_is_awaited(plugin: AvatarPlugin) -> None:
    video, audio = plugin.published

    async def main() -> tuple[int | None, int]:
        # The WebRTC layer pulls first: that starts the synchroniser.
        first_audio = await audio.recv()
        await plugin.on_video(marked(3))
        frame = await video.recv()
        await plugin.sync.aclose()
        return mark_of(frame), first_audio.samples

    mark, samples = run(main)
    assert mark == 3 and samples == RATE // 50  # a 20 ms packet


# -- timing ----------------------------------------------------------------------------------------


def test_a_frame_with_no_audio_buffered_comes_out_of_the_first_recv(plugin: AvatarPlugin) -> None:
    async def main() -> list[int | None]:
        video = plugin.published[0]
        await plugin.on_video(marked(1))
        first = await video.recv()  # nothing was received before
        await asyncio.sleep(0.2)  # placeholder-free repeats of frame 1 pile up meanwhile
        await plugin.on_video(marked(2))
        second = await video.recv()  # after frames were received
        await plugin.sync.aclose()
        return [mark_of(first), mark_of(second)]

    assert run(main) == [1, 2]


@pytest.mark.parametrize("planar", [False, True], ids=["interleaved", "planar"])
def test_a_frame_after_half_a_second_of_stereo_pcm_waits_for_it(
    plugin: AvatarPlugin, planar: bool
) -> None:
    async def main() -> float:
        video = plugin.published[0]
        start = asyncio.get_running_loop().time()
        await plugin.on_audio(stereo_pcm(0.5, planar=planar))  # 24000 stereo frames
        await plugin.on_video(marked(1))
        after = await shown_at(video, 1, start)
        await plugin.sync.aclose()
        return after

    after = run(main)
    # It waits for its half second of audio. How much later it comes is the start-up of the
    # synchroniser (it starts at the first call) and the machine's load: up to 0.12 s seen on a
    # loaded 2-core machine. Exact timing is the MockClock tests' (tests/avsync/test_lipsync.py).
    assert 0.48 <= after <= 0.75, after


def test_two_frames_after_audio_come_out_in_order(plugin: AvatarPlugin) -> None:
    async def main() -> list[int]:
        video = plugin.published[0]
        await plugin.on_audio(stereo_pcm(0.3))
        await plugin.on_video(marked(1))
        await plugin.on_video(marked(2))
        shown: list[int] = []
        while not shown or shown[-1] != 2:
            mark = mark_of(await video.recv())
            if mark is not None and (not shown or shown[-1] != mark):
                shown.append(mark)
        await plugin.sync.aclose()
        return shown

    assert run(main) == [1, 2]


def test_the_last_frame_repeats(plugin: AvatarPlugin) -> None:
    async def main() -> list[int | None]:
        video = plugin.published[0]
        await plugin.on_video(marked(7))
        frames = [await video.recv() for _ in range(6)]
        await plugin.sync.aclose()
        return [mark_of(frame) for frame in frames]

    assert run(main) == [7] * 6


def test_flush_discards_the_pending_frame(plugin: AvatarPlugin) -> None:
    async def main() -> tuple[list[int | None], avsync.Stats]:
        video = plugin.published[0]
        await plugin.on_audio(stereo_pcm(1.0))
        await plugin.on_video(marked(4))  # due in 1 s
        await asyncio.sleep(0.1)
        await plugin.on_interrupt()
        loop = asyncio.get_running_loop()
        seen: list[int | None] = []
        until = loop.time() + 1.2  # past the time it was due
        while loop.time() < until:
            seen.append(mark_of(await video.recv()))
        stats = plugin.sync.stats()
        await plugin.sync.aclose()
        return seen, stats

    seen, stats = run(main)
    # The last frame repeats at 30 fps; on a machine too loaded for the session, only twice a
    # second (repeats are shed first: docs/design.md, section 6).
    assert 4 not in seen
    assert len(seen) >= (2 if stats.overload.repeats_shed else 30), stats.overload
    assert stats.frames_dropped_stale >= 1


# -- stopping a track ------------------------------------------------------------------------------


def test_after_video_track_stop_writes_go_on_and_recv_raises(plugin: AvatarPlugin) -> None:
    async def main() -> int:
        video, audio = plugin.published
        await plugin.on_video(marked(1))
        assert mark_of(await video.recv()) == 1
        video.stop()  # as aiortc does when its sender stops
        with pytest.raises(MediaStreamError):
            await video.recv()
        for index in range(2, 6):  # the plugin keeps writing: nothing raises
            await plugin.on_video(marked(index))
            await plugin.on_audio(stereo_pcm(0.02))
        with pytest.raises(MediaStreamError):
            await video.recv()
        loud = 0
        for _ in range(10):  # the other track goes on
            loud += int((await audio.recv()).to_ndarray().any())
        assert plugin.sync.stats().frames_emitted > 0
        await plugin.sync.aclose()
        return loud

    assert run(main) > 0  # the speech written after the stop is heard


def test_a_track_stopped_before_the_start_ends_only_itself(plugin: AvatarPlugin) -> None:
    async def main() -> float:
        video, audio = plugin.published
        audio.stop()
        with pytest.raises(MediaStreamError):
            await audio.recv()
        start = asyncio.get_running_loop().time()
        await plugin.on_audio(stereo_pcm(0.1))
        await plugin.on_video(marked(9))
        after = await shown_at(video, 9, start)
        await plugin.sync.aclose()
        return after

    assert 0.08 <= run(main) <= 0.5  # the audio nobody reads still paces the video


def test_aclose_without_a_start_ends_the_tracks() -> None:
    sync = AVSynchronizer(width=W, height=H)

    async def main() -> None:
        await sync.aclose()
        for track in (sync.video_track, sync.audio_track):
            with pytest.raises(MediaStreamError):
                await track.recv()

    run(main)
