"""The HTTP client every portal connector uses: httpx's requests over aiohttp's connection pool.

A deliver run of 100,000 orders makes some 80,000 portal calls, so the CPU each call costs
decides the run's speed (bench/portal_calls.py, docs/benchmarks.md). Through a connector, on
one machine: ~1.0 ms per call with `httpx.AsyncClient` on httpx's own pool (httpcore), 0.38 ms
with `httpx.AsyncClient` on aiohttp's pool, 0.28 ms with `PortalClient` below on aiohttp's pool;
aiohttp alone needs 0.15 ms. The connectors keep speaking httpx (requests, responses, auth
flows, event hooks, error classes): `PortalClient` sends httpx requests straight to a transport,
`AiohttpTransport` is that transport, and tests hand in their own (httpx.MockTransport).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
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


DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",  # decoded by httpx.Response, as httpx's client does
    "Connection": "keep-alive",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}

EventHook = Callable[[Any], Awaitable[None]]


class _ClientAuth:
    """`auth=` left out: the client's own; `auth=None` sends without any (as in httpx)."""


CLIENT_AUTH = _ClientAuth()


class PortalClient:
    """What the connectors use of `httpx.AsyncClient`, at a third of its CPU per call.

    Requests and responses are httpx's (`httpx.Request`, `httpx.Response`), and so are auth
    flows (`httpx.Auth`), event hooks, timeouts and errors; tests hand in their own transport.
    What httpx's client adds per call and portals do not need is left out: a cookie jar (the
    portal APIs are stateless: tokens and signatures), redirects (never followed, as
    before), and merging every URL with the base URL by parsing both.
    """

    def __init__(
        self,
        *,
        base_url: str = "",
        auth: httpx.Auth | None = None,
        timeout: float | httpx.Timeout | None = 5.0,
        headers: Mapping[str, str] | None = None,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = httpx.Timeout(timeout)
        self.headers = httpx.Headers(DEFAULT_HEADERS)
        self.headers.update(headers or {})
        hooks = event_hooks or {}
        self._request_hooks = list(hooks.get("request", ()))
        self._response_hooks = list(hooks.get("response", ()))
        self._transport = transport or AiohttpTransport()
        self.is_closed = False

    def __repr__(self) -> str:
        return f"PortalClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> PortalClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        auth: httpx.Auth | _ClientAuth | None = CLIENT_AUTH,
    ) -> httpx.Response:
        """Send one request (relative URLs are joined to the base URL); the whole answer is
        read before it comes back."""
        if self.is_closed:
            raise RuntimeError("the portal client has been closed")
        merged = self.headers.copy()
        if headers:
            merged.update(headers)
        request = httpx.Request(
            method,
            self._absolute(url),
            params=params,
            headers=merged,
            content=content,
            data=data,
            json=json,
            extensions={"timeout": self.timeout.as_dict()},
        )
        if isinstance(auth, _ClientAuth):
            auth = self.auth
        if auth is None:
            return await self._send(request)
        return await self._send_with_auth(request, auth)

    def _absolute(self, url: str) -> str:
        if url.startswith(("https://", "http://")):
            return url
        if not self.base_url:
            raise ValueError(f"relative URL {url!r} and no base URL")
        return f"{self.base_url}/{url.lstrip('/')}"

    async def _send_with_auth(self, request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
        """httpx's auth protocol: the flow yields requests and gets each one's answer back
        (a token refresh, a retry after 401, a signature over the final body)."""
        flow = auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                response = await self._send(request)
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return response
                await response.aclose()
        finally:
            await flow.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        for hook in self._request_hooks:
            await hook(request)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            for hook in self._response_hooks:
                await hook(response)
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def aclose(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            await self._transport.aclose()


def portal_client(
    *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
) -> PortalClient:
    """A client for one portal account, on aiohttp's pool unless a transport is given."""
    return PortalClient(transport=transport, **options)
