"""Charts: data, bands and markers land where the numbers say; bad input is refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from avsync._draw import PALETTE, Band, Marker, Panel, Series, bar_chart, timeline_chart
from avsync._draw._layout import FRAME, wrap_label
from avsync._draw.ticks import format_tick, format_value, log_ticks, nice_range, ticks_within

Image = npt.NDArray[np.uint8]
SERIES = (200, 0, 200)
MARK = (0, 200, 200)


def where(img: Image, color: tuple[int, int, int]) -> npt.NDArray[np.intp]:
    """(y, x) of the pixels of ``color``."""
    return np.argwhere(np.all(img == color, axis=2))


def plot_boxes(img: Image) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each plot frame, top to bottom, from its grey sides."""
    frame = np.all(img == FRAME, axis=2)
    cols = np.flatnonzero(frame.sum(axis=0) > 40)
    left, right = int(cols.min()), int(cols.max())
    rows = np.flatnonzero(frame[:, left] | frame[:, right])
    pieces = np.split(rows, np.flatnonzero(np.diff(rows) > 20) + 1)
    return [(left, int(p.min()), right, int(p.max())) for p in pieces]


def inside(
    img: Image, box: tuple[int, int, int, int], color: tuple[int, int, int]
) -> npt.NDArray[np.intp]:
    """(y, x) in image coordinates of the pixels of ``color`` inside ``box``."""
    left, top, right, bottom = box
    found = where(img[top : bottom + 1, left : right + 1], color)
    shifted: npt.NDArray[np.intp] = found + np.array([top, left])
    return shifted


def test_step_series_rises_after_the_step() -> None:
    panel = Panel(
        "depth",
        "frames",
        [Series("q", [0, 5, 10], [0, 10, 10], SERIES, style="step")],
        y_range=(0, 10),
    )
    img = timeline_chart([panel], x_range=(0, 10), width=600, height=300)
    ((left, top, right, bottom),) = boxes = plot_boxes(img)
    step_x = left + (right - left) / 2
    ys, xs = inside(img, boxes[0], SERIES).T
    assert xs.size
    before, after = ys[xs < step_x - 3], ys[xs > step_x + 3]
    assert before.size and after.size
    assert before.min() >= bottom - 2  # along the bottom before the step
    assert after.max() <= top + 2  # along the top after it
    riser = xs[(ys > top + 10) & (ys < bottom - 10)]
    assert riser.size and abs(np.median(riser) - step_x) <= 2


def test_line_series_pixels_follow_the_data() -> None:
    xs = np.linspace(0, 10, 200)
    panel = Panel("sine", "", [Series("s", xs, np.sin(xs), SERIES, width=1)], y_range=(-1, 1))
    img = timeline_chart([panel], x_range=(0, 10), width=800, height=400)
    ((left, top, right, bottom),) = boxes = plot_boxes(img)
    for py, px in inside(img, boxes[0], SERIES):
        x = (px - left) / (right - left) * 10
        y = 1 - 2 * (py - top) / (bottom - top)
        assert abs(y - np.sin(x)) < 0.08


def test_markers_draw_vertical_lines_on_every_panel() -> None:
    series = [Series("a", [0, 10], [1, 2], SERIES)]
    panels = [Panel("one", "", series), Panel("two", "", series, height=2)]
    img = timeline_chart(
        panels, markers=[Marker(2.5, "barge-in", MARK)], x_range=(0, 10), width=700, height=500
    )
    boxes = plot_boxes(img)
    assert len(boxes) == 2
    left, _, right, _ = boxes[0]
    expected = left + (right - left) * 0.25
    for _, top, _, bottom in boxes:
        ys, xs = where(img[top : bottom + 1], MARK).T
        assert set(xs) <= {round(expected) - 1, round(expected), round(expected) + 1}
        assert ys.size > 0.4 * (bottom - top) and ys.min() < 10 and ys.max() > bottom - top - 10
    label = where(img[: boxes[0][1]], MARK)  # the label above the first panel
    assert label.size and abs(label[:, 1].mean() - expected) < 10


