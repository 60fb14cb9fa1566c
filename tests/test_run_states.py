"""A run that failed looks failed, and the run history names every order it touched.

Retries only where a second try can help (connectors/errors.py `retry_helps`); the deliver and
poll runs end Failed, "Completed with problems" or Completed by one rule (flows/outcome.py).
"""

from __future__ import annotations

import asyncio

import pytest

from connectors.credentials import MissingCredentials
from connectors.errors import AuthError, Rejected, TransientError, retry_helps
from tasks.confirmations import PortalFailed


def test_only_errors_a_second_try_can_heal_are_retried() -> None:
    assert retry_helps(TransientError("503 from the portal"))
    assert retry_helps(TimeoutError("read timed out"))
    assert not retry_helps(MissingCredentials("LIEFERN_EBAY_MAIN_CLIENT_ID is not set"))
    assert not retry_helps(AuthError("invalid_grant"))
    assert not retry_helps(Rejected("order unknown", code="404"))
    assert not retry_helps(KeyError("a bug"))
    assert not retry_helps(PortalFailed(["ebay account main: refused"], retryable=False))
    assert retry_helps(PortalFailed(["amazon account de: timeout"], retryable=True))


def _attempts_of(error: Exception) -> int:
    """How often a task with two retries and the retry rule runs when it fails once."""
    from prefect import flow, task

    from tasks.retry_rule import retry_if_it_helps

    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_it_helps)
    async def call_portal() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "ok"

    @flow
    async def run() -> None:
        await call_portal(return_state=True)  # a failed task, not a failed test

    asyncio.run(run())
    return len(calls)


@pytest.mark.usefixtures("prefect_harness")
def test_a_task_is_tried_again_after_a_transient_error() -> None:
    assert _attempts_of(TransientError("502 Bad Gateway")) == 2


@pytest.mark.usefixtures("prefect_harness")
def test_a_task_is_not_tried_again_when_credentials_are_missing() -> None:
    assert _attempts_of(MissingCredentials("LIEFERN_EBAY_MAIN_CLIENT_ID is not set")) == 1
