"""Running one actor under a one-for-one restart policy."""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import attrs
import trio

from ._actor import Actor, Context
from ._mailbox import Mailbox, Overflow
from ._ref import ActorRef
from ._trace import TraceEvent, TraceKind, Tracer

__all__ = ["ActorFailed", "RestartPolicy", "run_actor", "spawn"]

M = TypeVar("M")

ActorFactory = Callable[[], Actor[M]]


class ActorFailed(Exception):
    """An actor crashed past its restart limit. ``__cause__`` is the last crash."""

    def __init__(self, name: str, restarts: int) -> None:
        super().__init__(f"actor {name!r} failed after {restarts} restart(s)")
        self.name = name
        self.restarts = restarts


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an int >= 0, got {value!r}")


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be finite seconds > 0, got {value!r}")


@attrs.frozen
class RestartPolicy:
    """Restart a crashed actor at most ``max_restarts`` times within any ``within_s`` seconds;
    one crash more escalates (:class:`ActorFailed` propagates to the nursery).

    The default, ``max_restarts=0``, fails fast: the first crash escalates.
    """

    max_restarts: int = attrs.field(default=0, validator=_non_negative_int)
    within_s: float = attrs.field(default=5.0, validator=_positive_seconds)


FAIL_FAST = RestartPolicy()


async def run_actor(
    factory: ActorFactory[M],
    *,
    name: str = "actor",
    capacity: int = 64,
    overflow: Overflow | str = Overflow.BLOCK,
    restart: RestartPolicy = FAIL_FAST,
    tracer: Tracer | None = None,
    task_status: trio.TaskStatus[ActorRef[M]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run an actor until it stops, restarting it after crashes as ``restart`` allows.

    Reports the actor's :class:`ActorRef` through ``task_status`` once the first instance's
    ``on_start`` has returned; a crash before that propagates to the starter and is not restarted.
    The mailbox is kept across restarts (only the message being handled at the crash is lost) and
    is closed when this returns, fails or is cancelled, so senders never wait on a dead actor.
    """
    mailbox: Mailbox[M] = Mailbox(capacity, overflow, name=name, tracer=tracer)
    context = Context(name, mailbox)
    crash_times: deque[float] = deque()
    restarts = 0
    started = False

    def trace(kind: TraceKind, error: BaseException | None = None) -> None:
        if tracer is not None:
            tracer(TraceEvent(kind, name, trio.current_time(), error=error))

    try:
        while True:
            actor = factory()
            try:
                await actor.on_start(context)
                if not started:
                    started = True
                    task_status.started(context.ref)
                trace(TraceKind.START)
                await actor.run(context)
                await actor.on_stop(context)
                trace(TraceKind.STOP)
                return
            except Exception as crash:
                if not started:
                    raise
                now = trio.current_time()
                crash_times.append(now)
                while crash_times and crash_times[0] <= now - restart.within_s:
                    crash_times.popleft()
                if len(crash_times) > restart.max_restarts:
                    trace(TraceKind.ESCALATE, crash)
                    raise ActorFailed(name, restarts) from crash
                restarts += 1
                trace(TraceKind.RESTART, crash)
    finally:
        mailbox.close()


async def spawn(
    nursery: trio.Nursery,
    factory: ActorFactory[M],
    *,
    name: str = "actor",
    capacity: int = 64,
    overflow: Overflow | str = Overflow.BLOCK,
    restart: RestartPolicy = FAIL_FAST,
    tracer: Tracer | None = None,
) -> ActorRef[M]:
    """Start an actor in ``nursery`` and return its ref once it has started.

    Shorthand for ``await nursery.start(functools.partial(run_actor, factory, ...))``.
    """
    ref: ActorRef[M] = await nursery.start(
        functools.partial(
            run_actor,
            factory,
            name=name,
            capacity=capacity,
            overflow=overflow,
            restart=restart,
            tracer=tracer,
        )
    )
    return ref
