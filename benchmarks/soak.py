"""Soak: many real-time sessions against a misbehaving provider; memory, deadlocks, sync.

    python -m benchmarks.soak                                  # 50 sessions for 30 s
    python -m benchmarks.soak --sessions 5 --duration 3         # the short version the tests run
    python -m benchmarks.soak --overload 1.5 --duration 30      # sized to demand 1.5x the core

Each session is a 720p30 + 48 kHz mono synchroniser (as in ``benchmarks.fleet``) whose provider
misbehaves on a seeded schedule: mostly real time, but now and then it writes half a second of
audio at once (a burst), goes quiet for 250 or 600 ms (a stall), sends something malformed (NaN
samples, a frame of odd size, a negative pts: each must raise a clear error and change nothing),
or the agent barges in (``start_turn()``, the provider's next writes are a new turn). Consumers
drain both outputs.

Reported: resident memory before and after (it must stay bounded: queues are bounded, stale turns
are dropped), whether every session ended within its deadline (no deadlock) and how long the run
overran its duration, each session's p99 and max offset (emit time - due time, ms), malformed
inputs rejected, flushes, underrun, and overload (``stats().overload``: the clock's loop lag,
time over budget, audio skipped and speech lost, frames and repeats shed, sessions that said they
were overloaded). The progress line shows the process's CPU over the last second.

``--overload F`` sizes the run to demand ``F`` times what one core gives: a short calibration
(5 sessions, 5 s) measures the CPU per session first, then ``F * 100 / (% per session)`` sessions
run.

A run passes when every session finishes, memory growth stays under ``--max-growth-mb`` per
session, the run ends within 2 s of its duration, no new frame went out more than
``VIDEO_LATE_LIMIT_S`` after its due time, and every session that was never overloaded has a p99
offset <= 5 ms (under overload that figure is shed work, reported, not a failure).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from typing import Any

import attrs
import av
import numpy as np
import trio

import avsync
from avsync._load import VIDEO_LATE_LIMIT_S
from avsync._progress import ProgressBar

from .endpoints import CHUNK_SAMPLES, CHUNKS_PER_S, CONFIG, FPS, make_media
from .machine import current_rss_mb

SEED = 7
MAX_LEAD_S = 0.5  # the provider runs at most this far ahead of real time
OFFSET_LIMIT_MS = 5.0
BAD_FRAME = av.VideoFrame(CONFIG.width - 1, CONFIG.height, "yuv420p")


@attrs.define
class Outcome:
    """What one session went through."""

    rejected: int = 0
    bursts: int = 0
    stalls: int = 0
    turns: int = 0
    overloaded_seen: bool = False  #: the session said it was overloaded at some point
    finished: bool = False
    stats: avsync.Stats | None = None


async def misbehave(
    sync: avsync.Synchronizer, media: Any, rng: random.Random, stop_at: float, outcome: Outcome
) -> None:
    """An avatar provider that renders video alongside its audio, faster than real time at times
    (bursts of half a second, at most ``MAX_LEAD_S`` ahead); now and then it stalls (both streams
    pause), sends something malformed, or the agent barges in and a new turn starts."""
    turn_start = trio.current_time()  # wall time of the turn's media time 0
    audio_s = 0.0  # media time of the turn's audio written so far
    frame = 0
    while trio.current_time() < stop_at:
        roll = rng.random()
        if roll < 0.01:  # a stall: nothing arrives for a while
            outcome.stalls += 1
            stall = rng.choice([0.25, 0.6])
            await trio.sleep(stall)
            turn_start += stall
        elif roll < 0.015:  # malformed input: must be refused, the session goes on
            bad = rng.choice(["nan", "odd frame", "negative pts"])
            try:
                if bad == "nan":
                    await sync.write_audio(np.full(CHUNK_SAMPLES, np.nan, np.float32))
                elif bad == "odd frame":
                    await sync.write_video(BAD_FRAME, pts=frame / FPS)
                else:
                    await sync.write_video(media.frames[0], pts=-1.0)
            except (ValueError, TypeError):
                outcome.rejected += 1
        elif roll < 0.017:  # barge-in: a new turn, media time starts again
            outcome.turns += 1
            await sync.start_turn()
            turn_start, audio_s, frame = trio.current_time(), 0.0, 0
        elif roll < 0.03 and audio_s - (trio.current_time() - turn_start) < MAX_LEAD_S:
            outcome.bursts += 1  # half a second of audio at once
            for _ in range(CHUNKS_PER_S // 2):
                await sync.write_audio(media.audio)
                audio_s += 1 / CHUNKS_PER_S
                while frame / FPS < audio_s:
                    await sync.write_video(media.frames[frame % len(media.frames)], pts=frame / FPS)
                    frame += 1
        # real time at least: audio keeps up, and the frames covering the audio written go out
        # (a starved provider catches up chunk by chunk, and stops at the end like the rest)
        now_s = trio.current_time() - turn_start
        while audio_s < now_s + 1 / CHUNKS_PER_S and trio.current_time() < stop_at:
            await sync.write_audio(media.audio)
            audio_s += 1 / CHUNKS_PER_S
            while frame / FPS < audio_s:
                await sync.write_video(media.frames[frame % len(media.frames)], pts=frame / FPS)
                frame += 1
        outcome.overloaded_seen |= sync.overloaded
        await trio.sleep(1 / CHUNKS_PER_S)


@functools.cache
def shared_media() -> Any:
    """The providers' audio chunk and frames, made once and shared by every session (as in
    ``benchmarks.fleet``), so that the figures are the synchroniser's: making them costs
    ~5 ms of loop time and 5.5 MB per session."""
    return make_media()


async def session(index: int, duration: float, outcome: Outcome) -> None:
    rng = random.Random(SEED * 1000 + index)
    media = shared_media()
    async with avsync.open_synchronizer(CONFIG) as sync:
        async with trio.open_nursery() as nursery:

            async def drain(channel: trio.abc.ReceiveChannel[Any]) -> None:
                async for _ in channel:
                    pass

            nursery.start_soon(drain, sync.audio_frames())
            nursery.start_soon(drain, sync.video_frames())
            await trio.sleep(rng.random())  # stagger
            await misbehave(sync, media, rng, trio.current_time() + duration, outcome)
            outcome.stats = sync.stats()
            await sync.aclose()
    outcome.finished = True


async def soak(
    sessions: int, duration: float, *, progress: bool = True
) -> tuple[list[Outcome], float, float]:
    """Run ``sessions`` sessions for ``duration`` seconds; return their outcomes and the
    resident memory before and after (MB). Gives up 30 s past the end (a deadlock)."""
    outcomes = [Outcome() for _ in range(sessions)]
    rss_before = current_rss_mb()
    bar = ProgressBar(duration + 1) if progress else None
    started = trio.current_time()
    with trio.move_on_after(duration + 30):  # a deadlock would hold the run: give up then
        async with trio.open_nursery() as nursery:
            for index, outcome in enumerate(outcomes):
                nursery.start_soon(session, index, duration, outcome)

            async def show_progress(bar: ProgressBar) -> None:
                cpu, wall = time.process_time(), time.perf_counter()
                while True:
                    await trio.sleep(1)
                    cpu_now, wall_now = time.process_time(), time.perf_counter()
                    share = 100 * (cpu_now - cpu) / (wall_now - wall)
                    cpu, wall = cpu_now, wall_now
                    running = [o for o in outcomes if not o.finished]
                    bar.update(
                        trio.current_time() - started,
                        f"soak {sessions} sessions, CPU {share:.0f}% of a core, "
                        f"{sum(o.overloaded_seen for o in running)} overloaded",
                    )

            async with trio.open_nursery() as ticker:
                if bar is not None:
                    ticker.start_soon(show_progress, bar)
                while not all(outcome.finished for outcome in outcomes):
                    await trio.sleep(0.2)
                ticker.cancel_scope.cancel()
    if bar is not None:
        bar.close()
    return outcomes, rss_before, current_rss_mb()


def per_session_cpu(sessions: int = 5, duration: float = 5.0) -> float:
    """Percent of a core one soak session costs, measured with a few sessions."""
    cpu, wall = time.process_time(), time.perf_counter()
    trio.run(functools.partial(soak, sessions, duration, progress=False))
    return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall) / sessions


def summarise(
    outcomes: list[Outcome],
    rss_before: float,
    rss_after: float,
    cpu_s: float,
    wall_s: float,
    duration: float,
) -> dict[str, Any]:
    finished = [o for o in outcomes if o.finished and o.stats is not None]
    stats = [o.stats for o in finished if o.stats is not None]
    loads = [s.overload for s in stats]
    calm = [o.stats for o in finished if o.stats is not None and not o.overloaded_seen]
    return {
        "sessions": len(outcomes),
        "finished": len(finished),
        "overran_s": wall_s - (duration + 1),  # sessions start within 1 s of each other
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "rss_growth_mb_per_session": (rss_after - rss_before) / max(1, len(outcomes)),
        "p99_offset_ms_worst": max((s.offset_p99_ms for s in stats), default=0.0),
        "max_offset_ms_worst": max((s.offset_max_ms for s in stats), default=0.0),
        "sessions_over_limit": sum(1 for s in calm if s.offset_p99_ms > OFFSET_LIMIT_MS),
        "malformed_rejected": sum(o.rejected for o in outcomes),
        "bursts": sum(o.bursts for o in outcomes),
        "stalls": sum(o.stalls for o in outcomes),
        "turns": sum(o.turns for o in outcomes),
        "underrun_s": sum(s.audio_underrun_s for s in stats),
        "sessions_overloaded": sum(1 for o in finished if o.overloaded_seen),
        "loop_lag_p99_ms_worst": max((load.loop_lag_p99_ms for load in loads), default=0.0),
        "loop_lag_max_ms_worst": max((load.loop_lag_max_ms for load in loads), default=0.0),
        "over_budget_s": sum(load.over_budget_s for load in loads),
        "audio_skipped_s": sum(load.audio_skipped_s for load in loads),
        "speech_lost_s": sum(load.speech_lost_s for load in loads),
        "audio_emitted_s": sum(s.packets_emitted for s in stats) * CONFIG.packet_s,
        "frames_emitted": sum(s.frames_emitted for s in stats),
        "frames_dropped_late": sum(s.frames_dropped_late for s in stats),
        "frames_shed_late": sum(load.frames_shed_late for load in loads),
        "repeats_shed": sum(load.repeats_shed for load in loads),
        "cpu_percent_of_a_core": 100 * cpu_s / wall_s,
    }


def verdict(figures: dict[str, Any], max_growth_mb: float) -> bool:
    """Whether a run passes (see the module's docstring)."""
    return bool(
        figures["finished"] == figures["sessions"]
        and figures["overran_s"] <= 2.0
        and figures["rss_growth_mb_per_session"] <= max_growth_mb
        and figures["max_offset_ms_worst"] <= VIDEO_LATE_LIMIT_S * 1000 + 1e-6
        and figures["sessions_over_limit"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument(
        "--overload",
        type=float,
        metavar="F",
        help="instead of --sessions: as many sessions as demand F times one core (e.g. 1.5)",
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--max-growth-mb", type=float, default=20.0, help="per session [20]")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or not args.duration > 0:
        parser.error("--sessions must be at least 1 and --duration positive")
    sessions, calibration = args.sessions, None
    if args.overload is not None:
        if not 0 < args.overload <= 10:
            parser.error("--overload must be in (0, 10]")
        print("calibrating: 5 sessions for 5 s ...", file=sys.stderr)
        calibration = per_session_cpu()
        sessions = max(1, round(args.overload * 100 / calibration))
        print(
            f"one session costs {calibration:.2f}% of a core: {sessions} sessions demand "
            f"about {args.overload:g}x a core",
            file=sys.stderr,
        )
    cpu, wall = time.process_time(), time.perf_counter()
    outcomes, before, after = trio.run(soak, sessions, args.duration)
    figures = summarise(
        outcomes,
        before,
        after,
        time.process_time() - cpu,
        time.perf_counter() - wall,
        args.duration,
    )
    if calibration is not None:
        figures["calibration_percent_per_session"] = calibration
        figures["demand_x_core"] = sessions * calibration / 100
    passed = verdict(figures, args.max_growth_mb)
    figures["passed"] = passed
    for key, value in figures.items():
        print(f"  {key:32} {value:.2f}" if isinstance(value, float) else f"  {key:32} {value}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
