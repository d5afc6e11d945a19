"""The marking schemes of :mod:`avsync.marks`: each reads back what it wrote, and nothing else."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avsync._video import placeholder_image, to_video_frame
from avsync.marks import (
    GRID_BITS,
    grid_frame,
    id_frame,
    read_grid,
    read_id,
    read_stamp,
    stamp_frame,
)


@pytest.mark.parametrize("frame_id", [0, 1, 255, 2**32 + 7, 2**64 - 1])
def test_an_id_frame_says_its_id(frame_id: int) -> None:
    assert read_id(id_frame(frame_id)) == frame_id


@pytest.mark.parametrize("index", [0, 1, 513, (1 << GRID_BITS) - 1])
def test_a_grid_frame_says_its_index_after_a_lossy_rescale(index: int) -> None:
    frame = grid_frame(index, 320, 240)
    assert read_grid(frame) == index
    assert read_grid(frame.reformat(width=160, height=120)) == index


def test_stamps_say_index_and_epoch() -> None:
    assert read_stamp(stamp_frame(65535, 255, 64, 48)) == (65535, 255)


def test_no_scheme_reads_a_mark_in_the_placeholder_or_a_plain_picture() -> None:
    placeholder = to_video_frame(placeholder_image(64, 48), 0)
    grey = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), format="rgb24")
    for frame in (placeholder, grey.reformat(format="yuv420p")):
        assert read_id(frame) is None and read_grid(frame) is None and read_stamp(frame) is None
