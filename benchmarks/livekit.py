"""LiveKit's ``rtc.AVSynchronizer`` and avsync's drop-in (:mod:`avsync.livekit`) side by side.

    python -m benchmarks.livekit [--json benchmark-results/livekit.json] [--runs 1] [--only NAME]

The scenarios and how they are measured: :mod:`avsync.testing.livekit`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from avsync.testing.livekit import (
    IMPLEMENTATIONS,
    run_clear,
    run_idle,
    run_lockstep,
    run_reset,
    run_stall,
)

__all__ = ["main", "run_all", "table"]


# -- the command -----------------------------------------------------------------------------------


async def run_all(names: Sequence[str], runs: int = 1) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        factory = IMPLEMENTATIONS[name]
        per: dict[str, list[Any]] = {
            "lockstep": [],
            "stall": [],
            "clear": [],
            "reset": [],
            "idle": [],
        }
        for _ in range(runs):
            print(f"{name}: lockstep", file=sys.stderr)
            cpu, wall = time.process_time(), time.monotonic()
            lockstep = attrs.asdict(await run_lockstep(factory))
            lockstep["cpu_percent"] = (time.process_time() - cpu) / (time.monotonic() - wall) * 100
            per["lockstep"].append(lockstep)
            print(f"{name}: stall", file=sys.stderr)
            per["stall"].append(attrs.asdict(await run_stall(factory)))
            print(f"{name}: clear", file=sys.stderr)
            per["clear"].append(attrs.asdict(await run_clear(factory)))
            print(f"{name}: reset", file=sys.stderr)
            per["reset"].append(attrs.asdict(await run_reset(factory)))
            print(f"{name}: idle", file=sys.stderr)
            per["idle"].append(attrs.asdict(await run_idle(factory)))
            gc.collect()
        results[name] = per
    return results


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.1f}"


def _median_p99_cell(offsets: dict[str, Any], median: str, p99: str) -> str:
    """ "median / p99" of an offsets record, in ms (the p99 is of absolute values: no sign)."""
    return f"{_fmt(offsets[median])} / {_fmt(offsets[p99]).lstrip('+')}"


def table(results: dict[str, Any]) -> str:
    names = list(results)
    rows: list[tuple[str, ...]] = [("", *names)]

    def add(label: str, cell: Callable[[dict[str, Any]], str], scenario: str) -> None:
        rows.append((label, *(" / ".join(cell(r) for r in results[n][scenario]) for n in names)))

    for scenario in ("lockstep", "stall"):
        add(f"{scenario}: median offset ms", lambda r: _fmt(r["median_ms"]), scenario)
        add(f"{scenario}: p99 |offset| ms", lambda r: _fmt(r["p99_abs_ms"]).lstrip("+"), scenario)
        add(
            f"{scenario}: offset range ms",
            lambda r: f"{_fmt(r['min_ms'])}..{_fmt(r['max_ms'])}",
            scenario,
        )
        add(
            f"{scenario}: frames counted (+starved)",
            lambda r: f"{r['frames']}/{r['expected']} (+{r['starved']})",
            scenario,
        )
        add(
            f"{scenario}: every frame: median / p99",
            lambda r: _median_p99_cell(r, "all_median_ms", "all_p99_abs_ms"),
            scenario,
        )
    add(
        "lockstep: CPU, % of a core (process)",
        lambda r: f"{r['cpu_percent']:.0f}",
        "lockstep",
    )
    add("clear: stale frames after", lambda r: str(r["stale_frames"]), "clear")
    add("clear: stale audio after, ms", lambda r: f"{r['stale_audio_ms']:.0f}", "clear")
    add("clear: clear_queue() took, ms", lambda r: f"{r['clear_ms']:.1f}", "clear")
    add(
        "clear: next turn median / p99 ms",
        lambda r: _median_p99_cell(r["new_turn_offset"], "median_ms", "p99_abs_ms"),
        "clear",
    )
    add(
        "reset: wait_for_playout()",
        lambda r: f"returned in {r['wait_ms']:.0f} ms" if r["returned"] else "hung (3 s timeout)",
        "reset",
    )
    add("reset: frames seen after reset()", lambda r: f"{r['frames_after_reset']}/15", "reset")
    add("idle: idle frames seen", lambda r: f"{r['idle_shown']}/{r['idle_expected']}", "idle")
    add("idle: longest push() wait, ms", lambda r: f"{r['longest_push_ms']:.0f}", "idle")
    add(
        "idle: next utterance median / p99 ms",
        lambda r: _median_p99_cell(r["second"], "all_median_ms", "all_p99_abs_ms"),
        "idle",
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.livekit", description=__doc__)
    parser.add_argument("--json", default="benchmark-results/livekit.json")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=sorted(IMPLEMENTATIONS), action="append")
    args = parser.parse_args(argv)
    import livekit.rtc.version

    names = args.only or ["livekit", "avsync"]
    results = asyncio.run(run_all(names, args.runs))
    print(f"livekit {livekit.rtc.version.__version__}, no server; positive offset = video late")
    print(table(results))
    if args.json:
        from pathlib import Path

        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2))
        print(f"JSON: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
