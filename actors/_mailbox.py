"""Bounded mailboxes with an explicit overflow policy.

A mailbox is multi-producer, single-consumer: any number of tasks may put, exactly one task (the
owning actor) takes. That restriction is what lets one task wait on several mailboxes at once
(:func:`receive_first`), which trio's memory channels cannot do.

Cancellation guarantees (the same as trio's memory channels):

* :meth:`Mailbox.put` either accepts the message exactly once and returns, or raises
  (``Cancelled``, :class:`MailboxClosed`, :class:`MailboxFull`) having accepted nothing.
* :meth:`Mailbox.get` and :func:`receive_first` either return a message, removed from the
  mailbox, or raise having removed nothing. A message is never lost to a cancellation and never
  handed out twice.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs
import outcome
import trio
from trio.lowlevel import (
    Abort,
    Task,
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._trace import TraceEvent, TraceKind, Tracer

if TYPE_CHECKING:
    from ._ref import ActorRef

__all__ = [
    "Mailbox",
    "MailboxClosed",
    "MailboxFull",
    "MailboxStats",
    "Overflow",
    "receive_first",
    "receive_first_nowait",
    "wait_queued",
]

M = TypeVar("M")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class Overflow(enum.StrEnum):
    """What a full mailbox does with one more message (equal to its string value)."""

    BLOCK = "block"  #: the sender waits for room (``put_nowait`` raises ``trio.WouldBlock``)
    DROP_OLDEST = "drop-oldest"  #: the oldest queued message is discarded to make room
    DROP_NEWEST = "drop-newest"  #: the new message is discarded
    FAIL = "fail"  #: the new message is refused and the sender gets :class:`MailboxFull`


class MailboxFull(Exception):
    """A mailbox with ``Overflow.FAIL`` was full; the message was not accepted."""


class MailboxClosed(trio.ClosedResourceError):
    """The mailbox is closed (its actor has stopped); the message was not accepted."""


@attrs.frozen
class MailboxStats:
    """Counters of one mailbox. Always ``received == delivered + dropped + depth``."""

    name: str
    capacity: int
    overflow: Overflow
    depth: int  #: messages waiting now
    peak_depth: int  #: the most that ever waited at once
    received: int  #: messages that reached the mailbox (accepted or dropped by the policy)
    delivered: int  #: messages taken by the consumer
    dropped: int  #: messages discarded by the overflow policy or a discarding close
    closed: bool


class _Waiter:
    """A consumer parked on one or more mailboxes; the first put into any of them wakes it.

    A waiter with a ``handle_now`` (parked in :func:`~actors.serve`) may instead take a message
    at once: the putting task runs ``handle_now(message)`` itself, and the consumer stays parked.
    While parked, the consumer's mailboxes are all empty (any put wakes and detaches it), so a
    message handled this way is the next one it would have taken, in every priority order.
    """

    __slots__ = ("busy", "error", "handle_now", "mailboxes", "task")

    def __init__(
        self,
        task: Task,
        mailboxes: Sequence[Mailbox[object]],
        handle_now: Callable[[Any], bool] | None = None,
    ) -> None:
        self.task = task
        self.mailboxes = mailboxes
        self.handle_now = handle_now
        self.busy = False  # running handle_now: a put meanwhile queues and wakes as usual
        self.error: Exception | None = None  # raised by handle_now: the consumer raises it

    def detach(self) -> None:
        for mailbox in self.mailboxes:
            mailbox._waiter = None

    def wake(self) -> None:
        self.detach()
        reschedule(self.task, outcome.Value(True))

    def try_handle(self, message: object) -> bool:
        """Run ``handle_now(message)`` in the calling task; return whether it took the message
        (False: it could not without waiting, and changed nothing). If it raises, the message
        counts as taken and the consumer is woken (if a put from the handler has not woken it
        already) to raise the error in its own task: the failure is the consumer's, as if it had
        failed handling the message itself."""
        assert self.handle_now is not None
        self.busy = True
        try:
            return self.handle_now(message)
        except Exception as error:
            self.error = error
            if self.mailboxes[0]._waiter is self:  # still parked
                self.wake()
            return True
        finally:
            self.busy = False


class Mailbox(Generic[M]):
    """A bounded FIFO of messages for one consumer, with an overflow policy and counters."""

    __slots__ = (
        "_blocked_senders",
        "_buffer",
        "_capacity",
        "_closed",
        "_delivered",
        "_dropped",
        "_overflow",
        "_peak",
        "_received",
        "_ref",
        "_tracer",
        "_waiter",
        "name",
    )

    def __init__(
        self,
        capacity: int,
        overflow: Overflow | str = Overflow.BLOCK,
        *,
        name: str = "mailbox",
        tracer: Tracer | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"mailbox capacity must be an int >= 1, got {capacity!r}")
        self.name = name
        self._capacity = capacity
        self._overflow = Overflow(overflow)
        self._tracer = tracer
        self._buffer: deque[M] = deque()
        self._blocked_senders: OrderedDict[Task, M] = OrderedDict()
        self._waiter: _Waiter | None = None
        self._closed = False
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._peak = 0
        self._ref: ActorRef[M] | None = None

    def __repr__(self) -> str:
        return (
            f"<Mailbox {self.name!r} {len(self._buffer)}/{self._capacity} {self._overflow.value}>"
        )

    @property
    def ref(self) -> ActorRef[M]:
        """The send-only handle to this mailbox."""
        if self._ref is None:
            from ._ref import ActorRef

            self._ref = ActorRef(self)
        return self._ref

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def overflow(self) -> Overflow:
        return self._overflow

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def room(self) -> int:
        """How many more messages it takes before its overflow policy applies."""
        return self._capacity - len(self._buffer)

    @property
    def dropped(self) -> int:
        """Messages discarded so far by the overflow policy or a discarding close (the same
        figure as ``stats().dropped``, without building the snapshot)."""
        return self._dropped

    def stats(self) -> MailboxStats:
        return MailboxStats(
            name=self.name,
            capacity=self._capacity,
            overflow=self._overflow,
            depth=len(self._buffer),
            peak_depth=self._peak,
            received=self._received,
            delivered=self._delivered,
            dropped=self._dropped,
            closed=self._closed,
        )

    def _trace(self, kind: TraceKind, message: object) -> None:
        assert self._tracer is not None
        self._tracer(TraceEvent(kind, self.name, trio.current_time(), message))

    def _accept(self, message: M) -> None:
        waiter = self._waiter
        if (
            waiter is not None
            and waiter.handle_now is not None
            and not waiter.busy
            and waiter.try_handle(message)
        ):  # taken at once by the parked consumer (traced once handled)
            self._received += 1
            self._delivered += 1
            if self._tracer is not None:
                self._trace(TraceKind.SEND, message)
                self._trace(TraceKind.RECEIVE, message)
            return
        buffer = self._buffer
        buffer.append(message)
        self._received += 1
        if len(buffer) > self._peak:
            self._peak = len(buffer)
        if self._tracer is not None:
            self._trace(TraceKind.SEND, message)
        if self._waiter is not None:
            self._waiter.wake()

    # -- producer side ---------------------------------------------------------------------------

    def put_nowait(self, message: M) -> bool:
        """Offer a message without waiting; return whether it was accepted.

        Under ``DROP_NEWEST`` a full mailbox returns ``False``; under ``DROP_OLDEST`` it accepts
        after discarding the oldest. Raises :class:`MailboxClosed` when closed, ``trio.WouldBlock``
        when full under ``BLOCK``, :class:`MailboxFull` when full under ``FAIL``.
        """
        if self._closed:
            raise MailboxClosed(f"mailbox {self.name!r} is closed")
        if len(self._buffer) < self._capacity:
            self._accept(message)
            return True
        overflow = self._overflow
        if overflow is Overflow.BLOCK:
            raise trio.WouldBlock
        if overflow is Overflow.DROP_OLDEST:
            evicted = self._buffer.popleft()
            self._dropped += 1
            if self._tracer is not None:
                self._trace(TraceKind.DROP, evicted)
            self._accept(message)
            return True
        self._received += 1
        self._dropped += 1
        if self._tracer is not None:
            self._trace(TraceKind.DROP, message)
        if overflow is Overflow.FAIL:
            raise MailboxFull(f"mailbox {self.name!r} is full ({self._capacity} messages)")
        return False

    async def put(self, message: M) -> bool:
        """Offer a message, waiting for room under ``BLOCK``; return whether it was accepted.

        Always a checkpoint. If cancelled while waiting, the message was not accepted.
        """
        await checkpoint_if_cancelled()
        try:
            accepted = self.put_nowait(message)
        except trio.WouldBlock:
            pass
        else:
            await cancel_shielded_checkpoint()
            return accepted

        task = current_task()
        self._blocked_senders[task] = message

        def abort(_: object) -> Abort:
            del self._blocked_senders[task]
            return Abort.SUCCEEDED

        await wait_task_rescheduled(abort)
        return True

    # -- consumer side ---------------------------------------------------------------------------

    def get_nowait(self) -> M:
        """Take the oldest message. Raises ``trio.WouldBlock`` when empty, ``trio.EndOfChannel``
        when closed and empty."""
        buffer = self._buffer
        if not buffer:
            if self._closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        message = buffer.popleft()
        self._delivered += 1
        if self._tracer is not None:
            self._trace(TraceKind.RECEIVE, message)
        if self._blocked_senders:
            sender, waiting = self._blocked_senders.popitem(last=False)
            self._accept(waiting)
            reschedule(sender)
        return message

    async def get(self) -> M:
        """Take the oldest message, waiting for one. Raises ``trio.EndOfChannel`` once the mailbox
        is closed and drained. Always a checkpoint; cancellation never loses a message."""
        await checkpoint_if_cancelled()
        if self._buffer or self._closed:
            message = self.get_nowait()
            await cancel_shielded_checkpoint()
            return message
        while not self._buffer and not self._closed:
            await _park((self,))
        return self.get_nowait()

    def __aiter__(self) -> Mailbox[M]:
        return self

    async def __anext__(self) -> M:
        try:
            return await self.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, *, discard: bool = False) -> None:
        """Refuse further messages. Blocked senders get :class:`MailboxClosed`. The consumer drains
        what is queued and then gets ``trio.EndOfChannel`` — or at once, with ``discard=True``, in
        which case the queued messages count as dropped. Idempotent."""
        if discard:
            while self._buffer:
                dropped = self._buffer.popleft()
                self._dropped += 1
                if self._tracer is not None:
                    self._trace(TraceKind.DROP, dropped)
        if self._closed:
            return
        self._closed = True
        error = outcome.Error(MailboxClosed(f"mailbox {self.name!r} is closed"))
        while self._blocked_senders:
            sender, _ = self._blocked_senders.popitem(last=False)
            reschedule(sender, error)
        if self._waiter is not None:
            self._waiter.wake()


async def _park(
    mailboxes: Sequence[Mailbox[Any]], handle_now: Callable[[Any], bool] | None = None
) -> None:
    """Wait until a put or close on any of ``mailboxes``. Takes nothing itself; with
    ``handle_now``, puts meanwhile may be handled by the putting tasks (see :class:`_Waiter`),
    and an error raised there is raised here. Cancellable (raises ``Cancelled`` as usual)."""
    for mailbox in mailboxes:
        if mailbox._waiter is not None:
            raise trio.BusyResourceError(
                f"another task is already receiving from mailbox {mailbox.name!r}"
            )
    task = current_task()
    waiter = _Waiter(task, mailboxes, handle_now)
    for mailbox in mailboxes:
        mailbox._waiter = waiter

    def abort(_: object) -> Abort:
        waiter.detach()
        return Abort.SUCCEEDED

    await wait_task_rescheduled(abort)
    if waiter.error is not None:
        raise waiter.error


def _take_first(mailboxes: Sequence[Mailbox[Any]]) -> tuple[int, Any] | None:
    """Take one message from the first non-empty mailbox in argument order (the one home of
    the priority rule); None if all are empty."""
    for index, mailbox in enumerate(mailboxes):
        if mailbox._buffer:
            return index, mailbox.get_nowait()
    return None


def _any_closed(mailboxes: Sequence[Mailbox[Any]]) -> bool:
    return any(mailbox._closed for mailbox in mailboxes)


def receive_first_nowait(*mailboxes: Mailbox[Any]) -> tuple[int, Any]:
    """Take one message from the first non-empty mailbox in argument order without waiting;
    raise ``trio.WouldBlock`` if all are empty."""
    taken = _take_first(mailboxes)
    if taken is None:
        raise trio.WouldBlock
    return taken


@overload
async def receive_first(
    a: Mailbox[A], /, *, handle_now: Callable[[A], bool] | None = None
) -> tuple[int, A]: ...
@overload
async def receive_first(
    a: Mailbox[A], b: Mailbox[B], /, *, handle_now: Callable[[A | B], bool] | None = None
) -> tuple[int, A | B]: ...
@overload
async def receive_first(
    a: Mailbox[A],
    b: Mailbox[B],
    c: Mailbox[C],
    /,
    *,
    handle_now: Callable[[A | B | C], bool] | None = None,
) -> tuple[int, A | B | C]: ...
@overload
async def receive_first(
    *mailboxes: Mailbox[Any], handle_now: Callable[[Any], bool] | None = None
) -> tuple[int, Any]: ...


async def receive_first(
    *mailboxes: Mailbox[Any], handle_now: Callable[[Any], bool] | None = None
) -> tuple[int, Any]:
    """Take one message from the first non-empty mailbox in argument order, waiting if all are
    empty; return ``(index, message)``.

    Earlier mailboxes have priority: put a control mailbox first so its messages overtake queued
    data. When no mailbox has a message and any of them has been closed (and drained), this raises
    ``trio.EndOfChannel`` — so an actor selecting over its control mailbox and its inbox ends when
    its inbox is closed. Always a checkpoint; cancellation never loses a message.

    With ``handle_now``, messages put while this task waits may be handled by the putting tasks
    instead, as under :func:`~actors.serve` (whose rules apply); this returns the first message
    that is queued rather than handled (declined, or put while a handler ran).
    """
    await checkpoint_if_cancelled()
    yielded = False
    while True:
        taken = _take_first(mailboxes)
        if taken is not None or _any_closed(mailboxes):
            if not yielded:
                await cancel_shielded_checkpoint()
            if taken is None:
                raise trio.EndOfChannel
            return taken
        await _park(mailboxes, handle_now=handle_now)
        yielded = True


async def wait_queued(
    *mailboxes: Mailbox[Any], handle_now: Callable[[Any], bool] | None = None
) -> None:
    """Wait until a message is queued in any of ``mailboxes`` or one of them is closed. Takes
    nothing: the caller takes what it will. With ``handle_now``, messages put meanwhile may be
    handled by the putting tasks, as under :func:`~actors.serve`; only a message that is queued
    (declined, or put while a handler ran) ends the wait, and an error raised by ``handle_now`` is
    raised here.

    For an actor woken on a schedule by an :class:`~actors.Alarm` (one of ``mailboxes``), which
    takes from its mailboxes only what it may take now. Always a checkpoint; cancellable.
    """
    if _any_queued_or_closed(mailboxes):
        await cancel_shielded_checkpoint()
        return
    await checkpoint_if_cancelled()
    await _park(mailboxes, handle_now=handle_now)  # (woken only by a queued put or a close)


def _any_queued_or_closed(mailboxes: Sequence[Mailbox[Any]]) -> bool:
    return any(mailbox._buffer or mailbox._closed for mailbox in mailboxes)
