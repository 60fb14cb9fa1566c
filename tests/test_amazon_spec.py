"""The connector's requests and the simulator's answers, held against Amazon's SP-API models.

Real HTTP between the connector and the simulator is recorded by a transport wrapped around
httpx's own; every SP-API exchange is then replayed into openapi-core as if it had gone to the
EU production host (`../shared/specs/amazon/oas3/`, the official models converted to OAS 3).
Vendor facts kept in code (usage plans, endpoints) are checked against the same files.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from werkzeug.datastructures import Headers, ImmutableMultiDict

from connectors.amazon.auth import LwaAuth
from connectors.amazon.client import RateLimits, SpApiClient
from connectors.amazon.connector import AmazonConnector
from connectors.amazon.mapping import REGIONS
from connectors.amazon.tracking import AmazonTrackingClient
from connectors.base import ParcelShipment, ShipmentItem, SubmittedConfirmation
from connectors.errors import RateLimited
from core.domain import ConfirmationStatus
from simulators.amazon import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LIMITS,
    DEFAULT_REFRESH_TOKEN,
    create_app,
)
from simulators.server import serve_in_thread

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs" / "amazon"
OAS3 = SPECS / "oas3"
FEEDS_SPEC = OAS3 / "feeds_2021-06-30.oas3.json"
ORDERS_SPEC = OAS3 / "ordersV0.oas3.json"
ORDERS_2026_SPEC = OAS3 / "orders_2026-01-01.oas3.json"
FIXTURES = Path(__file__).parent / "fixtures" / "amazon"
EU_HOST = "https://sellingpartnerapi-eu.amazon.com"
MARKETPLACE_DE = "A1PA6795UKMFR9"
UNKNOWN_ORDER = "302-0000000-0000000"
SHIPPED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        pytest.skip(f"Amazon spec absent: {path} not found (needs ../shared/specs)")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def validators() -> dict[str, Any]:
    from openapi_core import OpenAPI

    return {
        "/feeds/": OpenAPI.from_dict(load(FEEDS_SPEC)),
        "/orders/2026-01-01/": OpenAPI.from_dict(load(ORDERS_2026_SPEC)),  # before /orders/
        "/orders/": OpenAPI.from_dict(load(ORDERS_SPEC)),
    }


# --- a small adapter from httpx to openapi-core ---------------------------------------------------


@dataclass
class SpRequest:
    """An httpx request as openapi-core sees it, sent to the EU production host."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    host_url: str = EU_HOST
    parameters: Any = None

    @classmethod
    def of(cls, request: httpx.Request, body: bytes | None = None) -> SpRequest:
        from openapi_core.datatypes import RequestParameters

        made = cls(
            method=request.method.lower(),
            path=request.url.path,
            body=request.content if body is None else body,
            content_type=request.headers.get("content-type", ""),
        )
        made.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )
        return made


@dataclass
class SpResponse:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers = field(default_factory=Headers)

    @classmethod
    def of(cls, response: httpx.Response, data: bytes | None = None) -> SpResponse:
        return cls(
            status_code=response.status_code,
            data=response.content if data is None else data,
            content_type=response.headers.get("content-type", ""),
            headers=Headers(list(response.headers.items())),
        )


def explain(error: BaseException) -> str:
    """openapi-core keeps the schema errors in the cause chain; show them."""
    parts = [repr(error)]
    cause = error.__cause__
    while cause is not None:
        parts.append(repr(cause))
        parts.extend(str(e.message) for e in getattr(cause, "schema_errors", ()) or ())
        cause = cause.__cause__
    return " <- ".join(parts)


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


def parcel(confirmation_id: int, order_id: str, carrier: str = "dhl") -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=confirmation_id,
        order_no=f"A-{confirmation_id}",
        portal_order_id=order_id,
        account="main",
        carrier=carrier,
        tracking_number=f"0034043416{confirmation_id:010d}",
        shipped_at=SHIPPED,
        items=(ShipmentItem("12345678901234", 1),),
    )


