"""How big the stress suites run: `LIEFERN_STRESS_SCALE=ci` (default) or `nightly`."""

from __future__ import annotations

import os
from dataclasses import dataclass

SCALE_VARIABLE = "LIEFERN_STRESS_SCALE"


@dataclass(frozen=True)
class Scale:
    name: str
    chain_orders: int  # orders in the fault-injection run
    chain_min_faults: int  # faults that must have fired there
    slow_answer_seconds: float  # "slow" portal answers; above 30 s the connectors time out
    crash_orders: int  # orders in each crash-point run
    random_kills: int  # random-time SIGKILL runs per database
    all_crash_points: bool  # False: the CI subset


SCALES = {
    "ci": Scale("ci", 240, 30, 0.3, 40, 1, False),
    "nightly": Scale("nightly", 5_000, 100, 31.0, 300, 10, True),
}


def current() -> Scale:
    name = os.environ.get(SCALE_VARIABLE, "ci").strip().lower() or "ci"
    if name not in SCALES:
        raise ValueError(f"{SCALE_VARIABLE} must be one of {', '.join(SCALES)}, not {name!r}")
    return SCALES[name]
