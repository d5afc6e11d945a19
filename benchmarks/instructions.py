"""Instructions per session-second, avsync against no synchroniser: a cost ratio that machine load
cannot move.

    python -m benchmarks.instructions [--sessions 5] [--short 1] [--long 3] [--json FILE]

On a shared machine real-time CPU ratios move by about ten per cent from run to run. This runs
the sessions of :mod:`benchmarks.fleet` (the same providers, media and consumers; starts spread
over a second, seeded) under ``trio.testing.MockClock`` (virtual time, so the run is the same
every time) and counts the instructions the process executes with valgrind's callgrind
(``valgrind`` must be installed; it runs the interpreter about 50 times slower). Each kind runs
twice, ``--short`` and ``--long`` seconds of media: the difference, divided by sessions and by
the extra seconds, is the cost of one session-second without the imports and start-up. The four
runs are independent child processes and run in parallel; their counts do not depend on load.

Instructions are not time (cache misses and memory traffic count for nothing), so this is a
ratio to compare commits with, next to the real-time figures of :mod:`benchmarks.sessions`, not
a replacement for them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import trio
import trio.testing

from .endpoints import OPENERS, make_media
from .fleet import SEED, STAGGER_S, Session, run_session
from .machine import ROOT, machine_facts

KINDS = ("baseline", "avsync")
COLLECTED = re.compile(r"Collected : (\d+)")


async def play(kind: str, sessions: int, seconds: float) -> None:
    """``sessions`` sessions of ``kind`` started spread over STAGGER_S, each writing until
    ``seconds`` of media after the last possible start."""
    media = make_media()
    rng = random.Random(SEED)
    origin = trio.current_time()
    stop_at = origin + STAGGER_S + seconds
    async with trio.open_nursery() as nursery:
        for _ in range(sessions):
            start_at = origin + rng.random() * STAGGER_S
            nursery.start_soon(run_session, OPENERS[kind], media, start_at, stop_at, Session())


def count(kind: str, sessions: int, seconds: float) -> int:
    """Instructions executed by a child process that plays the sessions in virtual time."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.instructions",
        "--child", kind, "--sessions", str(sessions), "--media", str(seconds),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    found = COLLECTED.search(done.stderr)
    if done.returncode or found is None:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(found[1])


def per_session_second(args: argparse.Namespace) -> dict[str, float]:
    """Each kind's instructions per session-second (the four counts run in parallel)."""
    runs = [(kind, seconds) for kind in KINDS for seconds in (args.short, args.long)]
    with ThreadPoolExecutor(len(runs)) as pool:
        counts = dict(
            zip(runs, pool.map(lambda run: count(run[0], args.sessions, run[1]), runs), strict=True)
        )
    extra = args.sessions * (args.long - args.short)
    return {kind: (counts[kind, args.long] - counts[kind, args.short]) / extra for kind in KINDS}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5, help="sessions per run [5]")
    parser.add_argument("--short", type=float, default=1.0, help="media seconds, short run [1]")
    parser.add_argument("--long", type=float, default=3.0, help="media seconds, long run [3]")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--media", type=float, help=argparse.SUPPRESS)  # the child's seconds
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.short <= 0 or args.long <= args.short:
        parser.error("need --sessions >= 1 and 0 < --short < --long")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        clock = trio.testing.MockClock(autojump_threshold=0)
        trio.run(play, args.child, args.sessions, args.media, clock=clock)
        return 0
    if shutil.which("valgrind") is None:
        print("benchmarks.instructions needs valgrind on PATH", file=sys.stderr)
        return 2
    print(f"counting ({len(KINDS) * 2} runs under valgrind, in parallel)...", file=sys.stderr)
    figures = per_session_second(args)
    ratio = figures["avsync"] / figures["baseline"]
    print(
        f"{args.sessions} sessions, {args.long:g} - {args.short:g} s of media, virtual time: "
        f"instructions per session-second: no synchroniser {figures['baseline'] / 1e6:.2f}M, "
        f"avsync {figures['avsync'] / 1e6:.2f}M: avsync {ratio:.2f}x the floor"
    )
    if args.json:
        report = {
            "benchmark": "instructions",
            "sessions": args.sessions,
            "short_s": args.short,
            "long_s": args.long,
            "per_session_second": figures,
            "ratio": ratio,
            "machine": machine_facts(),
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
