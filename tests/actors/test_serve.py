"""serve(): messages handled in the sender's task while the actor is parked, in arrival order,
with the actor's priority order, its failures and its end."""

import pytest
import trio
import trio.testing
from trio.lowlevel import Task, current_task

from actors import Mailbox, serve


class Recorder:
    """A served actor's handlers: records (message, task that handled it); declines the
    messages in ``later`` (handled by the actor's own task, after a yield)."""

    def __init__(self, later: frozenset[int] = frozenset()) -> None:
        self.handled: list[tuple[int, Task]] = []
        self.later = later

    def handle_now(self, message: int) -> bool:
        if message in self.later:
            return False
        self.handled.append((message, current_task()))
        return True

    async def handle(self, message: int) -> None:
        await trio.sleep(0.01)
        self.handled.append((message, current_task()))

    @property
    def messages(self) -> list[int]:
        return [message for message, _ in self.handled]


async def test_an_idle_actor_is_served_in_the_senders_task() -> None:
    inbox: Mailbox[int] = Mailbox(8)
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: serve(inbox, handle_now=recorder.handle_now))
        await trio.testing.wait_all_tasks_blocked()
        actor_task = inbox._waiter.task  # type: ignore[union-attr]
        inbox.put_nowait(1)
        assert recorder.handled == [(1, current_task())]  # handled before put_nowait returned
        assert await inbox.put(2)
        assert recorder.handled[-1] == (2, current_task())
        assert inbox.stats().received == inbox.stats().delivered == 2
        assert inbox.stats().peak_depth == 0
        assert inbox._waiter is not None and inbox._waiter.task is actor_task  # still parked
        inbox.close()
    assert recorder.messages == [1, 2]


async def test_declined_and_busy_messages_keep_their_order() -> None:
    """3 is declined (the actor's task handles it, taking time): 4 and 5 arrive meanwhile and
    queue behind it; 6 finds the actor idle again."""
    inbox: Mailbox[int] = Mailbox(8)
    recorder = Recorder(later=frozenset({3}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: serve(inbox, handle_now=recorder.handle_now, handle=recorder.handle)
        )
        await trio.testing.wait_all_tasks_blocked()
        for message in (1, 2, 3, 4, 5):
            inbox.put_nowait(message)
        assert recorder.messages == [1, 2]
        await trio.testing.wait_all_tasks_blocked()
        assert recorder.messages == [1, 2]  # 3 is being handled; 4, 5 wait
        await trio.sleep(0.02)
        assert recorder.messages == [1, 2, 3, 4, 5]
        me = current_task()
        assert [task is me for _, task in recorder.handled] == [True, True, False, False, False]
        inbox.put_nowait(6)
        assert recorder.handled[-1] == (6, me)
        inbox.close()


async def test_queued_messages_are_taken_in_priority_order() -> None:
    control: Mailbox[int] = Mailbox(4)
    inbox: Mailbox[int] = Mailbox(4)
    recorder = Recorder()
    inbox.put_nowait(10)
    inbox.put_nowait(11)
    control.put_nowait(1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: serve(control, inbox, handle_now=recorder.handle_now))
        await trio.testing.wait_all_tasks_blocked()
        assert recorder.messages == [1, 10, 11]
        control.put_nowait(2)  # idle: at once, whichever mailbox
        inbox.put_nowait(12)
        assert recorder.messages == [1, 10, 11, 2, 12]
        control.close()


async def test_a_failure_in_the_senders_task_is_the_actors() -> None:
    inbox: Mailbox[int] = Mailbox(4)

    def handle_now(message: int) -> bool:
        raise ValueError(f"bad {message}")

    failed: list[BaseException] = []

    async def actor() -> None:
        try:
            await serve(inbox, handle_now=handle_now)
        except ValueError as error:
            failed.append(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.put_nowait(7)  # the sender is unharmed: the message was taken
        assert not failed
        assert inbox._waiter is None  # detached: the next put queues
        inbox.put_nowait(8)
    assert [str(error) for error in failed] == ["bad 7"]
    assert len(inbox) == 1  # 8 is left for a restarted actor


async def test_a_failure_after_the_handler_woke_the_actor_is_still_the_actors() -> None:
    inbox: Mailbox[int] = Mailbox(4)

    def handle_now(message: int) -> bool:
        if message == 1:
            inbox.put_nowait(2)  # queued: wakes the actor
            raise ValueError("bad 1")
        return True

    with trio.fail_after(1), pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="bad 1")):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: serve(inbox, handle_now=handle_now))
            await trio.testing.wait_all_tasks_blocked()
            inbox.put_nowait(1)
    assert len(inbox) == 1  # 2 is left for a restarted actor


async def test_a_put_from_the_handler_itself_queues_and_is_handled_next() -> None:
    inbox: Mailbox[int] = Mailbox(4)
    order: list[int] = []

    def handle_now(message: int) -> bool:
        order.append(message)
        if message == 1:
            inbox.put_nowait(2)
            order.append(-1)  # the put returned before 2 was handled
        return True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: serve(inbox, handle_now=handle_now))
        await trio.testing.wait_all_tasks_blocked()
        inbox.put_nowait(1)
        await trio.testing.wait_all_tasks_blocked()
        assert order == [1, -1, 2]
        inbox.close()


async def test_it_returns_once_a_mailbox_is_closed_and_all_are_drained() -> None:
    control: Mailbox[int] = Mailbox(4)
    inbox: Mailbox[int] = Mailbox(4)
    recorder = Recorder()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    inbox.close()
    with trio.fail_after(1):
        await serve(control, inbox, handle_now=recorder.handle_now)
    assert recorder.messages == [1, 2]


async def test_a_cancelled_actor_is_no_longer_served() -> None:
    inbox: Mailbox[int] = Mailbox(4)
    recorder = Recorder()
    with trio.move_on_after(0.01):
        await serve(inbox, handle_now=recorder.handle_now)
    inbox.put_nowait(1)
    assert recorder.messages == [] and len(inbox) == 1


async def test_declining_without_a_handler_is_an_error() -> None:
    inbox: Mailbox[int] = Mailbox(4)
    inbox.put_nowait(3)
    with pytest.raises(RuntimeError, match="declined 3"):
        await serve(inbox, handle_now=Recorder(later=frozenset({3})).handle_now)
