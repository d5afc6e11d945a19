"""What the real-time tests share: the pts rule of emissions in real time, and plain asyncio
programs run with a time limit. Marked media, scripted providers and the recorder are
:mod:`avsync.testing`."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
import trio
import trio_asyncio

from avsync._schedule import LATE_SLACK_S


def assert_frame_steps(pts: Sequence[int | None], step: int) -> None:
    """Check video pts taken in real time: each step is exactly one frame interval (``step`` on
    the 90 kHz clock), except after an emission that went out more than
    :data:`avsync._schedule.LATE_SLACK_S` behind plan, which is stamped with the time it actually
    went out: such a step is longer by more than that slack. How many emissions are late depends
    on the machine's load; a step between the two (what pts read from a clock would give) never
    is right.
    """
    assert all(value is not None for value in pts), pts
    steps = np.diff(np.array(pts, np.int64))
    late = step + round(LATE_SLACK_S * 90000) - 1  # (-1: both pts are rounded to the tick)
    assert np.all((steps == step) | (steps >= late)), steps.tolist()


T = TypeVar("T")


def run_asyncio(main: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """``asyncio.run(main())`` on a plain asyncio loop, with a time limit; checks that no trio
    run is left in the thread afterwards.

    (Once ``trio_asyncio`` has been imported, by other tests for instance, ``asyncio.run()``
    would create a trio-asyncio loop; the default policy keeps this a plain asyncio program.)
    """

    async def limited() -> T:
        assert not isinstance(asyncio.get_running_loop(), trio_asyncio.BaseTrioEventLoop)
        return await asyncio.wait_for(main(), timeout)

    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        result = asyncio.run(limited())
    finally:
        asyncio.set_event_loop_policy(None)
    assert not trio.lowlevel.in_trio_run(), "a trio guest run was left in the thread"
    return result
