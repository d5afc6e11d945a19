"""Alarms: wake-ups on a schedule, rung for every actor of a trio run by one task.

An actor that wakes on a schedule many times a second (an audio clock at every packet, a video
queue at every frame) pays, per wake-up, for a trio timer (a cancel scope entered, expired and
left), a task switch into the actor and a turn of the event loop; with many such actors in one
process, each wake-up is also one more time the process sleeps and wakes. An :class:`Alarm`
instead gives its time to the run's alarm service: one task that sleeps until the earliest alarm,
then rings every alarm due by then, and those due within :data:`SLACK_S` after it that may ring
early, in deadline order. Alarms close together cost one wake-up between them.

Ringing is a message: the alarm's deadline (a float, trio time) is put into its
:attr:`Alarm.mailbox`, which the actor waits on with its other mailboxes. An actor parked in
:func:`~actors.serve` (or with another ``handle_now``) handles the ring at once, in the service's
task, as it would a message put by a sender; otherwise the ring waits in the mailbox for the
actor's own task. An alarm made with ``early=True`` may ring up to ``SLACK_S`` early, which is the
price of sharing wake-ups: its actor handles the ring as the instant ``deadline``. Others never
ring early (a clock must not play a packet that may still be on its way); no alarm rings late,
but for the loop's own lateness.

An alarm set during a ring (or for a time already past) rings at the service's next wake-up: after
the tasks runnable now have run, as a timed wait that has expired would. Under
``trio.testing.MockClock`` the service's wait is an ordinary timed wait, so virtual time jumps to
it as to any other.
"""

from __future__ import annotations

import heapq
import itertools
import math

import outcome
import trio
from trio.lowlevel import (
    Abort,
    RunVar,
    cancel_shielded_checkpoint,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._mailbox import Mailbox, Overflow

__all__ = ["SLACK_S", "Alarm"]

#: Woken this much after its time (a stall), the service lets the tasks due with it run first.
LATE_S = 0.005
#: An alarm that may ring early and is due within this long after the service's wake-up rings
#: with it.
SLACK_S = 0.001


class Alarm:
    """One actor's next wake-up: rings once at :attr:`deadline` (a message in :attr:`mailbox`),
    then waits for :meth:`set` again.

    Only the owning actor sets it; it must be set inside a trio run (the run's alarm service
    starts, as a system task, at the first). :meth:`close` it when the actor stops.
    """

    __slots__ = ("_deadline", "_generation", "early", "mailbox")

    def __init__(self, name: str = "alarm", *, early: bool = False) -> None:
        #: Where a ring arrives: the deadline it rang for. Holds one ring (a newer replaces it).
        self.mailbox: Mailbox[float] = Mailbox(1, Overflow.DROP_OLDEST, name=name)
        #: Whether it may ring up to SLACK_S before its deadline, with an earlier alarm.
        self.early = early
        self._deadline = math.inf
        self._generation = 0  # bumped at every change: the service's older entries are void

    @property
    def deadline(self) -> float:
        """When it will ring (trio time); ``math.inf`` when not set."""
        return self._deadline

    def set(self, deadline: float) -> None:
        """Ring at ``deadline`` (trio time; ``math.inf``: not at all) instead of any time set
        before. Setting the time it already has changes nothing."""
        if deadline == self._deadline:
            return
        if math.isnan(deadline):
            raise ValueError("an alarm's deadline must be a time or math.inf, got nan")
        if self.mailbox.closed:
            raise trio.ClosedResourceError(f"alarm {self.mailbox.name!r} is closed")
        self._deadline = deadline
        self._generation += 1
        if deadline != math.inf:
            _service().add(self, deadline, self._generation)

    def cancel(self) -> None:
        """Do not ring (until set again)."""
        self._deadline = math.inf
        self._generation += 1

    def close(self) -> None:
        """Never ring again; a ring already in the mailbox stays there. Idempotent."""
        self.cancel()
        self.mailbox.close()

    def _ring(self) -> None:
        """The service's call at the deadline: put it into the mailbox (where a parked actor
        with ``handle_now`` handles it at once)."""
        deadline = self._deadline
        self.cancel()
        self.mailbox.put_nowait(deadline)


class _AlarmService:
    """The run's alarms, earliest first, and the task that rings them."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Alarm, int]] = []  # (deadline, order, alarm, generation)
        self._order = itertools.count()
        self._timer: trio.CancelScope | None = None  # the service's wait, while it sleeps
        self._wake_at = -math.inf  # its deadline; -inf while it is not sleeping: nothing to move

    def add(self, alarm: Alarm, deadline: float, generation: int) -> None:
        heapq.heappush(self._due, (deadline, next(self._order), alarm, generation))
        if deadline < self._wake_at:  # (it is sleeping, until later)
            self._wake_at = deadline
            assert self._timer is not None
            self._timer.deadline = deadline

    async def run(self) -> None:
        """Sleep until the earliest alarm, ring what is due, forever (until the run ends)."""
        due = self._due
        task = current_task()
        while True:
            while due and due[0][2]._generation != due[0][3]:
                heapq.heappop(due)  # moved or cancelled since
            self._wake_at = due[0][0] if due else math.inf
            with trio.CancelScope(deadline=self._wake_at) as timer:
                self._timer = timer

                def abort(_: object) -> Abort:
                    if timer.cancel_called:  # the deadline: wake quietly, no Cancelled
                        reschedule(task, outcome.Value(None))
                        return Abort.FAILED
                    return Abort.SUCCEEDED  # the run is ending

                await wait_task_rescheduled(abort)
            self._timer = None
            woke_late = trio.current_time() > self._wake_at + LATE_S
            self._wake_at = -math.inf
            if woke_late:
                # Woken late (the loop was busy, or the process stalled): the tasks that fell
                # due with the service run first, so that, say, a packet written late still
                # reaches a clock whose tick is due after the write was. (Not at every small
                # delay: trio's epoll wait alone wakes up to a millisecond late.)
                await cancel_shielded_checkpoint()
            ringing: list[tuple[Alarm, int]] = []
            later: list[tuple[float, int, Alarm, int]] = []  # due within the slack, not early
            now = trio.current_time()
            while due and due[0][0] <= now + SLACK_S:
                entry = heapq.heappop(due)
                if entry[0] <= now or entry[2].early:
                    ringing.append((entry[2], entry[3]))
                else:
                    later.append(entry)
            for entry in later:
                heapq.heappush(due, entry)
            for alarm, generation in ringing:
                if alarm._generation == generation:  # (an earlier ring's handler may move it)
                    alarm._ring()


_SERVICE: RunVar[_AlarmService] = RunVar("actors.alarms")


def _service() -> _AlarmService:
    """This run's alarm service, started at the first call."""
    try:
        return _SERVICE.get()
    except LookupError:
        service = _AlarmService()
        _SERVICE.set(service)
        trio.lowlevel.spawn_system_task(service.run, name="actors.alarms")
        return service
