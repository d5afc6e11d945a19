"""Stalls of the whole process: what a pause of the event loop (a full garbage collection, other
load on the machine) costs real-time sessions.

    python -m benchmarks.stall [--sessions 20] [--stalls-ms 10 20 50 100] [--repeats 3]

Runs ``--sessions`` avsync sessions of :mod:`benchmarks.fleet` (real-time providers of 20 ms
chunks and 30 fps frames with pts, outputs drained, starts spread over a second, one process, the
real clock) and, after a warm-up, stalls the process ``--repeats`` times per stall length: the
thread sleeps (``time.sleep``), so the providers, the clocks and the consumers all stop together,
then runs ``--gap`` seconds to recover. Per stall length, summed over the sessions, from their
``stats()`` before and after its stalls:

- sessions that underran, and the underrun (silence emitted mid-speech, s);
- audio skipped because it fell more than the late limit behind (s, ``stats().overload``);
- new frames shed for the same reason, and frames dropped late;
- the worst p99 offset of any session so far (ms: it accumulates over the run).

Prints a line per stall length on stdout (progress on stderr); ``--json`` also writes the figures
and the machine (:mod:`benchmarks.machine`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

import avsync
from avsync._progress import ProgressBar

from .endpoints import OPENERS, make_media
from .fleet import SETUP_S, STAGGER_S, Plan, Session, run_session
from .machine import machine_facts

WARMUP_S = 2.0  # from the last session's start at the latest to the first stall


@attrs.frozen
class StallResult:
    """What ``repeats`` stalls of ``stall_ms`` cost, over all sessions."""

    stall_ms: float
    repeats: int
    sessions: int
    sessions_underrun: int
    underrun_s: float
    audio_skipped_s: float
    frames_shed_late: int
    frames_dropped_late: int
    offset_p99_worst_ms: float  #: since the sessions started (it accumulates)

    def line(self) -> str:
        return (
            f"stall {self.stall_ms:5.0f} ms x{self.repeats}: {self.sessions_underrun:3d} of "
            f"{self.sessions} sessions underran ({self.underrun_s:.2f} s); audio skipped "
            f"{self.audio_skipped_s:.2f} s; frames shed {self.frames_shed_late}, dropped late "
            f"{self.frames_dropped_late}; worst p99 offset so far {self.offset_p99_worst_ms:.1f} ms"
        )


def compare(
    stall_ms: float, repeats: int, before: Sequence[avsync.Stats], after: Sequence[avsync.Stats]
) -> StallResult:
    """The difference the stalls made, from every session's stats before and after them."""
    pairs = list(zip(before, after, strict=True))
    underruns = [b.audio_underrun_s - a.audio_underrun_s for a, b in pairs]
    return StallResult(
        stall_ms=stall_ms,
        repeats=repeats,
        sessions=len(pairs),
        sessions_underrun=sum(underrun > 1e-9 for underrun in underruns),
        underrun_s=sum(underruns),
        audio_skipped_s=sum(
            b.overload.audio_skipped_s - a.overload.audio_skipped_s for a, b in pairs
        ),
        frames_shed_late=sum(
            b.overload.frames_shed_late - a.overload.frames_shed_late for a, b in pairs
        ),
        frames_dropped_late=sum(b.frames_dropped_late - a.frames_dropped_late for a, b in pairs),
        offset_p99_worst_ms=max((b.offset_p99_ms for _, b in pairs), default=0.0),
    )


def snapshot(sessions: Sequence[Session]) -> list[avsync.Stats]:
    stats = [session.snapshot() for session in sessions]
    missing = sum(stat is None for stat in stats)
    if missing:
        raise RuntimeError(f"{missing} sessions had not started: raise the warm-up")
    return [stat for stat in stats if stat is not None]


async def run(
    sessions: int, stalls_ms: Sequence[float], repeats: int, gap_s: float, progress: ProgressBar
) -> list[StallResult]:
    """The sessions, and the stalls in the middle of them (the fleet's plan: its starts, the
    stalls in its window)."""
    media = make_media()
    stalled_s = sum(stalls_ms) / 1000 * repeats
    window_s = len(stalls_ms) * repeats * gap_s + stalled_s
    plan = Plan.make(trio.current_time() + SETUP_S, sessions, STAGGER_S + WARMUP_S, window_s)
    fleet = [Session() for _ in range(sessions)]
    results: list[StallResult] = []
    async with trio.open_nursery() as nursery:
        for start_at, session in zip(plan.starts, fleet, strict=True):
            nursery.start_soon(
                run_session, OPENERS["avsync"], media, start_at, plan.stop_at, session
            )
        await trio.sleep_until(plan.warm_at)
        for index, stall_ms in enumerate(stalls_ms):
            before = snapshot(fleet)
            for _ in range(repeats):
                time.sleep(stall_ms / 1000)  # the whole process stops
                await trio.sleep(gap_s)
            results.append(compare(stall_ms, repeats, before, snapshot(fleet)))
            progress.update(index + 1, f"stall {stall_ms:g} ms")
    progress.close()
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command's options, checked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="sessions in the process [20]")
    parser.add_argument(
        "--stalls-ms",
        type=float,
        nargs="+",
        default=[10.0, 20.0, 50.0, 100.0],
        help="stall lengths, ms [10 20 50 100]",
    )
    parser.add_argument("--repeats", type=int, default=3, help="stalls per length [3]")
    parser.add_argument("--gap", type=float, default=0.5, help="recovery after each stall, s [0.5]")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.repeats < 1:
        parser.error("--sessions and --repeats must be >= 1")
    if any(stall <= 0 for stall in args.stalls_ms) or args.gap <= 0:
        parser.error("--stalls-ms and --gap must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = ProgressBar(len(args.stalls_ms), unit="lengths")
    results = trio.run(run, args.sessions, args.stalls_ms, args.repeats, args.gap, progress)
    for result in results:
        print(result.line())
    if args.json:
        report = {
            "benchmark": "stall",
            "sessions": args.sessions,
            "repeats": args.repeats,
            "gap_s": args.gap,
            "results": [attrs.asdict(result) for result in results],
            "machine": machine_facts(),
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
