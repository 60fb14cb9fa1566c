"""The one error tree: HTTP status → branch, Retry-After → seconds, what a retry can do, and
the one retry layer that follows it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from connectors.calls import paced
from connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    error_for_status,
    retry_after,
    retry_helps,
)
from connectors.ratelimit import TokenBucket
from connectors.retry import with_retries


@pytest.mark.parametrize(
    ("status", "branch"),
    [
        (400, Rejected),
        (401, AuthError),
        (403, AuthError),
        (404, Rejected),
        (408, TransientError),
        (409, Rejected),
        (429, RateLimited),
        (500, TransientError),
        (503, TransientError),
    ],
)
def test_each_http_status_lands_on_its_branch(status: int, branch: type) -> None:
    assert type(error_for_status(status, "text")) is branch


def test_error_keeps_the_services_code_status_and_request_id() -> None:
    error = error_for_status(400, "bad carrier", code="32100", request_id="r-1")
    assert (error.code, error.status, error.request_id, error.message) == (
        "32100",
        400,
        "r-1",
        "bad carrier",
    )


def test_refused_access_text_says_what_to_do_instead_of_the_service_words() -> None:
    error = error_for_status(401, "invalid token", auth_text="grant access again")
    assert isinstance(error, AuthError)
    assert error.message == "grant access again"


def test_a_403_about_the_item_can_stay_a_rejection() -> None:
    assert isinstance(error_for_status(403, "not yours", refused_access=False), Rejected)


def test_throttling_carries_the_wait() -> None:
    error = error_for_status(429, "slow down", wait=7.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("branch", "retryable"),
    [(AuthError, False), (Rejected, False), (RateLimited, True), (TransientError, True)],
)
def test_every_error_says_whether_a_retry_can_help(
    branch: type[ConnectorError], retryable: bool
) -> None:
    error = branch("x")
    assert error.retryable is retryable
    assert ("will not help" in error.advice) is not retryable


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("", None), ("soon", None)],
)
def test_retry_after_reads_delta_seconds(value: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": value}) == seconds


def test_retry_after_reads_an_http_date() -> None:
    now = datetime(2026, 12, 4, 15, 0, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": "Fri, 04 Dec 2026 15:00:30 GMT"}, now=now) == 30.0


def test_retry_after_is_none_without_the_header() -> None:
    assert retry_after({}) is None


# --- the one retry layer (connectors/retry.py) ------------------------------------------------


@pytest.mark.parametrize(
    ("error", "tries"),
    [
        (TransientError("network"), 2),
        (RateLimited("slow down", retry_after=0.0), 2),
        (ConnectionResetError("reset"), 2),  # outside the tree: network trouble helps too
        (Rejected("bad item"), 1),
        (AuthError("refused"), 1),
        (ValueError("a fault in the data"), 1),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_every_retry_follows_the_one_rule(error: Exception, tries: int) -> None:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "done"

    async def main() -> None:
        if tries == 1:
            with pytest.raises(type(error)):
                await with_retries(call, attempts=3, base_delay=0.001)
        else:
            assert await with_retries(call, attempts=3, base_delay=0.001) == "done"

    asyncio.run(main())
    assert len(calls) == tries
    assert retry_helps(error) is (tries == 2)


def test_a_429_slows_the_accounts_bucket_even_without_retry_after() -> None:
    bucket = TokenBucket(rate_per_second=4.0, burst=5)
    transport = httpx.MockTransport(lambda request: httpx.Response(429))

    async def main() -> float:
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            with pytest.raises(RateLimited):
                await paced(
                    http,
                    bucket,
                    "GET",
                    "/orders",
                    service="Portal",
                    error=lambda r: error_for_status(r.status_code, "throttled"),
                )
        started = time.monotonic()
        await bucket.acquire()  # five tokens were left before the 429
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.2  # at least one call's share of the rate (1/4 s)
