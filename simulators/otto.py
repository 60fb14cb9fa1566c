"""OTTO Market stand-in: OAuth2 token and the Shipments API v1, as OTTO documents them.

What liefern uses (connectors/otto/README.md names the sources): `POST /v1/token`
(client-credentials grant, form-encoded), `POST /v1/shipments` (201 with `shipmentId`),
`GET /v1/shipments` (list, `datefrom` required, cursor paging with `limit`/`next`),
`GET /v1/shipments/{shipmentId}` and
`GET /v1/shipments/carriers/{carrier}/trackingnumbers/{trackingNumber}`.

Validation as OTTO's API definition states it: carrier from OTTO's enum, a tracking number for
parcel carriers, shipDate an ISO 8601 date-time, ship-from city 1..60 characters, zipCode up to
10, countryCode three capitals, every position item known with its salesOrderId and carrying a
returnTrackingKey of DHL, GLS or HERMES with a number. A carrier and tracking number already
reported, or a position item already SENT, is a 409. Errors are OTTO's `{"errors": {title,
detail, path, jsonPath}}`. 401 without a valid bearer token, 429 above a configurable rate,
plus fault knobs for tests and the demo.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from connectors.otto.mapping import CARRIERS, CITY_MAX, PARCEL_CARRIERS, RETURN_CARRIERS, ZIP_MAX
from simulators.knobs import Knob, RecordedCall, ServerBucket

SHIPMENTS = "/v1/shipments"


def error(status: int, title: str, path: str, detail: str = "", json_path: str = "") -> Response:
    """OTTO's error answer: one ErrorDescription under `errors`."""
    body: dict[str, Any] = {"title": title, "path": path}
    if detail:
        body["detail"] = detail
    if json_path:
        body["jsonPath"] = json_path
    return JSONResponse({"errors": body}, status_code=status)


@dataclass
class SimPosition:
    position_item_id: str
    sales_order_id: str
    state: str = "PROCESSABLE"  # SENT once in a shipment


@dataclass
class SimShipment:
    shipment_id: str
    created: datetime
    body: dict[str, Any]

    def resource(self) -> dict[str, Any]:
        return {
            "shipmentId": self.shipment_id,
            "creationDate": _iso(self.created),
            **self.body,
            "states": [{"state": "SENT", "eventDate": _iso(self.created)}],
        }


