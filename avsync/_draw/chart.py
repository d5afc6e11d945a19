"""Timeline charts: panels of series stacked over a shared x axis, rendered to an RGB array."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ._layout import (
    AXIS,
    BAND_ALPHA,
    FRAME,
    GRID,
    INK,
    MUTED,
    PALETTE,
    PAPER,
    LegendItem,
    dashed_vline,
    draw_legend_row,
    legend_rows,
)
from .bars import bar_chart
from .canvas import Canvas, Color, check_color
from .font import GLYPH_HEIGHT, GLYPH_WIDTH, check_scale, text_size
from .ticks import format_tick, nice_range, ticks_within

__all__ = ["PALETTE", "Band", "Marker", "Panel", "Series", "bar_chart", "timeline_chart"]

_STYLES = ("line", "step", "points")


def _as_array(v: Any) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"series data must be numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"series data must be 1-D, got shape {arr.shape}")
    return arr


def _check_range(name: str, r: tuple[float, float] | None) -> None:
    if r is None:
        return
    lo, hi = (float(v) for v in r)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with low < high, got {r!r}")


@attrs.frozen
class Series:
    """One data series of a panel: points (xs[i], ys[i]); NaN values leave gaps.

    ``style`` is "line", "step" (post-step: each value holds until the next x) or "points".
    """

    label: str
    xs: Sequence[float] | npt.NDArray[Any]
    ys: Sequence[float] | npt.NDArray[Any]
    color: Color
    style: str = "line"
    width: int = 2  #: line width or marker radius in pixels

    def __attrs_post_init__(self) -> None:
        xs, ys = _as_array(self.xs), _as_array(self.ys)
        if xs.size != ys.size:
            raise ValueError(
                f"series {self.label!r}: xs and ys differ in length {xs.size} != {ys.size}"
            )
        if self.style not in _STYLES:
            raise ValueError(
                f"series {self.label!r}: style must be one of {_STYLES}, got {self.style!r}"
            )
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"series {self.label!r}: width must be a positive int")
        check_color(self.color)


@attrs.frozen
class Band:
    """A horizontal band from ``low`` to ``high`` (a line when equal), e.g. a tolerance."""

    low: float
    high: float
    color: Color
    label: str = ""

    def __attrs_post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ValueError(f"band needs low <= high, got {self.low!r}, {self.high!r}")
        check_color(self.color)


@attrs.frozen
class Panel:
    """One chart panel: series, bands, a y range (None: from the data) and a height weight."""

    title: str
    y_label: str
    series: Sequence[Series]
    bands: Sequence[Band] = ()
    y_range: tuple[float, float] | None = None
    height: int = 1

    def __attrs_post_init__(self) -> None:
        _check_range(f"panel {self.title!r} y_range", self.y_range)
        if isinstance(self.height, bool) or not isinstance(self.height, int) or self.height < 1:
            raise ValueError(f"panel {self.title!r}: height weight must be a positive int")


@attrs.frozen
class Marker:
    """A vertical line at ``x`` across all panels, labelled above the first, e.g. "barge-in"."""

    x: float
    label: str
    color: Color = (120, 120, 120)

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.x):
            raise ValueError(f"marker {self.label!r}: x must be finite, got {self.x!r}")
        check_color(self.color)


def _finite(values: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    joined = np.concatenate([np.asarray(v, dtype=np.float64) for v in values] or [np.zeros(0)])
    finite: npt.NDArray[np.float64] = joined[np.isfinite(joined)]
    return finite


def _step_vertices(
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The staircase (post-step) through the points: each y holds until the next x."""
    if xs.size < 2:
        return xs, ys
    sx = np.empty(2 * xs.size - 1)
    sy = np.empty(2 * xs.size - 1)
    sx[0::2], sy[0::2] = xs, ys
    sx[1::2], sy[1::2] = xs[1:], ys[:-1]
    return sx, sy


