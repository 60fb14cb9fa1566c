"""The one retry layer of every connector: exponential backoff with jitter, for what
`connectors.errors.retry_helps` says a retry can help, never shorter than the service's own
Retry-After. Pacing after a 429 is the token bucket's (`connectors.calls.paced`)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from connectors.account import CallOptions
from connectors.errors import RateLimited, retry_helps

T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    on_retry: Callable[[Exception, int, float], None] | None = None,
) -> T:
    """Call until success, an error a retry cannot help, or `attempts` tries; re-raises the
    last error.

    A RateLimited error with `retry_after` waits at least that long."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if not retry_helps(error) or attempt == attempts:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not crypto
            if isinstance(error, RateLimited) and error.retry_after is not None:
                delay = max(delay, error.retry_after)
            if on_retry:
                on_retry(error, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def log_retries(log: logging.Logger, what: str) -> Callable[[Exception, int, float], None]:
    """An `on_retry` that logs each failed try of `what` with the wait before the next."""

    def on_retry(error: Exception, attempt: int, delay: float) -> None:
        log.warning("%s: attempt %d failed (%s), again in %.1fs", what, attempt, error, delay)

    return on_retry


async def retried(
    call: Callable[[], Awaitable[T]],
    options: CallOptions,
    on_retry: Callable[[Exception, int, float], None] | None = None,
) -> T:
    """`with_retries` with an account's attempts and delays."""
    return await with_retries(
        call,
        attempts=options.attempts,
        base_delay=options.base_delay,
        max_delay=options.max_delay,
        on_retry=on_retry,
    )
