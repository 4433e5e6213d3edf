"""Hypothesis profiles: a short run for CI, and ``HYPOTHESIS_PROFILE=fuzz`` for 10,000 examples per backend.

The fuzz profile gives each of the five fuzz tests 2,000 examples: 10,000 generated inputs per
database backend through the running application.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": False,
}
settings.register_profile("ci", max_examples=60, **_COMMON)  # type: ignore[arg-type]
settings.register_profile(
    "fuzz",
    max_examples=2_000,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    **_COMMON,  # type: ignore[arg-type]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
