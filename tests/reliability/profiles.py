"""Hypothesis settings of the fuzz tests: short and reproducible in `make test`, longer on demand.

HYPOTHESIS_PROFILE=fuzz-long runs many more examples with fresh randomness each run (a failure
prints the blob to replay); give pytest --timeout=0 with it, a test then runs for minutes.
Anything else, or nothing, is the short derandomized run of `make test`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz-short",
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "fuzz-long",
    max_examples=5000,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

_chosen = os.environ.get("HYPOTHESIS_PROFILE", "")
FUZZ = settings.get_profile("fuzz-long" if _chosen == "fuzz-long" else "fuzz-short")


def fuzz(examples: int | None = None) -> settings:
    """The chosen profile; `examples`: a costly test's count in the short run (scaled alike)."""
    if examples is None:
        return FUZZ
    return settings(FUZZ, max_examples=max(1, FUZZ.max_examples * examples // 100))