@pytest.fixture(scope="module")
def recorded(validators: dict[str, Any]) -> Iterator[list[tuple[httpx.Request, httpx.Response]]]:
    """One session of real traffic covering every answer the connector handles."""
    app = create_app(
        known_orders=lambda order_id: order_id != UNKNOWN_ORDER, throttle=False, gzip_reports=True
    )
    sim = app.state.sim
    recorder = Recorder()
    with serve_in_thread(app) as base_url:

        async def session() -> None:
            auth = LwaAuth(
                DEFAULT_CLIENT_ID,
                SecretStr(DEFAULT_CLIENT_SECRET),
                SecretStr(DEFAULT_REFRESH_TOKEN),
                f"{base_url}/auth/o2/token",
            )
            options: dict[str, Any] = {
                "limits": RateLimits.relaxed(),
                "transport": recorder,
                "retry_base_delay": 0.01,
            }
            feeds = AmazonConnector("main", "A2EXAMPLEMERCH", MARKETPLACE_DE, auth, base_url,
                                    **options)  # fmt: skip
            sim.fail_next("createFeed", 429)
            sim.fail_next("getFeed", 503)
            sent = await feeds.submit(
                [parcel(1, "302-1234567-1234567"), parcel(2, UNKNOWN_ORDER, "spedition_x")]
            )
            sim.expire_access_tokens()
            rows = [
                SubmittedConfirmation(r.confirmation_id, "main", r.reference or "", n)
                for n, r in enumerate(sent, start=1)
            ]
            polled = await feeds.poll([*rows, SubmittedConfirmation(9, "main", "404404", 1)])
            assert {r.status for r in polled} >= {
                ConfirmationStatus.CONFIRMED,
                ConfirmationStatus.REJECTED,
            }
            await feeds.aclose()
            confirm = AmazonConnector(
                "main", "A2EXAMPLEMERCH", MARKETPLACE_DE, auth, base_url,
                mode="confirm_shipment", **options,
            )  # fmt: skip
            sim.fail_next("confirmShipment", 429, retry_after=0.01)
            results = await confirm.submit(
                [parcel(3, "302-1234567-7654321", "other"), parcel(4, UNKNOWN_ORDER)]
            )
            assert [r.status for r in results] == [
                ConfirmationStatus.CONFIRMED,
                ConfirmationStatus.REJECTED,
            ]
            await confirm.aclose()
            api = SpApiClient(base_url, auth, limits=RateLimits.relaxed(), transport=recorder,
                              retry_attempts=1)  # fmt: skip
            tracking = AmazonTrackingClient("amazon_main", "main", api)
            (report,) = await tracking.track(
                ["0034043416" + "3".zfill(10)], order_ref="302-1234567-7654321"
            )
            assert report.status is not None
            assert (await tracking.track(["x"], order_ref=UNKNOWN_ORDER))[0].status is None
            sim.fail_next("getOrder", 429)
            with pytest.raises(RateLimited):
                await tracking.track(["x"], order_ref="302-1234567-7654321")
            await tracking.aclose()

        asyncio.run(session())
    yield recorder.exchanges


def sp_api(
    exchanges: list[tuple[httpx.Request, httpx.Response]],
) -> list[tuple[httpx.Request, httpx.Response]]:
    return [
        (request, response)
        for request, response in exchanges
        if request.url.path.startswith(("/feeds/", "/orders/"))
    ]


def validator_for(validators: dict[str, Any], request: httpx.Request) -> Any:
    return next(v for prefix, v in validators.items() if request.url.path.startswith(prefix))


def template(path: str) -> str:
    path = re.sub(r"^(/feeds/2021-06-30/(?:feeds|documents))/[^/]+$", r"\1/{id}", path)
    path = re.sub(r"^/orders/2026-01-01/orders/[^/]+$", "/orders/2026-01-01/orders/{id}", path)
    return re.sub(r"^/orders/v0/orders/[^/]+/", "/orders/v0/orders/{id}/", path)


def test_the_session_covers_every_operation_and_answer(
    recorded: list[tuple[httpx.Request, httpx.Response]],
) -> None:
    seen = {
        (request.method, template(request.url.path), response.status_code)
        for request, response in sp_api(recorded)
    }
    assert {
        ("POST", "/feeds/2021-06-30/documents", 201),
        ("POST", "/feeds/2021-06-30/feeds", 202),
        ("POST", "/feeds/2021-06-30/feeds", 429),
        ("GET", "/feeds/2021-06-30/feeds/{id}", 200),
        ("GET", "/feeds/2021-06-30/feeds/{id}", 403),
        ("GET", "/feeds/2021-06-30/feeds/{id}", 404),
        ("GET", "/feeds/2021-06-30/feeds/{id}", 503),
        ("GET", "/feeds/2021-06-30/documents/{id}", 200),
        ("POST", "/orders/v0/orders/{id}/shipmentConfirmation", 204),
        ("POST", "/orders/v0/orders/{id}/shipmentConfirmation", 400),
        ("POST", "/orders/v0/orders/{id}/shipmentConfirmation", 429),
        ("GET", "/orders/2026-01-01/orders/{id}", 200),
        ("GET", "/orders/2026-01-01/orders/{id}", 404),
        ("GET", "/orders/2026-01-01/orders/{id}", 429),
    } <= seen


