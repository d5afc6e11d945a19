"""The benchmarks' PNG, drawn with matplotlib: a bare ``Figure`` rendered by Agg, no pyplot and no
global backend. Imported only when the chart is written (matplotlib takes a while to load)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

__all__ = ["write_chart"]

WIDTH_PX, DPI = 1600, 100
OFFSET_HEIGHT_PX, STALE_HEIGHT_PX = 620, 420
VALUE_PT = 8  #: the values written on the bars
VALUE_CHAR_PX = 0.6 * VALUE_PT * DPI / 72  #: a generous average width of one of their characters
AVSYNC, BASELINE, AVSYNC_NO_PTS, BASELINE_NO_PTS = "tab:blue", "tab:orange", "tab:green", "tab:red"


def write_chart(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a PNG of two bar charts, stacked: p99 |offset| per scenario, avsync and the baseline,
    with and without pts (log scale); and, for the scenarios that measure it, the old turn's
    output after the barge-in. Every bar carries its value ("0" for none, "n/a" if unmeasured)."""
    stale = [row for row in rows if row["avsync"]["stale_frames"] is not None]
    heights = [OFFSET_HEIGHT_PX, *([STALE_HEIGHT_PX] if stale else [])]
    figure = Figure(figsize=(WIDTH_PX / DPI, sum(heights) / DPI), dpi=DPI, layout="constrained")
    charts = figure.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]

    titles = list(dict.fromkeys(str(row["title"]) for row in rows))
    offsets: dict[str, list[float]] = {}
    for kind in ("avsync", "baseline"):
        for pts in (True, False):
            by_title = {
                row["title"]: row[kind]["offset_p99_ms"] for row in rows if row["pts"] is pts
            }
            offsets[f"{kind}, {'pts' if pts else 'no pts'}"] = [
                math.nan if by_title.get(t) is None else float(by_title[t]) for t in titles
            ]
    _log_bars(
        charts[0],
        titles,
        offsets,
        [AVSYNC, AVSYNC_NO_PTS, BASELINE, BASELINE_NO_PTS],
        "p99 |sync offset| per scenario: avsync vs. the enqueue-time baseline",
        "ms (log)",
    )
    if stale:
        groups = [
            f"{row['title']}, {'pts' if row['pts'] else 'no pts'}: {what}"
            for row in stale
            for what in ("stale frames", "stale speech (ms)")
        ]
        outputs = {
            kind: [
                float(row[kind][key]) for row in stale for key in ("stale_frames", "stale_audio_ms")
            ]
            for kind in ("avsync", "baseline")
        }
        _log_bars(
            charts[1],
            groups,
            outputs,
            [AVSYNC, BASELINE],
            "after start_turn() returned: output of the old turn (frames, ms of speech)",
            "count / ms (log)",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)


def _log_bars(
    axes: Axes,
    groups: Sequence[str],
    bars: Mapping[str, Sequence[float]],
    colors: Sequence[str],
    title: str,
    y_label: str,
) -> None:
    """Grouped bars on a log10 axis from a whole decade: per group, one bar per key of ``bars``.
    Values <= 0 and NaN draw no bar and are labelled "0" and "n/a" on the axis' floor."""
    measured = [v for values in bars.values() for v in values if v > 0]
    floor = 10.0 ** math.floor(math.log10(min(measured))) if measured else 1.0
    highest = max(measured, default=10.0)
    headroom = 10.0 ** (0.2 * max(math.log10(highest / floor), 1.0))  # for the values on top
    axes.set_yscale("log")
    axes.set_ylim(floor, highest * headroom)
    axes.yaxis.set_minor_formatter(NullFormatter())  # decades only
    pitch = 0.8 / len(bars)  # the bars take 80% of a group's width
    bar_px = WIDTH_PX * 0.9 / len(groups) * pitch
    texts = {key: [_value_text(v) for v in values] for key, values in bars.items()}
    longest = max(len(text) for column in texts.values() for text in column)
    upright = longest * VALUE_CHAR_PX > bar_px
    for number, ((key, values), color) in enumerate(zip(bars.items(), colors, strict=True)):
        where = [g - 0.4 + (number + 0.5) * pitch for g in range(len(groups))]
        heights = [v - floor if v > floor else 0.0 for v in values]
        container = axes.bar(where, heights, pitch * 0.95, bottom=floor, color=color, label=key)
        axes.bar_label(
            container, texts[key], padding=2, fontsize=VALUE_PT, rotation=90 if upright else 0
        )
    chars_per_group = max(10, int(WIDTH_PX * 0.9 / len(groups) / 6.5))
    axes.set_xticks(range(len(groups)), [textwrap.fill(g, chars_per_group) for g in groups])
    axes.tick_params(axis="x", labelsize=8, length=0)
    axes.set_title(title, loc="left", fontsize=13)
    axes.set_ylabel(y_label)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(
        loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(bars), frameon=False, fontsize=9
    )


def _value_text(value: float) -> str:
    """``value`` in about three significant digits (12.3, 5.03k); "0" for <= 0, "n/a" for NaN."""
    if math.isnan(value):
        return "n/a"
    if value <= 0:
        return "0"
    if value >= 999.5:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def write_breakdown_chart(
    path: Path,
    bars: Mapping[str, Mapping[str, float]],
    *,
    line: tuple[float, str],
    title: str,
) -> None:
    """Write a PNG of stacked bars, one per name of ``bars`` (ms of CPU per session-second by
    part, stacked bottom up in the order the parts first appear), with a dashed horizontal line
    at ``line``'s height, labelled with its text."""
    parts = list(dict.fromkeys(part for parts in bars.values() for part in parts))
    figure = Figure(figsize=(650 / DPI, 480 / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    for position, by_part in enumerate(bars.values()):
        bottom = 0.0
        for index, part in enumerate(parts):
            value = by_part.get(part, 0.0)
            axes.bar(position, value, bottom=bottom, width=0.6, color=f"C{index}",
                     label=part if position == 0 else None)  # fmt: skip
            bottom += value
    height, text = line
    axes.axhline(height, color="black", linestyle="--", linewidth=1, label=text)
    axes.set_xticks(range(len(bars)), list(bars))
    axes.set_ylabel("ms of CPU per session-second")
    axes.set_title(title, fontsize=10)
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles[::-1], labels[::-1], loc="upper left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
