"""A small, typed actor runtime on trio.

Actors are tasks that own a bounded :class:`Mailbox` and talk through :class:`ActorRef` handles:
``tell`` to send, ``ask`` for request/reply with a timeout, :class:`Topic` to broadcast. They run
under one-for-one supervision (:class:`RestartPolicy`) inside a nursery or an :func:`open_group`,
which shuts them down in reverse start order. Nothing here knows about media.
"""

from ._actor import Actor, Context
from ._alarm import SLACK_S, Alarm
from ._group import ActorGroup, open_group
from ._mailbox import (
    Mailbox,
    MailboxClosed,
    MailboxFull,
    MailboxStats,
    Overflow,
    receive_first,
    receive_first_nowait,
    wait_queued,
)
from ._ref import ActorRef, AskTimeout, Reply, ReplyAlreadySent
from ._serve import serve
from ._supervision import ActorFailed, RestartPolicy, run_actor, spawn
from ._topic import Topic
from ._trace import TraceEvent, TraceKind, Tracer

__all__ = [
    "SLACK_S",
    "Actor",
    "ActorFailed",
    "Alarm",
    "ActorGroup",
    "ActorRef",
    "AskTimeout",
    "Context",
    "Mailbox",
    "MailboxClosed",
    "MailboxFull",
    "MailboxStats",
    "Overflow",
    "Reply",
    "ReplyAlreadySent",
    "RestartPolicy",
    "Topic",
    "TraceEvent",
    "TraceKind",
    "Tracer",
    "open_group",
    "receive_first",
    "receive_first_nowait",
    "run_actor",
    "serve",
    "spawn",
    "wait_queued",
]
