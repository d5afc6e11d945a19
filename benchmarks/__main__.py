"""avsync against the enqueue-time baseline: the scenario matrix and the real-time cost.

    python -m benchmarks                      # everything, about a minute
    python -m benchmarks --no-realtime        # the scenario matrix only, a few seconds
    python -m benchmarks --scenarios rt20,bargein --json out.json --png out.png
    python -m benchmarks --full               # with the real-time capacity search (long)

1. The scenario matrix (:mod:`benchmarks.matrix`): every scenario under a MockClock, through
   avsync and through the enqueue-time baseline (:mod:`benchmarks.baseline`), with and without
   video pts, measured from the outputs alone.
2. Real time (:mod:`benchmarks.realtime`): ``--sessions`` sessions for ``--duration`` s through
   no synchroniser, the baseline and avsync, each kind in a fresh child process: CPU and memory
   per session, and sessions per core estimated from them. ``--full`` also runs the capacity
   search of :mod:`benchmarks.capacity` (the measured sessions per core).

Prints the tables on stdout (progress on stderr) and writes JSON and a PNG.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import attrs

from . import matrix, realtime, report, sessions
from .capacity import search
from .fleet import STAGGER_S, FleetResult
from .machine import cpu_model, machine_facts

DEFAULT_DIRECTORY = Path("benchmark-results")


def machine() -> dict[str, Any]:
    return {"cpu_model": cpu_model(), **machine_facts()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    names = [scenario.name for scenario in matrix.SCENARIOS]
    parser.add_argument(
        "--scenarios", help=f"comma-separated subset of: {','.join(names)} [all]", default=""
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_DIRECTORY / "benchmark.json", help="[%(default)s]"
    )
    parser.add_argument(
        "--png", type=Path, default=DEFAULT_DIRECTORY / "benchmark.png", help="[%(default)s]"
    )
    parser.add_argument("--no-realtime", action="store_true", help="skip the real-time part")
    parser.add_argument("--full", action="store_true", help="also run the capacity search")
    parser.add_argument("--sessions", type=int, default=20, help="real-time sessions [20]")
    parser.add_argument("--duration", type=float, default=10.0, help="real-time window, s [10]")
    parser.add_argument("--warmup", type=float, default=3.0, help="before the window, s [3]")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:  # found out now, not after the run
        parser.error("the PNG needs matplotlib: pip install -e '.[demo]'")
    chosen = [name for name in args.scenarios.split(",") if name]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown scenarios {', '.join(unknown)}; choose from {', '.join(names)}")
    args.chosen = [s for s in matrix.SCENARIOS if not chosen or s.name in chosen]
    if args.warmup <= STAGGER_S or args.duration <= 0 or args.sessions < 1:
        parser.error(f"need --warmup > {STAGGER_S:g}, --duration > 0, --sessions >= 1")
    return args


def run_scenarios(
    scenarios: list[matrix.Scenario], bar: report.ProgressBar
) -> list[dict[str, Any]]:
    results = matrix.run_matrix(scenarios, bar.step)
    rows = []
    for scenario in scenarios:
        for pts in (True, False):
            row: dict[str, Any] = {"scenario": scenario.name, "title": scenario.title, "pts": pts}
            for kind, measurement in results[(scenario.name, pts)].items():
                row[kind] = attrs.asdict(measurement)
            ratio, floored = report.p99_ratio(row)
            rows.append({**row, "p99_ratio": ratio, "p99_ratio_is_lower_bound": floored})
    return rows


def run_realtime(args: argparse.Namespace, bar: report.ProgressBar) -> dict[str, Any]:
    fleets: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    for kind in realtime.KINDS:
        bar.step(f"real time: {args.sessions} sessions x {args.duration:g} s, {kind}")
        bar.close()
        fleet = realtime.run_kind_in_child(kind, args.sessions, args.duration, args.warmup)
        fleets[kind] = fleet
        figures[kind] = attrs.asdict(
            realtime.RealtimeFigures.of(kind, FleetResult.from_json(fleet))
        )
    ours, theirs, floor = (figures[k]["session_pct"] for k in ("avsync", "enqueue-time", "none"))
    result: dict[str, Any] = {
        "sessions": args.sessions,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "figures": figures,
        "avsync_cpu_vs_enqueue_time": _ratio(ours, theirs),
        "avsync_cpu_vs_enqueue_time_net": _ratio(ours - floor, theirs - floor),
        "fleets": fleets,
        "capacity": None,
    }
    if args.full:
        bar.step("real time: capacity search")
        bar.close()
        search_args = sessions.parse_args(["--duration", "30"])
        steps, most = search(search_args, sessions.print_step)
        sessions.print_table(steps)
        result["capacity"] = {
            "max_sessions_per_core": most,
            "duration_s": search_args.duration,
            "steps": [step.to_json() for step in steps],
        }
    return result


def _ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, None when the denominator is not positive (a figure
    within the noise of the floor)."""
    return numerator / denominator if denominator > 0 else None


