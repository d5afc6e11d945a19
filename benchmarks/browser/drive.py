"""``python -m benchmarks.browser.drive CHROMIUM URL SECONDS``: open ``URL`` in headless
Chromium (through Playwright, with the given browser: Playwright downloads none of its own), let
the page measure for ``SECONDS`` after it connects, and print its report (``avsyncReport()``) as
JSON on stdout.

A process of its own: Playwright runs on a plain asyncio loop, apart from the trio-asyncio loop
of the media side.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

__all__ = ["CHROMIUM_FLAGS", "measure"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",  # the page talks WebRTC to 127.0.0.1
    "--autoplay-policy=no-user-gesture-required",  # the AudioContext runs without a click
    # plain host candidates, not mDNS names: in a namespace with only lo there is no multicast,
    # and gathering would never complete
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
CONNECT_TIMEOUT_MS = 20_000


async def measure(chromium: str, url: str, seconds: float) -> dict[str, Any]:
    """The page's report after ``seconds`` of a connected session (raises if it never
    connects within 20 s). Chromium runs with a fresh profile, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="avsync-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                ignore_default_args=["--mute-audio"],
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                await page.goto(url)
                try:
                    await page.wait_for_function(
                        "window.avsync && window.avsync.connected", timeout=CONNECT_TIMEOUT_MS
                    )
                except PlaywrightError as error:
                    state = await page.evaluate("JSON.stringify(window.avsync)")
                    raise RuntimeError(
                        f"the page did not connect: {error.message}\npage state: {state}\n"
                        f"console: {console}"
                    ) from None
                await asyncio.sleep(seconds)
                report: dict[str, Any] = await page.evaluate("window.avsyncReport()")
            finally:
                await context.close()
    return report


if __name__ == "__main__":
    chromium, url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    json.dump(asyncio.run(measure(chromium, url, seconds)), sys.stdout)