def test_every_sp_api_request_matches_the_models(
    validators: dict[str, Any], recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    failures = []
    for request, _ in sp_api(recorded):
        try:
            validator_for(validators, request).validate_request(SpRequest.of(request))
        except Exception as error:  # collect them all
            failures.append(f"{request.method} {request.url.path}: {explain(error)}")
    assert failures == []


def test_every_simulator_answer_matches_the_models(
    validators: dict[str, Any], recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    failures = []
    for request, response in sp_api(recorded):
        try:
            validator_for(validators, request).validate_response(
                SpRequest.of(request), SpResponse.of(response)
            )
        except Exception as error:  # collect them all
            failures.append(f"{request.method} {request.url.path} {response.status_code}: "
                            f"{explain(error)}")  # fmt: skip
    assert failures == []


def test_the_request_check_catches_a_body_the_model_forbids(
    validators: dict[str, Any], recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    create = next(r for r, _ in sp_api(recorded) if r.url.path == "/feeds/2021-06-30/feeds")
    body = json.loads(create.content)
    del body["marketplaceIds"]
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    with pytest.raises(InvalidRequestBody):
        validators["/feeds/"].validate_request(SpRequest.of(create, json.dumps(body).encode()))


def test_the_answer_check_catches_a_status_the_model_does_not_know(
    validators: dict[str, Any], recorded: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    request, response = next(
        (q, a)
        for q, a in sp_api(recorded)
        if q.method == "GET" and "/feeds/2021-06-30/feeds/" in q.url.path and a.status_code == 200
    )
    body = json.loads(response.content)
    body["processingStatus"] = "WAITING"
    from openapi_core.validation.response.exceptions import InvalidData

    with pytest.raises(InvalidData):
        validators["/feeds/"].validate_response(
            SpRequest.of(request), SpResponse.of(response, json.dumps(body).encode())
        )


def test_confirm_shipment_fixture_is_a_valid_request(validators: dict[str, Any]) -> None:
    body = (FIXTURES / "confirm_shipment_body.json").read_bytes()
    request = httpx.Request(
        "POST",
        f"{EU_HOST}/orders/v0/orders/028-7654321-7654321/shipmentConfirmation",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    validators["/orders/"].validate_request(SpRequest.of(request))


def test_upload_and_token_traffic_never_carry_the_token_to_storage(
    recorded: list[tuple[httpx.Request, httpx.Response]],
) -> None:
    uploads = [r for r, _ in recorded if r.url.path.startswith("/_upload/")]
    assert uploads and all("x-amz-access-token" not in r.headers for r in uploads)
    sp_requests = [r for r, _ in sp_api(recorded)]
    assert all(r.headers.get("x-amz-access-token", "").startswith("Atza|") for r in sp_requests)


# --- vendor facts against the models --------------------------------------------------------------

USAGE_PLAN = re.compile(r"\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|")
OPERATIONS = {
    "createFeedDocument": "create_feed_document",
    "createFeed": "create_feed",
    "getFeed": "get_feed",
    "getFeedDocument": "get_feed_document",
    "confirmShipment": "confirm_shipment",
    "getOrder": "get_order",
}


def usage_plans() -> dict[str, tuple[float, int]]:
    plans = {}
    for name in ("feeds_2021-06-30.json", "ordersV0.json", "orders_2026-01-01.json"):
        model = load(SPECS / name)
        for operations in model["paths"].values():
            for operation in operations.values():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                found = USAGE_PLAN.search(operation.get("description", ""))
                if found:
                    plans[operation["operationId"]] = (float(found[1]), int(found[2]))
    return plans


def test_client_rate_limits_are_the_models_usage_plans() -> None:
    plans = usage_plans()
    limits = RateLimits()
    assert {f.name for f in fields(RateLimits)} == set(OPERATIONS.values())
    for operation, attribute in OPERATIONS.items():
        limit = getattr(limits, attribute)
        assert (limit.rate, limit.burst) == plans[operation], operation


def test_simulator_rate_limits_are_the_models_usage_plans() -> None:
    plans = usage_plans()
    for operation, plan in DEFAULT_LIMITS.items():
        assert plan == plans[operation], operation


def test_region_endpoints_are_servers_of_the_models() -> None:
    servers = {server["url"] for server in load(FEEDS_SPEC)["servers"]}
    for region in REGIONS.values():
        assert region.endpoint in servers
        assert region.sandbox in servers
