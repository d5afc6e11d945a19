"""The demo's ``plot.png``, drawn with matplotlib: a bare ``Figure`` rendered by Agg, no pyplot and
no global backend. Imported only when the plot is written (matplotlib takes a while to load)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._report import Findings
from ._session import DemoRun

__all__ = ["DETECTABLE_MS", "write_plot"]

DETECTABLE_MS = (-125.0, 45.0)  #: ITU-R BT.1359: audio late by 125 ms / early by 45 ms
WIDTH_PX, HEIGHT_PX, DPI = 1400, 1200, 100
LABEL_PT = 9  #: the moments' labels
LABEL_CHAR_PX = 0.6 * LABEL_PT * DPI / 72  #: a generous average width of one of their characters

BLUE, ORANGE, GREEN, RED, PURPLE, GREY = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:gray",
)


def write_plot(run: DemoRun, findings: Findings, path: Path) -> None:
    """Write a 1400x1200 PNG to ``path``: offset over time at both ends, audio buffer and video
    queue depth, drops, with the session's moments (turns, stall, barge-in, each with the epoch
    it starts) marked across all panels and named above them."""
    options = run.options
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    figure.suptitle(
        f"avsync demo: {options.duration:g} s, {options.width}x{options.height} "
        f"@ {options.fps} fps over WebRTC on 127.0.0.1",
        x=0.01,
        horizontalalignment="left",
        fontsize=14,
    )
    labels, *panels = figure.subplots(6, 1, sharex=True, height_ratios=[0.45, 2, 2, 1, 1, 1])
    sent, received, audio, video, drops = panels
    _offsets_as_published(sent, findings)
    _skews_at_the_receiver(received, findings)
    at = [s.at for s in run.samples]

    def series(name: str) -> list[float]:
        return [getattr(s.stats, name) for s in run.samples]

    _steps(
        audio,
        "audio buffered in avsync",
        "s",
        at,
        [
            ("audio buffered", series("audio_buffered_s"), GREEN),
            ("underrun so far", series("audio_underrun_s"), RED),
        ],
    )
    _steps(
        video,
        "video queued in avsync",
        "frames",
        at,
        [("frames queued", series("video_queued"), ORANGE)],
    )
    _steps(
        drops,
        "frames dropped (cumulative)",
        "frames",
        at,
        [
            ("stale (old turn)", series("frames_dropped_stale"), RED),
            ("late (superseded)", series("frames_dropped_late"), GREY),
        ],
    )
    x_range = (0.0, max(run.wall_s, options.duration))
    drops.set_xlim(*x_range)
    drops.xaxis.set_major_locator(MaxNLocator(nbins=15, steps=[1, 2, 5, 10]))
    drops.set_xlabel("seconds into the session")
    moments = [(h.started - run.origin, _marker_label(h.what, h.epoch)) for h in run.happenings]
    _moments(labels, panels, moments, x_range)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)


def _offsets_as_published(axes: Axes, findings: Findings) -> None:
    for label, late, color in (
        ("frames", False, BLUE),
        ("frames that reached avsync after their audio was heard", True, ORANGE),
    ):
        chosen = [o for o in findings.offsets if o.arrived_late is late]
        axes.scatter([o.at for o in chosen], [o.offset_ms for o in chosen], 9, color, label=label)
    axes.axhline(0.0, color=GREY, linewidth=0.8)
    _decorate(axes, "A/V offset of each frame as published by avsync (positive: video late)", "ms")


def _skews_at_the_receiver(axes: Axes, findings: Findings) -> None:
    axes.axhspan(*DETECTABLE_MS, color=GREEN, alpha=0.12, label="not detectable (ITU-R BT.1359)")
    axes.scatter(
        [s.at for s in findings.skews],
        [s.skew_ms for s in findings.skews],
        12,
        PURPLE,
        label="syllable onsets",
    )
    axes.axhline(0.0, color=GREY, linewidth=0.8)
    _decorate(
        axes,
        "A/V skew at the receiver, per syllable (after VP8/Opus and aiortc's jitter buffers)",
        "ms",
    )


def _steps(
    axes: Axes,
    title: str,
    unit: str,
    at: Sequence[float],
    lines: Sequence[tuple[str, Sequence[float], str]],
) -> None:
    """Each of ``lines`` (label, values at ``at``, colour) as a step held until the next sample."""
    for label, values, color in lines:
        axes.step(at, values, where="post", color=color, label=label)
    axes.set_ylim(bottom=0.0)
    _decorate(axes, title, unit)


def _decorate(axes: Axes, title: str, unit: str) -> None:
    """The panel's title on the left and its legend on the right, both above it; unit and grid."""
    axes.set_title(title, loc="left", fontsize=10, fontweight="bold")
    axes.set_ylabel(unit)
    axes.grid(alpha=0.3)
    handles, _ = axes.get_legend_handles_labels()
    axes.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(handles),
        frameon=False,
        fontsize=9,
        borderaxespad=0.2,
    )


def _moments(
    labels: Axes,
    panels: Sequence[Axes],
    moments: Sequence[tuple[float, str]],
    x_range: tuple[float, float],
) -> None:
    """A dashed line across every panel at each moment, named in the strip of ``labels`` above
    them, right of its line; labels that would overlap go on further rows."""
    labels.axis("off")
    span = x_range[1] - x_range[0]
    seconds_per_px = span / (WIDTH_PX * 0.92)  # the panels take about 92% of the width
    row_ends: list[float] = []  #: where the last label of each row ends, in seconds
    placed: list[tuple[float, str, int]] = []
    for at, label in sorted(moments):
        row = next((r for r, end in enumerate(row_ends) if at > end), len(row_ends))
        end = at + (len(label) + 2) * LABEL_CHAR_PX * seconds_per_px
        if row == len(row_ends):
            row_ends.append(end)
        else:
            row_ends[row] = end
        placed.append((at, label, row))
    rows = max(len(row_ends), 1)
    for at, label, row in placed:
        for axes in (labels, *panels):
            axes.axvline(at, color="0.3", linestyle="--", linewidth=1.0)
        labels.text(  # on white: the lines of other moments pass behind it
            at,
            (row + 0.5) / rows,
            f" {label}",
            fontsize=LABEL_PT,
            verticalalignment="center",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            zorder=3,
        )
    labels.set_ylim(0.0, 1.0)


def _marker_label(what: str, epoch: int) -> str:
    """ "turn 2 played (4.6 s)" -> "turn 2 played"; turns and barge-ins say their new epoch."""
    what = what.split(" (")[0]
    return (
        f"{what} -> epoch {epoch}"
        if what.startswith(("turn", "barge")) and "played" not in what
        else what
    )
