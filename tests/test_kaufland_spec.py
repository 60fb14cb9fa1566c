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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
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

from connectors.base import OrderParcel, ParcelShipment, ShipmentItem
from connectors.kaufland.auth import KauflandAuth
from connectors.kaufland.connector import KauflandConnector, KauflandOptions
from simulators.kaufland import KauflandSimulator, build_app
from simulators.server import serve_in_thread

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs"
SPEC_FILE = SPECS / "kaufland" / "seller_api_v2_swagger.json"
FIXTURES = Path(__file__).parent / "fixtures" / "kaufland"
CLIENT_KEY = "35f5dba43b471cd2ad28fd68e4825e2b"
SECRET_KEY = "b3575f222f7b768c25160b879699118b331c6883dd6010864b7ead130be77cd5"

Exchange = tuple[httpx.Request, httpx.Response]


@dataclass
class Traffic:
    connector: list[Exchange] = field(default_factory=list)  # what the connector sent
    direct: list[Exchange] = field(default_factory=list)  # operations the connector leaves out

    @property
    def all(self) -> list[Exchange]:
        return self.connector + self.direct


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_FILE.is_file():
        pytest.skip(f"Kaufland spec not present at {SPEC_FILE} (../shared/specs is missing)")
    loaded: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def traffic() -> Iterator[Traffic]:
    """A batch that sends, adds a later parcel, meets a duplicate and an unknown order; then
    the order-unit read and the carrier list, which the connector does not use."""
    sim = KauflandSimulator(CLIENT_KEY, SECRET_KEY)
    sim.add_order_unit(1001, "MB7UWLD")
    sim.add_order_unit(1002, "MB7UWLD")
    sim.add_order_unit(1003, "MB7UWLD", status="cancelled")
    sim.add_order_unit(2001, "X2AB3CD", status="sent")
    recorded = Traffic()

    def recorder(exchanges: list[Exchange]) -> Callable[[httpx.Response], Awaitable[None]]:
        async def record(response: httpx.Response) -> None:
            await response.aread()
            exchanges.append((response.request, response))

        return record

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
            order_parcels=tuple(OrderParcel("dpd", n) for n in numbers),
            parcel_index=numbers.index(number),
        )

    async def run(api_base: str) -> None:
        connector = KauflandConnector.from_credentials(
            client_key=CLIENT_KEY,
            secret_key=SecretStr(SECRET_KEY),
            options=KauflandOptions(api_base=api_base, base_delay=0.01),
            event_hooks={"response": [recorder(recorded.connector)]},
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
            base_url=api_base, auth=auth, event_hooks={"response": [recorder(recorded.direct)]}
        ) as client:
            await client.get("/order-units/1001")
            await client.get("/order-units/404404")
            await client.get("/carriers")

    with serve_in_thread(build_app(sim)) as base_url:
        asyncio.run(run(base_url + "/v2"))
    yield recorded


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


def _seen(exchanges: list[Exchange]) -> set[tuple[str, str, int]]:
    return {(req.method, req.url.path.split("/")[2], resp.status_code) for req, resp in exchanges}


def test_the_recorded_traffic_covers_every_operation_used(traffic: Traffic) -> None:
    assert _seen(traffic.all) >= {
        ("GET", "orders", 200),
        ("GET", "orders", 404),
        ("PATCH", "order-units", 204),
        ("POST", "shipments", 204),
        ("POST", "shipments", 400),
        ("GET", "order-units", 200),
        ("GET", "order-units", 404),
        ("GET", "carriers", 200),
    }


def test_the_connector_reads_orders_once_per_parcel_and_never_single_units(
    traffic: Traffic,
) -> None:
    reads = [req.url.path for req, _ in traffic.connector if req.method == "GET"]
    assert sorted(reads) == [
        "/v2/orders/MB7UWLD",
        "/v2/orders/NOPE404",
        "/v2/orders/X2AB3CD",
        "/v2/orders/X2AB3CD",  # the second batch
    ]


def test_every_request_matches_the_spec(openapi: OpenAPI, traffic: Traffic) -> None:
    for request, _ in traffic.all:
        openapi.validate_request(as_openapi_request(request))


