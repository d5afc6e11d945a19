"""Hypothesis properties of mailboxes: ordering, conservation, accounting, cancellation safety."""

from collections import defaultdict
from collections.abc import Awaitable, Callable

import trio
from hypothesis import given
from hypothesis import strategies as st

from actors import Mailbox, MailboxFull, Overflow, receive_first
from actors.testing import run_scenario

delays = st.sampled_from([0.0, 0.0, 0.001, 0.003, 0.01])


@given(
    capacity=st.integers(1, 5),
    plans=st.lists(st.lists(delays, min_size=1, max_size=20), min_size=1, max_size=4),
    consumer_delays=st.lists(delays, max_size=30),
)
def test_block_keeps_per_sender_fifo_and_loses_nothing(
    capacity: int, plans: list[list[float]], consumer_delays: list[float]
) -> None:
    total = sum(len(plan) for plan in plans)

    async def scenario() -> list[tuple[int, int]]:
        mailbox: Mailbox[tuple[int, int]] = Mailbox(capacity, Overflow.BLOCK)
        received: list[tuple[int, int]] = []

        async def sender(sender_id: int, plan: list[float]) -> None:
            for seq, delay in enumerate(plan):
                await trio.sleep(delay)
                assert await mailbox.put((sender_id, seq))

        async def consumer() -> None:
            for i in range(total):
                await trio.sleep(
                    consumer_delays[i % len(consumer_delays)] if consumer_delays else 0
                )
                received.append(await mailbox.get())

        async with trio.open_nursery() as nursery:
            for sender_id, plan in enumerate(plans):
                nursery.start_soon(sender, sender_id, plan)
            nursery.start_soon(consumer)
        stats = mailbox.stats()
        assert stats.received == stats.delivered == total and stats.dropped == 0
        assert stats.peak_depth <= capacity
        return received

    received = run_scenario(scenario)
    by_sender: dict[int, list[int]] = defaultdict(list)
    for sender_id, seq in received:
        by_sender[sender_id].append(seq)
    assert len(received) == total  # nothing lost
    for sender_id, plan in enumerate(plans):
        assert by_sender[sender_id] == list(range(len(plan)))  # per-sender FIFO, no duplicates


@given(
    overflow=st.sampled_from([Overflow.DROP_OLDEST, Overflow.DROP_NEWEST, Overflow.FAIL]),
    capacity=st.integers(1, 6),
    script=st.lists(st.sampled_from(["put", "put", "put", "get", "sleep"]), max_size=60),
)
def test_drop_policies_account_exactly(
    overflow: Overflow, capacity: int, script: list[str]
) -> None:
    async def scenario() -> None:
        mailbox: Mailbox[int] = Mailbox(capacity, overflow)
        sent = 0
        refused = 0
        delivered: list[int] = []
        for step in script:
            if step == "put":
                try:
                    await mailbox.put(sent)
                except MailboxFull:
                    refused += 1
                sent += 1
            elif step == "get" and len(mailbox):
                delivered.append(await mailbox.get())
            else:
                await trio.sleep(0.001)
        mailbox.close()
        delivered.extend([m async for m in mailbox])
        stats = mailbox.stats()
        assert stats.received == sent
        assert len(delivered) + stats.dropped == sent
        assert stats.delivered == len(delivered)
        assert delivered == sorted(set(delivered))  # in order, no duplicates
        if overflow is Overflow.FAIL:
            assert refused == stats.dropped
        assert stats.peak_depth <= capacity

    run_scenario(scenario)


# Each step: (delay before it, cancel it after this many scheduler steps, or never).
cancel_plans = st.lists(
    st.tuples(delays, st.one_of(st.none(), st.integers(0, 6))), min_size=1, max_size=25
)


async def _cancel_after(scope: trio.CancelScope, steps: int) -> None:
    for _ in range(steps):
        await trio.lowlevel.checkpoint()
    scope.cancel()


async def attempt(operation: Callable[[], Awaitable[None]], cancel_after: int | None) -> None:
    """Run ``operation``; another task cancels it after ``cancel_after`` scheduler steps, so the
    cancellation lands at every possible point, not only at deadlines. A fallback deadline ends
    an operation the other side will never complete."""
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(1.0) as scope:
            if cancel_after is not None:
                nursery.start_soon(_cancel_after, scope, cancel_after)
            await operation()
        nursery.cancel_scope.cancel()


@given(capacity=st.integers(1, 3), send_plan=cancel_plans, receive_plan=cancel_plans)
def test_cancellation_neither_loses_nor_duplicates(
    capacity: int,
    send_plan: list[tuple[float, int | None]],
    receive_plan: list[tuple[float, int | None]],
) -> None:
    """A put that returned delivered exactly once; a put that was cancelled delivered nothing;
    a get that was cancelled took nothing."""

    async def scenario() -> None:
        mailbox: Mailbox[int] = Mailbox(capacity)
        accepted: list[int] = []
        received: list[int] = []

        async def sender() -> None:
            for value, (delay, cancel_after) in enumerate(send_plan):
                await trio.sleep(delay)

                async def put(value: int = value) -> None:
                    await mailbox.put(value)
                    accepted.append(value)

                await attempt(put, cancel_after)

        async def receiver() -> None:
            async def get() -> None:
                received.append(await mailbox.get())

            for delay, cancel_after in receive_plan:
                await trio.sleep(delay)
                await attempt(get, cancel_after)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            nursery.start_soon(receiver)
        while len(mailbox):
            received.append(mailbox.get_nowait())
        assert received == accepted

    run_scenario(scenario)


@given(
    send_plan=cancel_plans, receive_plan=cancel_plans, split=st.lists(st.booleans(), max_size=25)
)
def test_receive_first_under_cancellation(
    send_plan: list[tuple[float, int | None]],
    receive_plan: list[tuple[float, int | None]],
    split: list[bool],
) -> None:
    async def scenario() -> None:
        boxes: list[Mailbox[int]] = [Mailbox(2, name="a"), Mailbox(2, name="b")]
        accepted: list[int] = []
        received: list[int] = []

        async def sender() -> None:
            for value, (delay, cancel_after) in enumerate(send_plan):
                await trio.sleep(delay)
                target = boxes[int(split[value % len(split)]) if split else 0]

                async def put(value: int = value, target: Mailbox[int] = target) -> None:
                    await target.put(value)
                    accepted.append(value)

                await attempt(put, cancel_after)

        async def receiver() -> None:
            async def get() -> None:
                received.append((await receive_first(*boxes))[1])

            for delay, cancel_after in receive_plan:
                await trio.sleep(delay)
                await attempt(get, cancel_after)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            nursery.start_soon(receiver)
        for box in boxes:
            while len(box):
                received.append(box.get_nowait())
        assert sorted(received) == accepted  # each accepted message exactly once
        assert len(set(received)) == len(received)

    run_scenario(scenario)
