"""Hypothesis profiles for the fuzz tests: `ci` (the default, bounded) and `deep` for a longer
local search: HYPOTHESIS_PROFILE=deep .venv/bin/pytest tests/fuzz"""

import os

from hypothesis import HealthCheck, settings

_common = {
    "deadline": None,
    # Examples share the test's database transaction and fixtures; rows are counted per example.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "database": None,  # no .hypothesis folder in the work tree
}
settings.register_profile("ci", max_examples=60, **_common)
settings.register_profile("deep", max_examples=1000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
