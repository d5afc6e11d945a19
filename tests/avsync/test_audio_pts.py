"""Audio pts: gaps become silence, jitter under 1 ms is absorbed, overlaps are refused."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

import avsync
from avsync.testing import config, recording, speech


async def heard(chunks: list[tuple[int, int, float | None]]) -> tuple[np.ndarray, float]:
    """Write (first media index, count, pts) chunks; return the audio stream and position."""
    async with recording(config()) as (sync, recorder):
        for first, count, pts in chunks:
            await sync.write_audio(speech(first, count), pts=pts)
        await sync.end_audio()
        result = await sync.wait_for_playout()
    stream = np.concatenate([record.samples for record in recorder.audio])
    start = int(np.flatnonzero(stream)[0])
    return stream[start:], result.position


async def test_a_gap_in_pts_is_filled_with_silence(autojump_clock: trio.testing.MockClock) -> None:
    stream, position = await heard([(0, 4800, 0.0), (9600, 4800, 0.2)])
    assert position == pytest.approx(0.3)
    assert np.all(stream[4800:9600] == 0) and stream[9600] == speech(9600, 1)[0]


async def test_jitter_under_a_millisecond_is_absorbed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # the second chunk says 100.6 ms and the third 199.5 ms: both continue the audio written
    stream, position = await heard([(0, 4800, 0.0), (4800, 4800, 0.1006), (9600, 4800, 0.1995)])
    assert position == pytest.approx(0.3)
    assert np.array_equal(stream[:14400], speech(0, 14400))  # no inserted silence, no click


async def test_pts_inside_written_audio_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        await sync.write_audio(speech(0, 4800), pts=0.0)
        with pytest.raises(avsync.InvalidAudioError, match="overlaps"):
            await sync.write_audio(speech(0, 480), pts=0.098)
        await sync.write_audio(speech(4800, 480), pts=0.1)  # the session carries on
        await sync.end_audio()
        assert (await sync.wait_for_playout()).position == pytest.approx(0.11)
