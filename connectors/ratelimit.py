"""Client-side rate limits: a token bucket per (portal, account, operation).

Portals publish a rate and a burst (Amazon: createFeed 0.0083/s burst 15, getFeed 2/s ...);
we wait before sending rather than collecting 429s.
"""

from __future__ import annotations

import asyncio
import time

# Calls reach the portal a little later than they leave, and not all equally late: a client
# that paced at exactly the portal's rate would now and then land a call early and get a 429.
# Pacing 5 % below the limit keeps the portal's bucket a little ahead of ours.
HEADROOM = 0.95


class TokenBucket:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate_per_second
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    def penalise(self, seconds: float) -> None:
        """After a 429: take the bucket empty so the next call waits `seconds`."""
        self._refill()
        self._tokens = min(self._tokens, 1 - seconds * self.rate)
