"""The client's requests and the simulator's answers, checked against DHL's OpenAPI description.

Real HTTP between the client and the simulator is recorded by a transport wrapped around
httpx's own; every exchange is then replayed into openapi-core as if it had gone to DHL's
production host (the paths already carry DHL's prefix). The fixture files and the vendor facts
in `connectors.dhl_parcel.mapping` are held against the same spec.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from connectors.dhl_parcel import mapping as dhl
from connectors.dhl_parcel.auth import DhlBasicAuth, DhlPasswordGrantAuth
from connectors.dhl_parcel.connector import DhlParcelClient
from connectors.errors import AuthError, Rejected
from simulators.dhl_parcel import create_app, state_of
from simulators.server import serve_in_thread

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs"
SPEC_FILE = SPECS / "carriers" / "dhl" / "parcel-de-shipping-v2.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "dhl"
API_KEY, USER, PASSWORD, CLIENT_SECRET = "spec-key", "spec-user", "spec-pass", "spec-secret"
TODAY = date(2026, 11, 26)
NUMBERS = [f"0034043416{n:010d}" for n in range(40)]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_FILE.is_file():
        pytest.skip(f"DHL spec folder absent: {SPEC_FILE} not found (needs ../shared/specs)")
    import yaml

    loaded = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> Any:
    from openapi_core import Config, OpenAPI

    # DHL's error answers are application/problem+json, which openapi-core reads as bytes
    # unless told that it is JSON
    def problem_json(data: bytes) -> Any:
        return json.loads(data)

    deserializers: dict[str, Callable[[bytes], Any]] = {"application/problem+json": problem_json}
    return OpenAPI.from_dict(spec, config=Config(extra_media_type_deserializers=deserializers))


class Recorder(httpx.AsyncBaseTransport):
    """httpx's own transport, keeping every exchange (a seam, not a mock)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_dhl_request(request: httpx.Request) -> Any:
    from openapi_core.testing import MockRequest

    return MockRequest(
        host_url="https://api-eu.dhl.com",
        method=request.method,
        path=request.url.path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json").split(";")[0],
    )


def as_dhl_response(response: httpx.Response) -> Any:
    from openapi_core.testing import MockResponse

    return MockResponse(
        data=response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", "").split(";")[0],
    )


def explain(error: BaseException) -> str:
    """openapi-core hides the schema errors in the cause chain; show them."""
    parts = [repr(error)]
    cause = error.__cause__
    while cause is not None:
        parts.append(repr(cause))
        parts.extend(str(e.message) for e in getattr(cause, "schema_errors", ()) or ())
        cause = cause.__cause__
    return " <- ".join(parts)


def is_shipping_call(request: httpx.Request) -> bool:
    return request.url.path.startswith(dhl.SHIPPING_PATH)


@pytest.fixture(scope="module")
def recorded(openapi: Any) -> Iterator[list[tuple[httpx.Request, httpx.Response]]]:
    """One session of real traffic covering every answer the client handles."""
    app = create_app(
        API_KEY, {USER: PASSWORD}, set(NUMBERS), client_secret=CLIENT_SECRET, today=lambda: TODAY
    )
    recorder = Recorder()
    with serve_in_thread(app) as url:
        base_url = url + dhl.SHIPPING_PATH
        state = state_of(app)

        async def session() -> None:
            basic = DhlBasicAuth(API_KEY, USER, PASSWORD)
            async with DhlParcelClient(
                base_url, auth=basic, transport=recorder, base_delay=0.01
            ) as client:
                state.close(NUMBERS[:1])
                await client.close_day([*NUMBERS[:35], "00340434999999999999"])  # 30 + 6
                state.fail_next(1, status=429, retry_after=0)
                await client.close_day(None, billing_number="33333333330101")
                await client.close_day(None)  # all=true
                await client.fetch_manifest(TODAY)
                with pytest.raises(Rejected):
                    await client.fetch_manifest(TODAY + timedelta(days=1))
            oauth = DhlPasswordGrantAuth(API_KEY, CLIENT_SECRET, USER, PASSWORD)
            async with DhlParcelClient(base_url, auth=oauth, transport=recorder) as client:
                await client.close_day(NUMBERS[35:])
            wrong = DhlBasicAuth(API_KEY, USER, "not-the-password")
            async with DhlParcelClient(base_url, auth=wrong, transport=recorder) as client:
                with pytest.raises(AuthError):
                    await client.fetch_manifest(TODAY)

        asyncio.run(session())
    yield recorder.exchanges


