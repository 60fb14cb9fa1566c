"""The client-side token bucket: one per account in a process, on any event loop."""

from __future__ import annotations

import asyncio
import time

from connectors.ratelimit import account_bucket


def _acquire(count: int, key: tuple[str, ...], rate: float, burst: int) -> float:
    """Seconds for `count` calls through the account's bucket, on an event loop of their own."""

    async def calls() -> None:
        bucket = account_bucket(key, rate, burst)
        await asyncio.gather(*(bucket.acquire() for _ in range(count)))

    started = time.monotonic()
    asyncio.run(calls())
    return time.monotonic() - started


def test_a_later_pass_on_another_loop_waits_for_the_accounts_pace() -> None:
    key = ("http://portal.test", "shop-a-" + str(time.monotonic_ns()))
    assert _acquire(3, key, 10.0, 3) < 0.05  # the burst
    # a new loop, a new connector, the same account: no second burst, the pace goes on
    assert _acquire(3, key, 10.0, 3) >= 0.25


def test_accounts_and_paces_have_buckets_of_their_own() -> None:
    stamp = str(time.monotonic_ns())
    first = account_bucket(("http://portal.test", "a" + stamp), 5.0, 10)
    assert account_bucket(("http://portal.test", "a" + stamp), 5.0, 10) is first
    assert account_bucket(("http://portal.test", "b" + stamp), 5.0, 10) is not first
    assert account_bucket(("http://other.test", "a" + stamp), 5.0, 10) is not first
    changed = account_bucket(("http://portal.test", "a" + stamp), 2.0, 4)
    assert changed is not first and (changed.rate, changed.burst) == (2.0, 4)


def test_a_429_holds_back_calls_that_were_already_waiting() -> None:
    bucket = account_bucket(("http://portal.test", "c" + str(time.monotonic_ns())), 20.0, 1)

    async def main() -> float:
        await bucket.acquire()  # the burst is gone
        waiting = asyncio.ensure_future(bucket.acquire())  # would go in 50 ms
        await asyncio.sleep(0.01)
        bucket.penalise(0.5)  # the portal answered 429, Retry-After 0.5 s
        started = time.monotonic()
        await waiting
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.4
