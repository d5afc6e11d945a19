"""Shared test configuration: hypothesis profiles.

``default`` keeps the suite fast; ``long`` (``HYPOTHESIS_PROFILE=long pytest``) runs the
property and stateful tests at 10,000 examples for a soak before a release.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
