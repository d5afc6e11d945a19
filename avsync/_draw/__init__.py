"""A small dependency-free drawing toolkit: an RGB canvas, a bitmap font, PNG files and charts.

Pure numpy (PyAV only encodes and decodes PNG). Used by the demo to draw its synthetic face and
by the run and benchmark plots.
"""

from .canvas import Canvas, Color, text_size
from .chart import PALETTE, Band, Marker, Panel, Series, bar_chart, timeline_chart
from .font import GLYPH_HEIGHT, GLYPH_WIDTH, text_mask
from .png import decode_png, encode_png, read_png, write_png

__all__ = [
    "GLYPH_HEIGHT",
    "GLYPH_WIDTH",
    "PALETTE",
    "Band",
    "Canvas",
    "Color",
    "Marker",
    "Panel",
    "Series",
    "bar_chart",
    "decode_png",
    "encode_png",
    "read_png",
    "text_mask",
    "text_size",
    "timeline_chart",
    "write_png",
]
