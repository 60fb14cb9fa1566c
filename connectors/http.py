"""The HTTP client every portal connector uses: httpx's API over aiohttp's connection pool.

A deliver run of 100,000 orders makes some 80,000 portal calls from one process, so the CPU
each call costs decides the run's speed. Through a connector, a call costs ~3 ms of CPU on
httpx's own pool (httpcore) and 1.1–1.2 ms on aiohttp's (bench/portal_calls.py,
docs/benchmarks.md). The connectors keep speaking httpx (auth flows, event hooks, error
classes): `AiohttpTransport` below is an httpx transport, and tests hand in their own transport
(httpx.MockTransport) instead.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.cookiejar import CookieJar
from typing import Any

import aiohttp
import httpx
from yarl import URL

# Per connector: the connectors' own concurrency is far lower; keep-alive as httpx does.
MAX_CONNECTIONS = 100
KEEPALIVE_SECONDS = 5.0


@cache
def ssl_context() -> ssl.SSLContext:
    # httpx's defaults (certifi's CA bundle, SSL_CERT_FILE honoured), built once per process
    return httpx.create_ssl_context()


@cache
def _proxy_for(scheme: str, host: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment apply, as they do for httpx.
    (aiohttp's own `trust_env` reads them, and ~/.netrc, again for every request.)"""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies_environment().get(scheme)


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's errors as the httpx errors the connectors handle (timeout vs. network)."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:
        raise httpx.ConnectTimeout(f"connect timed out: {error}", request=request) from error
    except (TimeoutError, aiohttp.ServerTimeoutError) as error:
        raise httpx.ReadTimeout(f"no answer in time: {error}", request=request) from error
    except aiohttp.ClientConnectorError as error:
        raise httpx.ConnectError(str(error), request=request) from error
    except aiohttp.ServerDisconnectedError as error:
        raise httpx.RemoteProtocolError(
            f"server closed the connection: {error}", request=request
        ) from error
    except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as error:
        raise httpx.RemoteProtocolError(str(error), request=request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise httpx.ReadError(f"{type(error).__name__}: {error}", request=request) from error


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session, opened on first use in the running
    event loop. Bodies are read whole: portal answers are small."""

    def __init__(
        self, *, max_connections: int = MAX_CONNECTIONS, keepalive: float = KEEPALIVE_SECONDS
    ) -> None:
        self.max_connections = max_connections
        self.keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=self.keepalive, ssl=ssl_context()
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            auto_decompress=False,  # httpx decodes, by the Content-Encoding header
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "transfer-encoding"]
        with _as_httpx_errors(request):
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),  # signed URLs go out byte for byte
                proxy=_proxy_for(request.url.scheme, request.url.host),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeouts.get("pool"),
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            ) as response:
                content = await response.read()
                extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
                if response.reason:
                    extensions["reason_phrase"] = response.reason.encode()
                return httpx.Response(
                    response.status,
                    headers=list(response.raw_headers),
                    stream=httpx.ByteStream(content),
                    extensions=extensions,
                )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _NoCookies(CookieJar):
    """The portal APIs are stateless (tokens and signatures, no sessions); parsing every answer
    for cookies cost a tenth of a confirmation run's CPU."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass


def portal_client(
    *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same options) on the aiohttp pool unless a transport is given;
    it keeps no cookies."""
    return httpx.AsyncClient(
        transport=transport or AiohttpTransport(), cookies=_NoCookies(), **options
    )