def _decimate(
    px: npt.NDArray[np.float64], py: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Fewer points drawing the same polyline: per pixel column the first, last, min and max.

    Only for x non-decreasing; NaN points (line breaks) are kept.
    """
    col = np.floor(px)
    finite = np.isfinite(col) & np.isfinite(py)
    if px.size < 4096 or np.any(np.diff(px[finite]) < 0):
        return px, py
    key = np.where(finite, col, np.nan)
    change = np.ones(px.size, dtype=bool)
    change[1:] = ~(key[1:] == key[:-1])  # NaN never equals: every break is its own run
    run = np.cumsum(change) - 1
    first = np.flatnonzero(change)
    last = np.r_[first[1:] - 1, px.size - 1]
    order = np.lexsort((np.where(finite, py, 0.0), run))
    lows = order[first]
    highs = order[last]
    keep = np.unique(np.concatenate([first, last, lows, highs]))
    return px[keep], py[keep]


@attrs.frozen
class _Frame:
    """A plot area in pixels with its data ranges."""

    left: int
    top: int
    right: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: npt.NDArray[np.float64] | float) -> Any:
        return self.left + (np.asarray(x) - self.x0) * (
            (self.right - self.left) / (self.x1 - self.x0)
        )

    def py(self, y: npt.NDArray[np.float64] | float) -> Any:
        return self.bottom - (np.asarray(y) - self.y0) * (
            (self.bottom - self.top) / (self.y1 - self.y0)
        )


def _y_axis(panel: Panel, plot_h: int, scale: int) -> tuple[float, float, list[float]]:
    target = max(2, min(8, plot_h // (28 * scale)))
    if panel.y_range is not None:
        lo, hi = float(panel.y_range[0]), float(panel.y_range[1])
        return lo, hi, ticks_within(lo, hi, target=target)
    data = _finite([_as_array(s.ys) for s in panel.series])
    bands = _finite([np.array([b.low, b.high]) for b in panel.bands])
    values = np.concatenate([data, bands])
    if values.size == 0:
        return 0.0, 1.0, ticks_within(0.0, 1.0, target=target)
    lo, hi = float(values.min()), float(values.max())
    return nice_range(lo, hi, target=target, margin=0.04, include_zero=lo >= 0)


def _legend_items(panel: Panel) -> list[LegendItem]:
    items = [
        LegendItem(s.label, s.color, "points" if s.style == "points" else "line")
        for s in panel.series
    ]
    items += [LegendItem(b.label, b.color, "band") for b in panel.bands if b.label]
    return [i for i in items if i.label]


def timeline_chart(
    panels: Sequence[Panel],
    *,
    markers: Sequence[Marker] = (),
    title: str = "",
    x_label: str = "time (s)",
    x_range: tuple[float, float] | None = None,
    width: int = 1200,
    height: int = 900,
    scale: int = 1,
) -> npt.NDArray[np.uint8]:
    """An RGB image (height, width, 3) of the panels stacked top to bottom over one x axis.

    Each panel gets a frame, grid lines and labels at round ticks, its title and y label above it
    and a legend; bands are shaded, markers are dashed vertical lines on every panel, labelled
    above the first. Ranges come from the data unless given; a panel without data says "no data".
    ``scale`` multiplies the text size. ValueError for no panels, bad ranges or a too-small size.
    """
    check_scale(scale)
    if not panels:
        raise ValueError("timeline_chart needs at least one panel")
    _check_range("x_range", x_range)
    if width < 200 * scale or height < 120 * scale * len(panels):
        raise ValueError(f"chart of {width}x{height} is too small for {len(panels)} panel(s)")
    lh = GLYPH_HEIGHT * scale
    margin = 16 * scale
    title_h = (2 * lh + 10 * scale) if title else 0
    bottom_h = lh + 8 * scale + (lh + 8 * scale if x_label else 0) + margin

    # x range: the data and markers, else (0, 1).
    if x_range is not None:
        x0, x1 = float(x_range[0]), float(x_range[1])
    else:
        xs = _finite(
            [_as_array(s.xs) for p in panels for s in p.series] + [np.array([m.x for m in markers])]
        )
        x0, x1 = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
        if x0 == x1:
            x0, x1 = x0 - 0.5, x1 + 0.5

    left = margin + 6 * GLYPH_WIDTH * scale
    for _ in range(2):  # the left margin depends on the y tick labels, which depend on the heights
        right = width - margin - 3 * GLYPH_WIDTH * scale
        headers = []
        for p in panels:
            head_w = text_size(p.title + "   " + p.y_label, scale=scale)[0]
            rows = legend_rows(_legend_items(p), max(right - left - head_w, 1), scale)
            headers.append((rows, max(1, len(rows)) * (lh + 4 * scale) + 4 * scale))
        marker_rows = _place_marker_labels(markers, x0, x1, left, right, width, scale)
        strip_h = (
            (max(r for r, _, _ in marker_rows) + 1) * (lh + 4 * scale) + 4 * scale
            if marker_rows
            else 0
        )
        gap = 14 * scale
        fixed = (
            title_h
            + margin
            + strip_h
            + sum(h for _, h in headers)
            + gap * (len(panels) - 1)
            + bottom_h
        )
        free = height - fixed
        if free < 30 * len(panels):
            raise ValueError(f"chart of {width}x{height} is too small for {len(panels)} panel(s)")
        weights = [p.height for p in panels]
        plot_hs = [int(free * w / sum(weights)) for w in weights]
        axes = [_y_axis(p, h, scale) for p, h in zip(panels, plot_hs, strict=True)]
        label_w = max(
            text_size(format_tick(t, _step(ticks)), scale=scale)[0]
            for _, _, ticks in axes
            for t in ticks or [0]
        )
        left = margin + label_w + 8 * scale

    canvas = Canvas(width, height, PAPER)
    if title:
        canvas.text(left, margin - 4 * scale, title, INK, scale=2 * scale)
    x_ticks = ticks_within(x0, x1, target=max(2, (right - left) // (90 * scale)))
    y = margin + title_h - margin // 2
    frames: list[_Frame] = []
    for i, (panel, (rows, head_h), plot_h, (y0, y1, ticks)) in enumerate(
        zip(panels, headers, plot_hs, axes, strict=True)
    ):
        for dx in (0, scale):  # bold: the title twice, one pixel apart
            canvas.text(left + dx, y + 2 * scale, panel.title, INK, scale=scale)
        canvas.text(
            left + text_size(panel.title + "  ", scale=scale)[0] + scale,
            y + 2 * scale,
            panel.y_label,
            MUTED,
            scale=scale,
        )
        for r, row in enumerate(rows):
            draw_legend_row(canvas, right, y + 2 * scale + r * (lh + 4 * scale), row, scale)
        y += head_h
        if i == 0 and marker_rows:
            for m_row, mx, m in marker_rows:
                canvas.text(
                    mx,
                    y + m_row * (lh + 4 * scale),
                    m.label,
                    m.color,
                    scale=scale,
                    anchor="center",
                )
            y += strip_h
        frame = _Frame(left, y, right, y + plot_h - 1, x0, x1, y0, y1)
        _draw_panel(canvas, frame, panel, markers, x_ticks, ticks, scale)
        frames.append(frame)
        y += plot_h + gap

    last = frames[-1]
    step = _step(x_ticks)
    for t in x_ticks:
        canvas.text(
            last.px(t),
            last.bottom + 6 * scale,
            format_tick(t, step),
            MUTED,
            scale=scale,
            anchor="center",
        )
    if x_label:
        canvas.text(
            (left + right) / 2,
            last.bottom + lh + 14 * scale,
            x_label,
            INK,
            scale=scale,
            anchor="center",
        )
    return canvas.pixels


def _step(ticks: Sequence[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else abs(ticks[0]) if ticks and ticks[0] else 1.0


def _place_marker_labels(
    markers: Sequence[Marker], x0: float, x1: float, left: int, right: int, width: int, scale: int
) -> list[tuple[int, float, Marker]]:
    """(row, x, marker) for labels of markers in range, stacked into rows so none overlap."""
    placed: list[tuple[int, float, Marker]] = []
    row_ends: list[float] = []
    for m in sorted(markers, key=lambda m: m.x):
        if not x0 <= m.x <= x1:
            continue
        w = text_size(m.label, scale=scale)[0]
        cx = left + (m.x - x0) * (right - left) / (x1 - x0)
        cx = min(max(cx, w / 2 + 2), width - w / 2 - 2)
        for r, end in enumerate(row_ends):
            if cx - w / 2 > end + 6 * scale:
                row_ends[r] = cx + w / 2
                break
        else:
            r = len(row_ends)
            row_ends.append(cx + w / 2)
        placed.append((r, cx, m))
    return placed


def _draw_panel(
    canvas: Canvas,
    f: _Frame,
    panel: Panel,
    markers: Sequence[Marker],
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    scale: int,
) -> None:
    for b in panel.bands:
        top, bottom = f.py(min(b.high, f.y1 * 2 - f.y0)), f.py(max(b.low, f.y0 * 2 - f.y1))
        if b.low == b.high:
            canvas.rect(f.left, top, f.right, top, b.color)
        else:
            canvas.rect(f.left, top, f.right, bottom, b.color, alpha=BAND_ALPHA)
    for t in x_ticks:
        canvas.rect(f.px(t), f.top, f.px(t), f.bottom, GRID)
    step = _step(y_ticks)
    for t in y_ticks:
        canvas.rect(f.left, f.py(t), f.right, f.py(t), GRID)
        canvas.text(
            f.left - 6 * scale,
            f.py(t) - (GLYPH_HEIGHT * scale) // 2 + scale,
            format_tick(t, step),
            MUTED,
            scale=scale,
            anchor="right",
        )
    if f.y0 < 0 < f.y1:
        canvas.rect(f.left, f.py(0.0), f.right, f.py(0.0), AXIS)
    for m in markers:
        if f.x0 <= m.x <= f.x1:
            dashed_vline(canvas, f.px(m.x), f.top, f.bottom, m.color)

    canvas.rect(f.left, f.top, f.right, f.bottom, FRAME, fill=False)
    plot = Canvas.wrap(canvas.pixels[f.top : f.bottom + 1, f.left : f.right + 1])
    drawn = False
    for s in panel.series:
        xs, ys = _as_array(s.xs), _as_array(s.ys)
        drawn |= bool(np.any(np.isfinite(xs) & np.isfinite(ys)))
        if s.style == "step":
            xs, ys = _step_vertices(xs, ys)
        px = f.px(xs) - f.left
        py = f.py(ys) - f.top
        if s.style == "points":
            plot.points(px, py, s.color, radius=s.width)
        else:
            px, py = _decimate(px, py)
            plot.line(px, py, s.color, width=s.width)
    if not drawn:
        canvas.text(
            (f.left + f.right) / 2,
            (f.top + f.bottom) / 2 - GLYPH_HEIGHT * scale,
            "no data",
            MUTED,
            scale=2 * scale,
            anchor="center",
        )
