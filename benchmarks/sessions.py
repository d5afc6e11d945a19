"""Concurrent real-time lip-sync sessions on one core: CPU, memory and sync offset per session.

    python -m benchmarks.sessions --sessions 5 --duration 10      # one step: exactly 5 sessions
    python -m benchmarks.sessions --duration 30 --json sessions.json   # capacity search

One step (``--sessions N``) runs N sessions through no synchroniser (the baseline, for
``--baseline-duration`` seconds), then through avsync (``--duration`` seconds after
``--warmup``), started spread over a second, then through avsync again with every session
started at the same instant (so every clock ticks together; ``--no-together`` skips it), in one
process on one core: what a session is and what is measured is in
:mod:`benchmarks.fleet`. The report gives avsync's net cost and its ratio to the baseline: the
machine is shared and noisy, ratios travel better than absolutes. A step passes when every
session has p99 offset <= 5 ms and no underrun in the steady window. Without ``--sessions``, the
capacity search of :mod:`benchmarks.capacity` runs steps in child processes until it finds the
largest passing count.

The run ends with the actor runtime's own ratio, a chain of actors against the same chain of
bare trio channels (:mod:`benchmarks.actor_chain`, ``--chain-messages``, 0 skips it), and every
ratio of the run on one line.

Prints a line per step and a table with its legend on stdout (progress on stderr); ``--json``
also writes every figure and the machine (:mod:`benchmarks.machine`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import attrs

from .actor_chain import ChainResult, compare
from .capacity import Step, run_step, search
from .endpoints import CONFIG
from .fleet import OFFSET_LIMIT_MS, STAGGER_S
from .machine import machine_facts

CHAIN_ROUNDS = 3
CHAIN_CAPACITY = 64

# -- reporting ----------------------------------------------------------------------------------


def step_line(step: Step) -> str:
    """One step on one line."""
    synced = step.avsync
    sync = synced.sync
    assert sync is not None
    verdict = "PASS" if step.passed else "FAIL"
    return (
        f"{step.sessions:>4} sessions {verdict}: CPU {synced.core_pct:5.1f}% of a core, "
        f"{synced.session_pct:.3f}%/session (baseline {step.baseline.session_pct:.3f}%, "
        f"{step.ratio:.1f}x); offset p50 {sync.offset_p50_median_ms:.2f} ms, "
        f"p99 worst {sync.offset_p99_worst_ms:.2f} ms, max {sync.offset_max_ms:.2f} ms; "
        f"underrun steady {sync.underrun_steady_s:.2f} s ({sync.sessions_underrun} sessions); "
        f"dropped late {sync.frames_dropped_late}; "
        f"overloaded {sync.sessions_overloaded} sessions (shed {sync.frames_shed_late} frames, "
        f"skipped {sync.audio_skipped_s:.2f} s of audio); "
        f"RSS {synced.rss_per_session_mb:.2f} MB/session; loop lag p99 "
        f"{synced.lag_p99_ms:.2f} ms (baseline {step.baseline.lag_p99_ms:.2f}); "
        f"{synced.preemptions / synced.window_s:.1f} preemptions/s"
    ) + together_line(step)


def together_line(step: Step) -> str:
    """The step's sessions started together, if it ran them: its cost and offsets."""
    together = step.together
    if together is None or together.sync is None:
        return ""
    sync = together.sync
    verdict = "pass" if together.passed else "FAIL"
    return (
        f"\n     started together {verdict}: {together.session_pct:.3f}%/session "
        f"({step.together_ratio:.1f}x the baseline); offset p99 worst "
        f"{sync.offset_p99_worst_ms:.2f} ms, max {sync.offset_max_ms:.2f} ms; underrun steady "
        f"{sync.underrun_steady_s:.2f} s ({sync.sessions_underrun} sessions)"
    )


COLUMNS = (
    ("sessions", 8), ("result", 6), ("core %", 7), ("%/sess", 7), ("base %/s", 8),
    ("net %/s", 7), ("ratio", 6), ("p50 med", 7), ("p99 med", 7), ("p99 max", 7), ("max ms", 7),
    ("late", 6), ("underrun start/steady s", 23), ("RSS MB/s", 8), ("lag p99 a/b", 11),
    ("preempt/s", 9), ("together ratio/p99", 18),
)  # fmt: skip


LEGEND = """\
core %: CPU of the whole process over the window, % of one core; %/sess: per session
base %/s: the same providers and consumers without avsync; net: avsync - base; ratio: avsync / base
p50 med: median per-session p50 offset; p99 med / max: median and worst per-session p99 offset
  (ms, limit {limit:g}); max ms: the worst single frame; late: frames dropped late, all sessions
underrun: silence emitted mid-speech, all sessions, before / inside the window (s)
RSS MB/s: resident memory growth from before the sessions to the end of the window, per session
lag p99 a/b: p99 lateness (ms) of a probe task waking every 10 ms, with avsync / in the baseline
preempt/s: involuntary context switches of the process (other load on the machine)
together ratio/p99: every session started at one instant: avsync / base, worst p99 offset (ms)"""


def table_row(step: Step) -> list[str]:
    """One step's cells in :data:`COLUMNS`."""
    synced = step.avsync
    sync = synced.sync
    assert sync is not None
    return [
        str(step.sessions),
        "pass" if step.passed else "FAIL",
        f"{synced.core_pct:.1f}",
        f"{synced.session_pct:.3f}",
        f"{step.baseline.session_pct:.3f}",
        f"{step.net_session_pct:.3f}",
        f"{step.ratio:.1f}x",
        f"{sync.offset_p50_median_ms:.2f}",
        f"{sync.offset_p99_median_ms:.2f}",
        f"{sync.offset_p99_worst_ms:.2f}",
        f"{sync.offset_max_ms:.2f}",
        str(sync.frames_dropped_late),
        f"{sync.underrun_startup_s:.2f} / {sync.underrun_steady_s:.2f}",
        f"{synced.rss_per_session_mb:.2f}",
        f"{synced.lag_p99_ms:.2f}/{step.baseline.lag_p99_ms:.2f}",
        f"{synced.preemptions / synced.window_s:.1f}",
        together_cell(step),
    ]


