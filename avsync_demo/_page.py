"""What the browser page is told about a session: which frames mark an onset, how long its
onset detector lags on each, and how to pair what it hears with what it shows.

The page (``avsync_demo/web/page.js``) reads the marker strip of every displayed frame
(:func:`avsync.marks.paint_strip`: epoch modulo 4 and frame index) and detects onsets in the
audio it plays; these facts let it turn the two into a skew per onset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from avsync.loopback import find_onsets

from ._analysis import detector_delay

__all__ = ["DETECTOR_THRESHOLD", "PageOnset", "PageSession", "page_onsets"]

DETECTOR_THRESHOLD = 0.12  #: the page's onset threshold, in full scale (0.12 = int16 3932)
DETECTOR_QUIET_S = 0.05  #: an onset follows at least this long without a loud sample


@attrs.frozen
class PageOnset:
    """An onset the page should find: the frame that marks it (its strip's epoch and index) and
    how late the page's detector finds it on the clean audio, ms."""

    epoch: int
    index: int
    delay_ms: float


@attrs.frozen
class PageSession:
    """Everything the page needs to measure a session, sent with the WebRTC offer."""

    title: str
    fps: int
    onsets: tuple[PageOnset, ...]
    #: a heard onset pairs with the onset frame shown nearest to it, at most this far
    pair_window_ms: float

    def to_json(self) -> dict[str, Any]:
        """The JSON the page reads (``offer.session`` in ``page.js``)."""
        document = attrs.asdict(self)
        document["detector"] = {"threshold": DETECTOR_THRESHOLD, "quietSeconds": DETECTOR_QUIET_S}
        return document


def page_onsets(
    samples: npt.NDArray[np.int16], *, rate: int, fps: int, epoch: int, onset_frames: Iterable[int]
) -> list[PageOnset]:
    """The page's onsets for audio ``samples`` (one turn, sample 0 = frame 0's instant) whose
    sounds start on ``onset_frames``, shown in frames marked with ``epoch``. Onsets the page's
    detector would not find within 50 ms on the clean audio are left out."""
    found = find_onsets(samples, rate, round(DETECTOR_THRESHOLD * 32767), DETECTOR_QUIET_S)
    onsets = []
    for index in onset_frames:
        delay = detector_delay(found, index * rate // fps, rate)
        if delay is not None:
            onsets.append(PageOnset(epoch, index, delay * 1000))
    return onsets
