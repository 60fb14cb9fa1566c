"""Kaufland stand-in: Seller API v2 order units and shipments, with Kaufland's request signing.

Implements what liefern uses, as Kaufland documents it (specs/kaufland/seller_api_v2_swagger.json
and the "rest-api" docs page): `GET /v2/orders/{id_order}`, `GET /v2/order-units/{id}`,
`PATCH /v2/order-units/{id}/send`, `POST /v2/shipments`, `GET /v2/carriers`. Every request
must carry Shop-Client-Key, Shop-Timestamp (inside a configurable window) and a Shop-Signature
that is verified exactly (HMAC-SHA256 over method, full URI, body and timestamp); otherwise 401
with Kaufland's `ErrorResponse`. 429 above a configurable rate, plus fault knobs for tests and
the demo.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulators.knobs import Knob, RecordedCall, ServerBucket, take_knob
from simulators.spec_check import check_requests

BASE_PATH = "/v2"

# a part of Kaufland's carrier list ("Carrier Codes"; GET /carriers has them all)
CARRIERS: dict[str, bool] = {  # name -> isHauler
    "DHL": False,
    "DHL Express": False,
    "DHL Freight": True,
    "Deutsche Post": False,
    "DPD": False,
    "GLS": False,
    "Hermes": False,
    "Hermes 2 MH": True,
    "UPS": False,
    "Fedex": False,
    "TNT": False,
    "Iloxx": False,
    "Austrian Post": False,
    "Cargo International": True,
    "Other": False,
    "Other Hauler": True,
}
NO_TRACKING_NEEDED = frozenset({"Other", "Other Hauler"})
SENDABLE = frozenset({"need_to_be_sent", "open"})
SENT = frozenset({"sent", "sent_and_autopaid"})
# fields of OrderUnitDetails that OrderDetails carries once for the whole order
ORDER_LEVEL_FIELDS = ("fulfillment_type", "buyer", "billing_address", "shipping_address")


def problem(
    status: int, type_: str, message: str, errors: list[dict[str, str]] | None = None
) -> JSONResponse:
    """Kaufland's `ErrorResponse`."""
    return JSONResponse(
        {"type": type_, "message": message, "errors": errors or []}, status_code=status
    )


SPEC_FILE = "kaufland/seller_api_v2_swagger.json"


def _spec_refusal(reason: str) -> JSONResponse:
    """Kaufland's ErrorResponse for a request its API definition refuses."""
    return problem(400, "validation_error", "Invalid request", [{"message": reason}])


@dataclass
class SimOrderUnit:
    id_order_unit: int
    id_order: str
    status: str = "need_to_be_sent"
    storefront: str = "de"
    carrier_code: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)
    shipments: list[dict[str, str]] = field(default_factory=list)  # added via POST /shipments
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def carriers(self) -> dict[str, str]:
        """Tracking number -> the carrier code it was given with (send or added shipment)."""
        held = {number: self.carrier_code or "" for number in self.tracking_numbers}
        held.update({s["tracking_number"]: s["carrier_code"] for s in self.shipments})
        return held


