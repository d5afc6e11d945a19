"""Shared look and layout helpers of the charts: colours, legends, wrapped labels."""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from .canvas import Canvas, Color
from .font import GLYPH_HEIGHT, GLYPH_WIDTH

PALETTE: tuple[Color, ...] = (
    (31, 105, 190),  # blue
    (235, 125, 20),  # orange
    (40, 150, 70),  # green
    (205, 45, 55),  # red
    (125, 80, 185),  # violet
    (145, 95, 60),  # brown
    (215, 85, 170),  # magenta
    (20, 165, 180),  # teal
)
"""Eight colours that stay apart from each other on white."""

INK: Color = (35, 35, 40)
MUTED: Color = (105, 105, 115)
GRID: Color = (230, 231, 235)
FRAME: Color = (175, 176, 182)
AXIS: Color = (140, 140, 148)
PAPER: Color = (255, 255, 255)

BAND_ALPHA = 0.16
SWATCH = 16  # legend swatch width, pixels at scale 1


@attrs.frozen
class LegendItem:
    """One legend entry: a label after a swatch drawn as a line, a dot or a shaded box."""

    label: str
    color: Color
    kind: str = "line"  # "line" | "points" | "box" | "band"


def legend_rows(items: Sequence[LegendItem], max_width: int, scale: int) -> list[list[LegendItem]]:
    """The items packed greedily into rows no wider than ``max_width`` (at least one a row)."""
    rows: list[list[LegendItem]] = []
    width = 0
    for item in items:
        w = item_width(item, scale)
        if rows and width + w <= max_width:
            rows[-1].append(item)
            width += w
        else:
            rows.append([item])
            width = w
    return rows


def item_width(item: LegendItem, scale: int) -> int:
    """Pixels one legend entry takes, including the gap after it."""
    return (SWATCH + 6 + len(item.label) * GLYPH_WIDTH + 14) * scale


def draw_legend_row(
    canvas: Canvas, right: int, y: int, row: Sequence[LegendItem], scale: int
) -> None:
    """Draw a legend row right-aligned at x = ``right``, its text's top at ``y``."""
    x = right - sum(item_width(i, scale) for i in row) + 14 * scale
    mid = y + (GLYPH_HEIGHT * scale) // 2 - scale
    for item in row:
        sw = SWATCH * scale
        if item.kind == "points":
            canvas.points([x + sw / 2], [mid], item.color, radius=2 * scale + 1)
        elif item.kind == "box":
            canvas.rect(x + 2, mid - 5 * scale, x + sw - 2, mid + 4 * scale, item.color)
        elif item.kind == "band":
            canvas.rect(
                x, mid - 5 * scale, x + sw, mid + 4 * scale, item.color, alpha=BAND_ALPHA * 2
            )
            canvas.rect(x, mid - 5 * scale, x + sw, mid + 4 * scale, item.color, fill=False)
        else:
            canvas.line([x, x + sw], [mid, mid], item.color, width=2 * scale)
        canvas.text(x + sw + 6 * scale, y, item.label, INK, scale=scale)
        x += item_width(item, scale)


def wrap_label(label: str, max_chars: int, max_lines: int = 3) -> str:
    """``label`` broken after spaces and "/" into at most ``max_lines`` lines of ``max_chars``.

    Words longer than a line are cut; text that still does not fit ends with "..".
    """
    max_chars = max(1, max_chars)
    pieces: list[str] = []
    for token in re.findall(r"[^ /]*/|[^ /]+", label):
        while len(token) > max_chars:
            pieces.append(token[:max_chars])
            token = token[max_chars:]
        if token:
            pieces.append(token)
    lines: list[str] = []
    for piece in pieces:
        glue = "" if not lines or lines[-1].endswith("/") else " "
        if lines and len(lines[-1]) + len(glue) + len(piece) <= max_chars:
            lines[-1] += glue + piece
        else:
            lines.append(piece)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, max_chars - 2)] + ".."
    return "\n".join(lines)


def dashed_vline(
    canvas: Canvas, x: float, top: float, bottom: float, color: Color, dash: int = 5, gap: int = 4
) -> None:
    """A vertical dashed line at x from ``top`` to ``bottom`` (2 pixels wide)."""
    y = top
    while y <= bottom:
        canvas.rect(x, y, x + 1, min(y + dash - 1, bottom), color)
        y += dash + gap
