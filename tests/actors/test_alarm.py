"""Alarms: rung by the run's alarm service at their deadline (or up to SLACK_S early, with an
earlier one), as a message an actor handles like any other; moved, cancelled, closed."""

import math

import pytest
import trio
import trio.testing
from trio.lowlevel import current_task

from actors import SLACK_S, Alarm, Mailbox, serve, wait_queued


async def rings(alarm: Alarm, count: int) -> list[tuple[float, float]]:
    """(deadline rung for, trio time when it was taken) of the next ``count`` rings."""
    got = []
    for _ in range(count):
        got.append((await alarm.mailbox.get(), trio.current_time()))
    return got


async def test_an_alarm_rings_at_its_deadline_once(autojump_clock: trio.testing.MockClock) -> None:
    alarm = Alarm()
    start = trio.current_time()
    alarm.set(start + 1.5)
    assert alarm.deadline == start + 1.5
    assert await rings(alarm, 1) == [(start + 1.5, start + 1.5)]
    assert alarm.deadline == math.inf  # rung: not set any more
    with trio.move_on_after(10):
        await alarm.mailbox.get()
        pytest.fail("an alarm rings once per set()")


async def test_moved_and_cancelled_alarms_ring_at_the_new_time_or_not_at_all(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    moved, cancelled = Alarm(), Alarm()
    moved.set(start + 1)
    cancelled.set(start + 1)
    moved.set(start + 3)  # later: the first time is void
    cancelled.cancel()
    assert await rings(moved, 1) == [(start + 3, start + 3)]
    moved.set(start + 5)
    moved.set(start + 4)  # earlier than the service sleeps until: it wakes sooner
    assert await rings(moved, 1) == [(start + 4, start + 4)]
    assert len(cancelled.mailbox) == 0


async def test_early_alarms_within_the_slack_ring_together_each_with_its_own_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert SLACK_S == 0.001  # (the README and the design say 1 ms)
    start = trio.current_time()
    first, near, punctual, far = Alarm(), Alarm(early=True), Alarm(), Alarm(early=True)
    far.set(start + 1 + 3 * SLACK_S)
    near.set(start + 1 + SLACK_S / 2)
    punctual.set(start + 1 + SLACK_S / 4)
    first.set(start + 1)
    assert await rings(first, 1) == [(start + 1, start + 1)]
    assert await rings(near, 1) == [(start + 1 + SLACK_S / 2, start + 1)]  # early, at once
    assert await rings(punctual, 1) == [(start + 1 + SLACK_S / 4,) * 2]  # never early
    assert await rings(far, 1) == [(start + 1 + 3 * SLACK_S,) * 2]


async def test_an_alarm_set_in_the_past_rings_after_the_tasks_runnable_now() -> None:
    alarm = Alarm()
    order = []

    async def runnable() -> None:
        order.append("runnable task")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(runnable)
        alarm.set(trio.current_time() - 1)
        deadline = await alarm.mailbox.get()
        order.append("ring")
    assert deadline < trio.current_time()
    assert order == ["runnable task", "ring"]


async def test_a_serving_actor_handles_its_ring_in_the_service_task_and_sets_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The clock's shape: served, each ring sets the next; its own task never wakes."""
    alarm = Alarm()
    inbox: Mailbox[float] = Mailbox(4)
    start = trio.current_time()
    handled: list[tuple[float, float, str]] = []

    def handle_now(message: float) -> bool:
        handled.append((message, trio.current_time(), current_task().name))
        if len(handled) < 3:
            alarm.set(message + 0.02)
        return True

    async with trio.open_nursery() as nursery:
        alarm.set(start + 0.02)
        nursery.start_soon(lambda: serve(alarm.mailbox, inbox, handle_now=handle_now))
        await trio.sleep(1)
        inbox.close()
    assert [at - start for at, _, _ in handled] == pytest.approx([0.02, 0.04, 0.06])
    assert [now - start for _, now, _ in handled] == pytest.approx([0.02, 0.04, 0.06])
    assert {task for _, _, task in handled} == {"actors.alarms"}


async def test_a_ring_handler_error_fails_the_actor_not_the_service(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()

    def handle_now(message: float) -> bool:
        raise RuntimeError("bad tick")

    with pytest.raises(RuntimeError, match="bad tick"):
        alarm.set(trio.current_time() + 1)
        await serve(alarm.mailbox, handle_now=handle_now)
    other = Alarm()  # the service still rings
    other.set(trio.current_time() + 1)
    assert len(await rings(other, 1)) == 1


async def test_a_ring_that_finds_the_actor_busy_waits_in_its_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    start = trio.current_time()
    alarm.set(start + 1)
    await trio.sleep(2)  # busy elsewhere: nobody is parked on the alarm
    assert len(alarm.mailbox) == 1
    await wait_queued(alarm.mailbox)  # queued already: returns (a checkpoint)
    assert alarm.mailbox.get_nowait() == start + 1


async def test_a_closed_alarm_never_rings_and_refuses_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    alarm.set(trio.current_time() + 1)
    alarm.close()
    alarm.close()  # idempotent
    await trio.sleep(2)
    assert len(alarm.mailbox) == 0 and alarm.mailbox.closed
    with pytest.raises(trio.ClosedResourceError):
        alarm.set(trio.current_time() + 1)
    with pytest.raises(ValueError, match="nan"):
        Alarm().set(math.nan)


def test_each_trio_run_has_its_own_service() -> None:
    async def one_ring() -> float:
        alarm = Alarm()
        alarm.set(trio.current_time() + 0.5)
        deadline: float = await alarm.mailbox.get()
        return deadline

    for _ in range(2):
        clock = trio.testing.MockClock(autojump_threshold=0)
        assert trio.run(one_ring, clock=clock) == 0.5


def test_an_alarm_set_while_the_service_catches_up_after_a_late_wake_up() -> None:
    """Woken late, the service lets the tasks due with it run before it rings; one of them may
    set an alarm meanwhile (either order within the batch, tried many times)."""

    async def due_with_the_service(start: float, meanwhile: Alarm) -> None:
        await trio.sleep_until(start + 1)
        meanwhile.set(start + 0.5)  # in the past, earlier than the service slept until

    async def main(clock: trio.testing.MockClock) -> list[float]:
        rung = []
        for _ in range(20):
            start = trio.current_time()
            late, meanwhile = Alarm(), Alarm()
            late.set(start + 1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(due_with_the_service, start, meanwhile)
                await trio.testing.wait_all_tasks_blocked()
                clock.jump(5)  # the service wakes 4 s late
                rung += [await late.mailbox.get() - start, await meanwhile.mailbox.get() - start]
        return rung

    clock = trio.testing.MockClock()
    assert trio.run(main, clock, clock=clock) == [1.0, 0.5] * 20


def test_a_late_service_rings_after_the_tasks_that_fell_due_with_it() -> None:
    """A stall past a write and the tick after it: the write goes first, every time (in one
    batch, trio runs tasks in either order)."""

    async def write(start: float, order: list[object]) -> None:
        await trio.sleep_until(start + 0.5)
        order.append("write")

    async def clock_actor(tick: Alarm, order: list[object]) -> None:
        def handle_now(deadline: float) -> bool:
            order.append(deadline - start)
            return True

        start = trio.current_time()
        await serve(tick.mailbox, handle_now=handle_now)

    async def main(clock: trio.testing.MockClock) -> list[list[object]]:
        orders = []
        for _ in range(20):
            start, order = trio.current_time(), list[object]()
            tick = Alarm()
            tick.set(start + 1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write, start, order)
                nursery.start_soon(clock_actor, tick, order)
                await trio.testing.wait_all_tasks_blocked()
                clock.jump(5)  # past both: the service wakes 4 s late
                await trio.testing.wait_all_tasks_blocked()
                tick.close()
            orders.append(order)
        return orders

    clock = trio.testing.MockClock()
    assert trio.run(main, clock, clock=clock) == [["write", 1.0]] * 20
