"""connectors/http.py: the portal client (httpx's own) against a raw loopback server that
records every byte and can answer, hang, or hang up: bytes on the wire, errors, auth flows,
proxies from the environment, TLS."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from pydantic import SecretStr

from connectors.errors import TransientError
from connectors.http import portal_client, ssl_context
from connectors.kaufland.auth import KauflandAuth
from connectors.kaufland.client import KauflandClient
from connectors.ratelimit import TokenBucket
from tests.helpers import self_signed_certificate

Behaviour = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


async def _serve(
    behaviour: Behaviour, seen: list[bytes], tls: ssl.SSLContext | None = None
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                seen.append(request)
                await behaviour(request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)


def _answer(status: int, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _json_ok(request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(200, b'{"ok": true}', "Content-Type: application/json"))
    await writer.drain()


async def _gzipped(request: bytes, writer: asyncio.StreamWriter) -> None:
    body = gzip.compress(json.dumps({"packed": "äöü"}).encode())
    writer.write(_answer(200, body, "Content-Type: application/json", "Content-Encoding: gzip"))
    await writer.drain()


async def _hang(request: bytes, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.close()
    raise ConnectionError


def _run(
    behaviour: Behaviour,
    call: Callable[[str], Awaitable[object]],
    tls: ssl.SSLContext | None = None,
) -> tuple[object, list]:
    seen: list[bytes] = []

    async def main() -> object:
        server = await _serve(behaviour, seen, tls)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await call(f"{'https' if tls else 'http'}://127.0.0.1:{port}")

    return asyncio.run(main()), seen


def test_request_goes_out_byte_for_byte_and_answer_comes_back() -> None:
    async def call(base: str) -> object:
        async with portal_client(base_url=base, timeout=5) as client:
            first = await client.get("/v2/order-units/1?embedded=a%2Cb&x=%C3%A4")
            second = await client.post("/v2/shipments", json={"unit": 1})
            return first, second

    answers, seen = _run(_json_ok, call)
    first, second = cast(tuple[httpx.Response, httpx.Response], answers)
    assert first.status_code == 200 and first.json() == {"ok": True}
    assert second.json() == {"ok": True}
    assert seen[0].startswith(b"GET /v2/order-units/1?embedded=a%2Cb&x=%C3%A4 HTTP/1.1\r\n")
    assert seen[1].startswith(b"POST /v2/shipments HTTP/1.1\r\n")
    assert seen[1].endswith(b'{"unit":1}')
    assert b"content-length: 10" in seen[1].lower()
    assert len(seen) == 2  # both on one kept-alive connection, answered in order


def test_compressed_answer_is_decoded_once() -> None:
    async def call(base: str) -> object:
        async with portal_client(timeout=5) as client:
            return (await client.get(base + "/")).json()

    body, _ = _run(_gzipped, call)
    assert body == {"packed": "äöü"}


def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def call(base: str) -> object:
        async with portal_client(timeout=0.3) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(base + "/")
        return None

    _run(_hang, call)


def test_hung_up_connection_is_a_network_error_not_a_timeout() -> None:
    async def call(base: str) -> object:
        async with portal_client(timeout=5) as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.get(base + "/")
        assert not isinstance(caught.value, httpx.TimeoutException)
        return None

    _run(_hang_up, call)


def test_refused_connection_is_a_connect_error() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with portal_client(timeout=5) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def _kaufland_order_fails(words: str, timeout: float) -> Callable[[str], Awaitable[object]]:
    """A Kaufland client's order read at `base`, expected to end in a TransientError."""

    async def call(base: str) -> object:
        client = KauflandClient(
            auth=KauflandAuth("key", SecretStr("secret")),
            api_base=base + "/v2",
            bucket=TokenBucket(100, 10),
            timeout_seconds=timeout,
        )
        try:
            with pytest.raises(TransientError, match=words):
                await client.order("MB7UWLD")
        finally:
            await client.aclose()
        return None

    return call


@pytest.mark.parametrize(("behaviour", "words"), [(_hang, "in time"), (_hang_up, "unreachable")])
def test_connector_turns_both_into_transient_errors(behaviour: Behaviour, words: str) -> None:
    _run(behaviour, _kaufland_order_fails(words, timeout=0.3))


class _TokenAuth(httpx.Auth):
    """Sends a stale token first; after a 401 a fresh one (as eBay's and Amazon's auth do)."""

    def __init__(self) -> None:
        self.token = "stale"

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = "fresh"
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


async def _401_unless_fresh(request: bytes, writer: asyncio.StreamWriter) -> None:
    fresh = b"authorization: bearer fresh" in request.lower()
    writer.write(_answer(200, b"{}") if fresh else _answer(401, b'{"error": "expired"}'))
    await writer.drain()


def test_auth_flow_sees_the_answer_and_sends_again() -> None:
    async def call(base: str) -> object:
        async with portal_client(base_url=base, auth=_TokenAuth(), timeout=5) as client:
            return (await client.post("/v1/order", json={"a": 1})).status_code

    status, seen = _run(_401_unless_fresh, call)
    assert status == 200
    assert len(seen) == 2
    assert b"authorization: bearer stale" in seen[0].lower()
    assert b"authorization: bearer fresh" in seen[1].lower()
    assert seen[0].endswith(b'{"a":1}') and seen[1].endswith(b'{"a":1}')


def test_auth_none_sends_without_the_clients_auth_and_a_call_may_bring_its_own() -> None:
    async def call(base: str) -> object:
        async with portal_client(base_url=base, auth=_TokenAuth(), timeout=5) as client:
            await client.request("PUT", base + "/upload", content=b"x", auth=None)
            await client.get("/token", auth=httpx.BasicAuth("id", "secret"))
        return None

    _, seen = _run(_json_ok, call)
    assert b"authorization" not in seen[0].lower()
    assert b"\r\nauthorization: basic awq6c2vjcmv0\r\n" in seen[1].lower()


# --- proxies from the environment -----------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.usefixtures("no_proxy_env")
def test_http_proxy_from_the_environment_carries_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    async def call(proxy: str) -> object:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        async with portal_client(base_url="http://portal.invalid/v2", timeout=5) as client:
            return (await client.get("/orders/1")).json()

    body, seen = _run(_json_ok, call)
    assert body == {"ok": True}
    assert seen[0].startswith(b"GET http://portal.invalid/v2/orders/1 HTTP/1.1\r\n")


@pytest.mark.usefixtures("no_proxy_env")
def test_no_proxy_sends_straight_to_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async def call(base: str) -> object:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with portal_client(base_url=base, timeout=5) as client:
            return (await client.get("/orders/1")).status_code

    status, seen = _run(_json_ok, call)
    assert status == 200
    assert seen[0].startswith(b"GET /orders/1 HTTP/1.1\r\n")


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, ssl.SSLContext]]:
    """A self-signed certificate for 127.0.0.1: its file and a server context with it."""
    cert, key, _ = self_signed_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    ssl_context.cache_clear()  # built once per process: again with this test's environment
    yield cert, server
    ssl_context.cache_clear()


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(
    certificate: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    _, seen = _run(_json_ok, _kaufland_order_fails("unreachable", timeout=5), tls=certificate[1])
    assert seen == []  # the signed request never left the client


def test_a_certificate_trusted_through_ssl_cert_file_is_accepted(
    certificate: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    async def call(base: str) -> object:
        async with portal_client(base_url=base, timeout=5) as client:
            return (await client.get("/orders/1")).json()

    body, seen = _run(_json_ok, call, tls=certificate[1])
    assert body == {"ok": True}
    assert seen[0].startswith(b"GET /orders/1 HTTP/1.1\r\n")
