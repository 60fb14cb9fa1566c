"""A flow that holds its worker for a while: a run in flight for the serve restart test."""

from __future__ import annotations

import time

from prefect import flow


@flow(name="hold")
def hold(seconds: float = 0.0) -> None:
    time.sleep(seconds)
