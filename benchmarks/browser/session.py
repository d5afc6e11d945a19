"""One measured browser session: a source published to the page, headless Chromium playing it
for a while, the page's report back."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio_asyncio

from avsync import loopback
from avsync_demo._page import PageSession
from avsync_demo._web import AddTracks, PageServer

from ..machine import ROOT

__all__ = ["measure_in_browser"]

DRIVER_GRACE_S = 60.0  #: Chromium's start and the connection, on top of the measured time


async def measure_in_browser(
    server: PageServer,
    chromium: str,
    seconds: float,
    add_tracks: AddTracks,
    session: PageSession,
    play: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Publish the tracks ``add_tracks`` adds, open the page in headless Chromium, and once it
    is connected run ``play()`` (the provider, if any) until the page has measured for
    ``seconds``; return the page's report (``avsyncReport()`` in ``page.js``).

    Raises ``RuntimeError`` with Chromium's or Playwright's own message if the driver fails.
    The connection is closed on the way out."""
    report: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:

        async def drive() -> None:
            report.update(await _drive(chromium, server.url + "?autostart", seconds))
            nursery.cancel_scope.cancel()

        nursery.start_soon(drive)
        pc = await trio_asyncio.aio_as_trio(server.publish)(add_tracks, session)
        try:
            if play is not None:
                await play()
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await loopback.close(pc)
    return report


async def _drive(chromium: str, url: str, seconds: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.browser.drive", chromium, url, str(seconds)]
    with trio.fail_after(seconds + DRIVER_GRACE_S):
        done = await trio.run_process(
            command, cwd=ROOT, capture_stdout=True, capture_stderr=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"the browser driver failed:\n{done.stderr.decode(errors='replace')}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report
