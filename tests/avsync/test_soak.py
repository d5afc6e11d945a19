"""The short soak: a few real-time sessions against a misbehaving provider (benchmarks.soak)."""

from __future__ import annotations

import gc

import trio

from benchmarks.soak import OFFSET_LIMIT_MS, soak


def test_short_soak_against_a_misbehaving_provider() -> None:
    # Hundreds of earlier tests leave a large heap; a full collection of it (tens of ms) in
    # the middle of a 3 s run would be the test process's pause, not the synchroniser's. So the
    # heap so far is frozen out of collections, as the README suggests for services.
    gc.collect()
    gc.freeze()
    try:
        outcomes, rss_before, rss_after = trio.run(soak, 5, 3.0)
    finally:
        gc.unfreeze()
    assert all(outcome.finished for outcome in outcomes)  # no deadlock
    assert sum(outcome.rejected for outcome in outcomes) > 0  # malformed input was sent
    assert sum(outcome.bursts + outcome.stalls for outcome in outcomes) > 0
    for outcome in outcomes:
        assert outcome.stats is not None
        assert outcome.stats.offset_p99_ms <= OFFSET_LIMIT_MS, outcome.stats
    assert (rss_after - rss_before) / len(outcomes) < 20  # MB: the queues are bounded
