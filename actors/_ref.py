"""Typed send-only handles (refs), and request/reply (ask)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import outcome
import trio

from ._mailbox import MailboxFull, Overflow

if TYPE_CHECKING:
    from ._mailbox import Mailbox, MailboxStats

__all__ = ["ActorRef", "AskTimeout", "Reply", "ReplyAlreadySent"]

M_contra = TypeVar("M_contra", contravariant=True)
R = TypeVar("R")


class AskTimeout(TimeoutError):
    """No reply arrived within the ask's timeout."""


class ReplyAlreadySent(RuntimeError):
    """A :class:`Reply` was answered twice."""


class Reply(Generic[R]):
    """A one-shot slot the asked actor fills with :meth:`send` or :meth:`fail`.

    Answering never blocks, so an actor can reply from its handler even if the asker has already
    given up (the answer is then simply ignored).
    """

    __slots__ = ("_event", "_outcome")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._outcome: outcome.Outcome[R] | None = None

    @property
    def answered(self) -> bool:
        return self._outcome is not None

    def send(self, value: R) -> None:
        """Answer with a value. Raises :class:`ReplyAlreadySent` if already answered."""
        self._settle(outcome.Value(value))

    def fail(self, error: BaseException) -> None:
        """Answer with an exception, raised in the asker. Raises :class:`ReplyAlreadySent` if
        already answered."""
        self._settle(outcome.Error(error))

    def _settle(self, result: outcome.Outcome[R]) -> None:
        if self._outcome is not None:
            raise ReplyAlreadySent("this request was already answered")
        self._outcome = result
        self._event.set()

    async def wait(self) -> R:
        """Wait for the answer and return it (or raise the error it carries)."""
        await self._event.wait()
        assert self._outcome is not None
        return self._outcome.unwrap()


class ActorRef(Generic[M_contra]):
    """The address of a mailbox: what other actors hold to talk to its owner.

    Send-only, hence contravariant: an ``ActorRef[A | B]`` is usable where an ``ActorRef[A]`` is
    expected. A ref outlives restarts of the actor behind it; once that actor has stopped for
    good, every send raises :class:`~actors.MailboxClosed`.
    """

    __slots__ = ("_mailbox",)

    def __init__(self, mailbox: Mailbox[Any]) -> None:
        self._mailbox = mailbox

    def __repr__(self) -> str:
        return f"<ActorRef {self._mailbox.name!r}>"

    @property
    def name(self) -> str:
        return self._mailbox.name

    @property
    def closed(self) -> bool:
        return self._mailbox.closed

    def stats(self) -> MailboxStats:
        return self._mailbox.stats()

    @property
    def room(self) -> int:
        """How many more messages the mailbox takes before its overflow policy applies."""
        return self._mailbox.room

    @property
    def overflow(self) -> Overflow:
        """The mailbox's overflow policy."""
        return self._mailbox.overflow

    @property
    def dropped(self) -> int:
        """Messages the mailbox has discarded so far (its ``stats().dropped``, cheaply)."""
        return self._mailbox.dropped

    async def tell(self, message: M_contra) -> bool:
        """Send under the mailbox's overflow policy (waiting for room under ``BLOCK``); return
        whether it was accepted. If cancelled while waiting, the message was not sent."""
        return await self._mailbox.put(message)

    def close(self) -> None:
        """Stop the actor gracefully: its mailbox refuses new messages, the actor handles what is
        already queued and then its run loop ends (like closing a trio send channel). Idempotent."""
        self._mailbox.close()

    def tell_nowait(self, message: M_contra) -> bool:
        """Send without waiting; see :meth:`Mailbox.put_nowait`."""
        return self._mailbox.put_nowait(message)

    async def ask(self, make_request: Callable[[Reply[R]], M_contra], *, timeout: float = 5.0) -> R:
        """Send ``make_request(reply)`` and wait for the actor to answer ``reply``.

        ``timeout`` (seconds, finite and positive) covers both the send and the wait; when it
        passes, :class:`AskTimeout` is raised and a late answer is ignored. If the actor refuses
        the request (closed or full mailbox), that error is raised at once.
        """
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"ask timeout must be a finite number of seconds > 0, got {timeout!r}")
        reply: Reply[R] = Reply()
        try:
            with trio.fail_after(timeout):
                if not await self._mailbox.put(make_request(reply)):
                    raise MailboxFull(f"mailbox {self.name!r} is full and dropped the request")
                return await reply.wait()
        except trio.TooSlowError:
            raise AskTimeout(f"no reply from {self.name!r} within {timeout} s") from None
