"""PNG encode/decode through PyAV: exact round trips and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avsync._draw import decode_png, encode_png, read_png, write_png


@pytest.mark.parametrize("shape", [(1, 1, 3), (37, 53, 3), (360, 640, 3)])
def test_round_trip_is_exact(shape: tuple[int, int, int], tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(pixels)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(decode_png(data), pixels)
    write_png(tmp_path / "x.png", pixels)
    back = read_png(tmp_path / "x.png")
    assert back.dtype == np.uint8 and np.array_equal(back, pixels)


def test_non_contiguous_views_are_written() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = pixels[::2, 5:50:3]
    assert np.array_equal(decode_png(encode_png(view)), view)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 3)),
        np.zeros((0, 4, 3), np.uint8),
        [[0]],
    ],
)
def test_bad_pixels_raise_value_error(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pixels"):
        write_png(tmp_path / "bad.png", bad)  # type: ignore[arg-type]
    assert not (tmp_path / "bad.png").exists()


def test_garbage_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="PNG"):
        decode_png(b"certainly not a png")
