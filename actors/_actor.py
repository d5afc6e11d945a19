"""The actor base class and the context the runtime hands it."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs
import trio

from ._mailbox import Mailbox
from ._ref import ActorRef

__all__ = ["Actor", "Context"]

M = TypeVar("M")


@attrs.frozen(eq=False)
class Context(Generic[M]):
    """What an actor knows about itself. The same context (and mailbox) survives restarts."""

    name: str
    inbox: Mailbox[M]  #: the actor's own mailbox; the actor is its only consumer

    @property
    def ref(self) -> ActorRef[M]:
        """The actor's own address, to hand to others (e.g. to subscribe to a topic)."""
        return self.inbox.ref


class Actor(Generic[M]):
    """Subclass and implement :meth:`handle`, or override :meth:`run` for a custom loop.

    Lifecycle, per instance: ``on_start`` → ``run`` → ``on_stop``. ``on_stop`` runs only when
    ``run`` returns normally (the mailbox was closed and drained), not on a crash or cancellation.
    A supervisor restarts a crashed actor with a fresh instance from its factory.
    """

    async def on_start(self, context: Context[M]) -> None:
        """Set up before the actor counts as started (the spawner waits for this)."""

    async def run(self, context: Context[M]) -> None:
        """Handle messages one at a time, in order, until the mailbox is closed and drained."""
        inbox = context.inbox
        handle = self.handle
        while True:
            try:
                message = await inbox.get()
            except trio.EndOfChannel:
                return
            await handle(message)

    async def handle(self, message: M) -> None:
        """Process one message. An exception here crashes the actor (see supervision)."""
        raise NotImplementedError(f"{type(self).__name__} must implement handle() or run()")

    async def on_stop(self, context: Context[M]) -> None:
        """Clean up after a normal stop."""
