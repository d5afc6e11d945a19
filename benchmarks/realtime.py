"""Real-time cost per session: avsync, the enqueue-time baseline, and no synchroniser at all.

    python -m benchmarks.realtime --kind avsync --sessions 20 --duration 10 --json out.json

Runs one fleet of ``--sessions`` real-time sessions of :mod:`benchmarks.fleet` (720p30 frames
with pts + 48 kHz mono audio in 20 ms chunks, outputs drained) through one synchroniser kind, on
the real clock, in one process (one core), and writes its :class:`benchmarks.fleet.FleetResult`
as JSON. ``python -m benchmarks`` runs each kind in a fresh child process, so memory figures start
clean. Kinds: ``avsync``, ``enqueue-time`` (:mod:`benchmarks.baseline`), and ``none`` (the same
providers and consumers over bare trio channels: the floor every synchroniser adds to).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs
import trio

from .endpoints import make_media
from .fleet import STAGGER_S, FleetResult, run_fleet
from .machine import ROOT

__all__ = ["KINDS", "RealtimeFigures", "run_kind_in_child"]

#: our kind -> its name in :data:`benchmarks.endpoints.OPENERS`
KINDS = {"none": "baseline", "enqueue-time": "enqueue-time", "avsync": "avsync"}


@attrs.frozen
class RealtimeFigures:
    """What the report shows for one kind."""

    kind: str
    sessions: int
    core_pct: float  #: CPU of the whole process over the window, % of one core
    session_pct: float  #: per session
    sessions_per_core: float  #: estimate: 100 / session_pct
    rss_per_session_mb: float
    lag_p99_ms: float  #: how late a probe task woke (machine load)
    offset_p99_worst_ms: float | None  #: avsync's own account (emit - due), worst session
    underrun_steady_s: float | None

    @classmethod
    def of(cls, kind: str, fleet: FleetResult) -> RealtimeFigures:
        sync = fleet.sync
        return cls(
            kind,
            fleet.sessions,
            fleet.core_pct,
            fleet.session_pct,
            100 / fleet.session_pct if fleet.session_pct > 0 else float("inf"),
            fleet.rss_per_session_mb,
            fleet.lag_p99_ms,
            None if sync is None else sync.offset_p99_worst_ms,
            None if sync is None else sync.underrun_steady_s,
        )


def run_kind_in_child(kind: str, count: int, duration: float, warmup: float) -> dict[str, Any]:
    """One fleet in a fresh interpreter; its FleetResult as JSON."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fleet.json"
        command = [
            sys.executable, "-m", "benchmarks.realtime", "--kind", kind,
            "--sessions", str(count), "--duration", str(duration), "--warmup", str(warmup),
            "--json", str(path),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        result: dict[str, Any] = json.loads(path.read_text())
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kind", choices=list(KINDS), required=True)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="steady window, s [10]")
    parser.add_argument("--warmup", type=float, default=3.0, help="before the window, s [3]")
    parser.add_argument("--json", metavar="PATH", required=True)
    args = parser.parse_args(argv)
    if args.warmup <= STAGGER_S or args.duration <= 0 or args.sessions < 1:
        parser.error(f"need --warmup > {STAGGER_S:g}, --duration > 0, --sessions >= 1")
    fleet = trio.run(
        run_fleet,
        KINDS[args.kind],
        args.sessions,
        args.warmup,
        args.duration,
        make_media(),
    )
    Path(args.json).write_text(json.dumps(fleet.to_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
