"""The stall benchmark's accounting: what a stall cost, from every session's stats before and
after it (real stats, of synchronisers under MockClock), and its options."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import avsync
from avsync.testing import RATE, speech
from benchmarks import stall
from benchmarks.endpoints import CONFIG


async def test_the_difference_counts_underrun_sessions_and_keeps_the_worst_p99(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        avsync.open_synchronizer(CONFIG) as quiet,
        avsync.open_synchronizer(CONFIG) as starved,
    ):
        await starved.write_audio(speech(0, RATE // 10))
        await trio.sleep(0.2)  # its speech plays, then underruns
        before = [quiet.stats(), starved.stats()]
        await trio.sleep(0.1)  # 0.1 s more of underrun
        after = [quiet.stats(), starved.stats()]
    result = stall.compare(50.0, 3, before, after)
    assert result.sessions == 2 and result.sessions_underrun == 1
    assert result.underrun_s == pytest.approx(0.1, abs=0.021)
    assert result.audio_skipped_s == 0 and result.frames_shed_late == 0
    assert result.offset_p99_worst_ms == max(stats.offset_p99_ms for stats in after)
    assert "1 of 2 sessions underran (0.1" in result.line()


@pytest.mark.parametrize(
    "argv", [["--sessions", "0"], ["--repeats", "0"], ["--stalls-ms", "0"], ["--gap", "-1"]]
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        stall.parse_args(argv)
