"""Pieces the simulators share: fault knobs, the server's own rate limit, a call log."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response


@dataclass
class Knob:
    """A fault to apply to the next `remaining` requests (of `method`, when given)."""

    remaining: int
    method: str | None = None
    status: int = 500
    seconds: float = 0.0

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and (self.method is None or self.method == method)


def take_knob(knobs: list[Knob], method: str, lock: threading.Lock) -> Knob | None:
    """The first knob that applies to a request of `method`, used up by one."""
    with lock:
        for knob in knobs:
            if knob.matches(method):
                knob.remaining -= 1
                return knob
    return None


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str
    status: int
    # when the simulator handled it (time.monotonic): tests check which calls overlapped
    at: float = field(default_factory=time.monotonic, compare=False)


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


class XmlFaults:
    """Fault knobs of the XML-API simulators (Hood, Rakuten): the next requests fail with a
    status, get a cut-off answer, or answer late. Thread-safe: tests turn the knobs from their
    own thread while uvicorn serves from another."""

    def __init__(self) -> None:
        self.requests = 0  # every request that reached the simulator, faults included
        self._lock = threading.Lock()
        self._fail_next = 0
        self._fail_status = 500
        self._malformed_next = 0
        self._slow_next = 0
        self._slow_seconds = 0.0

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_next, self._fail_status = count, status

    def malformed_next(self, count: int) -> None:
        with self._lock:
            self._malformed_next = count

    def slow_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._slow_next, self._slow_seconds = count, seconds

    def failure(self) -> Response | None:
        """Count the request; the failing answer when a failure is due."""
        with self._lock:
            self.requests += 1
            if self._fail_next > 0:
                self._fail_next -= 1
                return Response("internal error", status_code=self._fail_status)
        return None

    async def respond(
        self, request: Request, answer: Callable[[Request], Awaitable[bytes]], media_type: str
    ) -> Response:
        """A due failure, else `answer(request)` (late or cut off when a knob says so)."""
        failure = self.failure()
        if failure is not None:
            return failure
        return await self.deliver(await answer(request), media_type)

    async def deliver(self, answer: bytes, media_type: str) -> Response:
        """The answer, late or cut off when a knob says so."""
        with self._lock:
            malformed = self._malformed_next > 0
            self._malformed_next -= 1 if malformed else 0
            delay = self._slow_seconds if self._slow_next > 0 else 0.0
            self._slow_next -= 1 if self._slow_next > 0 else 0
        if delay:
            await asyncio.sleep(delay)
        if malformed:
            answer = answer[: len(answer) // 2]
        return Response(answer, media_type=media_type)