def test_bands_shade_their_rows_only() -> None:
    panel = Panel(
        "offset",
        "ms",
        [Series("s", [0, 10], [math.nan, math.nan], SERIES)],
        bands=[Band(40, 60, (0, 0, 255))],
        y_range=(0, 100),
    )
    img = timeline_chart([panel], x_range=(0, 10), width=600, height=400)
    left, top, right, bottom = plot_boxes(img)[0]
    column = img[top + 1 : bottom, left + (right - left) // 3 + 3].astype(int)
    blue = np.flatnonzero(column[:, 2] - column[:, 0] > 20) + top + 1

    def frac(y: int) -> float:
        return (bottom - y) / (bottom - top)

    assert blue.size and np.all(np.diff(blue) == 1)
    assert abs(frac(blue.max()) - 0.4) < 0.02 and abs(frac(blue.min()) - 0.6) < 0.02


@pytest.mark.parametrize(
    "series",
    [
        [],
        [Series("e", [], [], SERIES)],
        [Series("n", [1, 2], [math.nan, math.nan], SERIES)],
        [Series("one", [3], [4], SERIES)],
    ],
)
def test_empty_or_degenerate_data_still_charts(series: list[Series]) -> None:
    img = timeline_chart(
        [Panel("p", "y", series), Panel("q", "", series)], title="t", markers=[Marker(1, "m")]
    )
    assert img.shape == (900, 1200, 3) and img.dtype == np.uint8
    assert len(plot_boxes(img)) == 2


def test_big_series_are_thinned_yet_span_their_whole_range() -> None:
    """100,000 points are thinned per pixel column; the line still covers every column of the
    plot and the extremes of the data."""
    xs = np.linspace(0, 100, 100_000)
    ys = np.random.default_rng(3).normal(0, 1, xs.size)
    img = timeline_chart(
        [
            Panel(
                "noise",
                "",
                [Series("n", xs, ys, SERIES), Series("p", xs, ys, PALETTE[1], style="points")],
            )
        ]
    )
    drawn = where(img, SERIES)
    left, top, right, bottom = plot_boxes(img)[0]
    columns = np.unique(drawn[:, 1])
    assert columns.min() <= left + 3 and columns.max() >= right - 3
    assert len(columns) > 0.95 * (right - left)
    rows = drawn[:, 0]
    assert rows.min() < top + 0.2 * (bottom - top) and rows.max() > bottom - 0.2 * (bottom - top)


def test_log_bar_chart_orders_bar_heights() -> None:
    colors = {"v": SERIES}
    img = bar_chart(
        ["a", "b", "c", "d", "zero"],
        {"v": [1, 10, 100, 1000, 0]},
        colors=colors,
        log=True,
        width=600,
        height=400,
    )
    xs = inside(img, plot_boxes(img)[0], SERIES)[:, 1]
    heights = []
    bounds = np.flatnonzero(np.diff(np.unique(xs)) > 1)
    for run in np.split(np.unique(xs), bounds + 1):
        heights.append(int(np.sum(np.isin(xs, run))) // len(run))
    assert len(heights) == 4  # the zero bar has no height
    assert all(b > a for a, b in itertools.pairwise(heights))
    steps = np.diff([0, *heights][1:])
    assert max(steps) - min(steps) <= 2  # equal steps per decade


def test_linear_bar_chart_scales_bars_and_wraps_names() -> None:
    img = bar_chart(
        ["a long group name/with parts", "b"],
        {"x": [2, 4], "y": [-1, math.nan]},
        colors={"x": SERIES, "y": MARK},
        width=500,
        height=400,
    )
    box = plot_boxes(img)[0]
    ys, xs = inside(img, box, SERIES).T
    first, second = xs < xs.mean(), xs > xs.mean()
    h1, h2 = ys[first].max() - ys[first].min(), ys[second].max() - ys[second].min()
    assert abs(h2 / h1 - 2) < 0.05
    neg = inside(img, box, MARK)
    assert neg[:, 0].min() >= ys.max() - 1  # a negative bar hangs below the axis


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="length"):
        Series("s", [1, 2], [1], SERIES)
    with pytest.raises(ValueError, match="style"):
        Series("s", [1], [1], SERIES, style="bars")
    with pytest.raises(ValueError, match="y_range"):
        Panel("p", "", [], y_range=(0, math.inf))
    with pytest.raises(ValueError, match="low <= high"):
        Band(2, 1, SERIES)
    with pytest.raises(ValueError, match="finite"):
        Marker(math.nan, "m")
    with pytest.raises(ValueError, match="x_range"):
        timeline_chart([Panel("p", "", [])], x_range=(1, 1))
    with pytest.raises(ValueError, match="panel"):
        timeline_chart([])
    with pytest.raises(ValueError, match="small"):
        timeline_chart([Panel("p", "", [])] * 5, height=300)
    with pytest.raises(ValueError, match="group"):
        bar_chart([], {"a": []})
    with pytest.raises(ValueError, match="values for"):
        bar_chart(["g"], {"a": [1, 2]})
    with pytest.raises(ValueError, match="bar series"):
        bar_chart(["g"], {})


def test_ticks_are_round() -> None:
    for lo, hi in [(0, 1), (-0.3, 17.2), (1234, 98765), (0.001, 0.0042), (-5e6, 5e6)]:
        a, b, ticks = nice_range(lo, hi)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5))
        assert a <= lo and b >= hi and 2 <= len(ticks) <= 8
    assert ticks_within(0, 12, target=6) == [0, 2, 4, 6, 8, 10, 12]
    assert nice_range(3, 3)[0] < 3 < nice_range(3, 3)[1]
    assert nice_range(0.5, 9, include_zero=True)[0] == 0
    assert [format_tick(v, 0.5) for v in (0, 1.5, -2)] == ["0", "1.5", "-2.0"]
    assert format_tick(15000, 5000) == "15k" and format_tick(2.5e6, 5e5) == "2.5M"
    assert [format_value(v) for v in (0.01234, 4.567, 789, 12345, math.nan)] == [
        "0.0123",
        "4.57",
        "789",
        "12.3k",
        "n/a",
    ]
    assert log_ticks(3, 4000) == (0.0, 4.0, [0.0, 1.0, 2.0, 3.0, 4.0])


def test_wrap_label() -> None:
    assert wrap_label("mailbox fan-out to 8 actors", 12) == "mailbox\nfan-out to 8\nactors"
    assert wrap_label("trio/asyncio/actors", 8) == "trio/\nasyncio/\nactors"
    assert wrap_label("one two three four five", 5) == "one\ntwo\nthr.."
    assert all(len(line) <= 4 for line in wrap_label("abcdefghij", 4).split("\n"))
