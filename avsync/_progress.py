"""A one-line progress bar for long runs (the demo, the benchmarks): redrawn in place on a
terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["ProgressBar"]

WIDTH = 30


class ProgressBar:
    """Shows ``done / total`` with a status text on ``stream`` (stderr by default).

    Progress is a quantity (:meth:`update`, e.g. seconds played) or a count of steps
    (:meth:`step`). On a terminal the bar is redrawn in place; otherwise a line is printed each
    time another tenth of the total is done (for :meth:`update`) or each step starts, so logs
    stay short. :meth:`close` ends the redrawn line; :meth:`finish` shows it full first.
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
        self._steps = 0

    def render(self, done: float, status: str = "") -> str:
        """The bar's text for ``done`` (clamped to 0 .. total)."""
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = round(fraction * WIDTH)
        bar = "#" * filled + "." * (WIDTH - filled)
        shown = min(done, self.total)
        amount = f"{shown:5.1f}" if self.unit == "s" else f"{shown:g}"
        text = f"[{bar}] {amount}/{self.total:g} {self.unit} {fraction:4.0%}"
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

    def step(self, label: str) -> None:
        """The next step, called ``label``, starts."""
        self._steps += 1
        if self.interactive:
            self.update(self._steps - 1, label)
        else:
            self.stream.write(f"[{self._steps}/{self.total:g}] {label}\n")
            self.stream.flush()

    def finish(self, status: str = "done") -> None:
        """The bar full (on a terminal), then :meth:`close`."""
        if self.interactive:
            self.update(self.total, status)
        self.close()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
