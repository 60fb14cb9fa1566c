"""The Prefect state a run ends in, by core/run_verdict.py's rule."""

from __future__ import annotations

from typing import Any

from prefect.states import Completed, Failed, State

from core.run_verdict import WITH_PROBLEMS, RunFailed, Verdict
from flows.results import RunResult


def end_state(verdict: Verdict, summary: RunResult) -> State[Any]:
    """The run's final state: Failed, Completed with problems, or Completed; its data is the
    run's result (a Failed run's carries it in RunFailed)."""
    if verdict.errors:
        message = verdict.message()
        return Failed(message=message, data=RunFailed(message, summary))
    if verdict.problems:
        return Completed(name=WITH_PROBLEMS, message=verdict.message(), data=summary)
    return Completed(data=summary)
