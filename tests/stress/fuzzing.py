"""How many cases each fuzz test (tests/test_fuzz_*.py) tries.

`LIEFERN_FUZZ_EXAMPLES` sets it; without it, CI tries a few hundred and the nightly scale
(`LIEFERN_STRESS_SCALE=nightly`) ten thousand per test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.stress import scale

CI_EXAMPLES = 200
NIGHTLY_EXAMPLES = 10_000


def examples() -> int:
    value = os.environ.get("LIEFERN_FUZZ_EXAMPLES", "").strip()
    if value:
        return max(1, int(value))
    return NIGHTLY_EXAMPLES if scale.current().name == "nightly" else CI_EXAMPLES


def fuzz(share: float = 1.0) -> settings:
    """Hypothesis settings for one fuzz test: `share` of the configured number of cases."""
    return settings(
        max_examples=max(1, int(examples() * share)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=False,
    )
