"""A built-in 5x9 bitmap font (7 rows above the baseline, 2 for descenders) in a 6x10 cell.

Covers printable ASCII 32..126 with real lower case. Look-alikes are told apart on purpose:
``0`` has a diagonal stroke and ``O`` none, ``1`` has a flag and a wide foot, ``I`` has serifs,
``l`` a tail, ``|`` runs into the descender rows, ``5`` has a flat top and ``S`` a curved one, ``B``
a straight back and ``8`` a round one. Any other character renders as a box.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

__all__ = [
    "GLYPH_HEIGHT",
    "GLYPH_ROWS",
    "GLYPH_WIDTH",
    "check_scale",
    "glyph_mask",
    "line_mask",
    "text_mask",
    "text_size",
]

GLYPH_WIDTH = 6  #: cell width in pixels at scale 1 (5 columns of ink and 1 of spacing)
GLYPH_HEIGHT = 10  #: cell height in pixels at scale 1 (9 rows of ink and 1 of spacing)
GLYPH_ROWS = 9  #: rows of ink: 0..6 cap height, 7..8 descenders

# Rows from the top, "#" ink and "." paper; missing rows at the bottom are blank.
_GLYPHS: dict[str, str] = {
    " ": "",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    '"': ".#.#. .#.#. .#.#.",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    "$": "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "&": ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
    "'": "..#.. ..#.. .#...",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    ",": "..... ..... ..... ..... ..... .##.. ..#.. .#...",
    "-": "..... ..... ..... ##### ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    "/": "....# ....# ...#. ..#.. .#... #.... #....",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. #.#.. ..#.. ..#.. ..#.. #####",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    "=": "..... ..... ##### ..... ##### ..... .....",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "@": ".###. #...# #.### #.#.# #.### #.... .####",
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "###.. #..#. #...# #...# #...# #..#. ###..",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "[": ".###. .#... .#... .#... .#... .#... .###.",
    "\\": "#.... #.... .#... ..#.. ...#. ....# ....#",
    "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "^": "..#.. .#.#. #...#",
    "_": "..... ..... ..... ..... ..... ..... ..... #####",
    "`": ".#... ..#..",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... ####. #...# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .#### #...# #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... ..... .#### #...# #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. ...##",
    "m": "..... ..... ##.#. #.#.# #.#.# #.#.# #...#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# #...# #...# ####. #.... #....",
    "q": "..... ..... .#### #...# #...# #...# .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .#### #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    "{": "...## ..#.. ..#.. .#... ..#.. ..#.. ...##",
    "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "}": "##... ..#.. ..#.. ...#. ..#.. ..#.. ##...",
    "~": "..... ..... .#... #.#.# ...#.",
}
_BOX = "##### #...# #...# #...# #...# #...# #####"

_FIRST = 32
_LAST = 126
_UNKNOWN = _LAST - _FIRST + 1  # atlas index of the box glyph


def _parse(spec: str) -> npt.NDArray[np.bool_]:
    rows = spec.split()
    if len(rows) > GLYPH_ROWS or any(len(r) != 5 or set(r) - {"#", "."} for r in rows):
        raise AssertionError(f"malformed glyph {spec!r}")
    cell = np.zeros((GLYPH_HEIGHT, GLYPH_WIDTH), dtype=bool)
    for y, row in enumerate(rows):
        cell[y, :5] = [c == "#" for c in row]
    return cell


def _build_atlas() -> npt.NDArray[np.bool_]:
    specs = [_GLYPHS[chr(code)] for code in range(_FIRST, _LAST + 1)] + [_BOX]
    atlas = np.stack([_parse(s) for s in specs])
    atlas.setflags(write=False)
    return atlas


_ATLAS = _build_atlas()  # (96, GLYPH_HEIGHT, GLYPH_WIDTH): printable ASCII, then the box


@functools.cache
def _scaled_atlas(scale: int) -> npt.NDArray[np.bool_]:
    atlas = _ATLAS.repeat(scale, axis=1).repeat(scale, axis=2)
    atlas.setflags(write=False)
    return atlas


def _indices(line: str) -> npt.NDArray[np.intp]:
    codes = np.frombuffer(line.encode("utf-32-le"), dtype=np.uint32).astype(np.intp)
    idx = codes - _FIRST
    idx[(codes < _FIRST) | (codes > _LAST)] = _UNKNOWN
    return idx


def check_scale(scale: int) -> None:
    """Raise ValueError unless ``scale`` is a positive int (bools refused)."""
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"text scale must be a positive int, got {scale!r}")


def glyph_mask(char: str, *, scale: int = 1) -> npt.NDArray[np.bool_]:
    """The ink of one character's cell: read-only bool array (GLYPH_HEIGHT*s, GLYPH_WIDTH*s)."""
    check_scale(scale)
    if len(char) != 1:
        raise ValueError(f"glyph_mask takes one character, got {char!r}")
    cell: npt.NDArray[np.bool_] = _scaled_atlas(int(scale))[_indices(char)[0]]
    return cell


def line_mask(line: str, *, scale: int = 1) -> npt.NDArray[np.bool_]:
    """The ink of a line (no newlines): bool array (GLYPH_HEIGHT*s, len(line)*GLYPH_WIDTH*s)."""
    check_scale(scale)
    atlas = _scaled_atlas(int(scale))
    h, w = atlas.shape[1:]
    if not line:
        return np.zeros((h, 0), dtype=bool)
    cells = atlas[_indices(line)]  # (n, h, w)
    return cells.transpose(1, 0, 2).reshape(h, len(line) * w)


_ALIGNS = ("left", "center", "right")


def text_size(string: str, *, scale: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of ``string``'s box: the longest line's cells by the lines' cells.

    The box includes each cell's spacing column and row, so lines and strings tile without gaps.
    """
    check_scale(scale)
    lines = string.split("\n")
    return (
        max(len(line) for line in lines) * GLYPH_WIDTH * int(scale),
        len(lines) * GLYPH_HEIGHT * int(scale),
    )


def text_mask(string: str, *, scale: int = 1, align: str = "left") -> npt.NDArray[np.bool_]:
    """The ink of ``string`` as a bool array of shape ``text_size(string)[::-1]``.

    Lines are split on "\\n" and aligned in the box on the left, center or right.
    """
    if align not in _ALIGNS:
        raise ValueError(f"align must be one of {_ALIGNS}, got {align!r}")
    width, height = text_size(string, scale=scale)
    mask = np.zeros((height, width), dtype=bool)
    line_h = GLYPH_HEIGHT * int(scale)
    for i, line in enumerate(string.split("\n")):
        ink = line_mask(line, scale=scale)
        spare = width - ink.shape[1]
        x = 0 if align == "left" else spare if align == "right" else spare // 2
        mask[i * line_h : (i + 1) * line_h, x : x + ink.shape[1]] = ink
    return mask
