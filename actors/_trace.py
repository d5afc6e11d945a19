"""Tracing hook: a callable that sees every send, receive, drop and lifecycle event."""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

__all__ = ["TraceEvent", "TraceKind", "Tracer"]


class TraceKind(enum.Enum):
    """What happened."""

    SEND = "send"  #: a message was accepted into a mailbox
    RECEIVE = "receive"  #: the consumer took a message out of a mailbox
    DROP = "drop"  #: the overflow policy (or a discarding close) threw a message away
    START = "start"  #: an actor finished ``on_start`` and is running
    STOP = "stop"  #: an actor returned normally
    RESTART = "restart"  #: an actor crashed and the supervisor is starting a fresh instance
    ESCALATE = "escalate"  #: an actor crashed past its restart limit; the error propagates


@attrs.frozen
class TraceEvent:
    """One observation, handed to the tracer synchronously as it happens."""

    kind: TraceKind
    name: str  #: mailbox or actor name
    time: float  #: ``trio.current_time()`` when it happened
    message: object = None
    error: BaseException | None = None


#: A tracer is any callable taking a :class:`TraceEvent`. It runs synchronously on the hot path,
#: so it must be quick and must not raise. With no tracer set, the cost is one ``is None`` test.
Tracer = Callable[[TraceEvent], None]
