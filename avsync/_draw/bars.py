"""Grouped bar charts, linear or log10, rendered to an RGB array."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from ._layout import (
    AXIS,
    FRAME,
    GRID,
    INK,
    MUTED,
    PALETTE,
    PAPER,
    LegendItem,
    draw_legend_row,
    legend_rows,
    wrap_label,
)
from .canvas import Canvas, Color, check_color
from .font import GLYPH_HEIGHT, GLYPH_WIDTH, check_scale, text_mask, text_size
from .ticks import format_tick, format_value, log_ticks, nice_range

__all__ = ["bar_chart"]


def _values(bars: Mapping[str, Sequence[float]], n: int) -> dict[str, npt.NDArray[np.float64]]:
    if not bars:
        raise ValueError("bar_chart needs at least one bar series")
    out = {}
    for key, vals in bars.items():
        try:
            arr = np.asarray(vals, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bars[{key!r}] must be numbers: {exc}") from exc
        if arr.size != n:
            raise ValueError(f"bars[{key!r}] has {arr.size} values for {n} groups")
        out[str(key)] = arr
    return out


def bar_chart(
    groups: Sequence[str],
    bars: Mapping[str, Sequence[float]],
    *,
    colors: Mapping[str, Color] | None = None,
    title: str = "",
    y_label: str = "",
    log: bool = False,
    width: int = 1200,
    height: int = 600,
    value_labels: bool = True,
    scale: int = 1,
) -> npt.NDArray[np.uint8]:
    """An RGB image (height, width, 3) of grouped bars: per group one bar per key of ``bars``.

    Colours come from ``colors`` or the palette, in key order, and a legend names them. Group
    names are wrapped onto up to 3 lines. ``log`` uses a log10 axis of whole decades where values
    <= 0 sit on the bottom, labelled "0"; NaN values draw no bar and are labelled "n/a". Value
    labels go above bars (turned upright when bars are narrow, left out when too narrow).
    ValueError for no groups, no bars, a length mismatch or a too-small size.
    """
    check_scale(scale)
    groups = [str(g) for g in groups]
    if not groups:
        raise ValueError("bar_chart needs at least one group")
    values = _values(bars, len(groups))
    keys = list(values)
    colors = dict(colors or {})
    palette = {k: colors.get(k, PALETTE[i % len(PALETTE)]) for i, k in enumerate(keys)}
    for c in palette.values():
        check_color(c)
    if width < 200 * scale or height < 150 * scale:
        raise ValueError(f"bar chart of {width}x{height} is too small")

    lh = GLYPH_HEIGHT * scale
    margin = 16 * scale
    every = np.concatenate(list(values.values()))
    finite = every[np.isfinite(every)]

    if log:
        positive = finite[finite > 0]
        lo, hi = (float(positive.min()), float(positive.max())) if positive.size else (1.0, 10.0)
        y0, y1, ticks = log_ticks(lo * 0.999, hi)  # the smallest bar stays above the floor
        tick_labels = [format_value(10.0**t) for t in ticks]
    else:
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        y0, y1, ticks = nice_range(lo, hi, target=6, include_zero=True)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        tick_labels = [format_tick(t, step) for t in ticks]

    label_w = max(text_size(t, scale=scale)[0] for t in tick_labels)
    left = margin + label_w + 8 * scale
    right = width - margin
    group_w = (right - left) / len(groups)
    max_chars = max(1, int(group_w - 6 * scale) // (GLYPH_WIDTH * scale))
    wrapped = [wrap_label(g, max_chars) for g in groups]
    names_h = max(text_size(w, scale=scale)[1] for w in wrapped)

    legend = [LegendItem(k, palette[k], "box") for k in keys]
    rows = legend_rows(legend, right - left, scale)
    top = margin + (2 * lh + 8 * scale if title else 0)
    legend_y = top
    top += len(rows) * (lh + 4 * scale) + 4 * scale
    if y_label:
        y_label_y = top
        top += lh + 4 * scale

    pitch = group_w * 0.8 / len(keys)  # bars use 80% of a group's width
    gap = 2 * scale if pitch >= 8 * scale else 0
    texts = {k: [_value_text(v, log) for v in values[k]] for k in keys}
    longest = max(len(t) for ts in texts.values() for t in ts) * GLYPH_WIDTH * scale
    upright = value_labels and longest > pitch - scale
    show_values = value_labels and (not upright or pitch >= lh)
    head = (longest if upright else lh) + 6 * scale if show_values else 4 * scale
    plot_top = top + head
    bottom = height - margin - names_h - 8 * scale
    if bottom - plot_top < 40:
        raise ValueError(f"bar chart of {width}x{height} is too small for its labels")

    canvas = Canvas(width, height, PAPER)

    def to_py(v: float) -> float:
        return bottom - (v - y0) * (bottom - plot_top) / (y1 - y0)

    if title:
        canvas.text(margin, margin - 4 * scale, title, INK, scale=2 * scale)
    for r, row in enumerate(rows):
        draw_legend_row(canvas, right, legend_y + r * (lh + 4 * scale), row, scale)
    if y_label:
        canvas.text(margin, y_label_y, y_label, MUTED, scale=scale)
    for t, text in zip(ticks, tick_labels, strict=True):
        canvas.rect(left, to_py(t), right, to_py(t), GRID)
        canvas.text(
            left - 6 * scale, to_py(t) - lh // 2 + scale, text, MUTED, scale=scale, anchor="right"
        )
    base = to_py(y0 if log else 0.0)
    for g, name in enumerate(wrapped):
        gx = left + g * group_w
        canvas.text(gx + group_w / 2, bottom + 6 * scale, name, INK, scale=scale, anchor="center")
        for b, k in enumerate(keys):
            v = float(values[k][g])
            bx0 = gx + group_w * 0.1 + b * pitch
            bx1 = bx0 + pitch - 1 - gap
            if math.isfinite(v):
                level = (math.log10(v) if v > 0 else y0) if log else v
                tip = to_py(min(max(level, y0), y1))
                canvas.rect(bx0, min(tip, base), max(bx1, bx0), max(tip, base), palette[k])
            else:
                tip = base
            if show_values:
                _value_label(canvas, texts[k][g], (bx0 + bx1) / 2, tip, base, upright, scale)
    canvas.rect(left, base, right, base, AXIS)
    canvas.rect(left, plot_top, right, bottom, FRAME, fill=False)
    return canvas.pixels


def _value_text(v: float, log: bool) -> str:
    if log and v <= 0:
        return "0"
    return format_value(v)


def _value_label(
    canvas: Canvas, text: str, cx: float, tip: float, base: float, upright: bool, scale: int
) -> None:
    """A bar's value just beyond its tip (above for bars up, below for bars down)."""
    below = tip > base
    if upright:
        mask = np.rot90(text_mask(text, scale=scale))
        y = tip + 3 * scale if below else tip - 3 * scale - mask.shape[0]
        canvas.blit_mask(cx - mask.shape[1] / 2 + 0.5, y, mask, INK)
    else:
        h = text_size(text, scale=scale)[1]
        y = tip + 3 * scale if below else tip - 2 * scale - h + scale
        canvas.text(cx + scale / 2, y, text, INK, scale=scale, anchor="center")
