"""The scenario matrix: avsync and the enqueue-time baseline under the same provider scripts.

Every scenario runs under ``trio.testing.MockClock`` (virtual time, deterministic: the figures
are the algorithms', free of machine noise), once per synchroniser and once with and once without
video pts, and is measured from the outputs alone by :class:`avsync.testing.Recorder`:

- offset of a frame: when it was first shown - when the audio sample of its media time was
  emitted (ms, positive = video late); p50 is signed, p99 and max are of the absolute value;
  for idle video (no audio) it is the display latency: shown - written;
- stale frames / stale audio: frames of the interrupted turn first shown, and its speech emitted,
  after ``start_turn()`` returned;
- underrun: silence emitted between the first and last speech sample of a turn;
- dropped: frames the synchroniser dropped by its own counters (avsync: late, shed and overflow; the
  baseline: overflow); stale drops at an interrupt are wanted and counted apart in the JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio
from trio.testing import MockClock

import avsync
from avsync.testing import Recorder, Script, config, perform

from .baseline import open_baseline

__all__ = ["SCENARIOS", "SYNCHRONISERS", "Measurement", "Scenario", "measure", "run_matrix"]

#: idle output before the provider starts: one run per phase of the provider's writes against
#: the synchroniser's ticks (spread over their common 100 ms period, off both grids)
LEAD_INS_S = (0.0503, 0.0711, 0.0919, 0.1127, 0.1335)
TAIL_S = 0.5  # after the last audio is due
IN_FLIGHT_S = 0.2  # barge-in: the provider keeps delivering the old turn this long
SYNCHRONISERS = ("avsync", "baseline")


@attrs.frozen
class Scenario:
    name: str  #: short, for --scenarios
    title: str
    script: Script
    playout_delay_s: float = 0.0  #: avsync's latency budget (the baseline has none)
    barge_in_at: float | None = None  #: s into the turn: start_turn(), then ``next_turn``
    next_turn: Script | None = None
    tail_s: float = TAIL_S  #: how long the run goes on after the last audio is due

    @property
    def idle(self) -> bool:
        return not self.script.audio


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("rt20", "real time, 20 ms chunks", Script(duration=3.0, chunk_s=0.02)),
    Scenario("rt100", "real time, 100 ms chunks", Script(duration=3.0, chunk_s=0.1)),
    Scenario("2x", "2x real time", Script(duration=3.0, speed=2.0)),
    Scenario(
        "burst",
        "whole utterance at once",
        Script(5.0, chunk_s=5.0, speed=math.inf),
        tail_s=5.5,  # frames queued behind the audio get time to play out
    ),
    Scenario("stall250", "250 ms stall", Script(3.0, stall_at=1.0, stall_s=0.25)),
    Scenario("stall600", "600 ms stall", Script(3.0, stall_at=1.0, stall_s=0.6)),
    Scenario(
        "bargein",
        "barge-in, 200 ms in flight",
        Script(duration=3.0, end=False),
        barge_in_at=1.01,  # between two writes
        next_turn=Script(duration=2.0),
    ),
    Scenario("early60", "video 60 ms early", Script(3.0, video_lag_s=-0.06)),
    Scenario(
        "late60",
        "video 60 ms late (avsync delay 0.1 s)",
        Script(3.0, video_lag_s=0.06),
        playout_delay_s=0.1,
    ),
    Scenario("fps25", "25 fps into 30 fps", Script(3.0, fps=25.0)),
    Scenario("idle", "idle video, no audio (latency)", Script(3.0, audio=False, end=False)),
)


@attrs.frozen
class Measurement:
    """One synchroniser through one scenario, with or without pts, over every phase: offsets
    pooled, the other figures the worst of the phases."""

    synchroniser: str
    phases: int
    frames_written: int
    frames_shown: int  #: distinct frames shown (fewest)
    frames_measured: int  #: shown frames whose audio was heard (idle: all shown), all phases
    offset_mean_ms: float | None
    offset_p50_ms: float | None
    offset_p99_ms: float | None  #: of |offset|
    offset_max_ms: float | None  #: of |offset|
    stale_frames: int | None  #: None when the scenario has no interrupt
    stale_audio_ms: float | None
    underrun_ms: float
    dropped: int
    counters: list[dict[str, Any]]  #: the synchroniser's own stats() at the end of each phase
    wall_s: float  #: real time the virtual-time runs took


@attrs.frozen
class _Run:
    """One phase of a measurement."""

    frames_written: int
    frames_shown: int
    offsets: list[float]
    stale_frames: int | None
    stale_audio_ms: float | None
    underrun_ms: float
    dropped: int
    counters: dict[str, Any]


@attrs.define
class _Counted:
    """Passes writes through, counting frames."""

    sync: Any
    frames: int = 0

    @property
    def epoch(self) -> int:
        return int(self.sync.epoch)

    async def write_audio(
        self, samples: npt.NDArray[np.int16], *, epoch: int | None = None
    ) -> None:
        await self.sync.write_audio(samples, epoch=epoch)

    async def write_video(
        self, frame: av.VideoFrame, *, pts: float | None = None, epoch: int | None = None
    ) -> None:
        self.frames += 1
        await self.sync.write_video(frame, pts=pts, epoch=epoch)

    async def end_audio(self, *, epoch: int | None = None) -> None:
        await self.sync.end_audio(epoch=epoch)


@asynccontextmanager
async def open_synchroniser(kind: str, scenario: Scenario) -> AsyncIterator[Any]:
    if kind == "avsync":
        async with avsync.open_synchronizer(
            config(playout_delay_s=scenario.playout_delay_s)
        ) as sync:
            yield sync
    elif kind == "baseline":
        async with open_baseline() as baseline:
            yield baseline
    else:
        raise ValueError(f"unknown synchroniser {kind!r}")


async def _barge_in(
    sync: _Counted, recorder: Recorder, scenario: Scenario, script: Script
) -> tuple[int, float, Script]:
    """The old turn, interrupted; the provider keeps delivering it for IN_FLIGHT_S after
    ``start_turn()`` returns (tagged with its epoch), then the new turn. Returns the new turn's
    epoch, start and script."""
    assert scenario.barge_in_at is not None and scenario.next_turn is not None
    start = trio.current_time()
    old_epoch = sync.epoch
    async with trio.open_nursery() as nursery:
        nursery.start_soon(perform, sync, script, old_epoch)
        await trio.sleep_until(start + scenario.barge_in_at)
        new_epoch = int(await sync.sync.start_turn())
        recorder.events.append(("flushed", new_epoch))
        await trio.sleep(IN_FLIGHT_S)
        nursery.cancel_scope.cancel()
    next_turn = attrs.evolve(scenario.next_turn, with_pts=script.with_pts)
    next_start = trio.current_time()
    await perform(sync, next_turn, new_epoch)
    return new_epoch, next_start, next_turn


Summary = tuple[float | None, float | None, float | None, float | None]


def _summary(offsets: Sequence[float]) -> Summary:
    """Mean and p50 (signed), p99 and max of |offset|, rounded to the µs (MockClock sums are
    floats)."""
    if not offsets:
        return None, None, None, None
    values = np.asarray(offsets)
    magnitude = np.abs(values)
    mean, p50 = round(float(values.mean()), 3), round(float(np.median(values)), 3)
    p99 = round(float(np.percentile(magnitude, 99)), 3)
    return mean, p50, p99, round(float(magnitude.max()), 3)


async def _run(kind: str, scenario: Scenario, with_pts: bool, lead_in: float) -> _Run:
    script = attrs.evolve(scenario.script, with_pts=with_pts)
    recorder = Recorder()
    async with open_synchroniser(kind, scenario) as sync:
        counted = _Counted(sync)
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, sync)
            await trio.sleep(lead_in)
            start = trio.current_time()
            turns = [(counted.epoch, start, script)]
            if scenario.barge_in_at is None:
                await perform(counted, script)
            else:
                turns.append(await _barge_in(counted, recorder, scenario, script))
            _, last_start, last = turns[-1]
            await trio.sleep_until(
                last_start
                + last.duration
                + last.stall_s
                + scenario.playout_delay_s
                + scenario.tail_s
            )
            stats = sync.stats()
            await sync.aclose()
    offsets: list[float] = []
    shown = recorder.first_shown()
    for epoch, turn_start, turn in turns:
        if scenario.idle:
            offsets += [
                1000 * (at - turn_start - turn.frame_media(index))
                for (index, frame_epoch), at in shown.items()
                if frame_epoch == epoch
            ]
        else:
            offsets += recorder.offsets_ms(turn.frame_media, epoch).values()
    stale: tuple[int | None, float | None] = (None, None)
    if scenario.barge_in_at is not None:
        stale_frames, stale_audio_s = recorder.stale_after_flush()
        stale = (stale_frames, 1000 * stale_audio_s)
    counters = attrs.asdict(stats)
    if kind == "avsync":
        dropped = (
            stats.frames_dropped_late
            + stats.overload.frames_shed_late
            + stats.frames_dropped_overflow
        )
    else:
        dropped = stats.frames_dropped_overflow
    return _Run(
        counted.frames,
        len(shown),
        offsets,
        *stale,
        underrun_ms=1000 * recorder.underrun_s(),
        dropped=dropped,
        counters=counters,
    )


def _worst(values: Sequence[float | None]) -> Any:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def measure(kind: str, scenario: Scenario, with_pts: bool) -> Measurement:
    """Run one cell of the matrix under a MockClock, once per phase."""
    began = time.perf_counter()
    runs = [
        trio.run(_run, kind, scenario, with_pts, lead_in, clock=MockClock(autojump_threshold=0))
        for lead_in in LEAD_INS_S
    ]
    offsets = [offset for run in runs for offset in run.offsets]
    return Measurement(
        kind,
        len(runs),
        max(run.frames_written for run in runs),
        min(run.frames_shown for run in runs),
        len(offsets),
        *_summary(offsets),
        stale_frames=_worst([run.stale_frames for run in runs]),
        stale_audio_ms=_worst([run.stale_audio_ms for run in runs]),
        underrun_ms=max(run.underrun_ms for run in runs),
        dropped=max(run.dropped for run in runs),
        counters=[run.counters for run in runs],
        wall_s=time.perf_counter() - began,
    )


def cells(scenarios: Sequence[Scenario]) -> list[tuple[Scenario, bool, str]]:
    """Every (scenario, with pts, synchroniser) to run, in table order."""
    return [(s, pts, kind) for s in scenarios for pts in (True, False) for kind in SYNCHRONISERS]


def run_matrix(
    scenarios: Sequence[Scenario], on_cell: Any = None
) -> dict[tuple[str, bool], dict[str, Measurement]]:
    """Measure every cell; ``on_cell(label)`` is called before each."""
    results: dict[tuple[str, bool], dict[str, Measurement]] = {}
    for scenario, pts, kind in cells(scenarios):
        if on_cell is not None:
            on_cell(f"{scenario.name} {'pts' if pts else 'no pts'} {kind}")
        results.setdefault((scenario.name, pts), {})[kind] = measure(kind, scenario, pts)
    return results
