"""The synthetic avatar: a drawn face whose mouth opens with the voice, and a sync marker.

Every frame shows its frame number, its media time and the turn, and carries a strip of
large black and white blocks along the bottom that spells the turn's epoch and the frame index:
the strip survives VP8, so the receiver knows which frame it is looking at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attrs
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from avsync.marks import paint_strip, strip_height

from ._text import GlyphText

__all__ = ["FaceRenderer"]

Color = tuple[int, int, int]

BACKGROUND_TOP: Color = (44, 64, 98)
BACKGROUND_BOTTOM: Color = (20, 28, 44)
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
PUPIL = (15, 15, 20)


class FaceRenderer:
    """Draws frames of ``width`` x ``height`` (RGB uint8) with Pillow. The face without mouth and
    caption is drawn once per eye state; a frame copies it and redraws only the mouth's box and
    the caption's band (two lines), well under a millisecond at 640x360."""

    def __init__(self, width: int, height: int) -> None:
        if width < 320 or height < 180:
            raise ValueError(f"the demo needs frames of at least 320x180, got {width}x{height}")
        self.width = width
        self.height = height
        self.face_height = height - strip_height(height)
        self.scale = max(1, height // 180)
        self._caption = GlyphText(10 * (self.scale + 1))
        self._caption_band = 6 * self.scale + self._caption.height(2)
        x, y, r = self._geometry()
        mouth_y, widest, tallest = y + 0.48 * r, 0.29 * r, 0.25 * r
        self._mouth_box = Box(
            int(x - widest) - 1,
            int(mouth_y - tallest) - 1,
            int(x + widest) + 2,
            int(mouth_y + tallest) + 2,
        )
        self._bases = {blink: self._base(blink) for blink in (False, True)}

    def render(
        self,
        *,
        caption: str,
        opening: float,
        blink: bool,
        mark: tuple[int, int] | None,
    ) -> npt.NDArray[np.uint8]:
        """A frame: the face with the mouth ``opening`` (0 closed .. 1 wide), eyes shut if
        ``blink``, ``caption`` (up to two lines) in the top left and the marker strip for
        ``mark`` = (epoch, frame index) (plain grey if None; :func:`avsync.marks.paint_strip`)."""
        pixels = self._bases[blink].copy()
        box = self._mouth_box
        with box.drawn_on(pixels) as mouth:
            self._mouth(ImageDraw.Draw(mouth), box.left, box.top, min(max(opening, 0.0), 1.0))
        with Box(0, 0, self.width, self._caption_band).drawn_on(pixels) as band:
            self._caption.draw(band, 8 * self.scale, 6 * self.scale, caption, INK)
        if mark is not None:
            paint_strip(pixels, *mark)
        return pixels

    # -- drawing ---------------------------------------------------------------------------------

    def _geometry(self) -> tuple[float, float, float]:
        """Centre x, centre y and the vertical radius of the head."""
        return self.width / 2, self.face_height * 0.56, self.face_height * 0.40

    def _base(self, blink: bool) -> npt.NDArray[np.uint8]:
        """The frame without mouth, caption and marker: a vertical gradient behind the head, the
        head, and a grey strip where the marker goes."""
        rows = np.linspace(0.0, 1.0, self.face_height)[:, None]
        top, bottom = np.array(BACKGROUND_TOP), np.array(BACKGROUND_BOTTOM)
        pixels = np.full((self.height, self.width, 3), 128, dtype=np.uint8)
        pixels[: self.face_height] = (top + (bottom - top) * rows)[:, None, :].astype(np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        x, y, r = self._geometry()
        _ellipse(draw, x, y - 0.08 * r, 0.86 * r, 0.98 * r, HAIR)  # hair behind the head
        _ellipse(draw, x - 0.8 * r, y + 0.05 * r, 0.14 * r, 0.2 * r, SHADE)  # ears
        _ellipse(draw, x + 0.8 * r, y + 0.05 * r, 0.14 * r, 0.2 * r, SHADE)
        _ellipse(draw, x, y + 0.06 * r, 0.78 * r, 0.94 * r, SKIN)
        _ellipse(draw, x, y - 0.62 * r, 0.7 * r, 0.3 * r, HAIR)  # fringe
        for side in (-1, 1):
            eye_x, eye_y = x + side * 0.32 * r, y - 0.12 * r
            _rectangle(
                draw, eye_x - 0.17 * r, eye_y - 0.27 * r, eye_x + 0.17 * r, eye_y - 0.22 * r, HAIR
            )
            if blink:
                _rectangle(
                    draw,
                    eye_x - 0.15 * r,
                    eye_y - 0.01 * r,
                    eye_x + 0.15 * r,
                    eye_y + 0.02 * r,
                    HAIR,
                )
            else:
                _ellipse(draw, eye_x, eye_y, 0.15 * r, 0.09 * r, EYE_WHITE)
                _ellipse(draw, eye_x, eye_y, 0.07 * r, 0.08 * r, IRIS)
                _ellipse(draw, eye_x, eye_y, 0.035 * r, 0.04 * r, PUPIL)
        _ellipse(draw, x, y + 0.15 * r, 0.06 * r, 0.1 * r, SHADE)  # nose
        draw.text(
            (self.width - 8 * self.scale, self.face_height - 4 * self.scale),
            "sync marker",
            fill=DIM,
            font=ImageFont.load_default(size=11 * self.scale),
            anchor="rb",
        )
        return np.array(image)

    def _mouth(self, draw: ImageDraw.ImageDraw, left: int, top: int, opening: float) -> None:
        """The mouth ``opening`` (0 .. 1) on ``draw``, whose image starts at (left, top)."""
        x, y, r = self._geometry()
        x, mouth_y = x - left, y + 0.48 * r - top
        half_width = 0.26 * r * (1.0 - 0.25 * opening)
        half_height = 0.02 * r + 0.2 * r * opening
        _ellipse(draw, x, mouth_y, half_width + 0.03 * r, half_height + 0.03 * r, LIPS)
        _ellipse(draw, x, mouth_y, half_width, half_height, MOUTH)
        if opening > 0.25:
            _rectangle(
                draw,
                x - 0.6 * half_width,
                mouth_y - half_height + 0.01 * r,
                x + 0.6 * half_width,
                mouth_y - half_height + 0.06 * r,
                TEETH,
            )


@attrs.frozen
class Box:
    """A rectangle of pixels: columns ``left`` to ``right`` and rows ``top`` to ``bottom``,
    right and bottom excluded."""

    left: int
    top: int
    right: int
    bottom: int

    @contextlib.contextmanager
    def drawn_on(self, pixels: npt.NDArray[np.uint8]) -> Iterator[Image.Image]:
        """A Pillow image of this box of ``pixels`` (RGB rows), written back into ``pixels`` when
        the block ends: drawing on a small image costs less than converting a whole frame."""
        region = pixels[self.top : self.bottom, self.left : self.right]
        image = Image.fromarray(region)
        yield image
        region[:] = np.asarray(image)


def _ellipse(
    draw: ImageDraw.ImageDraw, x: float, y: float, x_radius: float, y_radius: float, color: Color
) -> None:
    """A filled ellipse centred on (x, y)."""
    draw.ellipse((x - x_radius, y - y_radius, x + x_radius, y + y_radius), fill=color)


def _rectangle(
    draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float, color: Color
) -> None:
    """A filled rectangle with corners (x0, y0) and (x1, y1)."""
    draw.rectangle((x0, y0, x1, y1), fill=color)
