"""The sessions benchmark's report: every ratio of a run on one line, the capacity next to the
floor's, and the actor-chain comparison it folds in (run here on a few messages); what the
instruction count's children run."""

from __future__ import annotations

import argparse

import attrs
import trio
import trio.testing

from benchmarks import actor_chain, instructions, sessions
from benchmarks.capacity import Step
from benchmarks.fleet import FleetResult, SyncFigures

SYNC = SyncFigures(
    offset_p50_median_ms=0.5,
    offset_p99_worst_ms=3.0,
    offset_p99_median_ms=2.0,
    offset_max_ms=4.0,
    sessions_over_limit=0,
    frames_dropped_late=0,
    underrun_startup_s=0.0,
    underrun_steady_s=0.0,
    sessions_underrun=0,
    frames_emitted=300,
    packets_emitted=500,
    sink_frames_dropped=0,
)


def fleet(kind: str, cpu_s: float, sessions: int = 20, together: bool = False) -> FleetResult:
    """A fleet that used ``cpu_s`` of CPU over a 10 s window."""
    return FleetResult(
        kind=kind,
        sessions=sessions,
        started=sessions,
        window_s=10.0,
        cpu_s=cpu_s,
        rss_before_mb=100.0,
        rss_after_mb=110.0,
        peak_rss_mb=120.0,
        preemptions=0,
        lag_p50_ms=0.1,
        lag_p99_ms=1.0,
        lag_max_ms=2.0,
        audio_received=10000,
        video_received=6000,
        sync=None if kind == "baseline" else SYNC,
        together=together,
    )


def test_ratios_line_gives_every_step_spread_and_together_and_the_chain() -> None:
    step = Step(fleet("baseline", 2.0), fleet("avsync", 5.0), fleet("avsync", 4.5, together=True))
    chain = actor_chain.ChainResult(1000, 64, 3, bare_msgs_per_s=1000.0, actor_msgs_per_s=800.0)
    line = sessions.ratios_line([step], chain)
    assert "20 sessions 2.50x, together 2.25x" in line
    assert "1.25x the cost" in line
    assert sessions.ratios_line([attrs.evolve(step, together=None)], None).endswith("2.50x")


def test_capacity_line_names_the_floor_of_the_passing_step() -> None:
    step = Step(fleet("baseline", 2.0), fleet("avsync", 5.0))
    args = argparse.Namespace(warmup=3.0, duration=10.0)
    line = sessions.capacity_line([step], 20, args)
    assert "largest passing step: 20 sessions" in line
    assert "20-session step: 1.000% of a core per session, about 100 sessions per core" in line
    failed = Step(fleet("baseline", 4.0, sessions=10), fleet("avsync", 5.0, sessions=10))
    failed = attrs.evolve(failed, avsync=attrs.evolve(failed.avsync, started=9))
    line = sessions.capacity_line([step, failed], 0, args)
    assert line.startswith("\nno step passed") and "10-session step: 4.000%" in line


def test_the_actor_chain_comparison_runs_both_chains() -> None:
    rounds: list[int] = []
    result = actor_chain.compare(200, 2, 8, lambda index, *_: rounds.append(index))
    assert rounds == [0, 1]
    assert result.bare_msgs_per_s > 0 and result.actor_msgs_per_s > 0
    assert result.to_json()["cost_ratio"] == result.cost_ratio


def test_the_instruction_count_plays_its_sessions_in_virtual_time() -> None:
    """What each valgrind child runs: sessions under MockClock, the same every time."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(instructions.play, "avsync", 2, 0.2, clock=clock)
    args = instructions.parse_args(["--sessions", "2", "--short", "0.5", "--long", "1"])
    assert (args.sessions, args.short, args.long, args.child) == (2, 0.5, 1.0, None)


def test_a_step_line_says_how_many_sessions_were_overloaded_and_what_they_shed() -> None:
    overloaded = attrs.evolve(
        SYNC, sessions_overloaded=7, frames_shed_late=12, audio_skipped_s=0.34
    )
    avsync = attrs.evolve(fleet("avsync", 5.0), sync=overloaded)
    line = sessions.step_line(Step(fleet("baseline", 2.0), avsync))
    assert "overloaded 7 sessions (shed 12 frames, skipped 0.34 s of audio)" in line
