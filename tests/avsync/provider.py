"""A scripted provider: writes an utterance's audio and video on a timetable.

The implementation is :mod:`avsync.testing` (the benchmarks use it too)."""

from avsync.testing import Script as Script
from avsync.testing import perform as perform
