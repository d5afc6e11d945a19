"""A trio run hosted by an asyncio loop, shared by the objects of that loop that need one.

Trio runs as a *guest* of the asyncio loop (:func:`trio.lowlevel.start_guest_run`): trio's
scheduler is driven by callbacks on the asyncio loop (``loop.call_soon`` /
``loop.call_soon_threadsafe``), only its wait for I/O and timeouts happens in a helper thread, so
trio tasks and asyncio callbacks take turns in the one thread and share objects without locks.

Why guest mode and not trio-asyncio: ``trio_asyncio.open_loop()`` runs an asyncio loop *inside*
``trio.run``, so trio must own the thread. A program started with ``asyncio.run()`` already owns
its loop; the only way to run trio code inside it is for trio to be the guest. If the running
asyncio loop is itself a trio-asyncio loop, the code already runs inside a trio run (a thread
holds one at a time), so the members are hosted in that run, in a system task, instead.

One :class:`TrioHost` per thread (trio allows one run per thread) hosts every member of that
loop: it starts with the first member and ends when the last one leaves, so no trio state is
left behind. A keeper task on the loop ends it, closing the members, when ``asyncio.run()``
cancels the loop's leftover tasks. Everything here must be used from the loop's thread.

Members (:class:`Member`, the asyncio face's ``AVSynchronizer``) run their trio side as a task of
the host's nursery and are told when that run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Protocol

import outcome
import trio

__all__ = ["Member", "TrioHost", "wait_for"]


class Member(Protocol):
    """What the host needs of a member."""

    async def _host(self) -> None:
        """Its trio side: runs in the host's nursery until it is done."""

    def _end(self, failure: BaseException | None) -> None:
        """Its trio side has ended (or will never start): ``failure`` if the run failed."""

    def _request_close(self) -> None:
        """The loop is ending: close (the member then leaves)."""


async def wait_for(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, even if this task is cancelled meanwhile (the cancellation
    is re-raised afterwards). Only for futures that trio resolves promptly."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


_local = threading.local()  # .host: the TrioHost of this thread, if any


class TrioHost:
    """The trio run hosting the members of one asyncio loop: a guest run of that loop
    or, when the loop itself runs inside trio (trio-asyncio), that trio run.

    Started by the first member, stopped when the last one leaves. A keeper task on the loop ends
    it (closing the members) when the loop's leftover tasks are cancelled at ``asyncio.run()``'s
    end, so that the thread is never left with a half-finished trio run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.members: set[Member] = set()
        self.stopping = False
        self.ready: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.nursery: trio.Nursery | None = None
        self._stop = trio.Event()
        self.guest = not trio.lowlevel.in_trio_run()
        if self.guest:
            trio.lowlevel.start_guest_run(
                self._main,
                run_sync_soon_threadsafe=loop.call_soon_threadsafe,
                run_sync_soon_not_threadsafe=loop.call_soon,
                done_callback=self._finished,
                # asyncio owns signal.set_wakeup_fd (loop.add_signal_handler): trio keeps off it
                host_uses_signal_set_wakeup_fd=True,
            )
        else:  # a trio-asyncio loop: this code already runs in a trio task
            trio.lowlevel.spawn_system_task(self._main_in_system_task, name="avsync.aio host")
        self.token = trio.lowlevel.current_trio_token()
        self._keeper = loop.create_task(self._keep(), name="avsync.aio trio host")

    @classmethod
    async def join(cls, member: Member) -> TrioHost:
        """The trio host of the running loop, started if need be, with ``member`` added."""
        loop = asyncio.get_running_loop()
        while True:
            host: TrioHost | None = getattr(_local, "host", None)
            if host is None:
                host = _local.host = cls(loop)
            elif host.loop.is_closed():
                raise RuntimeError(
                    "an event loop of this thread was closed while members ran on it, "
                    "leaving their trio run unfinished: aclose() them before closing the loop "
                    "(asyncio.run() does it for you)"
                )
            elif host.loop is not loop:
                raise RuntimeError(
                    "another event loop of this thread still runs members; aclose() them first"
                )
            if host.stopping:  # the last member just left: let that run end, start a new one
                await asyncio.wait((host.done,))
                continue
            host.members.add(member)
            try:
                await asyncio.shield(host.ready)
            except BaseException:
                host.leave(member)
                raise
            return host

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members:
            self.stop()

    def stop(self) -> None:
        """End the run (its members have left)."""
        if not self.stopping:
            self.stopping = True
            with contextlib.suppress(trio.RunFinishedError):
                self.token.run_sync_soon(self._stop.set)

    def spawn(self, member: Member) -> None:
        """Start the trio side of ``member`` (from any thread)."""

        def start() -> None:
            try:
                assert self.nursery is not None
                self.nursery.start_soon(member._host, name="avsync.aio synchroniser")
            except RuntimeError:  # the run is ending
                member._end(None)

        self.token.run_sync_soon(start)

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            if not self.ready.done():
                self.ready.set_result(None)
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    async def _main_in_system_task(self) -> None:
        try:
            await self._main()
        except trio.Cancelled:  # the trio run is ending
            self._finished(outcome.Value(None))
            raise
        except BaseException as exc:  # (raising it would crash the whole trio run)
            self._finished(outcome.Error(exc))
        else:
            self._finished(outcome.Value(None))

    def _finished(self, run_outcome: outcome.Outcome[None]) -> None:
        if getattr(_local, "host", None) is self:
            _local.host = None
        self.stopping = True
        error = run_outcome.error if isinstance(run_outcome, outcome.Error) else None
        members = list(self.members)
        self.members.clear()
        for member in members:
            member._end(error)
        if not self.ready.done():
            self.ready.set_exception(error or RuntimeError("the trio run ended at once"))
        if error is not None and not members:  # nobody to raise it: log it
            self.loop.call_exception_handler(
                {"message": "avsync's trio run failed", "exception": error}
            )
        if not self.done.done():
            self.done.set_result(None)

    async def _keep(self) -> None:
        try:
            await asyncio.wait((self.done,))
        except asyncio.CancelledError:  # the loop is ending (or someone cancelled every task)
            for member in list(self.members):
                member._request_close()
            if not self.members:
                self.stop()
            await wait_for(self.done)
            raise
