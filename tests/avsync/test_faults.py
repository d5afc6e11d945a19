"""Fault injection: each actor raises mid-stream.

The publisher and the video queue are restarted (their state lives outside the actor): sync and
the epoch guarantee hold afterwards. The clock, audio-ingest and control fail the session fast:
the error surfaces from open_synchronizer, every output ends within 100 ms, nothing hangs, no task
is left. See RESTARTABLE in avsync/_synchronizer.py for the reasoning.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import avsync
import avsync.webrtc
from actors import ActorFailed
from actors.testing import live_tasks
from avsync._audio_ingest import AudioIngestActor
from avsync._clock import ClockActor
from avsync._control import ControlActor
from avsync._publisher import PublisherActor
from avsync._video_queue import VideoQueueActor
from avsync.testing import Script, config, perform, recording, speech

from .test_epochs import check_no_stale_output


class InjectedFault(RuntimeError):
    pass


def inject(
    monkeypatch: pytest.MonkeyPatch, cls: type, method: str, after: int, times: int = 1
) -> list[float]:
    """Make ``cls.method`` raise on calls after+1 .. after+times; return when it raised."""
    original: Callable[..., Any] = getattr(cls, method)
    raised_at: list[float] = []
    calls = 0

    def should_fail() -> bool:
        nonlocal calls
        calls += 1
        if after < calls <= after + times:
            raised_at.append(trio.current_time())
            return True
        return False

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def faulty_async(self: object, *args: object) -> object:
            if should_fail():
                raise InjectedFault(f"{cls.__name__}.{method}")
            return await original(self, *args)

        monkeypatch.setattr(cls, method, faulty_async)
    else:

        @functools.wraps(original)
        def faulty(self: object, *args: object) -> object:
            if should_fail():
                raise InjectedFault(f"{cls.__name__}.{method}")
            return original(self, *args)

        monkeypatch.setattr(cls, method, faulty)
    return raised_at


async def consume(
    ended: dict[str, float], kind: str, channel: trio.abc.ReceiveChannel[Any]
) -> None:
    """Drain an output; note when it ended."""
    async for _ in channel:
        pass
    ended[kind] = trio.current_time()


FAIL_FAST = {
    "clock": (ClockActor, "_emit", 60),
    "audio-ingest": (AudioIngestActor, "_put_nowait", 20),
    "control": (ControlActor, "handle", 0),
}


@pytest.mark.parametrize("actor", list(FAIL_FAST))
async def test_a_crash_fails_the_session_fast(
    actor: str, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, method, after = FAIL_FAST[actor]
    raised_at = inject(monkeypatch, cls, method, after)
    ended: dict[str, float] = {}
    with trio.fail_after(10):
        async with trio.open_nursery() as consumers:  # outputs held outside the session
            with pytest.RaisesGroup(
                pytest.RaisesExc(
                    ActorFailed, check=lambda e: isinstance(e.__cause__, InjectedFault)
                ),
                flatten_subgroups=True,
            ):
                async with avsync.open_synchronizer(config()) as sync:
                    consumers.start_soon(consume, ended, "audio", sync.audio_frames())
                    consumers.start_soon(consume, ended, "video", sync.video_frames())
                    tracks = avsync.webrtc.tracks(sync)
                    await trio.sleep(0.1)
                    if actor == "control":
                        await sync.start_turn()
                    await perform(sync, Script(duration=3.0))
                    pytest.fail("the session kept running after the crash")
    assert len(raised_at) == 1
    assert set(ended) == {"audio", "video"}
    assert max(ended.values()) - raised_at[0] <= 0.1  # every output ended within 100 ms
    assert all(track.readyState == "ended" for track in tracks)
    assert sync.closed
    with pytest.raises(avsync.SynchronizerClosed):
        await sync.write_audio(speech(0, 960))
    assert live_tasks() == []


RESTARTS = {
    "publisher": (PublisherActor, "_video", 40),
    "video-queue": (VideoQueueActor, "_handle", 40),
}


@pytest.mark.parametrize("actor", list(RESTARTS))
async def test_a_crash_is_restarted_and_sync_holds(
    actor: str, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, method, after = RESTARTS[actor]
    raised_at = inject(monkeypatch, cls, method, after)
    script = Script(duration=2.0)
    with trio.fail_after(30):
        async with recording() as (sync, recorder):
            await trio.sleep(0.05)
            await perform(sync, script)
            await sync.wait_for_playout()
            # a second turn, barging in: the epoch guarantee still holds after the restart
            epoch = await sync.start_turn()
            recorder.events.append(("flushed", epoch))
            await perform(sync, Script(duration=1.0))
            await sync.wait_for_playout()
            await trio.sleep(0.1)
            stats = sync.stats()
    assert len(raised_at) == 1
    check_no_stale_output(recorder)
    offsets = recorder.offsets_ms(script.frame_media)
    # at most the frame being handled at the crash is lost; every other one is in sync
    assert len(offsets) >= script.frame_count() - 1
    assert all(-1e-6 <= offset <= 1.0 for offset in offsets.values()), offsets
    pts = [record.pts for record in recorder.video]
    assert all(later > earlier for earlier, later in itertools.pairwise(pts))
    assert stats.epoch == 1


async def test_crashes_past_the_restart_limit_fail_fast(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised_at = inject(monkeypatch, PublisherActor, "_audio", after=10, times=10)
    with trio.fail_after(10):
        with pytest.RaisesGroup(ActorFailed, flatten_subgroups=True):
            async with avsync.open_synchronizer(config()) as sync:
                await trio.sleep(5)
    assert len(raised_at) == 4  # three restarts, the fourth crash escalates
    assert sync.closed
    assert live_tasks() == []


async def test_outputs_end_at_once_even_when_an_actor_is_slow_to_stop(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shutdown gives each actor a grace period; the outputs must not wait for it."""
    raised_at = inject(monkeypatch, ClockActor, "_emit", after=30)

    async def stubborn(self: VideoQueueActor, context: object) -> None:
        with trio.CancelScope(shield=True):
            await trio.sleep(1.0)  # ignores its closed inbox until the grace runs out

    monkeypatch.setattr(VideoQueueActor, "run", stubborn)
    ended: dict[str, float] = {}
    with trio.fail_after(10):
        async with trio.open_nursery() as consumers:
            with pytest.RaisesGroup(ActorFailed, flatten_subgroups=True):
                async with avsync.open_synchronizer(config()) as sync:
                    consumers.start_soon(consume, ended, "audio", sync.audio_frames())
                    await trio.sleep(5)
    assert ended["audio"] - raised_at[0] <= 0.1
    assert live_tasks() == []