def test_every_simulator_answer_matches_the_spec(openapi: OpenAPI, traffic: Traffic) -> None:
    for request, response in traffic.all:
        openapi.validate_response(as_openapi_request(request), as_openapi_response(response))


def _order_unit_item(spec: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = spec["components"]["schemas"]["OrderDetails"]["properties"][
        "order_units"
    ]["items"]
    return item


def test_the_simulators_order_units_carry_exactly_the_fields_of_the_spec(
    spec: dict[str, Any], traffic: Traffic
) -> None:
    # the spec leaves additional properties open here, so extra fields would pass validation
    item = _order_unit_item(spec)
    embedded_only = {"kss_eligible"}  # only answered when asked for with `embedded`
    orders = [
        resp.json()["data"]
        for req, resp in traffic.all
        if req.url.path.startswith("/v2/orders/") and resp.status_code == 200
    ]
    units = [unit for order in orders for unit in order["order_units"]]
    assert len(units) == 5  # MB7UWLD's three, X2AB3CD's one in each of the two batches
    for unit in units:
        assert set(unit) == set(item["properties"]) - embedded_only
        assert set(item["required"]) <= set(unit)
    mb7 = next(order for order in orders if order["id_order"] == "MB7UWLD")
    assert [(u["id_order_unit"], u["status"]) for u in mb7["order_units"]] == [
        (1001, "need_to_be_sent"),
        (1002, "need_to_be_sent"),
        (1003, "cancelled"),
    ]


def test_the_order_unit_fixture_matches_the_spec(openapi: OpenAPI) -> None:
    body = (FIXTURES / "order_unit_sent.json").read_bytes()
    request = MockRequest("http://127.0.0.1", "GET", "/v2/order-units/314567898654242")
    openapi.validate_response(request, MockResponse(body, status_code=200))


def test_the_order_fixture_matches_the_spec(openapi: OpenAPI, spec: dict[str, Any]) -> None:
    raw = (FIXTURES / "order_three_units.json").read_bytes()
    request = MockRequest("http://127.0.0.1", "GET", "/v2/orders/MB7UWLD")
    openapi.validate_response(request, MockResponse(raw, status_code=200))
    item = _order_unit_item(spec)
    for unit in json.loads(raw)["data"]["order_units"]:
        assert set(item["required"]) <= set(unit) <= set(item["properties"])


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
    openapi: OpenAPI, traffic: Traffic
) -> None:
    patch = next(req for req, _ in traffic.connector if req.method == "PATCH")
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


def _first_answer(traffic: Traffic, path_part: str) -> Exchange:
    return next(
        (req, resp)
        for req, resp in traffic.all
        if req.method == "GET" and path_part in req.url.path and resp.status_code == 200
    )


def test_the_validator_does_refuse_an_order_unit_without_required_fields(
    openapi: OpenAPI, traffic: Traffic
) -> None:
    request, response = _first_answer(traffic, "/order-units/")
    body = response.json()
    del body["data"]["product"]  # required (nullable, but present) in OrderUnitDetails
    broken = MockResponse(json.dumps(body).encode(), status_code=200)
    with pytest.raises(InvalidData):
        openapi.validate_response(as_openapi_request(request), broken)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.pop("buyer"),  # required (nullable, but present) in OrderDetails
        lambda data: data.pop("order_units"),
        lambda data: data["order_units"][0].pop("status"),
        lambda data: data["order_units"][0].pop("tickets"),
        lambda data: data.update(invoices=[]),  # OrderDetails allows no other fields
    ],
    ids=["buyer", "order_units", "unit-status", "unit-tickets", "extra-field"],
)
def test_the_validator_does_refuse_an_order_without_required_fields(
    openapi: OpenAPI, traffic: Traffic, damage: Callable[[dict[str, Any]], object]
) -> None:
    request, response = _first_answer(traffic, "/orders/")
    body = response.json()
    damage(body["data"])
    broken = MockResponse(json.dumps(body).encode(), status_code=200)
    with pytest.raises(InvalidData):
        openapi.validate_response(as_openapi_request(request), broken)
