"""Helpers for testing actors: a recording probe, MockClock runs, and a live-task census."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio
import trio.testing
from trio.lowlevel import Task

from ._mailbox import Mailbox, Overflow
from ._ref import ActorRef

__all__ = ["Probe", "ProbeTimeout", "live_tasks", "run_scenario"]

M = TypeVar("M")
T = TypeVar("T")


class ProbeTimeout(AssertionError):
    """The probe did not receive what was expected in time."""


class Probe(Generic[M]):
    """A stand-in actor that records what it is sent, for assertions.

    Give ``probe.ref`` to the code under test, then ``await probe.receive()`` / ``expect(...)``.
    Everything taken out of the probe is kept, in order, in :attr:`history`.
    """

    def __init__(
        self,
        name: str = "probe",
        *,
        capacity: int = 10_000,
        overflow: Overflow | str = Overflow.BLOCK,
    ) -> None:
        self.mailbox: Mailbox[M] = Mailbox(capacity, overflow, name=name)
        self.history: list[M] = []

    @property
    def ref(self) -> ActorRef[M]:
        return self.mailbox.ref

    async def receive(self, timeout: float = 1.0) -> M:
        """The next message; :class:`ProbeTimeout` if none arrives within ``timeout`` seconds."""
        with trio.move_on_after(timeout):
            message = await self.mailbox.get()
            self.history.append(message)
            return message
        raise ProbeTimeout(f"probe {self.mailbox.name!r} received nothing within {timeout} s")

    async def expect(self, predicate: Callable[[M], bool], timeout: float = 1.0) -> M:
        """Receive until a message satisfies ``predicate``; return it. Skipped messages stay in
        :attr:`history`. :class:`ProbeTimeout` if none does within ``timeout`` seconds."""
        deadline = trio.current_time() + timeout
        while True:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise ProbeTimeout(
                    f"probe {self.mailbox.name!r}: no matching message in {timeout} s"
                )
            message = await self.receive(remaining)
            if predicate(message):
                return message

    async def expect_silence(self, duration: float) -> None:
        """Assert that nothing arrives for ``duration`` seconds."""
        with trio.move_on_after(duration):
            message = await self.mailbox.get()
            self.history.append(message)
            raise AssertionError(
                f"probe {self.mailbox.name!r} received {message!r}, expected silence"
            )

    def drain(self) -> list[M]:
        """Take everything queued now, without waiting."""
        taken: list[M] = []
        while len(self.mailbox):
            taken.append(self.mailbox.get_nowait())
        self.history.extend(taken)
        return taken


def run_scenario(
    async_fn: Callable[..., Awaitable[T]],
    *args: object,
    autojump_threshold: float = 0.0,
) -> T:
    """Run ``async_fn(*args)`` under ``trio.testing.MockClock`` and return its result.

    With the default ``autojump_threshold=0`` virtual time jumps to the next deadline whenever every
    task is blocked, so a minute of timers runs in milliseconds, deterministically.
    """
    if not (math.isfinite(autojump_threshold) and autojump_threshold >= 0):
        raise ValueError(f"autojump_threshold must be finite and >= 0, got {autojump_threshold!r}")
    clock = trio.testing.MockClock(autojump_threshold=autojump_threshold)
    return trio.run(async_fn, *args, clock=clock)


def live_tasks() -> list[Task]:
    """Every task of this trio run except the caller, its ancestors and trio's own system tasks.

    Use it to check that a component left nothing behind: compare before and after.
    """
    me = trio.lowlevel.current_task()
    ancestors: list[Task] = []
    task: Task | None = me
    while task is not None:
        ancestors.append(task)
        parent = task.parent_nursery
        task = parent.parent_task if parent is not None else None
    # ancestors[-1] is trio's root task; ancestors[-2] is the task trio.run started.
    main_task = ancestors[-2] if len(ancestors) >= 2 else me
    found: list[Task] = []
    pending = [main_task]
    while pending:
        task = pending.pop()
        if task not in ancestors:
            found.append(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return found