@dataclass
class OttoSimulator:
    """State and knobs of one simulated OTTO partner account."""

    client_id: str
    client_secret: str
    token_seconds: int = 1800
    rate_per_second: float | None = None
    retry_after_seconds: int | None = 1
    positions: dict[str, SimPosition] = field(default_factory=dict)
    shipments: dict[str, SimShipment] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)
    tokens_issued: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    _failures: list[Knob] = field(default_factory=list)
    _store_then_fail: list[Knob] = field(default_factory=list)
    _bucket: ServerBucket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.rate_per_second:
            self._bucket = ServerBucket(self.rate_per_second, max(1, int(self.rate_per_second)))

    # seeding and inspection (test thread) ------------------------------------------------
    def add_order(self, sales_order_id: str, position_item_ids: list[str]) -> None:
        with self._lock:
            for item_id in position_item_ids:
                self.positions[item_id] = SimPosition(item_id, sales_order_id)

    def shipment_of(self, carrier: str, number: str) -> SimShipment | None:
        with self._lock:
            return self._by_tracking(carrier, number)

    def count(self, method: str, path_part: str = "", *, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.method == method
                and path_part in c.path
                and (status is None or c.status == status)
            )

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # fault knobs -------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, *, method: str | None = None) -> None:
        """The next `count` authorised API requests (optionally of one method) answer `status`."""
        with self._lock:
            self._failures.append(Knob(count, method, status))

    def fail_after_store(self, count: int = 1) -> None:
        """The next `count` creates are stored, then answered with 500 (a lost answer)."""
        with self._lock:
            self._store_then_fail.append(Knob(count, "POST"))

    # internals (under the lock) ----------------------------------------------------------
    def _by_tracking(self, carrier: str, number: str) -> SimShipment | None:
        for shipment in self.shipments.values():
            key = shipment.body["trackingKey"]
            if key.get("carrier") == carrier and key.get("trackingNumber") == number:
                return shipment
        return None

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_seconds
        self.tokens_issued += 1
        return token

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        expiry = self._tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and expiry > time.monotonic()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_date_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def validate_shipment(sim: OttoSimulator, body: Any) -> Response | None:
    """The documented checks of a CreateShipmentRequest; None when it is valid (lock held)."""
    path = SHIPMENTS
    if not isinstance(body, dict):
        return error(400, "Invalid request body", path, "the body must be a JSON object")
    key = body.get("trackingKey")
    carrier = key.get("carrier") if isinstance(key, dict) else None
    if carrier not in CARRIERS:
        return error(
            400, "Invalid carrier", path, f"unknown carrier {carrier!r}", "$.trackingKey.carrier"
        )
    number = _text(key.get("trackingNumber")) if isinstance(key, dict) else ""
    if carrier in PARCEL_CARRIERS and not number:
        return error(
            400,
            "Missing tracking number",
            path,
            "a tracking number is required for parcel deliveries",
            "$.trackingKey.trackingNumber",
        )
    ship_date = _parse_date_time(body.get("shipDate"))
    if ship_date is None:
        return error(
            400, "Invalid shipDate", path, "must be an ISO 8601 UTC date-time", "$.shipDate"
        )
    address = body.get("shipFromAddress")
    if not isinstance(address, dict):
        return error(400, "Missing shipFromAddress", path, json_path="$.shipFromAddress")
    city, zip_code = _text(address.get("city")), _text(address.get("zipCode"))
    country = address.get("countryCode")
    if not 1 <= len(city) <= CITY_MAX:
        return error(400, "Invalid city", path, json_path="$.shipFromAddress.city")
    if not 1 <= len(zip_code) <= ZIP_MAX:
        return error(400, "Invalid zipCode", path, json_path="$.shipFromAddress.zipCode")
    if not (
        isinstance(country, str) and len(country) == 3 and country.isalpha() and country.isupper()
    ):
        return error(400, "Invalid countryCode", path, json_path="$.shipFromAddress.countryCode")
    items = body.get("positionItems")
    if not isinstance(items, list) or not items:
        return error(400, "Missing positionItems", path, json_path="$.positionItems")
    for n, item in enumerate(items):
        where = f"$.positionItems[{n}]"
        if not isinstance(item, dict):
            return error(400, "Invalid position item", path, json_path=where)
        position = sim.positions.get(_text(item.get("positionItemId")))
        if position is None or position.sales_order_id != _text(item.get("salesOrderId")):
            return error(
                400,
                "Unknown position item",
                path,
                "positionItemId and salesOrderId must name a position item of your orders",
                where + ".positionItemId",
            )
        back = item.get("returnTrackingKey")
        if not isinstance(back, dict) or back.get("carrier") not in RETURN_CARRIERS:
            return error(
                400,
                "Invalid return carrier",
                path,
                "returnTrackingKey.carrier must be DHL, GLS or HERMES",
                where + ".returnTrackingKey.carrier",
            )
        if not _text(back.get("trackingNumber")):
            return error(
                400,
                "Missing return tracking number",
                path,
                "returnTrackingKey.trackingNumber is required",
                where + ".returnTrackingKey.trackingNumber",
            )
    return None


def _create(sim: OttoSimulator, body: Any) -> Response:
    refused = validate_shipment(sim, body)
    if refused is not None:
        return refused
    key = body["trackingKey"]
    if sim._by_tracking(key["carrier"], _text(key.get("trackingNumber"))) is not None:
        return error(
            409,
            "Shipment already exists",
            SHIPMENTS,
            f"a shipment with carrier {key['carrier']} and this tracking number exists",
        )
    for n, item in enumerate(body["positionItems"]):
        if sim.positions[item["positionItemId"]].state == "SENT":
            return error(
                409,
                "Position item already sent",
                SHIPMENTS,
                f"position item {item['positionItemId']} is in another shipment",
                f"$.positionItems[{n}].positionItemId",
            )
    for item in body["positionItems"]:
        sim.positions[item["positionItemId"]].state = "SENT"
    shipment = SimShipment(secrets.token_hex(8), datetime.now(UTC), body)
    sim.shipments[shipment.shipment_id] = shipment
    return JSONResponse({"shipmentId": shipment.shipment_id}, status_code=201)


def _current(request: Request) -> OttoSimulator:
    sim = request.app.state.sim
    assert isinstance(sim, OttoSimulator)
    return sim


async def _handle(request: Request, work: Callable[[OttoSimulator, bytes], Response]) -> Response:
    """Bearer token, rate limit and faults around one operation; every call is recorded."""
    sim = _current(request)
    body = await request.body()
    with sim._lock:
        response = _gate(sim, request) or work(sim, body)
        if response.status_code == 201 and _take(sim, sim._store_then_fail, request.method):
            response = error(500, "Internal Server Error", request.url.path)
        sim.calls.append(RecordedCall(request.method, request.url.path, response.status_code))
    await asyncio.sleep(0)
    return response


