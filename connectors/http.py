"""The HTTP client every portal connector uses: httpx's own `httpx.AsyncClient`.

Its auth flows (`httpx.Auth`: token refresh, signatures), event hooks, errors and connection
pool serve the connectors as they are; the pool's limits, the TLS context and the redirect rule
are set here, once. Tests hand in their own transport (httpx.MockTransport or a real one).

Why not a leaner client: a stand-in for `httpx.AsyncClient` on aiohttp's pool needed about
1 ms less CPU per call on a loaded machine, but at 150 ms of portal latency the calls per second
were the same (48 vs 49, 8 at a time): the wait for the portal and its rate limit decide, not
the client (docs/benchmarks.md, "Portal calls").
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from types import TracebackType
from typing import Any, Self

import httpx

# Per connector: a connector calls at most `CallOptions.concurrency` (16 against simulators)
# at a time; connections stay open as long as httpx keeps them by default.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)

EventHook = Callable[[Any], Awaitable[None]]


@cache
def ssl_context() -> ssl.SSLContext:
    # httpx's defaults (certifi's CA bundle, SSL_CERT_FILE honoured), built once per process:
    # building it reads the CA bundle (a few ms), and every client would otherwise do so
    return httpx.create_ssl_context()


def portal_client(
    *,
    base_url: str = "",
    auth: httpx.Auth | None = None,
    timeout: float | httpx.Timeout | None = 5.0,
    headers: Mapping[str, str] | None = None,
    event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for one portal account. Redirects are never followed (a portal API that
    redirects is answering something unexpected); HTTP(S)_PROXY and NO_PROXY apply unless a
    transport is given."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        timeout=timeout,
        headers=headers,
        event_hooks={k: list(v) for k, v in event_hooks.items()} if event_hooks else None,
        transport=transport,
        limits=LIMITS,
        verify=ssl_context(),
        follow_redirects=False,
    )


class ClosedOnExit:
    """`async with client:` closes the client's connections at the end: each client says how
    (`aclose`)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError
