"""An RGB canvas over a numpy array with clipped, vectorised drawing operations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from .font import text_mask, text_size

__all__ = ["Canvas", "Color", "check_color", "text_size"]

Color: TypeAlias = tuple[int, int, int]
"""An RGB colour, each channel 0..255."""

Coords: TypeAlias = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]

_ANCHORS = ("left", "center", "right")
_MARKER_SHAPES = ("disc", "square")
_CHUNK_PIXELS = 1 << 21  # rasterise long polylines in pieces of about this many pixels


def check_color(color: Color) -> npt.NDArray[np.uint8]:
    """``color`` as a uint8 array of 3; ValueError unless it is 3 ints in 0..255."""
    try:
        values = [int(c) for c in color]
        exact = len(values) == 3 and all(v == c for v, c in zip(values, color, strict=True))
    except (TypeError, ValueError):
        exact = False
    if not exact or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"a color is 3 ints in 0..255 (R, G, B), got {color!r}")
    return np.array(values, dtype=np.uint8)


def _round(v: float) -> int:
    """Nearest pixel of a finite coordinate (halves round up, consistently for negatives)."""
    return math.floor(v + 0.5)


def _coords(xs: Coords, ys: Coords) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.asarray(xs, dtype=np.float64).reshape(-1)
    y = np.asarray(ys, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"xs and ys differ in length: {x.size} != {y.size}")
    return x, y


def _check_width(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
        raise ValueError(f"line width must be a positive int, got {width!r}")
    return int(width)


class Canvas:
    """An RGB image (numpy uint8, shape (height, width, 3)) with drawing operations.

    Coordinates are pixels, x right and y down, with integer values at pixel centres; floats are
    rounded to the nearest pixel. Everything is clipped to the image: drawing partly or wholly
    outside, or at NaN/infinite coordinates, never raises (it draws what is visible, if anything).
    Bad arguments (colours, widths, mismatched lengths, unknown options) raise ValueError.
    """

    pixels: npt.NDArray[np.uint8]
    width: int
    height: int

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"canvas {name} must be a positive int, got {v!r}")
        self.pixels = np.empty((int(height), int(width), 3), dtype=np.uint8)
        self.pixels[...] = check_color(background)
        self.width, self.height = int(width), int(height)

    @classmethod
    def wrap(cls, pixels: npt.NDArray[np.uint8]) -> Canvas:
        """A canvas drawing straight into ``pixels`` ((h, w, 3) uint8, views allowed), no copy."""
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
            raise ValueError("Canvas.wrap needs a numpy uint8 array")
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"Canvas.wrap needs shape (height, width, 3), got {pixels.shape}")
        if not pixels.flags.writeable:
            raise ValueError("Canvas.wrap needs a writeable array")
        canvas = cls.__new__(cls)
        canvas.pixels = pixels
        canvas.height, canvas.width = int(pixels.shape[0]), int(pixels.shape[1])
        return canvas

    def copy(self) -> Canvas:
        """An independent canvas with a copy of the pixels."""
        return Canvas.wrap(self.pixels.copy())

    def fill(self, color: Color) -> None:
        """Paint every pixel ``color``."""
        self.pixels[...] = check_color(color)

    # -- rectangles -------------------------------------------------------------------------------

    def _span(self, a: float, b: float, limit: int) -> tuple[int, int] | None:
        """Inclusive pixel span between two coordinates, clipped to [0, limit); None if empty."""
        if math.isnan(a) or math.isnan(b):
            return None
        lo, hi = (a, b) if a <= b else (b, a)
        lo, hi = min(max(lo, -1.0), float(limit)), min(max(hi, -1.0), float(limit))
        first, last = max(_round(lo), 0), min(_round(hi), limit - 1)
        return (first, last) if first <= last else None

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        color: Color,
        *,
        fill: bool = True,
        width: int = 1,
        alpha: float = 1.0,
    ) -> None:
        """The rectangle with corners (x0, y0) and (x1, y1), both pixels included.

        Filled, or outlined with a border ``width`` pixels thick drawn inside the rectangle.
        ``alpha`` < 1 blends the colour over what is there (0 leaves the canvas unchanged).
        """
        rgb = check_color(color)
        width = _check_width(width)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        xs = self._span(float(x0), float(x1), self.width)
        ys = self._span(float(y0), float(y1), self.height)
        if xs is None or ys is None:
            return
        if fill:
            self._paint(self.pixels[ys[0] : ys[1] + 1, xs[0] : xs[1] + 1], rgb, alpha)
            return
        left, right = sorted((float(x0), float(x1)))
        top, bottom = sorted((float(y0), float(y1)))
        w = width - 1
        for a, b, c, d in (
            (left, top, right, top + w),
            (left, bottom - w, right, bottom),
            (left, top, left + w, bottom),
            (right - w, top, right, bottom),
        ):
            self.rect(a, b, min(c, right), min(d, bottom), color, alpha=alpha)

    @staticmethod
    def _paint(region: npt.NDArray[np.uint8], rgb: npt.NDArray[np.uint8], alpha: float) -> None:
        if alpha >= 1.0:
            region[...] = rgb
        elif alpha > 0.0:
            blended = region * (1.0 - alpha) + rgb * alpha
            region[...] = np.rint(blended).astype(np.uint8)

    # -- lines and points -------------------------------------------------------------------------

    def line(self, xs: Coords, ys: Coords, color: Color, *, width: int = 1) -> None:
        """A polyline through the points (xs[i], ys[i]), ``width`` pixels thick.

        A point with a NaN or infinite coordinate breaks the line (segments touching it are not
        drawn); a polyline of one point is a dot. Vectorised: 10^5 points take milliseconds.
        """
        rgb = check_color(color)
        width = _check_width(width)
        x, y = _coords(xs, ys)
        if x.size == 1:
            self.points(x, y, color, radius=(width - 1) // 2, shape="square")
            return
        if x.size < 2:
            return
        pad = float(width)
        seg = _clip_segments(
            x[:-1], y[:-1], x[1:], y[1:], (-pad, -pad, self.width - 1 + pad, self.height - 1 + pad)
        )
        xa, ya, xb, yb = (np.rint(v).astype(np.int64) for v in seg)
        counts = np.maximum(np.abs(xb - xa), np.abs(yb - ya)) + 1
        ends = np.cumsum(counts)
        start = 0
        while start < counts.size:
            # Pieces bounded in pixels keep memory flat for long, dense, jagged polylines.
            done = int(ends[start - 1]) if start else 0
            stop = int(np.searchsorted(ends, done + _CHUNK_PIXELS, side="right"))
            stop = max(stop, start + 1)
            sl = slice(start, stop)
            self._raster(xa[sl], ya[sl], xb[sl], yb[sl], counts[sl], rgb, width)
            start = stop

    def _raster(
        self,
        xa: npt.NDArray[np.int64],
        ya: npt.NDArray[np.int64],
        xb: npt.NDArray[np.int64],
        yb: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        rgb: npt.NDArray[np.uint8],
        width: int,
    ) -> None:
        total = int(counts.sum())
        if total == 0:
            return
        seg = np.repeat(np.arange(counts.size), counts)
        first = np.cumsum(counts) - counts
        step = np.arange(total) - first[seg]
        t = step / np.maximum(counts - 1, 1)[seg]
        px = np.rint(xa[seg] + t * (xb - xa)[seg]).astype(np.int64)
        py = np.rint(ya[seg] + t * (yb - ya)[seg]).astype(np.int64)
        if width > 1:
            # Thicken across the segment's minor axis: rows for flat segments, columns for steep.
            flat = (np.abs(xb - xa) >= np.abs(yb - ya))[seg]
            off = (np.arange(width) - width // 2)[:, None]
            px = (px + np.where(flat, 0, off)).reshape(-1)
            py = (py + np.where(flat, off, 0)).reshape(-1)
        self._set(px, py, rgb)

    def _set(
        self, px: npt.NDArray[np.int64], py: npt.NDArray[np.int64], rgb: npt.NDArray[np.uint8]
    ) -> None:
        ok = (px >= 0) & (px < self.width) & (py >= 0) & (py < self.height)
        self.pixels[py[ok], px[ok]] = rgb

    def points(
        self, xs: Coords, ys: Coords, color: Color, *, radius: int = 2, shape: str = "disc"
    ) -> None:
        """A filled marker (``shape`` "disc" or "square" of ``radius``) at every finite point."""
        rgb = check_color(color)
        if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
            raise ValueError(f"marker radius must be an int >= 0, got {radius!r}")
        if shape not in _MARKER_SHAPES:
            raise ValueError(f"marker shape must be one of {_MARKER_SHAPES}, got {shape!r}")
        x, y = _coords(xs, ys)
        r = int(radius)
        with np.errstate(invalid="ignore"):  # NaN compares false: dropped
            keep = (x > -r - 1) & (x < self.width + r) & (y > -r - 1) & (y < self.height + r)
        cx = np.floor(x[keep] + 0.5).astype(np.int64)
        cy = np.floor(y[keep] + 0.5).astype(np.int64)
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        if shape == "disc":
            inside = dx * dx + dy * dy <= r * r + r
            dx, dy = dx[inside], dy[inside]
        self._set(
            (cx[:, None] + dx.reshape(1, -1)).reshape(-1),
            (cy[:, None] + dy.reshape(1, -1)).reshape(-1),
            rgb,
        )

    # -- ellipses ---------------------------------------------------------------------------------

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        color: Color,
        *,
        fill: bool = True,
        width: int = 1,
    ) -> None:
        """The axis-aligned ellipse centred on (cx, cy) with radii rx, ry >= 0 (0 draws a line).

        Filled, or outlined with a border ``width`` pixels thick drawn inside the ellipse.
        """
        rgb = check_color(color)
        width = _check_width(width)
        cx, cy, rx, ry = float(cx), float(cy), float(rx), float(ry)
        if rx < 0 or ry < 0:
            raise ValueError(f"ellipse radii must be >= 0, got {rx!r}, {ry!r}")
        if not all(math.isfinite(v) for v in (cx, cy, rx, ry)):
            return
        xs = self._span(cx - rx, cx + rx, self.width)
        ys = self._span(cy - ry, cy + ry, self.height)
        if xs is None or ys is None:
            return
        gx = np.arange(xs[0], xs[1] + 1, dtype=np.float64)[None, :] - cx
        gy = np.arange(ys[0], ys[1] + 1, dtype=np.float64)[:, None] - cy
        # Radii grown by half a pixel so that the extreme pixels are in and thin ellipses show.
        ax, ay = rx + 0.5, ry + 0.5
        mask = (gx / ax) ** 2 + (gy / ay) ** 2 <= 1.0
        if not fill and min(ax, ay) > width:
            mask &= (gx / (ax - width)) ** 2 + (gy / (ay - width)) ** 2 > 1.0
        self.pixels[ys[0] : ys[1] + 1, xs[0] : xs[1] + 1][mask] = rgb

    # -- text -------------------------------------------------------------------------------------

    def blit_mask(self, x: float, y: float, mask: npt.NDArray[np.bool_], color: Color) -> None:
        """Paint ``color`` where the 2-D bool ``mask`` is true, its top-left pixel at (x, y)."""
        rgb = check_color(color)
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        left, top = _round(x), _round(y)
        h, w = mask.shape
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + w, self.width), min(top + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        sub = mask[y0 - top : y1 - top, x0 - left : x1 - left]
        self.pixels[y0:y1, x0:x1][sub] = rgb

    def text(
        self,
        x: float,
        y: float,
        string: str,
        color: Color,
        *,
        scale: int = 1,
        anchor: str = "left",
        background: Color | None = None,
        padding: int = 0,
    ) -> tuple[int, int]:
        """Draw ``string`` in the built-in font with its box's top at y; returns the box (w, h).

        ``anchor`` places x at the box's left edge, centre or right edge; "\\n" starts a new line
        (lines are aligned the same way inside the box). The box is ``text_size(string, scale)``.
        ``background`` fills the box, grown by ``padding`` pixels each side, before the text
        (an empty string draws nothing).
        """
        if anchor not in _ANCHORS:
            raise ValueError(f"anchor must be one of {_ANCHORS}, got {anchor!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        mask = text_mask(string, scale=scale, align=anchor)
        h, w = mask.shape
        x, y = float(x), float(y)
        if not (math.isfinite(x) and math.isfinite(y)):
            check_color(color)
            return w, h
        left = _round(x) - (0 if anchor == "left" else w // 2 if anchor == "center" else w)
        top = _round(y)
        if background is not None and w > 0:
            self.rect(
                left - padding, top - padding, left + w - 1 + padding, top + h - 1 + padding,
                background,
            )  # fmt: skip
        self.blit_mask(left, top, mask, color)
        return w, h


def _clip_segments(
    x0: npt.NDArray[np.float64],
    y0: npt.NDArray[np.float64],
    x1: npt.NDArray[np.float64],
    y1: npt.NDArray[np.float64],
    box: tuple[float, float, float, float],
) -> tuple[npt.NDArray[np.float64], ...]:
    """The parts of the segments inside ``box`` (Liang-Barsky); others and non-finite dropped."""
    with np.errstate(all="ignore"):  # huge coordinates may overflow: such segments are dropped
        ok = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
        x0, y0, x1, y1 = x0[ok], y0[ok], x1[ok], y1[ok]
        xmin, ymin, xmax, ymax = box
        dx, dy = x1 - x0, y1 - y0
        t0 = np.zeros_like(x0)
        t1 = np.ones_like(x0)
        keep = np.isfinite(dx) & np.isfinite(dy)
        for p, q in ((-dx, x0 - xmin), (dx, xmax - x0), (-dy, y0 - ymin), (dy, ymax - y0)):
            keep &= ~((p == 0) & (q < 0))
            r = q / p
            t0 = np.where(p < 0, np.maximum(t0, r), t0)
            t1 = np.where(p > 0, np.minimum(t1, r), t1)
        keep &= t0 <= t1
        t0, t1 = t0[keep], t1[keep]
        x0, y0, dx, dy = x0[keep], y0[keep], dx[keep], dy[keep]
        out = (x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy)
        # Clipped ends lie in the box up to rounding; anything else (precision lost) is dropped.
        lim = max(abs(v) for v in box) + 2.0
        sane = np.logical_and.reduce([np.abs(v) <= lim for v in out])
    return tuple(v[sane] for v in out)
