"""The browser benchmark's PNG: skew per onset over each run, with its plateau (matplotlib, a
bare ``Figure`` rendered by Agg, as :mod:`benchmarks.chart`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from .analysis import RunSummary

__all__ = ["write_plot"]

COLORS = {"calibration": "tab:gray", "avsync": "tab:blue", "baseline": "tab:orange"}


def write_plot(path: Path, runs: Sequence[RunSummary], machine: str) -> None:
    """Skew per onset against seconds into the run, one series per run, the plateau of each as
    a dashed line over the last third."""
    figure = Figure(figsize=(14, 6), dpi=100, layout="constrained")
    axes = figure.subplots()
    for run in runs:
        color = COLORS.get(run.name.split()[0], "tab:green")
        times = [at for at, _ in run.skews]
        skews = [skew for _, skew in run.skews]
        style = "o-" if run.name in COLORS else "s:"  # a repeated run: squares, dotted
        axes.plot(times, skews, style, color=color, markersize=3, linewidth=1, label=run.name)
        if run.plateau_ms is not None:
            axes.hlines(
                run.plateau_ms, run.seconds * 2 / 3, run.seconds, colors=color, linestyles="--"
            )
    axes.axhline(0, color="black", linewidth=0.5)
    axes.set_xlabel("seconds into the run")
    axes.set_ylabel("skew at the browser, ms (positive: video late)")
    axes.set_title(
        "Lip sync as headless Chromium plays it, per tone onset (dashed: plateau, last third)\n"
        + machine,
        fontsize=10,
    )
    axes.legend()
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
