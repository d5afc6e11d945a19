"""The LiveKit face's audio timing driven directly, on plain numbers: the tick grid recovered
from late sightings, and the ledger of what the AudioSource has played of what was captured."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avsync._livekit_ledger import DEFAULT_LATENCY_S, AudioLedger, TickGrid

PERIOD = 0.01
RATE = 48000
TICK = RATE // 100  # samples in one 10 ms tick


@given(
    phase=st.floats(0.0, PERIOD, exclude_max=True),
    delays=st.lists(st.floats(0.0, 0.003), min_size=40, max_size=200),
)
def test_the_grid_snaps_each_late_sighting_to_the_tick_it_saw(
    phase: float, delays: list[float]
) -> None:
    """Ticks every 10 ms at ``phase``, each seen up to 3 ms late (a tenth of them within a fifth
    of a millisecond of the tick): every sighting snaps to its own tick."""
    delays = [d if i % 10 else min(d, 0.0002) for i, d in enumerate(delays)]
    grid = TickGrid(PERIOD)
    ticks = [1000.0 + phase + i * PERIOD for i in range(len(delays))]
    for tick, delay in zip(ticks, delays, strict=True):
        grid.add(tick + delay)
    for tick, delay in zip(ticks[-20:], delays[-20:], strict=True):
        assert grid.snap(tick + delay) == pytest.approx(tick, abs=0.00025)


def test_before_any_sighting_the_grid_takes_times_as_they_come() -> None:
    assert TickGrid(PERIOD).snap(12.3456) == 12.3456


def speech(start: int, count: int) -> np.ndarray:
    return (1 + np.arange(start, start + count) % 30000).astype(np.int16)


def test_ticks_heard_are_matched_to_what_was_captured_and_give_the_latency() -> None:
    ledger = AudioLedger(1, RATE, now=0.0)
    assert ledger.latency() == DEFAULT_LATENCY_S  # nothing measured yet
    for k in range(6):  # six ticks of speech captured, emitted by avsync at 10 ms intervals
        ledger.capture(speech(k * TICK, TICK), emitted_at=1.0 + k * PERIOD)
    assert ledger.captured == 6 * TICK and ledger.queued_s == pytest.approx(0.06)
    for k in range(4):  # the ticker plays them 25 ms after avsync emitted them
        ledger.on_tick(speech(k * TICK, TICK), at=1.025 + k * PERIOD)
    assert ledger.heard == 4 * TICK and ledger.queued_s == pytest.approx(0.02)
    assert ledger.latency() == pytest.approx(0.025, abs=1e-9)
    assert ledger.last_heard_at == pytest.approx(1.055)


def test_a_tick_that_matches_nothing_is_ignored_and_a_lost_tick_is_found_again() -> None:
    ledger = AudioLedger(1, RATE, now=0.0)
    for k in range(6):
        ledger.capture(speech(k * TICK, TICK), emitted_at=1.0 + k * PERIOD)
    ledger.on_tick(np.full(TICK, 7, np.int16), at=1.02)  # from before a clear, say
    assert ledger.heard == 0
    ledger.on_tick(speech(0, TICK), at=1.025)
    ledger.on_tick(speech(2 * TICK, TICK), at=1.045)  # the tick of samples 1 was never seen
    assert ledger.heard == 3 * TICK


def test_silence_added_or_left_out_shifts_the_latency_of_what_follows() -> None:
    ledger = AudioLedger(2, RATE, now=0.0)
    stereo = np.repeat(speech(0, TICK), 2)
    ledger.capture(stereo, emitted_at=2.0)
    ledger.on_tick(stereo, at=2.012)
    assert ledger.latency() == pytest.approx(0.012, abs=1e-9)
    ledger.shifted(PERIOD)  # a packet of silence added to the queue
    assert ledger.latency() == pytest.approx(0.022, abs=1e-9)
    filler = np.zeros(2 * TICK, np.int16)
    ledger.capture(filler, emitted_at=math.nan)  # filler: no latency from it
    assert ledger.queued_s == 0  # silence at the end is not counted as queued


def test_reset_forgets_everything_and_releases_the_waiters() -> None:
    async def main() -> tuple[bool, bool, bool]:
        ledger = AudioLedger(1, RATE, now=0.0)
        ledger.capture(speech(0, 2 * TICK), emitted_at=1.0)
        heard_now = ledger.wait_heard(0)
        later = ledger.wait_heard(2 * TICK)
        waiting = not later.done()
        ledger.on_tick(speech(0, TICK), at=1.01)
        still = not later.done()
        ledger.reset(now=5.0)
        assert ledger.captured == ledger.heard == 0 and ledger.last_heard_at == 5.0
        return heard_now.done(), waiting and still, later.done()

    assert asyncio.run(main()) == (True, True, True)
