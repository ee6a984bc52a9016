"""pytest configuration for the whole suite: the Hypothesis profiles.

Hypothesis runs under the ``ce_lessons`` profile: derandomized (the same examples on every machine,
so CI is reproducible), no example database, no deadline. Set the environment variable
``HYPOTHESIS_PROFILE=thorough`` for a long randomized run. Shared strategies and helpers live in
``tests/helpers.py``, an ordinary module (``from tests.helpers import ...``).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ce_lessons",
    deadline=None,
    max_examples=100,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("ce_lessons"),
    max_examples=2000,
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ce_lessons"))
