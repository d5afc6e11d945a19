"""Canvas drawing: exact pixels for simple shapes, clipping that never raises, validation."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avsync._draw import Canvas

WHITE = (255, 255, 255)
RED = (255, 0, 0)


def painted(c: Canvas, color: tuple[int, int, int] = RED) -> set[tuple[int, int]]:
    """The (x, y) pixels of ``color``."""
    return {(int(x), int(y)) for y, x in np.argwhere(np.all(c.pixels == color, axis=2))}


def test_new_canvas_and_wrap_share_no_copy() -> None:
    c = Canvas(7, 5, (1, 2, 3))
    assert c.pixels.shape == (5, 7, 3) and c.pixels.dtype == np.uint8
    assert (c.width, c.height) == (7, 5) and np.all(c.pixels == (1, 2, 3))
    arr = np.zeros((20, 30, 3), np.uint8)
    view = Canvas.wrap(arr[5:15, 10:20])
    view.fill(RED)
    assert np.all(arr[5:15, 10:20] == RED) and arr.sum() == 100 * 255
    copy = view.copy()
    copy.fill(WHITE)
    assert np.all(arr[5:15, 10:20] == RED)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Canvas(0, 5),
        lambda: Canvas(5, 5, (0, 0)),  # type: ignore[arg-type]
        lambda: Canvas(5, 5, (0, 0, 300)),
        lambda: Canvas.wrap(np.zeros((4, 4), np.uint8)),
        lambda: Canvas.wrap(np.zeros((4, 4, 3))),  # type: ignore[arg-type]
    ],
)
def test_bad_canvas_arguments_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


def test_horizontal_vertical_and_diagonal_lines_set_expected_pixels() -> None:
    c = Canvas(20, 20, WHITE)
    c.line([2, 8], [3, 3], RED)
    assert painted(c) == {(x, 3) for x in range(2, 9)}
    c = Canvas(20, 20, WHITE)
    c.line([5, 5], [9, 1], RED)
    assert painted(c) == {(5, y) for y in range(1, 10)}
    c = Canvas(20, 20, WHITE)
    c.line([0, 10], [0, 10], RED)
    assert painted(c) == {(i, i) for i in range(11)}
    c = Canvas(20, 20, WHITE)
    c.line([0, 10], [0, 5], RED)  # flat: one pixel per column, y stays within a pixel of exact
    px = painted(c)
    assert sorted(x for x, _ in px) == list(range(11))
    assert all(abs(y - x / 2) <= 0.5 for x, y in px)


def test_polyline_nan_breaks_and_width() -> None:
    c = Canvas(30, 10, WHITE)
    c.line([0, 5, math.nan, 20, 25], [2, 2, 2, 2, 2], RED)
    assert painted(c) == {(x, 2) for x in (*range(6), *range(20, 26))}
    c = Canvas(30, 10, WHITE)
    c.line([3, 20], [5, 5], RED, width=3)
    assert painted(c) == {(x, y) for x in range(3, 21) for y in (4, 5, 6)}
    c = Canvas(10, 10, WHITE)
    c.line([4], [4], RED)
    assert painted(c) == {(4, 4)}


def test_lines_are_clipped_exactly() -> None:
    c = Canvas(10, 10, WHITE)
    c.line([-1000, 1000], [4, 4], RED)
    assert painted(c) == {(x, 4) for x in range(10)}
    c = Canvas(10, 10, WHITE)
    c.line([-1e9, 1e9], [-1e9, 1e9], RED)
    assert painted(c) == {(i, i) for i in range(10)}


def test_long_polyline_is_fast() -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    c = Canvas(1200, 400, WHITE)
    start = time.perf_counter()
    c.line(np.linspace(0, 1199, n), 200 + rng.normal(0, 50, n), RED)
    assert time.perf_counter() - start < 5.0  # vectorised: ~0.1 s; a per-pixel loop takes minutes
    assert len(painted(c)) > 1200 * 50


def test_mismatched_lengths_raise() -> None:
    c = Canvas(10, 10)
    with pytest.raises(ValueError, match="length"):
        c.line([1, 2, 3], [1, 2], RED)
    with pytest.raises(ValueError, match="length"):
        c.points([1], [1, 2], RED)
    with pytest.raises(ValueError, match="width"):
        c.line([1, 2], [1, 2], RED, width=0)


def test_rect_is_inclusive_and_outline_inside() -> None:
    c = Canvas(20, 20, WHITE)
    c.rect(8, 9, 2, 3, RED)  # corners in any order
    assert painted(c) == {(x, y) for x in range(2, 9) for y in range(3, 10)}
    c = Canvas(20, 20, WHITE)
    c.rect(2, 3, 8, 9, RED, fill=False, width=2)
    inner = {(x, y) for x in range(4, 7) for y in range(5, 8)}
    assert painted(c) == {(x, y) for x in range(2, 9) for y in range(3, 10)} - inner


def test_rect_alpha_blends() -> None:
    c = Canvas(4, 4, (0, 0, 0))
    c.rect(0, 0, 1, 3, (200, 100, 50), alpha=0.5)
    assert tuple(c.pixels[0, 0]) == (100, 50, 25) and tuple(c.pixels[0, 3]) == (0, 0, 0)


def test_points_and_ellipse_shapes() -> None:
    c = Canvas(20, 20, WHITE)
    c.points([5, 14], [5, 14], RED, radius=1, shape="square")
    assert painted(c) == {
        (x + dx, y + dy) for x, y in ((5, 5), (14, 14)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
    }
    c = Canvas(40, 40, WHITE)
    c.ellipse(20, 20, 10, 5, RED)
    px = painted(c)
    xs, ys = {x for x, _ in px}, {y for _, y in px}
    assert (min(xs), max(xs), min(ys), max(ys)) == (10, 30, 15, 25)
    assert px == {(40 - x, y) for x, y in px} == {(x, 40 - y) for x, y in px}
    c = Canvas(40, 40, WHITE)
    c.ellipse(20, 20, 10, 10, RED, fill=False, width=2)
    assert (20, 20) not in painted(c) and (10, 20) in painted(c) and (30, 20) in painted(c)


shapes = st.sampled_from(["rect", "outline", "line", "points", "ellipse", "text"])
coord = st.one_of(
    st.floats(-3000, 3000), st.sampled_from([math.nan, math.inf, -math.inf, -0.5, 0.0, 39.5, 1e12])
)


@settings(max_examples=300, deadline=None)
@given(shape=shapes, a=coord, b=coord, c=coord, d=coord, size=st.integers(1, 5))
def test_drawing_anywhere_never_raises(
    shape: str, a: float, b: float, c: float, d: float, size: int
) -> None:
    canvas = Canvas(40, 30, WHITE)
    if shape == "rect":
        canvas.rect(a, b, c, d, RED, alpha=0.5)
    elif shape == "outline":
        canvas.rect(a, b, c, d, RED, fill=False, width=size)
    elif shape == "line":
        canvas.line([a, c, b, d], [b, d, a, c], RED, width=size)
    elif shape == "points":
        canvas.points([a, c], [b, d], RED, radius=size)
    elif shape == "ellipse":
        canvas.ellipse(
            a, b, abs(c) if math.isfinite(c) else 3.0, abs(d) if math.isfinite(d) else 3.0, RED
        )
    else:
        canvas.text(a, b, "clip\nme", RED, scale=size, anchor="center", background=(0, 0, 255))
    assert canvas.pixels.shape == (30, 40, 3)