def _take(sim: OttoSimulator, knobs: list[Knob], method: str) -> Knob | None:
    # the lock is held by the caller: take without it
    for knob in knobs:
        if knob.matches(method):
            knob.remaining -= 1
            return knob
    return None


def _gate(sim: OttoSimulator, request: Request) -> Response | None:
    if not sim._authorised(request):
        return error(401, "Unauthorized", request.url.path, "a valid bearer token is required")
    if sim._bucket is not None and not sim._bucket.take():
        response = error(429, "Too Many Requests", request.url.path)
        if sim.retry_after_seconds is not None:
            response.headers["Retry-After"] = str(sim.retry_after_seconds)
        return response
    failure = _take(sim, sim._failures, request.method)
    if failure is None:
        return None
    response = error(failure.status, "Simulated failure", request.url.path)
    if failure.status == 429 and sim.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(sim.retry_after_seconds)
    return response


async def _token(request: Request) -> Response:
    sim = _current(request)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
    with sim._lock:
        sim.calls.append(RecordedCall("POST", request.url.path, 0))
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        known = hmac.compare_digest(form.get("client_id", ""), sim.client_id) and (
            hmac.compare_digest(form.get("client_secret", ""), sim.client_secret)
        )
        if not known:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Invalid client credentials"},
                status_code=401,
            )
        token = sim._issue_token()
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": sim.token_seconds,
            "scope": form.get("scope", ""),
        }
    )


async def _create_route(request: Request) -> Response:
    def work(sim: OttoSimulator, body: bytes) -> Response:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        return _create(sim, parsed)

    return await _handle(request, work)


async def _by_id(shipment_id: str, request: Request) -> Response:
    def work(sim: OttoSimulator, _: bytes) -> Response:
        shipment = sim.shipments.get(shipment_id)
        if shipment is None:
            return error(404, "Shipment not found", request.url.path)
        return JSONResponse(shipment.resource())

    return await _handle(request, work)


async def _by_tracking(carrier: str, number: str, request: Request) -> Response:
    def work(sim: OttoSimulator, _: bytes) -> Response:
        shipment = sim._by_tracking(carrier, number)
        if shipment is None:
            return error(404, "Shipment not found", request.url.path)
        return JSONResponse(shipment.resource())

    return await _handle(request, work)


async def _list(request: Request) -> Response:
    def work(sim: OttoSimulator, _: bytes) -> Response:
        query = request.query_params
        raw = query.get("datefrom", "")
        since = _parse_date_time(raw) or _parse_date_time(raw + "T00:00:00Z")
        if since is None:
            return error(400, "Invalid datefrom", request.url.path, "datefrom is required")
        try:
            limit = max(1, min(int(query.get("limit", "25")), 100))
            start = int(query.get("next", "0"))
        except ValueError:
            return error(400, "Invalid paging", request.url.path)
        found = [s for s in sim.shipments.values() if s.created >= since]
        page = found[start : start + limit]
        body: dict[str, Any] = {
            "resources": [
                {
                    "creationDate": _iso(s.created),
                    "shipmentId": s.shipment_id,
                    "trackingKey": s.body["trackingKey"],
                    "states": s.resource()["states"],
                }
                for s in page
            ]
        }
        if start + limit < len(found):
            body["links"] = [{"rel": "next", "href": f"{SHIPMENTS}?next={start + limit}"}]
        return JSONResponse(body)

    return await _handle(request, work)


def build_app(sim: OttoSimulator) -> FastAPI:
    app = FastAPI(title="OTTO Market simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = sim
    app.add_api_route("/v1/token", _token, methods=["POST"])
    app.add_api_route(SHIPMENTS, _create_route, methods=["POST"])
    app.add_api_route(SHIPMENTS, _list, methods=["GET"])
    app.add_api_route(
        SHIPMENTS + "/carriers/{carrier}/trackingnumbers/{number}", _by_tracking, methods=["GET"]
    )
    app.add_api_route(SHIPMENTS + "/{shipment_id}", _by_id, methods=["GET"])
    return app


def create_app(client_id: str, client_secret: str, **options: Any) -> FastAPI:
    """A fresh simulator app; its state is `app.state.sim` (see `simulator()`)."""
    return build_app(OttoSimulator(client_id, client_secret, **options))


def simulator(app: FastAPI) -> OttoSimulator:
    sim = app.state.sim
    assert isinstance(sim, OttoSimulator)
    return sim
