"""A one-line progress bar for long runs: redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["ProgressBar"]

WIDTH = 30


class ProgressBar:
    """Shows ``done / total`` with a status text on ``stream`` (stderr by default).

    On a terminal the bar is redrawn in place at every :meth:`update`; otherwise a line is
    printed each time another tenth of the total is done, so logs stay short. :meth:`close`
    ends the line.
    """

    def __init__(self, total: float, *, unit: str = "s", stream: TextIO | None = None) -> None:
        if not total > 0:
            raise ValueError(f"total must be positive, got {total!r}")
        self.total = total
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.interactive = self.stream.isatty()
        self._printed_tenths = -1
        self._open = False

    def render(self, done: float, status: str = "") -> str:
        """The bar's text for ``done`` (clamped to 0 .. total)."""
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = round(fraction * WIDTH)
        bar = "#" * filled + "." * (WIDTH - filled)
        text = f"[{bar}] {min(done, self.total):5.1f}/{self.total:g} {self.unit} {fraction:4.0%}"
        return f"{text}  {status}" if status else text

    def update(self, done: float, status: str = "") -> None:
        line = self.render(done, status)
        if self.interactive:
            self.stream.write("\r" + line.ljust(100)[:100])
            self._open = True
        else:
            tenths = int(min(max(done / self.total, 0.0), 1.0) * 10)
            if tenths == self._printed_tenths:
                return
            self._printed_tenths = tenths
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
