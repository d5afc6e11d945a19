"""The page server: serves the avsync page (``avsync_demo/web``) on 127.0.0.1 and offers, to
each page that connects, the tracks the media side publishes over WebRTC.

The page asks for an offer (``POST /offer``), answers it (``POST /answer``) with its gathering
complete, and the connection is made on 127.0.0.1: aiortc gathers loopback host candidates only
(:func:`avsync.webrtc.loopback_candidates`, no STUN or TURN server), so the browser can reach no
other address. Runs inside ``trio_asyncio.open_loop()``; the server is aiohttp (the ``browser``
extra).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import attrs
import trio
import trio_asyncio
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from avsync.webrtc import loopback_candidates

from ._page import PageSession

__all__ = ["PageServer", "serve_page"]

PAGE_FILES = {"/": "index.html", "/page.js": "page.js", "/onsets.js": "onsets.js"}
HOST = "127.0.0.1"

AddTracks = Callable[[RTCPeerConnection], object]


@attrs.frozen
class _Publication:
    """Tracks waiting for a page: how to add them, what to tell the page, who waits."""

    add_tracks: AddTracks
    session: PageSession
    connected: asyncio.Future[RTCPeerConnection]


class PageServer:
    """Serves the page; :meth:`publish` offers tracks to the next page that connects."""

    def __init__(self) -> None:
        self.url = ""  #: set once the server listens
        self._waiting: asyncio.Queue[_Publication] = asyncio.Queue()
        self._offered: dict[str, tuple[RTCPeerConnection, _Publication]] = {}

    async def publish(self, add_tracks: AddTracks, session: PageSession) -> RTCPeerConnection:
        """Offer the tracks that ``add_tracks(pc)`` adds to the next page that asks, telling it
        ``session``; return the peer connection once it is connected (an asyncio coroutine:
        from trio, ``await trio_asyncio.aio_as_trio(server.publish)(...)``). The caller closes
        the connection (``avsync.loopback.close``). Cancellation withdraws the offer."""
        connected: asyncio.Future[RTCPeerConnection] = asyncio.get_running_loop().create_future()
        await self._waiting.put(_Publication(add_tracks, session, connected))
        return await connected

    def application(self) -> web.Application:
        app = web.Application()
        web_files = resources.files("avsync_demo") / "web"
        for route, name in PAGE_FILES.items():
            app.router.add_get(route, _file_handler(Path(str(web_files / name))))
        app.router.add_post("/offer", self._offer)
        app.router.add_post("/answer", self._answer)
        return app

    async def _offer(self, request: web.Request) -> web.Response:
        while True:
            publication = await self._waiting.get()
            if not publication.connected.done():  # not withdrawn
                break
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        publication.add_tracks(pc)
        with loopback_candidates():  # aiortc gathers here: the offer holds 127.0.0.1 only
            await pc.setLocalDescription(await pc.createOffer())
        key = secrets.token_hex(8)
        self._offered[key] = (pc, publication)
        offer = pc.localDescription
        return web.json_response(
            {
                "id": key,
                "type": offer.type,
                "sdp": offer.sdp,
                "session": publication.session.to_json(),
            }
        )

    async def _answer(self, request: web.Request) -> web.Response:
        answer = await request.json()
        offered = self._offered.pop(str(answer.get("id")), None)
        if offered is None:
            raise web.HTTPNotFound(text="no such offer")
        pc, publication = offered
        if publication.connected.done():  # withdrawn while the page answered
            await pc.close()
            raise web.HTTPGone(text="the offer was withdrawn")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

        @pc.on("connectionstatechange")
        def changed() -> None:
            if publication.connected.done():
                return
            if pc.connectionState == "connected":
                publication.connected.set_result(pc)
            elif pc.connectionState in ("failed", "closed"):
                publication.connected.set_exception(
                    ConnectionError(f"the page's connection {pc.connectionState}")
                )

        changed()
        return web.json_response({})


def _file_handler(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler that sends the file at ``path``, never cached (the page is small, and a stale
    script after an upgrade would measure wrongly)."""

    async def send(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})

    return send


@asynccontextmanager
async def serve_page(port: int = 0) -> AsyncIterator[PageServer]:
    """A :class:`PageServer` listening on 127.0.0.1:``port`` (0: any free port) for the block,
    its ``url`` set. From trio, inside ``trio_asyncio.open_loop()``."""
    server = PageServer()
    runner = web.AppRunner(server.application(), access_log=None)
    await trio_asyncio.aio_as_trio(runner.setup)()
    try:
        site = web.TCPSite(runner, HOST, port)
        await trio_asyncio.aio_as_trio(site.start)()
        _, bound = runner.addresses[0][:2]
        server.url = f"http://{HOST}:{bound}/"
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await trio_asyncio.aio_as_trio(runner.cleanup)()