class KauflandSimulator:
    """State and knobs of one simulated Kaufland seller account."""

    def __init__(
        self,
        client_key: str,
        secret_key: str,
        *,
        timestamp_window_seconds: float = 300.0,
        rate_per_second: float | None = 111.0,
        burst: int = 111,
        retry_after_seconds: int | None = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_key = client_key
        self._secret_key = secret_key.encode()
        self.timestamp_window_seconds = timestamp_window_seconds
        self.retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._bucket = ServerBucket(rate_per_second, burst) if rate_per_second else None
        self._lock = threading.Lock()
        self._units: dict[int, SimOrderUnit] = {}
        self._orders: dict[str, list[int]] = {}  # id_order -> its units, in seeding order
        self._failures: list[Knob] = []
        self._store_then_fail: list[Knob] = []
        self._slow: list[Knob] = []
        self.calls: list[RecordedCall] = []
        self.user_agents: set[str] = set()

    # seeding and inspection (test thread) ------------------------------------------------
    def add_order_unit(
        self, id_order_unit: int, id_order: str, status: str = "need_to_be_sent"
    ) -> None:
        with self._lock:
            previous = self._units.get(id_order_unit)
            if previous is not None:
                self._orders[previous.id_order].remove(id_order_unit)
                if not self._orders[previous.id_order]:
                    del self._orders[previous.id_order]
            self._units[id_order_unit] = SimOrderUnit(id_order_unit, id_order, status)
            self._orders.setdefault(id_order, []).append(id_order_unit)

    def unit(self, id_order_unit: int) -> SimOrderUnit:
        with self._lock:
            return self._units[id_order_unit]

    def count(self, method: str, path_part: str = "", *, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.method == method
                and path_part in c.path
                and (status is None or c.status == status)
            )

    # fault knobs -------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, *, method: str | None = None) -> None:
        """The next `count` signed requests (optionally of one method) answer `status`."""
        with self._lock:
            self._failures.append(Knob(count, method, status))

    def fail_after_store(self, count: int = 1, *, method: str = "PATCH") -> None:
        """The next `count` PATCH/POST changes are stored, then answered with 500."""
        with self._lock:
            self._store_then_fail.append(Knob(count, method))

    def slow_next(self, count: int, seconds: float, *, method: str | None = None) -> None:
        """The next `count` requests are processed at once but answered `seconds` late."""
        with self._lock:
            self._slow.append(Knob(count, method, seconds=seconds))

    def _take(self, knobs: list[Knob], method: str) -> Knob | None:
        return take_knob(knobs, method, self._lock)

    # signature ---------------------------------------------------------------------------
    def verify(self, request: Request, body: bytes) -> JSONResponse | None:
        """Kaufland's header checks; None when the request is properly signed."""
        headers = request.headers
        client_key = headers.get("shop-client-key")
        timestamp = headers.get("shop-timestamp")
        signature = headers.get("shop-signature")
        if not client_key or not timestamp or not signature or not headers.get("user-agent"):
            return problem(
                401,
                "/problems/missing-or-invalid-request-header",
                "Shop-Client-Key, Shop-Timestamp, Shop-Signature and User-Agent are required",
            )
        if not hmac.compare_digest(client_key, self.client_key):
            return problem(401, "/problems/invalid-credentials", "Unknown Shop-Client-Key")
        try:
            stamp = int(timestamp)
        except ValueError:
            return problem(
                401, "/problems/missing-or-invalid-request-header", "Invalid Shop-Timestamp"
            )
        if abs(self._clock() - stamp) > self.timestamp_window_seconds:
            return problem(
                401,
                "/problems/missing-or-invalid-request-header",
                "Shop-Timestamp is too far from the server time",
            )
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        host = headers.get("host", "")
        uri = f"{request.url.scheme}://{host}{raw_path.decode('latin-1')}"
        if query:
            uri += "?" + query.decode("latin-1")
        message = b"\n".join([request.method.encode(), uri.encode(), body, timestamp.encode()])
        expected = hmac.new(self._secret_key, message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return problem(401, "/problems/corrupted-signature", "Signature is invalid")
        self.user_agents.add(headers["user-agent"])
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unit_details(unit: SimOrderUnit) -> dict[str, Any]:
    """An `OrderUnitDetails` with every required field, as Kaufland returns it."""
    created = _iso(unit.created)
    address = {
        "first_name": "Erika",
        "last_name": "Mustermann",
        "company_name": None,
        "street": "Heidestraße",
        "house_number": "17",
        "postcode": "51147",
        "additional_field": None,
        "city": "Köln",
        "phone": None,
        "country": "DE",
    }
    return {
        "id_order_unit": unit.id_order_unit,
        "id_order": unit.id_order,
        "ts_created_iso": created,
        "is_marketplace_deemed_supplier": False,
        "ts_updated_iso": _iso(datetime.now(UTC)),
        "status": unit.status,
        "price": 1999,
        "id_offer": f"SKU-{unit.id_order_unit}",
        "revenue_gross": 1999,
        "revenue_net": 1680,
        "note": None,
        "unit_condition": "new",
        "storefront": unit.storefront,
        "currency": "EUR",
        "delivery_time_min": 1,
        "delivery_time_max": 3,
        "delivery_time_expires_iso": None,
        "order_received_timestamp_iso": None,
        "shipping_rate": 490,
        "cancel_reason": "BuyerCancelled" if unit.status == "cancelled" else None,
        "fulfillment_type": "fulfilled_by_merchant",
        "buyer": {"id_buyer": 21631426, "email": "buyer@example.org"},
        "billing_address": address,
        "shipping_address": address,
        "product": {
            "id_product": 362524873,
            "storefront": unit.storefront,
            "title": "Kratzbaum Sisal 80 cm",
            "eans": ["4011905437873"],
            "id_category": 34401,
            "main_picture": "https://media.example.org/kratzbaum.jpg",
            "manufacturer": "Beispiel GmbH",
            "url": "https://www.kaufland.de/product/362524873/",
            "age_rating": 0,
            "is_valid": True,
            "dangerous_goods_li_shipping": None,
            "danger_label_9A": None,
        },
        "vat": 19,
    }


def _order_details(id_order: str, units: list[SimOrderUnit]) -> dict[str, Any]:
    """An `OrderDetails` with every required field: buyer, addresses and fulfillment type once
    for the order, each of its units as in `OrderUnitDetails` without those plus `tickets`."""
    entries = [_unit_details(unit) for unit in units]
    order_level = {name: entries[0][name] for name in ORDER_LEVEL_FIELDS}
    for entry in entries:
        for name in ORDER_LEVEL_FIELDS:
            del entry[name]
        entry["tickets"] = []
    return {
        "id_order": id_order,
        "ts_created_iso": _iso(min(unit.created for unit in units)),
        "is_marketplace_deemed_supplier": False,
        "storefront": units[0].storefront,
        **order_level,
        "order_units": entries,
    }


def _validation(field_name: str, reason: str) -> JSONResponse:
    return problem(
        400,
        "/problems/validation-error",
        "Request parameters have invalid values",
        [{"field": field_name, "message": reason}],
    )


def _check_carrier(carrier: Any, tracking: Any, tracking_field: str) -> JSONResponse | None:
    if not isinstance(carrier, str) or carrier not in CARRIERS:
        return _validation("carrier_code", "not a valid carrier code")
    if not isinstance(tracking, str):
        return _validation(tracking_field, "must be a string")
    if not tracking.strip() and carrier not in NO_TRACKING_NEEDED:
        return _validation(tracking_field, "required for this carrier")
    return None


def _send_unit(sim: KauflandSimulator, unit_id: int, body: Any) -> Response:
    """PATCH /order-units/{id}/send (caller holds the lock)."""
    unit = sim._units.get(unit_id)
    if unit is None:
        return problem(404, "/problems/not-found", "Resource not found")
    if not isinstance(body, dict) or set(body) != {"tracking_numbers", "carrier_code"}:
        return _validation("body", "exactly tracking_numbers and carrier_code are expected")
    refused = _check_carrier(body["carrier_code"], body["tracking_numbers"], "tracking_numbers")
    if refused is not None:
        return refused
    if unit.status in SENT or unit.status in ("received", "returned", "returned_paid"):
        return problem(400, "/problems/duplicate-action", "Order unit is already sent")
    if unit.status not in SENDABLE:
        return problem(400, "/problems/action-not-allowed", f"Order unit has status {unit.status}")
    unit.status = "sent"
    unit.carrier_code = body["carrier_code"]
    unit.tracking_numbers = [n for n in body["tracking_numbers"].split(",") if n]
    return Response(status_code=204)


def _add_shipment(sim: KauflandSimulator, body: Any) -> Response:
    """POST /shipments (caller holds the lock)."""
    if not isinstance(body, dict) or set(body) != {"id_order_unit", "shipment_information"}:
        return _validation("body", "exactly id_order_unit and shipment_information expected")
    info = body["shipment_information"]
    if not isinstance(body["id_order_unit"], int) or not isinstance(info, dict):
        return _validation("id_order_unit", "must be an integer")
    refused = _check_carrier(
        info.get("carrier_code"), info.get("tracking_number"), "tracking_number"
    )
    if refused is not None:
        return refused
    unit = sim._units.get(body["id_order_unit"])
    if unit is None:
        return problem(404, "/problems/not-found", "Resource not found")
    if unit.status not in SENT:
        return problem(400, "/problems/action-not-allowed", "Order unit is not marked as sent")
    number = info["tracking_number"].strip()
    known = set(unit.tracking_numbers) | {s["tracking_number"] for s in unit.shipments}
    if number in known:
        return problem(400, "/problems/duplicate-action", "Shipment is already added")
    unit.shipments.append({"carrier_code": info["carrier_code"], "tracking_number": number})
    return Response(status_code=204)


def _current(request: Request) -> KauflandSimulator:
    """The simulator behind this app; tests may swap it between cases (one server, new state)."""
    sim = request.app.state.sim
    assert isinstance(sim, KauflandSimulator)
    return sim


async def _handle(
    request: Request, work: Callable[[KauflandSimulator, bytes], Response]
) -> Response:
    """Signature, rate limit and faults around one operation; every call is recorded."""
    sim = _current(request)
    body = await request.body()
    refused = sim.verify(request, body) or _gate(sim, request.method)
    response: Response = refused if refused is not None else work(sim, body)
    stored = refused is None and response.status_code == 204
    if stored and sim._take(sim._store_then_fail, request.method):
        response = problem(500, "/problems/server-error", "Internal Server Error")
    with sim._lock:
        sim.calls.append(RecordedCall(request.method, request.url.path, response.status_code))
    slow = sim._take(sim._slow, request.method)
    if slow is not None:
        await asyncio.sleep(slow.seconds)
    return response


async def _get_unit(unit_id: str, request: Request) -> Response:
    def work(sim: KauflandSimulator, _: bytes) -> Response:
        if not unit_id.isdigit():
            return _validation("id_order_unit", "must be an integer")
        with sim._lock:
            unit = sim._units.get(int(unit_id))
            data = _unit_details(unit) if unit else None
        if data is None:
            return problem(404, "/problems/not-found", "Resource not found")
        return JSONResponse({"data": data})

    return await _handle(request, work)


async def _get_order(id_order: str, request: Request) -> Response:
    def work(sim: KauflandSimulator, _: bytes) -> Response:
        with sim._lock:
            units = [sim._units[u] for u in sim._orders.get(id_order, ())]
            data = _order_details(id_order, units) if units else None
        if data is None:
            return problem(404, "/problems/not-found", "Resource not found")
        return JSONResponse({"data": data})

    return await _handle(request, work)


async def _send(unit_id: str, request: Request) -> Response:
    def work(sim: KauflandSimulator, body: bytes) -> Response:
        if not unit_id.isdigit():
            return _validation("id_order_unit", "must be an integer")
        parsed = _json(body)
        with sim._lock:
            return _send_unit(sim, int(unit_id), parsed)

    return await _handle(request, work)


async def _shipments(request: Request) -> Response:
    def work(sim: KauflandSimulator, body: bytes) -> Response:
        parsed = _json(body)
        with sim._lock:
            return _add_shipment(sim, parsed)

    return await _handle(request, work)


async def _carriers(request: Request) -> Response:
    def work(sim: KauflandSimulator, _: bytes) -> Response:
        listed = [{"name": name, "isHauler": hauler} for name, hauler in CARRIERS.items()]
        return JSONResponse({"data": {"carriers": listed}})

    return await _handle(request, work)


async def _seed_unit(request: Request) -> Response:
    """Seed an order unit over HTTP (demo, unsigned):
    {"id_order_unit": 1, "id_order": "MB7UWLD", "status": "need_to_be_sent"}."""
    body = await request.json()
    _current(request).add_order_unit(
        int(body["id_order_unit"]),
        str(body["id_order"]),
        str(body.get("status", "need_to_be_sent")),
    )
    return Response(status_code=204)


def build_app(sim: KauflandSimulator) -> FastAPI:
    app = FastAPI(title="Kaufland simulator", docs_url=None, redoc_url=None, openapi_url=None)
    check_requests(app, [SPEC_FILE], _spec_refusal)
    app.state.sim = sim
    app.add_api_route(BASE_PATH + "/orders/{id_order}", _get_order, methods=["GET"])
    app.add_api_route(BASE_PATH + "/order-units/{unit_id}", _get_unit, methods=["GET"])
    app.add_api_route(BASE_PATH + "/order-units/{unit_id}/send", _send, methods=["PATCH"])
    app.add_api_route(BASE_PATH + "/shipments", _shipments, methods=["POST"])
    app.add_api_route(BASE_PATH + "/carriers", _carriers, methods=["GET"])
    app.add_api_route("/__sim/order-units", _seed_unit, methods=["POST"])
    return app


def _gate(sim: KauflandSimulator, method: str) -> JSONResponse | None:
    """Rate limit and injected failures, after the signature was accepted."""
    if sim._bucket is not None and not sim._bucket.take():
        response = problem(429, "about:blank", "Too Many Requests")
        if sim.retry_after_seconds is not None:
            response.headers["Retry-After"] = str(sim.retry_after_seconds)
        return response
    failure = sim._take(sim._failures, method)
    if failure is None:
        return None
    if failure.status == 429:
        return problem(429, "about:blank", "Too Many Requests")
    if failure.status == 503:
        return problem(503, "/problems/service-unavailable", "Service Unavailable")
    return problem(failure.status, "/problems/server-error", "Internal Server Error")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def create_app(client_key: str, secret_key: str, **options: Any) -> FastAPI:
    """A fresh simulator app; its state is `app.state.sim` (see `simulator()`)."""
    return build_app(KauflandSimulator(client_key, secret_key, **options))


def simulator(app: FastAPI) -> KauflandSimulator:
    sim = app.state.sim
    assert isinstance(sim, KauflandSimulator)
    return sim
