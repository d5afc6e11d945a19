"""The synthetic avatar: a drawn face whose mouth opens with the voice, and a sync marker.

Every frame shows its frame number, its media time and the turn, and carries a strip of
large black and white blocks along the bottom that spells the turn's epoch and the frame index:
the strip survives VP8, so the receiver knows which frame it is looking at.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

from avsync._draw import Canvas
from avsync.loopback import framed_bits, luma, paint_bits, read_bits, unframe_bits

__all__ = ["MARK_LIMIT", "FaceRenderer", "decode_mark", "encode_mark"]

INDEX_BITS = 12
EPOCH_BITS = 2
STRIP_BLOCKS = INDEX_BITS + EPOCH_BITS + 2  #: with the two framing blocks
MARK_LIMIT = 1 << INDEX_BITS  #: frame indexes must stay below this

SKIN = (238, 196, 160)
SHADE = (214, 168, 134)
HAIR = (70, 48, 38)
EYE_WHITE = (250, 250, 250)
IRIS = (60, 110, 150)
LIPS = (150, 50, 60)
MOUTH = (70, 18, 28)
TEETH = (245, 242, 235)
INK = (245, 245, 245)
DIM = (170, 185, 205)


def strip_height(height: int) -> int:
    """Height of the marker strip along the bottom of a ``height``-pixel frame."""
    return max(8, height // 9)


def encode_mark(epoch: int, index: int) -> list[int]:
    """The strip's bits for frame ``index`` of the turn with ``epoch`` (epoch modulo 4)."""
    if not 0 <= index < MARK_LIMIT:
        raise ValueError(f"frame index must be in [0, {MARK_LIMIT}), got {index}")
    return framed_bits(index | (epoch % (1 << EPOCH_BITS)) << INDEX_BITS, INDEX_BITS + EPOCH_BITS)


def decode_mark(frame: object) -> tuple[int, int] | None:
    """(epoch modulo 4, frame index) of a rendered frame, after any codec; None for any other
    picture (the synchroniser's placeholder, an idle frame)."""
    if not isinstance(frame, av.VideoFrame):
        return None
    plane = luma(frame)
    strip = plane[plane.shape[0] - strip_height(frame.height) :]
    value = unframe_bits(read_bits(strip, STRIP_BLOCKS, 1))
    if value is None:
        return None
    return value >> INDEX_BITS, value & (MARK_LIMIT - 1)


class FaceRenderer:
    """Draws frames of ``width`` x ``height`` (RGB uint8). The face without mouth and text is
    drawn once per eye state and copied for each frame, so a frame costs about a millisecond."""

    def __init__(self, width: int, height: int) -> None:
        if width < 320 or height < 180:
            raise ValueError(f"the demo needs frames of at least 320x180, got {width}x{height}")
        self.width = width
        self.height = height
        self.face_height = height - strip_height(height)
        self.scale = max(1, height // 180)
        self._bases = {blink: self._base(blink) for blink in (False, True)}

    def render(
        self,
        *,
        caption: str,
        opening: float,
        blink: bool,
        mark: list[int] | None,
    ) -> npt.NDArray[np.uint8]:
        """A frame: the face with the mouth ``opening`` (0 closed .. 1 wide), eyes shut if
        ``blink``, ``caption`` in the top left and the marker strip (plain grey if None)."""
        canvas = self._bases[blink].copy()
        self._mouth(canvas, min(max(opening, 0.0), 1.0))
        canvas.text(8 * self.scale, 6 * self.scale, caption, INK, scale=self.scale + 1)
        strip = canvas.pixels[self.face_height :]
        if mark is None:
            strip[:] = 128
        else:
            paint_bits(strip, mark, STRIP_BLOCKS, 1)
        return canvas.pixels

    # -- drawing ---------------------------------------------------------------------------------

    def _geometry(self) -> tuple[float, float, float]:
        """Centre x, centre y and the vertical radius of the head."""
        return self.width / 2, self.face_height * 0.56, self.face_height * 0.40

    def _base(self, blink: bool) -> Canvas:
        canvas = Canvas(self.width, self.height, (28, 40, 62))
        rows = np.linspace(0.0, 1.0, self.face_height)[:, None]
        top, bottom = np.array([44, 64, 98]), np.array([20, 28, 44])
        canvas.pixels[: self.face_height] = (top + (bottom - top) * rows)[:, None, :].astype(
            np.uint8
        )
        x, y, r = self._geometry()
        canvas.ellipse(x, y - 0.08 * r, 0.86 * r, 0.98 * r, HAIR)  # hair behind the head
        canvas.ellipse(x - 0.8 * r, y + 0.05 * r, 0.14 * r, 0.2 * r, SHADE)  # ears
        canvas.ellipse(x + 0.8 * r, y + 0.05 * r, 0.14 * r, 0.2 * r, SHADE)
        canvas.ellipse(x, y + 0.06 * r, 0.78 * r, 0.94 * r, SKIN)
        canvas.ellipse(x, y - 0.62 * r, 0.7 * r, 0.3 * r, HAIR)  # fringe
        for side in (-1, 1):
            eye_x, eye_y = x + side * 0.32 * r, y - 0.12 * r
            canvas.rect(
                eye_x - 0.17 * r, eye_y - 0.27 * r, eye_x + 0.17 * r, eye_y - 0.22 * r, HAIR
            )
            if blink:
                canvas.rect(
                    eye_x - 0.15 * r, eye_y - 0.01 * r, eye_x + 0.15 * r, eye_y + 0.02 * r, HAIR
                )
            else:
                canvas.ellipse(eye_x, eye_y, 0.15 * r, 0.09 * r, EYE_WHITE)
                canvas.ellipse(eye_x, eye_y, 0.07 * r, 0.08 * r, IRIS)
                canvas.ellipse(eye_x, eye_y, 0.035 * r, 0.04 * r, (15, 15, 20))
        canvas.ellipse(x, y + 0.15 * r, 0.06 * r, 0.1 * r, SHADE)  # nose
        canvas.text(
            self.width - 8 * self.scale,
            self.face_height - 12 * self.scale,
            "sync marker",
            DIM,
            scale=self.scale,
            anchor="right",
        )
        return canvas

    def _mouth(self, canvas: Canvas, opening: float) -> None:
        x, y, r = self._geometry()
        mouth_y = y + 0.48 * r
        half_width = 0.26 * r * (1.0 - 0.25 * opening)
        half_height = 0.02 * r + 0.2 * r * opening
        canvas.ellipse(x, mouth_y, half_width + 0.03 * r, half_height + 0.03 * r, LIPS)
        canvas.ellipse(x, mouth_y, half_width, half_height, MOUTH)
        if opening > 0.25:
            canvas.rect(
                x - 0.6 * half_width,
                mouth_y - half_height + 0.01 * r,
                x + 0.6 * half_width,
                mouth_y - half_height + 0.06 * r,
                TEETH,
            )
