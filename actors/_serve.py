"""Serving: an actor loop whose messages may be handled in the sender's task.

Every hop between actors costs a task switch: the sender queues, the scheduler wakes the actor,
the actor takes the message. For an actor whose handling never waits (it only updates its own
state and passes things on without waiting), :func:`serve` removes that switch while the actor is
idle: a message put into one of its empty mailboxes while it is parked is handled at once, by
the putting task, with the actor's own ``handle_now``. The actor's task stays parked meanwhile, so
its state is still only ever touched by one handler at a time, in the order the messages
arrived; a message that finds the actor busy, or that ``handle_now`` declines, is queued and
taken by the actor's own task as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from trio.lowlevel import checkpoint_if_cancelled

from ._mailbox import Mailbox, _any_closed, _park, _take_first

__all__ = ["serve"]


async def serve(
    *mailboxes: Mailbox[Any],
    handle_now: Callable[[Any], bool],
    handle: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """Handle every message of ``mailboxes`` in turn, from the first non-empty one in argument
    order (as :func:`~actors.receive_first`), until one of them is closed and all are drained;
    then return.

    ``handle_now(message)`` handles a message without waiting and returns True, or returns False
    having changed nothing, and then ``await handle(message)`` handles it (required if
    ``handle_now`` can decline). While this task is parked on empty mailboxes, a put into one of
    them runs ``handle_now`` in the putting task; if that raises, the error is raised here, in
    this task, as if this task had been handling the message (so the actor fails, not the
    sender). A put from ``handle_now`` into the mailboxes it serves is not handled within it: it
    is queued, and wakes this task.

    Cancellation: a message is taken only by a handler, never lost by a cancellation of the wait;
    a cancellation during ``handle`` is ``handle``'s to survive.
    """
    await checkpoint_if_cancelled()
    while True:
        taken = _take_first(mailboxes)
        if taken is None:
            if _any_closed(mailboxes):
                return
            await _park(mailboxes, handle_now=handle_now)
            continue
        message = taken[1]
        if not handle_now(message):
            if handle is None:
                raise RuntimeError(f"handle_now declined {message!r} and there is no handle")
            await handle(message)
