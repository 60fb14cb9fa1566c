"""The Kaufland connector's requests and the simulator's answers, checked against Kaufland's spec.

Traffic is recorded with httpx event hooks while the connector runs against the simulator, then
validated with openapi-core against `../shared/specs/kaufland/seller_api_v2_swagger.json`. The
spec's server is the relative `/v2`, so requests match on their path alone (the simulator also
serves under /v2). The file carries one schema default openapi-core's spec validator refuses,
hence `spec_validator_cls=None`; request and response validation still run in full.
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
from openapi_core.configurations import Config
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.response.exceptions import InvalidData
from pydantic import SecretStr

from connectors.base import ParcelShipment, ShipmentItem
from connectors.kaufland import KauflandAuth, KauflandConnector, KauflandOptions
from simulators.kaufland import KauflandSimulator, build_app
from simulators.server import serve_in_thread

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs"
SPEC_FILE = SPECS / "kaufland" / "seller_api_v2_swagger.json"
FIXTURES = Path(__file__).parent / "fixtures" / "kaufland"
CLIENT_KEY = "35f5dba43b471cd2ad28fd68e4825e2b"
SECRET_KEY = "b3575f222f7b768c25160b879699118b331c6883dd6010864b7ead130be77cd5"

Exchange = tuple[httpx.Request, httpx.Response]


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    if not SPEC_FILE.is_file():
        pytest.skip(f"Kaufland spec not present at {SPEC_FILE} (../shared/specs is missing)")
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def traffic() -> Iterator[list[Exchange]]:
    """A batch that sends, adds a later parcel, meets a duplicate and an unknown unit."""
    sim = KauflandSimulator(CLIENT_KEY, SECRET_KEY)
    sim.add_order_unit(1001, "MB7UWLD")
    sim.add_order_unit(1002, "MB7UWLD")
    sim.add_order_unit(2001, "X2AB3CD", status="sent")
    exchanges: list[Exchange] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        exchanges.append((response.request, response))

    def parcel(
        number: str, *units: int, order: str, numbers: tuple[str, ...], confirmation_id: int
    ) -> ParcelShipment:
        return ParcelShipment(
            confirmation_id=confirmation_id,
            order_no="100981",
            portal_order_id=order,
            account="kaufland-de",
            carrier="dpd",
            tracking_number=number,
            shipped_at=datetime.now(UTC) - timedelta(hours=1),
            items=tuple(ShipmentItem(str(unit), 1) for unit in units),
            order_tracking_numbers=numbers,
        )

    async def run(api_base: str) -> None:
        connector = KauflandConnector.from_credentials(
            client_key=CLIENT_KEY,
            secret_key=SecretStr(SECRET_KEY),
            options=KauflandOptions(api_base=api_base, base_delay=0.01),
            event_hooks={"response": [record]},
        )
        try:
            await connector.submit(
                [
                    parcel(
                        "01234567890123",
                        1001,
                        1002,
                        order="MB7UWLD",
                        numbers=("01234567890123",),
                        confirmation_id=1,
                    ),
                    parcel(
                        "09876543210987",
                        2001,
                        order="X2AB3CD",
                        numbers=("01111111111111", "09876543210987"),
                        confirmation_id=2,
                    ),
                    parcel(
                        "05555555555555",
                        404404,
                        order="NOPE404",
                        numbers=("05555555555555",),
                        confirmation_id=3,
                    ),
                ]
            )
            # the same later parcel again: Kaufland answers that it has it already
            await connector.submit(
                [
                    parcel(
                        "09876543210987",
                        2001,
                        order="X2AB3CD",
                        numbers=("01111111111111", "09876543210987"),
                        confirmation_id=2,
                    )
                ]
            )
        finally:
            await connector.aclose()
        auth = KauflandAuth(CLIENT_KEY, SecretStr(SECRET_KEY))
        async with httpx.AsyncClient(
            base_url=api_base, auth=auth, event_hooks={"response": [record]}
        ) as client:
            await client.get("/carriers")

    with serve_in_thread(build_app(sim)) as base_url:
        asyncio.run(run(base_url + "/v2"))
    yield exchanges


def as_openapi_request(request: httpx.Request) -> MockRequest:
    return MockRequest(
        f"{request.url.scheme}://{request.url.netloc.decode()}",
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


def test_the_recorded_traffic_covers_every_operation_used(traffic: list[Exchange]) -> None:
    seen = {(req.method, req.url.path.split("/")[2], resp.status_code) for req, resp in traffic}
    assert {
        ("GET", "order-units", 200),
        ("PATCH", "order-units", 204),
        ("POST", "shipments", 204),
        ("POST", "shipments", 400),
        ("GET", "order-units", 404),
        ("GET", "carriers", 200),
    } <= seen


def test_every_request_matches_the_spec(openapi: OpenAPI, traffic: list[Exchange]) -> None:
    for request, _ in traffic:
        openapi.validate_request(as_openapi_request(request))


def test_every_simulator_answer_matches_the_spec(openapi: OpenAPI, traffic: list[Exchange]) -> None:
    for request, response in traffic:
        openapi.validate_response(as_openapi_request(request), as_openapi_response(response))


def test_the_order_unit_fixture_matches_the_spec(openapi: OpenAPI) -> None:
    body = (FIXTURES / "order_unit_sent.json").read_bytes()
    request = MockRequest("http://127.0.0.1", "GET", "/v2/order-units/314567898654242")
    openapi.validate_response(request, MockResponse(body, status_code=200))


def test_the_error_fixtures_match_the_spec(openapi: OpenAPI) -> None:
    request = MockRequest(
        "http://127.0.0.1",
        "PATCH",
        "/v2/order-units/314567898654242/send",
        headers={"Content-Type": "application/json"},
        data=(FIXTURES / "send_request_second_of_two.json").read_bytes(),
    )
    openapi.validate_request(request)
    for name, status in (("error_validation.json", 400), ("error_corrupted_signature.json", 401)):
        body = (FIXTURES / name).read_bytes()
        openapi.validate_response(request, MockResponse(body, status_code=status))


def test_the_validator_does_refuse_tracking_numbers_as_a_list(
    openapi: OpenAPI, traffic: list[Exchange]
) -> None:
    patch = next(req for req, _ in traffic if req.method == "PATCH")
    body: dict[str, Any] = json.loads(patch.content)
    body["tracking_numbers"] = body["tracking_numbers"].split(",")
    broken = MockRequest(
        "http://127.0.0.1",
        "PATCH",
        patch.url.path,
        headers={"Content-Type": "application/json"},
        data=json.dumps(body).encode(),
    )
    with pytest.raises(InvalidRequestBody):
        openapi.validate_request(broken)


def test_the_validator_does_refuse_an_order_unit_without_required_fields(
    openapi: OpenAPI, traffic: list[Exchange]
) -> None:
    request, response = next(
        (req, resp) for req, resp in traffic if req.method == "GET" and resp.status_code == 200
    )
    body = response.json()
    del body["data"]["product"]  # required (nullable, but present) in OrderUnitDetails
    broken = MockResponse(json.dumps(body).encode(), status_code=200)
    with pytest.raises(InvalidData):
        openapi.validate_response(as_openapi_request(request), broken)
