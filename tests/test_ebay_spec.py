"""The eBay connector's requests and the simulator's answers, checked against eBay's OpenAPI file.

Traffic is recorded with httpx event hooks while the connector runs against the simulator, then
each request and each answer is validated with openapi-core against
`../shared/specs/ebay/sell_fulfillment_v1_oas3.json` (the simulator's host is mapped onto
eBay's production server, whose base path is /sell/fulfillment/v1).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.response.exceptions import InvalidData
from pydantic import SecretStr

from connectors.base import ParcelShipment, ShipmentItem
from connectors.ebay.auth import EbayAuth
from connectors.ebay.connector import EbayConnector, EbayOptions
from simulators.ebay import EbaySimulator, build_app
from simulators.server import serve_in_thread

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs"
SPEC_FILE = SPECS / "ebay" / "sell_fulfillment_v1_oas3.json"
EBAY_HOST = "https://api.ebay.com"
ORDER = "12-34567-89012"

Exchange = tuple[httpx.Request, httpx.Response]

# openapi-core does not check oauth2 schemes; it says so once per request
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    if not SPEC_FILE.is_file():
        pytest.skip(f"eBay spec not present at {SPEC_FILE} (../shared/specs is missing)")
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    # openapi-core matches no "/" inside a server variable: resolve `{basePath}` to its default
    for server in spec["servers"]:
        for name, variable in server.pop("variables", {}).items():
            server["url"] = server["url"].replace("{" + name + "}", variable["default"])
    return OpenAPI.from_dict(spec)


@pytest.fixture(scope="module")
def traffic() -> Iterator[tuple[list[Exchange], EbaySimulator]]:
    """One batch with a good parcel, a refused parcel and a repeated parcel, recorded."""
    sim = EbaySimulator()
    sim.add_order(ORDER, {"111": 2, "222": 1})
    exchanges: list[Exchange] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        exchanges.append((response.request, response))

    def parcel(number: str, item: str, confirmation_id: int) -> ParcelShipment:
        return ParcelShipment(
            confirmation_id=confirmation_id,
            order_no="100234",
            portal_order_id=ORDER,
            account="ebay-main",
            carrier="dhl_express",
            tracking_number=number,
            shipped_at=datetime.now(UTC) - timedelta(hours=3),
            items=(ShipmentItem(item, 1),),
        )

    async def run(base_url: str) -> None:
        connector = EbayConnector.from_credentials(
            client_id=sim.client_id,
            client_secret=SecretStr(sim.client_secret),
            refresh_token=SecretStr(sim.refresh_token),
            options=EbayOptions(api_base=base_url, base_delay=0.01),
            event_hooks={"response": [record]},
        )
        try:
            await connector.submit([parcel("1234567890", "111", 1), parcel("2345678901", "999", 2)])
            await connector.submit([parcel("1234567890", "111", 3)])
        finally:
            await connector.aclose()
        # the single-fulfillment read and an unknown order, outside the connector
        auth = EbayAuth(
            sim.client_id,
            SecretStr(sim.client_secret),
            SecretStr(sim.refresh_token),
            base_url + "/identity/v1/oauth2/token",
        )
        async with httpx.AsyncClient(
            base_url=base_url, auth=auth, event_hooks={"response": [record]}
        ) as client:
            path = "/sell/fulfillment/v1/order/{}/shipping_fulfillment"
            await client.get(path.format(ORDER) + "/1234567890")
            await client.get(path.format("99-99999-99999"))
        await auth.aclose()

    with serve_in_thread(build_app(sim)) as base_url:
        asyncio.run(run(base_url))
    yield exchanges, sim


def as_openapi_request(request: httpx.Request) -> MockRequest:
    return MockRequest(
        EBAY_HOST,
        request.method,
        request.url.path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content,
        content_type=request.headers.get("content-type", "application/json"),
    )


def as_openapi_response(response: httpx.Response) -> MockResponse:
    return MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


def test_the_recorded_traffic_covers_reads_creates_and_refusals(
    traffic: tuple[list[Exchange], EbaySimulator],
) -> None:
    exchanges, _ = traffic
    seen = {(req.method, resp.status_code) for req, resp in exchanges}
    assert {("GET", 200), ("POST", 201), ("POST", 400), ("GET", 400)} <= seen


def test_every_request_matches_the_spec(
    openapi: OpenAPI, traffic: tuple[list[Exchange], EbaySimulator]
) -> None:
    exchanges, _ = traffic
    for request, _ in exchanges:
        openapi.validate_request(as_openapi_request(request))


def test_every_simulator_answer_matches_the_spec(
    openapi: OpenAPI, traffic: tuple[list[Exchange], EbaySimulator]
) -> None:
    exchanges, _ = traffic
    for request, response in exchanges:
        openapi.validate_response(as_openapi_request(request), as_openapi_response(response))


def test_created_fulfillments_answer_with_a_location_naming_the_fulfillment(
    traffic: tuple[list[Exchange], EbaySimulator],
) -> None:
    exchanges, _ = traffic
    created = [resp for req, resp in exchanges if resp.status_code == 201]
    assert len(created) == 1
    assert (
        created[0]
        .headers["Location"]
        .endswith(f"/sell/fulfillment/v1/order/{ORDER}/shipping_fulfillment/1234567890")
    )


def test_error_answers_use_ebays_error_envelope(
    traffic: tuple[list[Exchange], EbaySimulator],
) -> None:
    exchanges, _ = traffic
    errors = [resp.json() for _, resp in exchanges if resp.status_code >= 400]
    assert errors
    for body in errors:
        [entry] = body["errors"]
        assert isinstance(entry["errorId"], int)
        assert entry["domain"] == "API_FULFILLMENT"
        assert entry["category"] == "REQUEST"
        assert entry["message"]


def test_the_validator_does_refuse_a_malformed_request(
    openapi: OpenAPI, traffic: tuple[list[Exchange], EbaySimulator]
) -> None:
    exchanges, _ = traffic
    post = next(req for req, resp in exchanges if req.method == "POST")
    body: dict[str, Any] = json.loads(post.content)
    body["lineItems"] = "111"  # an array in the spec
    with pytest.raises(InvalidRequestBody):
        openapi.validate_request(as_openapi_request(replace_body(post, body)))


def test_the_validator_does_refuse_a_malformed_answer(
    openapi: OpenAPI, traffic: tuple[list[Exchange], EbaySimulator]
) -> None:
    exchanges, _ = traffic
    request, response = next(
        (req, resp) for req, resp in exchanges if req.method == "GET" and resp.status_code == 200
    )
    body = response.json()
    body["total"] = str(body["total"])  # an integer in the spec
    broken = MockResponse(json.dumps(body).encode(), status_code=200)
    with pytest.raises(InvalidData):
        openapi.validate_response(as_openapi_request(request), broken)


def replace_body(request: httpx.Request, body: dict[str, Any]) -> httpx.Request:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, json=body)
