"""Mailbox behaviour: overflow policies, counters, close, receive_first (and its timed form),
tracing."""

import pytest
import trio
import trio.testing

from actors import (
    Mailbox,
    MailboxClosed,
    MailboxFull,
    Overflow,
    TraceEvent,
    TraceKind,
    receive_first,
    wait_queued,
)


def test_capacity_is_validated() -> None:
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="capacity"):
            Mailbox(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Mailbox(1, "sometimes")


async def test_fifo_and_counters() -> None:
    mailbox: Mailbox[int] = Mailbox(4)
    for i in range(3):
        assert await mailbox.put(i)
    assert [await mailbox.get() for _ in range(3)] == [0, 1, 2]
    stats = mailbox.stats()
    assert (stats.received, stats.delivered, stats.dropped, stats.depth, stats.peak_depth) == (
        3,
        3,
        0,
        0,
        3,
    )


async def test_block_waits_for_room_and_keeps_order() -> None:
    mailbox: Mailbox[int] = Mailbox(2, Overflow.BLOCK)
    mailbox.put_nowait(0)
    mailbox.put_nowait(1)
    with pytest.raises(trio.WouldBlock):
        mailbox.put_nowait(2)
    returned = []

    async def blocked_sender() -> None:
        await mailbox.put(2)
        returned.append(2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_sender)
        await trio.testing.wait_all_tasks_blocked()
        assert returned == []  # still waiting for room
        assert await mailbox.get() == 0
        await trio.testing.wait_all_tasks_blocked()
        assert returned == [2]
    assert [mailbox.get_nowait(), mailbox.get_nowait()] == [1, 2]
    assert mailbox.stats().peak_depth == 2


async def test_blocked_senders_are_admitted_in_the_order_they_blocked() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    mailbox.put_nowait(0)
    async with trio.open_nursery() as nursery:
        for value in (1, 2, 3):
            nursery.start_soon(mailbox.put, value)
            await trio.testing.wait_all_tasks_blocked()
        assert [await mailbox.get() for _ in range(4)] == [0, 1, 2, 3]


def test_drop_oldest_evicts_and_counts() -> None:
    mailbox: Mailbox[int] = Mailbox(2, "drop-oldest")
    assert all(mailbox.put_nowait(i) for i in range(5))
    assert [mailbox.get_nowait(), mailbox.get_nowait()] == [3, 4]
    stats = mailbox.stats()
    assert (stats.received, stats.delivered, stats.dropped) == (5, 2, 3)


def test_drop_newest_refuses_and_counts() -> None:
    mailbox: Mailbox[int] = Mailbox(2, Overflow.DROP_NEWEST)
    assert [mailbox.put_nowait(i) for i in range(4)] == [True, True, False, False]
    assert [mailbox.get_nowait(), mailbox.get_nowait()] == [0, 1]
    assert mailbox.stats().dropped == 2


async def test_fail_raises_and_counts() -> None:
    mailbox: Mailbox[int] = Mailbox(1, Overflow.FAIL)
    await mailbox.put(0)
    with pytest.raises(MailboxFull, match="full"):
        await mailbox.put(1)
    assert mailbox.get_nowait() == 0
    assert mailbox.stats().dropped == 1


async def test_close_drains_then_ends_and_wakes_blocked_senders() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    mailbox.put_nowait(0)
    errors = []

    async def blocked_sender() -> None:
        try:
            await mailbox.put(1)
        except MailboxClosed as error:
            errors.append(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_sender)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.close()
    assert len(errors) == 1
    with pytest.raises(MailboxClosed):
        mailbox.put_nowait(2)
    assert await mailbox.get() == 0
    with pytest.raises(trio.EndOfChannel):
        await mailbox.get()
    mailbox.close()  # idempotent


async def test_close_wakes_a_waiting_consumer() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    async with trio.open_nursery() as nursery:

        async def consume() -> None:
            assert [m async for m in mailbox] == []

        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.close()


def test_close_with_discard_counts_drops() -> None:
    mailbox: Mailbox[int] = Mailbox(4)
    for i in range(3):
        mailbox.put_nowait(i)
    mailbox.close(discard=True)
    with pytest.raises(trio.EndOfChannel):
        mailbox.get_nowait()
    stats = mailbox.stats()
    assert stats.dropped == 3 and stats.received == stats.delivered + stats.dropped + stats.depth


async def test_single_consumer_is_enforced() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mailbox.get)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await mailbox.get()
        mailbox.put_nowait(1)


