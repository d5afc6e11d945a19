"""Shared test configuration: hypothesis profiles, and the collector's heap during real-time tests.

``default`` keeps the suite fast; ``long`` (``HYPOTHESIS_PROFILE=long pytest``) runs the
property and stateful tests at 10,000 examples for a soak before a release.
"""

import gc
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _earlier_tests_heap_frozen(request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``realtime`` test runs with what the tests before it left on the heap frozen out of the
    garbage collector (``gc.freeze``). In one pytest process that heap grows, and by the LiveKit
    tests a full collection took 30-70 ms on the project's machine; past 60 ms avsync's clock
    skips a tick and loses its speech, as it must under a stall that long (docs/design.md,
    section 6). That is the test process's pause, not the synchroniser under test."""
    if request.node.get_closest_marker("realtime") is None:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