def _times(ratio: float | None) -> str:
    return "n/a (within noise)" if ratio is None else f"{ratio:.1f}x"


def print_realtime(result: dict[str, Any]) -> None:
    print(
        f"\nReal time: {result['sessions']} sessions x {result['duration_s']:g} s "
        "(720p30 + 48 kHz mono, 20 ms chunks) in one process, one core"
    )
    print(report.realtime_table(result["figures"]))
    print(
        "sessions/core (est.) = 100 / (% of a core per session) at this load; 'none' is the "
        "providers and\nconsumers alone; vs avsync: CPU per session relative to avsync's"
    )
    print(
        f"avsync costs {_times(result['avsync_cpu_vs_enqueue_time'])} the enqueue-time "
        f"baseline's CPU per session ({_times(result['avsync_cpu_vs_enqueue_time_net'])} net of "
        "'none')"
    )
    avsync_sync = result["fleets"]["avsync"]["sync"]
    print(
        f"avsync's own account: p99 offset worst session {avsync_sync['offset_p99_worst_ms']:.2f} "
        f"ms, steady underrun {avsync_sync['underrun_steady_s']:.2f} s"
    )
    capacity = result["capacity"]
    if capacity is not None:
        print(
            f"capacity search: {capacity['max_sessions_per_core']} sessions on one core "
            "(every session p99 offset <= 5 ms, no underrun) -- measured, not estimated"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    cells = len(matrix.cells(args.chosen))
    steps = cells + (0 if args.no_realtime else len(realtime.KINDS) + args.full)
    bar = report.ProgressBar(steps, unit="steps")
    rows = run_scenarios(args.chosen, bar)
    realtime_result = None if args.no_realtime else run_realtime(args, bar)
    bar.finish()

    print(
        f"machine: {facts['cpu_model']}, {facts['nproc']} cores, Python {facts['python']}, "
        f"trio {facts['trio']}, av {facts['av']}, numpy {facts['numpy']}, "
        f"commit {facts['commit']}, load average {facts['loadavg']}"
    )
    print(f"\nScenario matrix ({len(rows)} rows, virtual time)")
    print(report.matrix_table(rows))
    if realtime_result is not None:
        print_realtime(realtime_result)

    document = {
        "benchmark": "avsync vs. the enqueue-time baseline",
        "command": ["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])],
        "machine": facts,
        "settings": {
            "phases_lead_in_s": list(matrix.LEAD_INS_S),
            "in_flight_s": matrix.IN_FLIGHT_S,
            "ratio_floor_ms": report.RATIO_FLOOR_MS,
            "scenarios": {s.name: s.title for s in args.chosen},
        },
        "matrix": rows,
        "realtime": realtime_result,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    from .chart import write_chart  # matplotlib is loaded only here

    write_chart(args.png, rows)
    print(f"\nwrote {args.json} and {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
