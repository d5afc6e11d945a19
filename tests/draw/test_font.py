"""The bitmap font and text drawing: legible, distinct glyphs, exact sizes, fast enough."""

from __future__ import annotations

import time

import numpy as np
import pytest

from avsync._draw import GLYPH_HEIGHT, GLYPH_WIDTH, Canvas, text_mask, text_size
from avsync._draw.font import glyph_mask

PRINTABLE = [chr(c) for c in range(32, 127)]
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)


def test_every_printable_char_has_its_own_pattern() -> None:
    patterns = {glyph_mask(c).tobytes(): c for c in PRINTABLE}
    assert len(patterns) == len(PRINTABLE)
    for c in PRINTABLE[1:]:
        assert glyph_mask(c).any(), f"{c!r} has no ink"
    assert not glyph_mask(" ").any()


@pytest.mark.parametrize("group", ["0Oo", "1lI|i", "5S", "8B", "2Z", "gqy9", "-_~"])
def test_look_alikes_differ_in_several_pixels(group: str) -> None:
    for a in group:
        for b in group:
            if a < b:
                diff = int(np.sum(glyph_mask(a) != glyph_mask(b)))
                assert diff >= 3, f"{a!r} and {b!r} differ in {diff} pixels only"


def test_glyph_ink_stays_inside_cell_leaving_spacing() -> None:
    for c in PRINTABLE:
        m = glyph_mask(c)
        assert m.shape == (GLYPH_HEIGHT, GLYPH_WIDTH)
        assert not m[:, -1].any() and not m[-1, :].any(), c


def test_unknown_chars_render_as_a_box() -> None:
    box = glyph_mask("\u00e9")
    assert np.array_equal(box, glyph_mask("\x01"))
    assert box[0, :5].all() and box[6, :5].all() and box[:7, 0].all() and box[:7, 4].all()
    assert all(not np.array_equal(box, glyph_mask(c)) for c in PRINTABLE)


def test_scaled_glyphs_are_blown_up_pixels() -> None:
    m1, m3 = glyph_mask("A"), glyph_mask("A", scale=3)
    assert np.array_equal(m3[::3, ::3], m1)
    assert m3.shape == (3 * GLYPH_HEIGHT, 3 * GLYPH_WIDTH)


@pytest.mark.parametrize(
    "string", ["", "x", "Hello, world!", "two\nlines here", "a\n\nlonger last"]
)
@pytest.mark.parametrize("scale", [1, 2, 3])
def test_text_size_matches_what_is_drawn(string: str, scale: int) -> None:
    c = Canvas(400, 200, WHITE)
    w, h = c.text(17, 9, string, BLACK, scale=scale, background=(0, 255, 0))
    assert (w, h) == text_size(string, scale=scale)
    painted = np.argwhere(np.any(c.pixels != WHITE, axis=2))
    if w == 0:
        assert painted.size == 0
        return
    (y0, x0), (y1, x1) = painted.min(axis=0), painted.max(axis=0)
    assert (x0, y0, x1 - x0 + 1, y1 - y0 + 1) == (17, 9, w, h)
    ink = np.argwhere(np.all(c.pixels == BLACK, axis=2))
    assert ink.size and ink[:, 1].max() < 17 + w and ink[:, 0].max() < 9 + h


def test_text_draws_the_glyph_pixels() -> None:
    c = Canvas(100, 40, WHITE)
    c.text(3, 5, "Q1", BLACK, scale=2)
    ink = np.all(c.pixels == BLACK, axis=2)
    assert np.array_equal(
        ink[5 : 5 + 2 * GLYPH_HEIGHT, 3 : 3 + 4 * GLYPH_WIDTH], text_mask("Q1", scale=2)
    )
    assert ink.sum() == text_mask("Q1", scale=2).sum()


def test_anchors_place_the_box() -> None:
    w, _ = text_size("abc")
    for anchor, left in (("left", 50), ("center", 50 - w // 2), ("right", 50 - w)):
        c = Canvas(120, 30, WHITE)
        c.text(50, 4, "abc", BLACK, anchor=anchor, background=(9, 9, 9))
        cols = np.flatnonzero(np.any(np.all(c.pixels == (9, 9, 9), axis=2), axis=0))
        assert cols.min() == left, anchor


def test_multiline_alignment_inside_the_box() -> None:
    m = text_mask("i\niii", align="right")
    assert m.shape == (2 * GLYPH_HEIGHT, 3 * GLYPH_WIDTH)
    assert (
        not m[:GLYPH_HEIGHT, : 2 * GLYPH_WIDTH].any() and m[:GLYPH_HEIGHT, 2 * GLYPH_WIDTH :].any()
    )


def test_bad_text_arguments_raise_value_error() -> None:
    c = Canvas(10, 10)
    with pytest.raises(ValueError, match="anchor"):
        c.text(0, 0, "x", BLACK, anchor="middle")
    with pytest.raises(ValueError, match="scale"):
        c.text(0, 0, "x", BLACK, scale=0)
    with pytest.raises(ValueError, match="color"):
        c.text(0, 0, "x", (0, 0, 256))


def test_text_of_40_chars_is_fast() -> None:
    c = Canvas(640, 360, (30, 30, 30))
    s = "frame 012345  t=123.456 s  Hello, World!"
    assert len(s) == 40
    c.text(10, 10, s, WHITE, scale=2)  # warm the glyph cache
    n = 200
    start = time.perf_counter()
    for i in range(n):
        c.text(10 + i % 7, 300, s, WHITE, scale=2, background=(0, 0, 0))
    per_call = (time.perf_counter() - start) / n
    assert per_call < 5e-3, f"{per_call * 1e3:.2f} ms per call"
