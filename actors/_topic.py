"""Broadcast topics: one publish, delivered to every subscriber's own mailbox."""

from __future__ import annotations

from typing import Generic, TypeVar

from ._mailbox import MailboxClosed, MailboxFull
from ._ref import ActorRef

__all__ = ["Topic"]

M = TypeVar("M")


class Topic(Generic[M]):
    """A broadcast channel for control messages.

    Each subscriber is a ref; a published message goes into each subscriber's own mailbox under
    that mailbox's overflow policy, so a subscriber that drops or refuses a message does not affect
    the others (its mailbox counts the drop). Subscribers whose mailbox has closed are removed.
    """

    def __init__(self, name: str = "topic") -> None:
        self.name = name
        self._subscribers: dict[ActorRef[M], None] = {}

    def __repr__(self) -> str:
        return f"<Topic {self.name!r} subscribers={len(self._subscribers)}>"

    @property
    def subscribers(self) -> list[ActorRef[M]]:
        return list(self._subscribers)

    def subscribe(self, ref: ActorRef[M]) -> None:
        """Deliver every later publish to ``ref``. Subscribing twice is the same as once."""
        self._subscribers[ref] = None

    def unsubscribe(self, ref: ActorRef[M]) -> None:
        """Stop delivering to ``ref``. Unsubscribing a non-subscriber does nothing."""
        self._subscribers.pop(ref, None)

    async def publish(self, message: M) -> int:
        """Deliver ``message`` to every subscriber in subscription order; return how many accepted.

        Waits on subscribers whose mailbox blocks when full. If cancelled during such a wait, the
        subscribers before it have the message and the rest do not.
        """
        accepted = 0
        for ref in list(self._subscribers):
            try:
                accepted += await ref.tell(message)
            except MailboxFull:
                pass
            except MailboxClosed:
                self.unsubscribe(ref)
        return accepted
