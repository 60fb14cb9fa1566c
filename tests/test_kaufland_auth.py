"""Kaufland request signing: known answers, and the simulator verifying it over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.kaufland.auth import KauflandAuth, sign
from simulators.kaufland import create_app, simulator
from simulators.server import serve_in_thread

VECTORS = json.loads(
    (Path(__file__).parent / "fixtures" / "kaufland" / "signature_vectors.json").read_text()
)
CLIENT_KEY = "7bffc16ba2cc5ac1cbf527d6fa39263a"
SECRET_KEY = VECTORS["secret_key"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["method"])
def test_signatures_match_known_answers(vector: dict[str, Any]) -> None:
    signature = sign(
        SECRET_KEY.encode(),
        vector["method"],
        vector["uri"],
        vector["body"].encode(),
        vector["timestamp"],
    )
    assert signature == vector["signature"]


def test_the_secret_key_stays_out_of_the_repr() -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY))
    assert SECRET_KEY not in repr(auth)
    assert CLIENT_KEY not in repr(auth)


@pytest.fixture(scope="module")
def kaufland() -> Iterator[str]:
    app = create_app(CLIENT_KEY, SECRET_KEY)
    simulator(app).add_order_unit(314567898654242, "MB7UWLD")
    with serve_in_thread(app) as base_url:
        yield base_url + "/v2"


def exchange(
    base_url: str,
    auth: KauflandAuth,
    method: str,
    path: str,
    **kwargs: Any,
) -> tuple[httpx.Request, httpx.Response]:
    async def run() -> tuple[httpx.Request, httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, auth=auth) as client:
            response = await client.request(method, path, **kwargs)
            return response.request, response

    return asyncio.run(run())


def test_the_signature_covers_method_full_uri_body_and_timestamp(kaufland: str) -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY))
    request, response = exchange(
        kaufland,
        auth,
        "PATCH",
        "/order-units/314567898654242/send",
        json={"carrier_code": "DHL", "tracking_numbers": "00340434161234567890"},
    )
    expected = hmac.new(
        SECRET_KEY.encode(),
        b"PATCH\n"
        + str(request.url).encode()
        + b"\n"
        + request.content
        + b"\n"
        + request.headers["Shop-Timestamp"].encode(),
        hashlib.sha256,
    ).hexdigest()
    assert str(request.url).startswith("http://127.0.0.1:")
    assert request.content  # the exact body bytes were signed, not an empty string
    assert request.headers["Shop-Signature"] == expected
    assert request.headers["Shop-Client-Key"] == CLIENT_KEY
    assert request.headers["User-Agent"] == "liefern/0.1"
    assert request.headers["Accept"] == "application/json"
    assert response.status_code == 204


def test_a_query_string_is_part_of_the_signed_uri(kaufland: str) -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY))
    request, response = exchange(
        kaufland, auth, "GET", "/order-units/314567898654242", params={"embedded": "delivery"}
    )
    assert request.url.query == b"embedded=delivery"
    assert response.status_code == 200


def test_the_timestamp_is_unix_seconds_now(kaufland: str) -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY))
    before = int(time.time())
    request, _ = exchange(kaufland, auth, "GET", "/carriers")
    assert before <= int(request.headers["Shop-Timestamp"]) <= int(time.time())


def test_a_wrong_secret_key_is_refused(kaufland: str) -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr("0" * 64))
    _, response = exchange(kaufland, auth, "GET", "/order-units/314567898654242")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/corrupted-signature"


def test_an_unknown_client_key_is_refused(kaufland: str) -> None:
    auth = KauflandAuth("f" * 32, SecretStr(SECRET_KEY))
    _, response = exchange(kaufland, auth, "GET", "/order-units/314567898654242")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-credentials"


def test_a_stale_timestamp_is_refused(kaufland: str) -> None:
    auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY), clock=lambda: time.time() - 3600)
    _, response = exchange(kaufland, auth, "GET", "/order-units/314567898654242")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/missing-or-invalid-request-header"


def test_an_unsigned_request_is_refused(kaufland: str) -> None:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(base_url=kaufland) as client:
            return await client.get("/order-units/314567898654242")

    response = asyncio.run(run())
    assert response.status_code == 401
    assert set(response.json()) == {"type", "message", "errors"}
