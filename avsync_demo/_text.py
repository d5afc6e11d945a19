"""Text for video frames, fast enough to redraw every frame: Pillow renders each character once
(its default FreeType font), and a line of text is a paste of cached glyphs per character."""

from __future__ import annotations

import math

import attrs
from PIL import Image, ImageDraw, ImageFont

__all__ = ["GlyphText"]


@attrs.frozen
class Glyph:
    """One character: its coverage mask (None for blank ones), where the mask's top-left corner
    sits relative to the pen on the baseline, and how far the pen then advances."""

    mask: Image.Image | None
    left: int
    top: int
    advance: float


class GlyphText:
    """Draws text in Pillow's default font at ``size`` pixels on RGB images. Each character is
    rendered by FreeType the first time it is drawn; after that drawing it costs one paste per
    character, a small fraction of a FreeType rendering. No kerning between characters."""

    def __init__(self, size: int) -> None:
        font = ImageFont.load_default(size=size)
        if not isinstance(font, ImageFont.FreeTypeFont):
            raise RuntimeError("the demo's text needs Pillow with FreeType (as in its wheels)")
        self.font = font
        ascent, descent = self.font.getmetrics()
        self.ascent = ascent
        self.line_height = ascent + descent  #: from one line's top to the next's
        self._glyphs: dict[str, Glyph] = {}

    def height(self, lines: int) -> int:
        """Pixels from the top of the first of ``lines`` lines to the bottom of the last."""
        return lines * self.line_height

    def draw(
        self, image: Image.Image, x: float, y: float, text: str, color: tuple[int, int, int]
    ) -> None:
        """Draw ``text`` on ``image``, its lines (split at newlines) left-aligned at ``x``, the
        top of the first line at ``y``; what falls outside the image is left out."""
        for number, line in enumerate(text.split("\n")):
            baseline = round(y) + self.ascent + number * self.line_height
            pen = float(x)
            for char in line:
                glyph = self._glyph(char)
                if glyph.mask is not None:
                    image.paste(color, (round(pen) + glyph.left, baseline + glyph.top), glyph.mask)
                pen += glyph.advance

    def _glyph(self, char: str) -> Glyph:
        glyph = self._glyphs.get(char)
        if glyph is None:
            left, top, right, bottom = self.font.getbbox(char, anchor="ls")
            width, height = math.ceil(right - left), math.ceil(bottom - top)
            mask = None
            if width > 0 and height > 0:
                mask = Image.new("L", (width, height))
                ImageDraw.Draw(mask).text(
                    (-left, -top), char, fill=255, font=self.font, anchor="ls"
                )
            advance = self.font.getlength(char)
            glyph = self._glyphs[char] = Glyph(mask, math.floor(left), math.floor(top), advance)
        return glyph
