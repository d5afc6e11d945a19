"""``avsync demo --browser``: the demo session served to a page on 127.0.0.1, live.

The server prints the page's URL; each page that connects (and is clicked, for sound) gets a
whole demo session of its own: the avatar provider of :mod:`avsync_demo._provider` playing the
plan (turns, the stall, the barge-in) through a fresh synchroniser, published over WebRTC
(loopback candidates only) as one MediaStream. The page shows, per syllable, the skew it
measures between the frame marking the onset, as displayed, and the onset, as heard.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import trio
import trio_asyncio
from aiortc import RTCPeerConnection

from avsync import loopback, open_synchronizer
from avsync.webrtc import add_tracks

from ._face import FaceRenderer
from ._page import PageOnset, PageSession, page_onsets
from ._provider import AvatarProvider, Happening
from ._script import Plan
from ._session import DemoOptions
from ._web import PageServer, serve_page

__all__ = ["demo_page_session", "serve_browser_demo"]

SETTLE_S = 1.0  #: after the plan, before the connection closes: the last frames reach the page
PAIR_MARGIN_MS = 5.0


def demo_page_session(plan: Plan, first_epoch: int = 0) -> PageSession:
    """What the page is told about a demo session whose synchroniser starts at ``first_epoch``:
    every syllable onset of both turns (the turns' epochs follow from the agent's calls: each
    ``start_turn()`` adds one), paired within half the closest two onsets' distance."""
    epochs: dict[int, int] = {}
    for count, (_, kind, number) in enumerate(plan.controls(), start=1):
        if kind == "turn":
            epochs[number] = first_epoch + count
    onsets: list[PageOnset] = []
    for turn in plan.turns:
        utterance = turn.utterance
        onsets += page_onsets(
            utterance.samples(),
            rate=utterance.rate,
            fps=plan.fps,
            epoch=epochs[turn.number],
            onset_frames=utterance.onset_frames,
        )
    return PageSession("avsync demo", plan.fps, tuple(onsets), _pair_window_ms(plan))


def _pair_window_ms(plan: Plan) -> float:
    closest = min(
        later.start - earlier.start
        for turn in plan.turns
        for earlier, later in itertools.pairwise(turn.utterance.syllables)
    )
    return closest * 1000 / 2 - PAIR_MARGIN_MS


async def serve_browser_demo(
    options: DemoOptions,
    *,
    port: int = 0,
    sessions: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the demo page on 127.0.0.1:``port`` (0: any free port), announce its URL, and play
    a demo session to each page that connects, one at a time, ``sessions`` times (None: until
    cancelled). Runs under ``trio.run``, in real time."""
    async with trio_asyncio.open_loop(), serve_page(port) as server:
        announce(
            f"avsync demo: open {server.url} in a browser and click once, for sound"
            " (each page load plays a session; Ctrl-C ends)"
        )
        played = 0
        while sessions is None or played < sessions:
            await _play_to_page(server, options, announce)
            played += 1


async def _play_to_page(
    server: PageServer, options: DemoOptions, announce: Callable[[str], None]
) -> None:
    plan = options.plan()
    renderer = FaceRenderer(options.width, options.height)
    async with open_synchronizer(options.config) as sync:
        session = demo_page_session(plan, sync.epoch)

        def add(pc: RTCPeerConnection) -> None:
            add_tracks(pc, sync)

        pc = await trio_asyncio.aio_as_trio(server.publish)(add, session)
        announce(f"a page connected: playing {plan.duration:g} s of session")
        start = trio.current_time() + 0.1

        def tell(happening: Happening) -> None:
            announce(f"  {trio.current_time() - start:5.1f} s  {happening.what}")

        try:
            await AvatarProvider(sync, plan, renderer, on_happening=tell).run(start)
            await trio.sleep(SETTLE_S)
        finally:
            with trio.CancelScope(shield=True):
                await loopback.close(pc)
        await sync.aclose()
    announce("session over: reload the page to play another")
