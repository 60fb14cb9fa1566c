"""Client-side rate limits: a token bucket per (portal, account, operation).

Portals publish a rate and a burst (Amazon: createFeed 0.0083/s burst 15, getFeed 2/s ...);
we wait before sending rather than collecting 429s.

The portal keeps one bucket per seller account however many connectors we open, so the
process keeps one too (`account_bucket`): each confirmation pass opens a connector of its own,
on an event loop of its own, and a pass right after another must not start with a full burst
the portal no longer has for us.
"""

from __future__ import annotations

import asyncio
import threading
import time

# Calls reach the portal a little later than they leave, and not all equally late: a client
# that paced at exactly the portal's rate would now and then land a call early and get a 429.
# Pacing 5 % below the limit keeps the portal's bucket a little ahead of ours.
HEADROOM = 0.95


class TokenBucket:
    """Tied to no event loop (a thread lock guards the tokens): the passes that share an
    account's bucket each run on a loop of their own."""

    def __init__(self, rate_per_second: float, burst: int) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate_per_second
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def _take(self) -> float:
        """Take a token: 0.0, or the seconds until one may be there."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        # a waiter asks again after its sleep rather than holding a reservation, so a 429
        # meanwhile (penalise) holds back the calls already waiting too
        while wait := self._take():
            await asyncio.sleep(wait)

    def penalise(self, seconds: float) -> None:
        """After a 429: take the bucket empty so the next call waits `seconds`."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 1 - seconds * self.rate)


_accounts: dict[tuple[str, ...], TokenBucket] = {}
_accounts_lock = threading.Lock()


def account_bucket(key: tuple[str, ...], rate_per_second: float, burst: int) -> TokenBucket:
    """This process's bucket for one account's calls at this pace (`key`: the portal's base URL,
    the account and, where the portal meters operations apart, the operation); the first
    connector for the account makes it, every later one shares it."""
    with _accounts_lock:
        bucket = _accounts.get(key)
        if bucket is None or (bucket.rate, bucket.burst) != (rate_per_second, burst):
            # a new pace (the accounts file changed) starts a bucket of its own
            bucket = _accounts[key] = TokenBucket(rate_per_second, burst)
        return bucket
