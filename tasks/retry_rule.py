"""Prefect retries only where a second try can help: the one rule of connectors/errors.py.

Every task with `retries` passes `retry_condition_fn=retry_if_it_helps`. A run with missing
credentials or a refused item then fails at once with the reason, instead of repeating the
same refusal twice more after a wait; an outage or a timeout is still tried again.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun
from sqlalchemy.exc import OperationalError

from connectors.errors import retry_helps


def retry_if_it_helps(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's `retry_condition_fn`: the failed run's exception decides."""
    error = state.data  # Prefect hands the raised exception over as the state's data
    if not isinstance(error, BaseException):
        return False  # a task that returned a Failed state has said what it means
    # a database that is restarting or unreachable is the store's outage, not a bad row
    return isinstance(error, OperationalError) or retry_helps(error)
