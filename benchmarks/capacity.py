"""The capacity search: how many real-time sessions one core holds.

A step runs one fleet (:mod:`benchmarks.fleet`) of N sessions without a synchroniser (the
baseline, for ``--baseline-duration`` seconds), then one through avsync, in the same process; it
passes when the avsync fleet does. The search runs 25, 50, 100, ... sessions (doubling while
steps pass, up to ``--max-sessions``), then bisects between the last pass and the first failure;
each step runs in a fresh child process (``python -m benchmarks.sessions --sessions N``), so
memory does not carry over. A failing step is run again, up to ``--attempts`` times, and passes
if any run passes: machine noise only ever makes a step fail. Every run is kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from .endpoints import make_media
from .fleet import FleetResult, run_fleet
from .machine import ROOT

SEARCH_FIRST = 25


# -- one step: baseline and avsync with N sessions ----------------------------------------------


@attrs.frozen
class Step:
    """The same N sessions without a synchroniser (the baseline) and through avsync, started
    spread over a second, and (unless skipped) through avsync again, all started together."""

    baseline: FleetResult
    avsync: FleetResult
    together: FleetResult | None = None

    @property
    def sessions(self) -> int:
        return self.avsync.sessions

    @property
    def passed(self) -> bool:
        return self.avsync.passed and (self.together is None or self.together.passed)

    @property
    def ratio(self) -> float:
        return self.avsync.session_pct / self.baseline.session_pct

    @property
    def together_ratio(self) -> float | None:
        """avsync started together / the baseline, per session."""
        if self.together is None:
            return None
        return self.together.session_pct / self.baseline.session_pct

    @property
    def net_session_pct(self) -> float:
        return self.avsync.session_pct - self.baseline.session_pct

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "passed": self.passed,
            "avsync_core_pct": self.avsync.core_pct,
            "avsync_session_pct": self.avsync.session_pct,
            "baseline_session_pct": self.baseline.session_pct,
            "net_session_pct": self.net_session_pct,
            "cost_ratio": self.ratio,
            "together_cost_ratio": self.together_ratio,
            "rss_per_session_mb": self.avsync.rss_per_session_mb,
            "baseline": self.baseline.to_json(),
            "avsync": self.avsync.to_json(),
            "together": None if self.together is None else self.together.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        together = data.get("together")
        return cls(
            FleetResult.from_json(data["baseline"]),
            FleetResult.from_json(data["avsync"]),
            None if together is None else FleetResult.from_json(together),
        )


def run_step(sessions: int, args: argparse.Namespace) -> Step:
    """One step in this process: the baseline fleet, then the avsync fleet."""
    media = make_media()
    baseline = trio.run(run_fleet, "baseline", sessions, args.warmup, args.baseline_duration, media)
    synced = trio.run(run_fleet, "avsync", sessions, args.warmup, args.duration, media)
    together = None
    if args.together:
        together = trio.run(run_fleet, "avsync", sessions, args.warmup, args.duration, media, True)
    return Step(baseline, synced, together)


def run_step_in_child(sessions: int, args: argparse.Namespace) -> Step:
    """The same step in a fresh interpreter, so that memory figures start clean."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "step.json"
        command = [
            sys.executable, "-m", "benchmarks.sessions",
            "--sessions", str(sessions),
            "--duration", str(args.duration),
            "--warmup", str(args.warmup),
            "--baseline-duration", str(args.baseline_duration),
            "--json", str(path),
            "--chain-messages", "0",  # the parent measures the actor chain once
            *(() if args.together else ("--no-together",)),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return Step.from_json(json.loads(path.read_text())["steps"][0])


# -- capacity search ----------------------------------------------------------------------------


def resolution(passed: int) -> int:
    """How close the bisection brings the first failure to the last pass."""
    return max(5, passed // 8)


def midpoint(low: int, high: int) -> int:
    """A round number (a multiple of 5) between ``low`` and ``high`` if there is one."""
    middle = round((low + high) / 10) * 5
    return middle if low < middle < high else (low + high) // 2


def search(args: argparse.Namespace, report: Callable[[Step], None]) -> tuple[list[Step], int]:
    """Double while steps pass, then bisect; return every step and the largest passing count.
    ``report`` is given each step's result as soon as it is in."""
    steps: list[Step] = []

    def passes(sessions: int) -> bool:
        """Whether any of up to ``--attempts`` runs passes (noise only ever makes steps fail)."""
        for attempt in range(1, args.attempts + 1):
            print(
                f"step {len(steps) + 1}: {sessions} sessions, attempt {attempt}",
                file=sys.stderr,
                flush=True,
            )
            step = run_step_in_child(sessions, args)
            steps.append(step)
            report(step)
            if step.passed:
                return True
        return False

    passed, failed = 0, None
    sessions = min(SEARCH_FIRST, args.max_sessions)
    while failed is None:
        if not passes(sessions):
            failed = sessions
        elif sessions >= args.max_sessions:
            break
        else:
            passed, sessions = sessions, min(2 * sessions, args.max_sessions)
    if failed is None:
        passed = sessions
    while failed is not None and failed - passed > resolution(passed):
        sessions = midpoint(passed, failed)
        if passes(sessions):
            passed = sessions
        else:
            failed = sessions
    return sorted(steps, key=lambda step: step.sessions), passed
