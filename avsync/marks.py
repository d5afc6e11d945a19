"""Marked frames: video frames that say which frame they are, so that sync can be measured from
the outputs alone. One module for every marking scheme of the project:

* **stamps** (:func:`stamp_frame`, :func:`read_stamp`): index and epoch in the first luma bytes.
  Exact and cheap, for paths that hand frames through unchanged (a yuv420p frame of the output
  size passes the synchroniser untouched); a codec destroys them.
* **grids** (:func:`grid_frame`, :func:`read_grid`): the whole picture is a grid of large
  black and white blocks spelling the index. Survives VP8 at any sane bitrate.
* **strips** (:func:`paint_strip`, :func:`read_strip`): a row of such blocks along the bottom of
  any picture (the demo's avatar), spelling the epoch (modulo 4) and the frame index.

* **ids** (:func:`id_frame`, :func:`read_id`): a tiny stand-in picture whose first bytes say a
  64-bit id, for a face that schedules stand-ins and publishes the frames they name (LiveKit's).

Every block code is framed: a white block first and a black block last, so that any other
picture (the synchroniser's black placeholder, an idle frame) reads as no mark at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
import numpy.typing as npt

from ._video import plane_pixels

__all__ = [
    "GRID_BITS",
    "ID_HEIGHT",
    "ID_WIDTH",
    "STRIP_INDEX_LIMIT",
    "framed_bits",
    "grid_frame",
    "id_frame",
    "luma",
    "paint_bits",
    "paint_strip",
    "read_bits",
    "read_grid",
    "read_id",
    "read_stamp",
    "read_strip",
    "stamp_frame",
    "strip_height",
    "unframe_bits",
]

# -- stamps ----------------------------------------------------------------------------------------

_STAMPED = 1  # luma byte 3 of a stamped frame (the black placeholder has 16 there)


def stamp_frame(index: int, epoch: int, width: int, height: int) -> av.VideoFrame:
    """A mid-grey yuv420p frame whose first luma bytes say ``index`` (< 65536) and ``epoch``
    (< 256)."""
    image = np.full((height * 3 // 2, width), 128, np.uint8)
    image[0, :4] = (index % 256, index // 256, epoch, _STAMPED)
    return av.VideoFrame.from_ndarray(image, format="yuv420p")


def read_stamp(frame: av.VideoFrame) -> tuple[int, int] | None:
    """(index, epoch) of a :func:`stamp_frame`, None for any other frame."""
    row = luma(frame)[0, :4]
    if row[3] != _STAMPED:
        return None
    return int(row[0]) + 256 * int(row[1]), int(row[2])


# -- ids -----------------------------------------------------------------------------------------

ID_WIDTH, ID_HEIGHT = 16, 4  # (PyAV wraps a buffer 2 rows high as 0 rows)
_ID = 1  # second luma row, first byte: an id frame (a black placeholder has 16 there)


def id_frame(frame_id: int) -> av.VideoFrame:
    """An ID_WIDTH x ID_HEIGHT yuv420p frame whose first luma bytes say ``frame_id`` (< 2**64)."""
    image = np.full((ID_HEIGHT * 3 // 2, ID_WIDTH), 128, np.uint8)
    image[0, :8] = np.frombuffer(frame_id.to_bytes(8, "little"), np.uint8)
    image[1, 0] = _ID
    return av.VideoFrame.from_ndarray(image, format="yuv420p")


def read_id(frame: av.VideoFrame) -> int | None:
    """The id of an :func:`id_frame`, None for any other frame (a placeholder)."""
    rows = luma(frame)
    if rows.shape[0] < 2 or rows.shape[1] < 8 or rows[1, 0] != _ID:
        return None
    return int.from_bytes(rows[0, :8].tobytes(), "little")


# -- grids -----------------------------------------------------------------------------------------

GRID_COLUMNS, GRID_ROWS = 4, 3  # blocks: [valid=white] [10 index bits] [guard=black]
GRID_BITS = GRID_COLUMNS * GRID_ROWS - 2


def grid_frame(index: int, width: int, height: int) -> av.VideoFrame:
    """A yuv420p frame whose luma is a grid of large black/white blocks spelling ``index``
    (0 <= index < 1024), least significant bit first."""
    if not 0 <= index < 1 << GRID_BITS:
        raise ValueError(f"index must be in [0, {1 << GRID_BITS}), got {index}")
    image = np.full((height * 3 // 2, width), 128, np.uint8)
    paint_bits(image[:height], framed_bits(index, GRID_BITS), GRID_COLUMNS, GRID_ROWS)
    return av.VideoFrame.from_ndarray(image, format="yuv420p")


def read_grid(frame: av.VideoFrame) -> int | None:
    """The index of a :func:`grid_frame` (after any codec), None for another frame."""
    return unframe_bits(read_bits(luma(frame), GRID_COLUMNS, GRID_ROWS))


# -- strips ----------------------------------------------------------------------------------------

STRIP_INDEX_BITS = 12
STRIP_EPOCH_BITS = 2
STRIP_BLOCKS = STRIP_INDEX_BITS + STRIP_EPOCH_BITS + 2  #: with the two framing blocks
STRIP_INDEX_LIMIT = 1 << STRIP_INDEX_BITS  #: frame indexes must stay below this


def strip_height(height: int) -> int:
    """Height of the strip along the bottom of a ``height``-pixel picture."""
    return max(8, height // 9)


def paint_strip(image: npt.NDArray[np.uint8], epoch: int, index: int) -> None:
    """Paint the strip for frame ``index`` of the turn with ``epoch`` (kept modulo 4) along the
    bottom of ``image`` (rgb (h, w, 3) or luma (h, w))."""
    if not 0 <= index < STRIP_INDEX_LIMIT:
        raise ValueError(f"frame index must be in [0, {STRIP_INDEX_LIMIT}), got {index}")
    value = index | (epoch % (1 << STRIP_EPOCH_BITS)) << STRIP_INDEX_BITS
    bits = framed_bits(value, STRIP_INDEX_BITS + STRIP_EPOCH_BITS)
    paint_bits(image[image.shape[0] - strip_height(image.shape[0]) :], bits, STRIP_BLOCKS, 1)


def read_strip(frame: object) -> tuple[int, int] | None:
    """(epoch modulo 4, frame index) of a picture with a strip, after any codec; None for any
    other picture or object."""
    if not isinstance(frame, av.VideoFrame):
        return None
    plane = luma(frame)
    strip = plane[plane.shape[0] - strip_height(frame.height) :]
    value = unframe_bits(read_bits(strip, STRIP_BLOCKS, 1))
    if value is None:
        return None
    return value >> STRIP_INDEX_BITS, value & (STRIP_INDEX_LIMIT - 1)


# -- block codes -----------------------------------------------------------------------------------


def framed_bits(value: int, count: int) -> list[int]:
    """``value`` as ``count`` bits, least significant first, between a 1 and a 0 (the frame that
    tells a mark from any other picture)."""
    return [1] + [(value >> bit) & 1 for bit in range(count)] + [0]


def unframe_bits(bits: Sequence[int]) -> int | None:
    """The value of :func:`framed_bits`, None if the frame bits are wrong."""
    if len(bits) < 2 or bits[0] != 1 or bits[-1] != 0:
        return None
    return sum(bit << place for place, bit in enumerate(bits[1:-1]))


def paint_bits(image: npt.NDArray[np.uint8], bits: Sequence[int], columns: int, rows: int) -> None:
    """Fill ``image`` (luma (h, w) or rgb (h, w, 3)) with a ``columns`` x ``rows`` grid of
    blocks, row by row: white for a 1, black for a 0."""
    height, width = image.shape[:2]
    block_w, block_h = width // columns, height // rows
    for position, bit in enumerate(bits):
        row, column = divmod(position, columns)
        image[row * block_h : (row + 1) * block_h, column * block_w : (column + 1) * block_w] = (
            255 if bit else 0
        )


def read_bits(luma: npt.NDArray[np.uint8], columns: int, rows: int) -> list[int]:
    """The bits of a :func:`paint_bits` grid covering ``luma``: the mean of each block's central
    half against mid-grey, so blurred edges and codec noise do not matter."""
    height, width = luma.shape[:2]
    block_h, block_w = height // rows, width // columns
    bits = []
    for position in range(columns * rows):
        row, column = divmod(position, columns)
        top, left = row * block_h + block_h // 4, column * block_w + block_w // 4
        block = luma[top : top + block_h // 2, left : left + block_w // 2]
        bits.append(int(block.mean() > 128))
    return bits


def luma(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The luma plane of ``frame`` as (height, width) uint8 (a view, no copy, for yuv420p)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="gray")
    return plane_pixels(frame.planes[0])