def test_the_session_covers_every_answer_the_client_handles(
    recorded: list[tuple[httpx.Request, httpx.Response]],
) -> None:
    seen = {(req.method, res.status_code) for req, res in recorded if is_shipping_call(req)}
    assert {("POST", 207), ("POST", 429), ("GET", 200), ("GET", 400), ("GET", 401)} <= seen
    assert any(urlsplit(str(req.url)).path == dhl.TOKEN_PATH for req, _ in recorded)


def test_client_requests_match_the_spec(
    openapi: Any, recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    problems = [
        f"{req.method} {req.url}: {explain(error)}"
        for req, _ in recorded
        if is_shipping_call(req)
        for error in openapi.iter_request_errors(as_dhl_request(req))
    ]
    assert problems == []


def test_simulator_answers_match_the_spec(
    openapi: Any, recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    problems = [
        f"{req.method} {req.url} -> {res.status_code}: {explain(error)}"
        for req, res in recorded
        if is_shipping_call(req)
        for error in openapi.iter_response_errors(as_dhl_request(req), as_dhl_response(res))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("name", "method", "status", "content_type"),
    [
        ("manifests_post_207.json", "POST", 207, "application/json"),
        ("manifests_post_207_deprecated_code.json", "POST", 207, "application/json"),
        ("manifests_post_207_empty.json", "POST", 207, "application/json"),
        ("manifests_get_200.json", "GET", 200, "application/json"),
        ("error_400.json", "GET", 400, "application/problem+json"),
        ("error_400_validation.json", "POST", 400, "application/problem+json"),
        ("error_401.json", "GET", 401, "application/problem+json"),
    ],
)
def test_fixture_files_match_the_spec(
    openapi: Any, name: str, method: str, status: int, content_type: str
) -> None:
    from openapi_core.testing import MockRequest, MockResponse

    body = b'{"profile": "STANDARD_GRUPPENPROFIL"}' if method == "POST" else None
    request = MockRequest(
        "https://api-eu.dhl.com",
        method,
        f"{dhl.SHIPPING_PATH}/manifests",
        headers={"dhl-api-key": "k"},
        data=body,
    )
    response = MockResponse(
        (FIXTURES / name).read_bytes(), status_code=status, content_type=content_type
    )
    assert [explain(e) for e in openapi.iter_response_errors(request, response)] == []


@pytest.mark.parametrize(
    "body",
    [
        {"shipmentNumbers": ["00340434161094042557"]},
        {"profile": "STANDARD_GRUPPENPROFIL", "shipmentNumbers": NUMBERS[:31]},
        {"profile": "STANDARD_GRUPPENPROFIL", "shipmentNumbers": []},
        {"profile": "STANDARD_GRUPPENPROFIL", "shipmentNumbers": "00340434161094042557"},
        {"profile": "P" * 36, "shipmentNumbers": ["00340434161094042557"]},
    ],
    ids=["no-profile", "31-numbers", "no-numbers", "not-a-list", "long-profile"],
)
def test_simulator_refuses_what_the_spec_forbids(openapi: Any, body: dict[str, Any]) -> None:
    from openapi_core.testing import MockRequest

    raw = json.dumps(body).encode()
    spec_errors = list(
        openapi.iter_request_errors(
            MockRequest(
                "https://api-eu.dhl.com",
                "POST",
                f"{dhl.SHIPPING_PATH}/manifests",
                headers={"dhl-api-key": API_KEY},
                data=raw,
            )
        )
    )
    app = create_app(API_KEY, {USER: PASSWORD}, set(NUMBERS))
    with serve_in_thread(app) as url:
        answer = httpx.post(
            f"{url}{dhl.SHIPPING_PATH}/manifests",
            content=raw,
            headers={"dhl-api-key": API_KEY, "content-type": "application/json"},
            auth=(USER, PASSWORD),
        )
    assert spec_errors, "the spec should forbid this body"
    assert answer.status_code == 400
    assert state_of(app).closed == {}


def test_vendor_facts_match_the_spec(spec: dict[str, Any]) -> None:
    servers = [server["url"] for server in spec["servers"]]
    assert servers == [dhl.PRODUCTION, dhl.SANDBOX]
    assert all(urlsplit(s).path == dhl.SHIPPING_PATH for s in servers)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2"]["flows"]["password"]["tokenUrl"] == dhl.TOKEN_PATH
    assert schemes["ApiKey"]["name"] == dhl.API_KEY_HEADER
    request = spec["components"]["schemas"]["ShipmentManifestingRequest"]
    assert request["properties"]["shipmentNumbers"]["maxItems"] == dhl.MAX_SHIPMENTS_PER_MANIFEST
    assert request["properties"]["profile"]["maxLength"] == dhl.MAX_PROFILE_LENGTH
