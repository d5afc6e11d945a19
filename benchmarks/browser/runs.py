"""The three kinds of run of the browser benchmark, each a page session of its own in headless
Chromium: the calibration source, avsync fed by the misbehaving provider, and the enqueue-time
baseline fed by the same provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from aiortc import RTCPeerConnection

from avsync import SyncConfig, open_synchronizer
from avsync.webrtc import add_tracks
from avsync_demo._page import PageSession
from avsync_demo._web import PageServer

from ..baseline import open_baseline
from .session import measure_in_browser
from .sources import (
    ChannelTrack,
    Media,
    PacedTracks,
    SynchroniserLike,
    add_as_one_stream,
    misbehaving_provider,
    play,
)

__all__ = ["RUNS", "Bench"]

PAIR_WINDOW_MS = 450.0  #: onsets are 1 s apart: a pairing is unambiguous within +-0.5 s
PLAYOUT_DELAY_S = 0.1  #: avsync's slack for the provider's video, which trails by up to 100 ms
MEDIA_MARGIN_S = 5.0  #: media beyond the measured time (the connection, the provider's stall)


@attrs.frozen
class Bench:
    """Where and how long the runs play."""

    server: PageServer
    chromium: str
    seconds: float
    width: int = 640
    height: int = 360
    seed: int = 1
    #: the provider stalls and bursts (else its video only trails its audio, with jitter)
    misbehaving: bool = True

    @property
    def media(self) -> Media:
        return Media(self.width, self.height, self.seconds + MEDIA_MARGIN_S)

    def session(self, title: str) -> PageSession:
        return PageSession(title, self.media.fps, tuple(self.media.page_onsets()), PAIR_WINDOW_MS)


async def calibration(bench: Bench) -> dict[str, Any]:
    """Synthetic tracks paced on one clock: what the page measures for a perfect source."""
    tracks = PacedTracks(bench.media)

    def add(pc: RTCPeerConnection) -> None:
        add_as_one_stream(pc, tracks.audio, tracks.video)

    return await measure_in_browser(
        bench.server, bench.chromium, bench.seconds, add, bench.session("calibration")
    )


async def through_avsync(bench: Bench) -> dict[str, Any]:
    """The misbehaving provider through avsync (video with pts, ``playout_delay_s`` 0.1)."""
    media = bench.media
    config = SyncConfig(
        width=media.width, height=media.height, fps=media.fps, playout_delay_s=PLAYOUT_DELAY_S
    )
    async with open_synchronizer(config) as sync:

        def add(pc: RTCPeerConnection) -> None:
            add_tracks(pc, sync)

        report = await measure_in_browser(
            bench.server, bench.chromium, bench.seconds, add, bench.session("avsync"),
            _provider(bench, sync),
        )  # fmt: skip
        await sync.aclose()
    return report


async def through_baseline(bench: Bench) -> dict[str, Any]:
    """The same provider through the enqueue-time baseline (which ignores pts)."""
    async with open_baseline(fps=bench.media.fps) as sync:
        audio = ChannelTrack("audio", sync.audio_frames())
        video = ChannelTrack("video", sync.video_frames())

        def add(pc: RTCPeerConnection) -> None:
            add_as_one_stream(pc, audio, video)

        return await measure_in_browser(
            bench.server, bench.chromium, bench.seconds, add, bench.session("baseline"),
            _provider(bench, sync),
        )  # fmt: skip


def _provider(bench: Bench, sync: SynchroniserLike) -> Callable[[], Awaitable[None]]:
    media = bench.media
    if bench.misbehaving:
        plan = misbehaving_provider(media, seed=bench.seed)
    else:
        plan = misbehaving_provider(media, seed=bench.seed, stall_s=0.0, burst_s=0.0)

    async def provide() -> None:
        await play(sync, plan, media, trio.current_time())

    return provide


RUNS: dict[str, Callable[[Bench], Awaitable[dict[str, Any]]]] = {
    "calibration": calibration,
    "avsync": through_avsync,
    "baseline": through_baseline,
}
