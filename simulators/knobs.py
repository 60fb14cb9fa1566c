"""Pieces the JSON-API simulators share: fault knobs, the server's own rate limit, a call log."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class Knob:
    """A fault to apply to the next `remaining` requests (of `method`, when given)."""

    remaining: int
    method: str | None = None
    status: int = 500
    seconds: float = 0.0

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and (self.method is None or self.method == method)


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str
    status: int


class ServerBucket:
    """The server's own rate limit (sync, thread-safe): beyond it the portal answers 429."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