def together_cell(step: Step) -> str:
    """The together fleet's ratio and worst p99 offset, or "-" if the step did not run it."""
    together = step.together
    if together is None or together.sync is None:
        return "-"
    return f"{step.together_ratio:.1f}x / {together.sync.offset_p99_worst_ms:.2f}"


def print_step(step: Step) -> None:
    """The step's line on stdout, at once: a search runs for a long time."""
    print(step_line(step), flush=True)


def print_table(steps: Sequence[Step]) -> None:
    """Every step in a table, with its legend."""
    print("  ".join(name.rjust(width) for name, width in COLUMNS))
    for step in steps:
        cells = table_row(step)
        print("  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)))
    print(LEGEND.format(limit=OFFSET_LIMIT_MS))


def run_chain(args: argparse.Namespace) -> ChainResult:
    """The actor runtime's own cost in this run: a chain of actors vs the same chain of bare trio
    memory channels (:mod:`benchmarks.actor_chain`), rounds alternating."""
    return compare(args.chain_messages, CHAIN_ROUNDS, CHAIN_CAPACITY, lambda *_: None)


def ratios_line(steps: Sequence[Step], chain: ChainResult | None) -> str:
    """The run's ratios in one place: avsync / no synchroniser per step (spread, together), and
    the actor chain / bare channels."""
    parts = []
    for step in steps:
        together = "" if step.together_ratio is None else f", together {step.together_ratio:.2f}x"
        parts.append(f"{step.sessions} sessions {step.ratio:.2f}x{together}")
    line = "ratios: avsync / no synchroniser (CPU per session): " + "; ".join(parts)
    if chain is not None:
        line += f"\n        {chain.summary()}"
    return line


def capacity_line(steps: Sequence[Step], capacity: int, args: argparse.Namespace) -> str:
    """The search's answer, next to the floor's: how many sessions one core would carry at the
    no-synchroniser CPU per session measured in the passing step (or, if none passed, the
    smallest step run): an estimate, the floor has no offset to fail on."""
    bar = (
        f"every session p99 offset <= {OFFSET_LIMIT_MS:g} ms, no underrun after "
        f"{args.warmup:g} s warm-up, {args.duration:g} s window"
    )
    passing = [step for step in steps if step.sessions == capacity and step.passed]
    if passing:
        line, reference = (
            f"\nlargest passing step: {capacity} sessions on one core ({bar})",
            passing[0],
        )
    else:
        line, reference = f"\nno step passed ({bar})", min(steps, key=lambda step: step.sessions)
    floor_pct = reference.baseline.session_pct
    return line + (
        f"; the floor (no synchroniser) in the {reference.sessions}-session step: "
        f"{floor_pct:.3f}% of a core per session, about {100 / floor_pct:.0f} sessions per core"
    )


def write_json(
    path: str,
    args: argparse.Namespace,
    steps: Sequence[Step],
    capacity: int | None,
    chain: ChainResult | None,
) -> None:
    """Every figure, the settings and the machine, as JSON at ``path``."""
    report = {
        "benchmark": "sessions",
        "config": attrs.asdict(CONFIG),
        "offset_limit_ms": OFFSET_LIMIT_MS,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "baseline_duration_s": args.baseline_duration,
        "max_sessions_per_core": capacity,
        "steps": [step.to_json() for step in steps],
        "actor_chain": None if chain is None else chain.to_json(),
        "machine": machine_facts(),
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command's options, checked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="steady window, s [30]")
    parser.add_argument("--warmup", type=float, default=3.0, help="before the window, s [3]")
    parser.add_argument(
        "--baseline-duration", type=float, help="the baseline's window, s [min(duration, 10)]"
    )
    parser.add_argument("--sessions", type=int, help="run exactly this many sessions, no search")
    parser.add_argument("--max-sessions", type=int, default=400, help="search limit [400]")
    parser.add_argument(
        "--attempts", type=int, default=2, help="runs of a search step before it fails [2]"
    )
    parser.add_argument(
        "--no-together",
        dest="together",
        action="store_false",
        help="skip the step's third fleet: avsync with every session started at one instant",
    )
    parser.add_argument(
        "--chain-messages",
        type=int,
        default=50_000,
        help="messages per round of the actor-chain comparison; 0 skips it [50000]",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.baseline_duration is None:
        args.baseline_duration = min(args.duration, 10.0)
    if args.duration <= 0 or args.baseline_duration <= 0:
        parser.error("--duration and --baseline-duration must be positive")
    if args.warmup <= STAGGER_S:
        parser.error(f"--warmup must exceed {STAGGER_S:g} s (sessions start during the first)")
    if min(args.sessions or 1, args.max_sessions, args.attempts) < 1:
        parser.error("--sessions, --max-sessions and --attempts must be >= 1")
    if args.chain_messages < 0:
        parser.error("--chain-messages must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    capacity: int | None = None
    if args.sessions is not None:
        steps = [run_step(args.sessions, args)]
        print(step_line(steps[0]))
    else:
        steps, capacity = search(args, print_step)
    chain = run_chain(args) if args.chain_messages else None
    print()
    print_table(steps)
    print()
    print(ratios_line(steps, chain))
    if capacity is not None:
        print(capacity_line(steps, capacity, args))
    if args.json:
        write_json(args.json, args, steps, capacity, chain)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
