"""Actor groups: a nursery of actors that shuts down in reverse start order."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from ._mailbox import Overflow
from ._ref import ActorRef
from ._supervision import FAIL_FAST, ActorFactory, RestartPolicy, run_actor
from ._trace import Tracer

__all__ = ["ActorGroup", "open_group"]

M = TypeVar("M")


@attrs.define(eq=False)
class _Member:
    name: str
    ref: ActorRef[Any]
    scope: trio.CancelScope
    done: trio.Event


class _ShieldOnStart(trio.TaskStatus[ActorRef[M]]):
    """Registers a member with its group, and shields it from outside cancellation, at the very
    moment it has started and moved into the group's nursery.

    Registering here, not when ``nursery.start`` returns, matters: a spawner cancelled just after
    the child started gets ``Cancelled`` from ``start`` although the child now lives in the
    group's nursery; it must still be known to the group so that shutdown stops it. (If the
    spawner was cancelled before, trio does not move the child, which then dies of that
    cancellation: it is neither shielded nor registered.) A started
    member must not be cancelled directly by an outer scope, or members would die in arbitrary
    order; :meth:`ActorGroup.shutdown` cancels each one itself, in reverse start order. Until it
    has started, the spawner's cancellation still reaches it (a hung ``on_start``).
    """

    def __init__(
        self,
        inner: trio.TaskStatus[ActorRef[M]],
        group_nursery: trio.Nursery,
        on_started: Callable[[ActorRef[M]], None],
    ) -> None:
        self._inner = inner
        self._group_nursery = group_nursery
        self._on_started = on_started

    def started(self, value: ActorRef[M] | None = None) -> None:
        assert value is not None
        self._inner.started(value)
        # trio moves the child into the group's nursery unless the spawner has been cancelled
        # meanwhile; then it leaves the child to die of that cancellation: leave it unshielded.
        if trio.lowlevel.current_task().parent_nursery is self._group_nursery:
            self._on_started(value)


class ActorGroup:
    """Actors spawned together and stopped together; see :func:`open_group`."""

    def __init__(self, nursery: trio.Nursery, name: str, grace_s: float, tracer: Tracer | None):
        self.name = name
        self._nursery = nursery
        self._grace_s = grace_s
        self._tracer = tracer
        self._members: list[_Member] = []
        self._closing = False

    @property
    def refs(self) -> list[ActorRef[Any]]:
        """Refs of the members, in start order."""
        return [member.ref for member in self._members]

    async def spawn(
        self,
        factory: ActorFactory[M],
        *,
        name: str,
        capacity: int = 64,
        overflow: Overflow | str = Overflow.BLOCK,
        restart: RestartPolicy = FAIL_FAST,
    ) -> ActorRef[M]:
        """Start an actor in the group and return its ref once its ``on_start`` has returned."""
        if self._closing:
            raise RuntimeError(f"actor group {self.name!r} is shutting down")
        scope = trio.CancelScope()
        done = trio.Event()

        def on_started(ref: ActorRef[M]) -> None:
            self._members.append(_Member(name, ref, scope, done))
            if self._closing:  # started while the group shuts down: stop it straight away
                ref.close()
                scope.cancel()
            else:
                scope.shield = True

        async def supervised(task_status: trio.TaskStatus[ActorRef[M]]) -> None:
            try:
                with scope:
                    await run_actor(
                        factory,
                        name=name,
                        capacity=capacity,
                        overflow=overflow,
                        restart=restart,
                        tracer=self._tracer,
                        task_status=_ShieldOnStart(task_status, self._nursery, on_started),
                    )
            finally:
                done.set()

        ref: ActorRef[M] = await self._nursery.start(supervised, name=f"{self.name}.{name}")
        return ref

    async def shutdown(self) -> None:
        """Stop every member in reverse start order: close its mailbox so it drains and returns,
        give it ``grace_s`` seconds, then cancel it. Returns when all members have ended.

        Runs shielded from outside cancellation (bounded by the grace periods), so it also
        completes when the group is being cancelled. Idempotent.
        """
        self._closing = True
        with trio.CancelScope(shield=True):
            for member in reversed(self._members):
                member.ref.close()
                with trio.move_on_after(self._grace_s):
                    await member.done.wait()
                member.scope.cancel()
                await member.done.wait()


@asynccontextmanager
async def open_group(
    name: str = "group", *, grace_s: float = 1.0, tracer: Tracer | None = None
) -> AsyncIterator[ActorGroup]:
    """Open a group of actors in its own nursery.

    On leaving the block — normally, by an exception, or by cancellation — the members are shut
    down in reverse start order, each given ``grace_s`` seconds to drain before it is cancelled.
    When the block exits, no task of the group is left running. A member that escalates a crash
    cancels the block; the other members are then shut down the same orderly way, and the
    :class:`ActorFailed` propagates (in an ``ExceptionGroup``, as trio nurseries do).
    """
    if not (isinstance(grace_s, (int, float)) and math.isfinite(grace_s) and grace_s >= 0):
        raise ValueError(f"grace_s must be finite seconds >= 0, got {grace_s!r}")
    async with trio.open_nursery() as nursery:
        group = ActorGroup(nursery, name, grace_s, tracer)
        try:
            yield group
        finally:
            await group.shutdown()
