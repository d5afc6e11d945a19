"""What ``python -m benchmarks`` shows: a progress bar and the tables (the PNG:
:mod:`benchmarks.chart`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from avsync._progress import ProgressBar

__all__ = ["ProgressBar", "matrix_table", "realtime_table"]

RATIO_FLOOR_MS = 1.0  #: an avsync p99 below this counts as this in the ratio (a lower bound)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _offsets(cell: Mapping[str, Any]) -> str:
    return "/".join(
        _number(cell[key]) for key in ("offset_p50_ms", "offset_p99_ms", "offset_max_ms")
    )


def _pair(row: Mapping[str, Any], key: str, digits: int = 0) -> str:
    values = [row[kind][key] for kind in ("avsync", "baseline")]
    if all(value is None for value in values):
        return "-"
    return " / ".join(_number(value, digits) for value in values)


def p99_ratio(row: Mapping[str, Any]) -> tuple[float | None, bool]:
    """Baseline |p99| / avsync |p99|, and whether avsync's was floored (a lower bound)."""
    ours, theirs = row["avsync"]["offset_p99_ms"], row["baseline"]["offset_p99_ms"]
    if ours is None or theirs is None:
        return None, False
    return theirs / max(ours, RATIO_FLOOR_MS), ours < RATIO_FLOOR_MS


def _ratio_text(row: Mapping[str, Any]) -> str:
    ratio, floored = p99_ratio(row)
    if ratio is None:
        return "-"
    return f"{'>=' if floored else ''}{ratio:.{0 if ratio >= 10 else 1}f}x"


MATRIX_COLUMNS = (
    ("scenario", -44), ("pts", -3), ("avsync p50/p99/max", 18), ("baseline p50/p99/max", 22),
    ("p99 b/a", 7), ("shown a / b", 11), ("stale fr a / b", 14), ("stale ms a / b", 14),
    ("underrun ms a / b", 17), ("drops a / b", 11),
)  # fmt: skip


MATRIX_LEGEND = """\
a = avsync, b = the enqueue-time baseline; every cell pools {phases} runs at different phases
offsets (ms, positive = video late): p50 signed, p99 and max of |offset|; idle: display latency
p99 b/a: baseline |p99| / avsync |p99| (avsync below {floor:g} ms counts as {floor:g} ms: ">=")
shown: distinct frames shown (fewest of the runs); stale fr / ms: frames and speech of the old
turn first emitted after start_turn() returned; underrun: silence emitted mid-speech; drops:
frames dropped by the synchroniser (avsync: late, shed and overflow; baseline: queue
overflow); stale, underrun and drops are the worst of the runs"""


def _table(columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(-width) if width < 0 else cell.rjust(width)
            for cell, (_, width) in zip(cells, columns, strict=True)
        ).rstrip()

    return "\n".join([line([name for name, _ in columns]), *map(line, rows)])


def matrix_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The scenario table, one line per scenario and pts setting."""
    cells = []
    for row in rows:
        cells.append(
            [
                row["title"],
                "yes" if row["pts"] else "no",
                _offsets(row["avsync"]),
                _offsets(row["baseline"]),
                _ratio_text(row),
                _pair(row, "frames_shown"),
                _pair(row, "stale_frames"),
                _pair(row, "stale_audio_ms"),
                _pair(row, "underrun_ms"),
                _pair(row, "dropped"),
            ]
        )
    phases = rows[0]["avsync"]["phases"] if rows else 0
    legend = MATRIX_LEGEND.format(phases=phases, floor=RATIO_FLOOR_MS)
    return _table(MATRIX_COLUMNS, cells) + "\n" + legend


REALTIME_COLUMNS = (
    ("synchroniser", -14), ("sessions", 8), ("core %", 7), ("% per session", 13),
    ("sessions/core (est.)", 20), ("vs avsync", 9), ("RSS MB/session", 14), ("loop lag p99 ms", 15),
)  # fmt: skip


def realtime_table(figures: Mapping[str, Mapping[str, Any]]) -> str:
    """CPU and memory per session for each kind (``RealtimeFigures`` as dicts)."""
    ours = figures.get("avsync")
    rows = []
    for kind, f in figures.items():
        versus = (
            "-"
            if ours is None or ours["session_pct"] <= 0
            else f"{f['session_pct'] / ours['session_pct']:.2f}x"
        )
        rows.append(
            [
                kind,
                str(f["sessions"]),
                f"{f['core_pct']:.1f}",
                f"{f['session_pct']:.3f}",
                f"{f['sessions_per_core']:.0f}",
                versus,
                f"{f['rss_per_session_mb']:.2f}",
                f"{f['lag_p99_ms']:.2f}",
            ]
        )
    return _table(REALTIME_COLUMNS, rows)