async def test_receive_first_prefers_earlier_mailboxes() -> None:
    control: Mailbox[str] = Mailbox(4, name="control")
    data: Mailbox[str] = Mailbox(4, name="data")
    data.put_nowait("d1")
    data.put_nowait("d2")
    control.put_nowait("c1")
    got = [await receive_first(control, data) for _ in range(3)]
    assert got == [(0, "c1"), (1, "d1"), (1, "d2")]


async def test_receive_first_waits_on_all_and_ends_when_one_is_closed_and_drained() -> None:
    a: Mailbox[int] = Mailbox(1)
    b: Mailbox[int] = Mailbox(1)
    async with trio.open_nursery() as nursery:

        async def later() -> None:
            await trio.testing.wait_all_tasks_blocked()
            b.put_nowait(7)

        nursery.start_soon(later)
        assert await receive_first(a, b) == (1, 7)
    # the waiter was detached from both mailboxes: a new receive can park again
    b.put_nowait(8)
    b.close()
    assert await receive_first(a, b) == (1, 8)  # what is queued still comes out first
    with pytest.raises(trio.EndOfChannel):
        await receive_first(a, b)
    async with trio.open_nursery() as nursery:  # closing wakes a waiting receiver

        async def wait_for_end() -> None:
            with pytest.raises(trio.EndOfChannel):
                await receive_first(a)

        nursery.start_soon(wait_for_end)
        await trio.testing.wait_all_tasks_blocked()
        a.close()


async def test_every_operation_is_a_checkpoint() -> None:
    mailbox: Mailbox[int] = Mailbox(2)
    with trio.testing.assert_checkpoints():
        await mailbox.put(1)
    with trio.testing.assert_checkpoints():
        await mailbox.get()
    mailbox.put_nowait(2)
    with trio.testing.assert_checkpoints():
        await receive_first(mailbox)


async def test_tracer_sees_send_receive_drop() -> None:
    events: list[TraceEvent] = []
    mailbox: Mailbox[int] = Mailbox(1, Overflow.DROP_OLDEST, name="traced", tracer=events.append)
    mailbox.put_nowait(1)
    mailbox.put_nowait(2)
    mailbox.get_nowait()
    assert [(e.kind, e.message, e.name) for e in events] == [
        (TraceKind.SEND, 1, "traced"),
        (TraceKind.DROP, 1, "traced"),
        (TraceKind.SEND, 2, "traced"),
        (TraceKind.RECEIVE, 2, "traced"),
    ]


async def test_wait_queued_ends_at_a_queued_message_and_raises_a_handler_error() -> None:
    a: Mailbox[int] = Mailbox(2)
    b: Mailbox[int] = Mailbox(2)
    handled: list[int] = []

    def handle_now(message: int) -> bool:
        if message == 3:
            raise RuntimeError("bad message")
        handled.append(message)
        return message != 2  # 2 is declined: it stays queued, and ends the wait

    async def put_later(*messages: int) -> None:
        await trio.testing.wait_all_tasks_blocked()
        for message in messages:
            b.put_nowait(message)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(put_later, 1, 2)
        await wait_queued(a, b, handle_now=handle_now)
    assert handled == [1, 2] and b.get_nowait() == 2 and not a.stats().depth + b.stats().depth
    async with trio.open_nursery() as nursery:
        nursery.start_soon(put_later, 3)
        with pytest.raises(RuntimeError, match="bad message"):  # raised here, not in the sender
            await wait_queued(a, b, handle_now=handle_now)
    a.close()
    await wait_queued(a, b)  # closed: returns at once (a checkpoint)
