"""eBay stand-in: OAuth refresh-token grant + Sell Fulfillment API v1 shipping fulfillments.

Implements what liefern uses, as eBay documents it (specs/ebay/sell_fulfillment_v1_oas3.json):
`POST /identity/v1/oauth2/token`,
`GET|POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment`,
`GET …/shipping_fulfillment/{fulfillmentId}`, eBay's error envelope and errorIds, 429 above a
configurable rate, and fault knobs for tests and the demo (failures, a 500 after the
fulfillment was stored, slow answers). State is in memory; a lock makes it safe to seed and
inspect from the test thread while uvicorn serves from its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulators.knobs import Knob, RecordedCall, ServerBucket, take_knob
from simulators.spec_check import check_requests

BASE_PATH = "/sell/fulfillment/v1"
SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment"
READONLY_SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly"
KNOWN_SCOPES = frozenset({"https://api.ebay.com/oauth/api_scope", SCOPE, READONLY_SCOPE})

# eBay's ShippingCarrierCodeType values a German seller meets (GeteBayDetails lists them all)
CARRIERS = frozenset(
    {
        "DHL",
        "DHLEXPRESS",
        "DHLGlobalMail",
        "DeutschePost",
        "DPD",
        "GLS",
        "Hermes",
        "UPS",
        "FedEx",
        "TNT",
        "iLoxx",
        "USPS",
        "RoyalMail",
        "PostNL",
        "OsterreichischePostAG",
        "SwissPost",
        "Other",
    }
)
SHIPPED_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ALPHANUMERIC = re.compile(r"^[0-9A-Za-z]+$")
MAX_TRACKING_NUMBERS_PER_ORDER = 20


SPEC_FILE = "ebay/sell_fulfillment_v1_oas3.json"


def _spec_refusal(reason: str) -> JSONResponse:
    """What eBay answers a request its API definition refuses: errorId 32600, input data."""
    return _error(400, 32600, "Invalid input data", longMessage=reason)


def _error(status: int, error_id: int, message: str, **extra: Any) -> JSONResponse:
    domain = extra.pop("domain", "API_FULFILLMENT")
    category = extra.pop("category", "REQUEST")
    entry = {"errorId": error_id, "domain": domain, "category": category, "message": message}
    entry.update(extra)
    return JSONResponse({"errors": [entry]}, status_code=status)


@dataclass
class SimOrder:
    order_id: str
    line_items: dict[str, int]
    fulfillments: dict[str, dict[str, Any]] = field(default_factory=dict)


class EbaySimulator:
    """State and knobs of one simulated eBay seller account."""

    def __init__(
        self,
        *,
        client_id: str = "liefern-sim-client",
        client_secret: str = "liefern-sim-secret",  # noqa: S107 - simulator default
        refresh_token: str = "liefern-sim-refresh",  # noqa: S107 - simulator default
        token_ttl: int = 7200,
        rate_per_second: float | None = None,
        burst: int = 10,
        retry_after_seconds: int | None = 1,
        duplicate_status: int = 400,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_ttl = token_ttl
        self.retry_after_seconds = retry_after_seconds
        self.duplicate_status = duplicate_status  # 400 (errorId 34500) or 409
        self._bucket = ServerBucket(rate_per_second, burst) if rate_per_second else None
        self._lock = threading.Lock()
        self._orders: dict[str, SimOrder] = {}
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._failures: list[Knob] = []
        self._store_then_fail: list[Knob] = []
        self._slow: list[Knob] = []
        self.calls: list[RecordedCall] = []
        self.token_requests = 0
        self.refresh_token_revoked = False

    # seeding and inspection (test thread) ------------------------------------------------
    def add_order(self, order_id: str, line_items: Mapping[str, int]) -> None:
        with self._lock:
            self._orders[order_id] = SimOrder(order_id, dict(line_items))

    def fulfillments(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f) for f in self._orders[order_id].fulfillments.values()]

    def count(self, method: str, *, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.method == method
                and "shipping_fulfillment" in c.path
                and (status is None or c.status == status)
            )

    def revoke_refresh_token(self) -> None:
        """The seller withdrew consent: the refresh token now earns `invalid_grant`."""
        with self._lock:
            self.refresh_token_revoked = True
            self._tokens.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # fault knobs -------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, *, method: str | None = None) -> None:
        """The next `count` API requests (optionally of one method) answer `status`."""
        with self._lock:
            self._failures.append(Knob(count, method, status))

    def fail_after_store(self, count: int = 1) -> None:
        """The next `count` creates store the fulfillment, then answer 500 (lost answer)."""
        with self._lock:
            self._store_then_fail.append(Knob(count, "POST"))

    def slow_next(self, count: int, seconds: float, *, method: str | None = None) -> None:
        """The next `count` requests are processed at once but answered `seconds` late."""
        with self._lock:
            self._slow.append(Knob(count, method, seconds=seconds))

    def _take(self, knobs: list[Knob], method: str) -> Knob | None:
        return take_knob(knobs, method, self._lock)

    # token endpoint ----------------------------------------------------------------------
    def _issue_token(self, scopes: frozenset[str]) -> str:
        token = "v^1.1#i^1#sim^" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (time.monotonic() + self.token_ttl, scopes)
            self.token_requests += 1
        return token

    def token_valid(self, header: str | None, needed: str) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            entry = self._tokens.get(header.removeprefix("Bearer ").strip())
        if entry is None or entry[0] <= time.monotonic():
            return False
        scopes = entry[1]
        return needed in scopes or (needed == READONLY_SCOPE and SCOPE in scopes)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header.removeprefix("Basic ").strip(), validate=True)
        user, _, password = decoded.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _validate_fulfillment(order: SimOrder, body: Any) -> JSONResponse | dict[str, Any]:
    """eBay's checks of `ShippingFulfillmentDetails`, in the order of its errorIds."""
    if not isinstance(body, dict) or not isinstance(body.get("lineItems"), list):
        return _error(400, 32600, "Invalid input data", longMessage="lineItems is required")
    seen: set[str] = set()
    line_items = []
    for entry in body["lineItems"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("lineItemId"), str):
            return _error(400, 32600, "Invalid input data")
        line_item_id = entry["lineItemId"]
        if line_item_id not in order.line_items:
            return _error(400, 32200, f"Invalid line item id: {line_item_id}")
        if line_item_id in seen:
            return _error(400, 32210, "Duplicate line item in the request")
        seen.add(line_item_id)
        quantity = entry.get("quantity", 1)
        if not isinstance(quantity, int) or not 1 <= quantity <= order.line_items[line_item_id]:
            return _error(400, 32600, "Invalid input data", longMessage="invalid quantity")
        line_items.append({"lineItemId": line_item_id, "quantity": quantity})
    if not line_items:
        return _error(400, 32600, "Invalid input data", longMessage="lineItems is empty")
    tracking = body.get("trackingNumber")
    carrier = body.get("shippingCarrierCode")
    if (tracking is None) != (carrier is None):
        return _error(400, 32300, "Invalid shipment tracking number or carrier")
    if tracking is not None and (
        not isinstance(tracking, str) or not ALPHANUMERIC.match(tracking) or carrier not in CARRIERS
    ):
        return _error(400, 32300, "Invalid shipment tracking number or carrier")
    shipped = body.get("shippedDate")
    if shipped is None:
        shipped_at = datetime.now(UTC)
    else:
        if not isinstance(shipped, str) or not SHIPPED_DATE.match(shipped):
            return _error(400, 32500, "Invalid shipped date")
        shipped_at = datetime.strptime(shipped, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if shipped_at > datetime.now(UTC) + timedelta(hours=1):
            return _error(400, 32500, "Invalid shipped date")
    return {
        "lineItems": line_items,
        "shippedDate": f"{shipped_at:%Y-%m-%dT%H:%M:%S}.{shipped_at.microsecond // 1000:03d}Z",
        "shippingCarrierCode": carrier,
        "shipmentTrackingNumber": tracking,
    }


def _current(request: Request) -> EbaySimulator:
    """The simulator behind this app; tests may swap it between cases (one server, new state)."""
    sim = request.app.state.sim
    assert isinstance(sim, EbaySimulator)
    return sim


async def _finish(request: Request, response: Response) -> Response:
    sim = _current(request)
    with sim._lock:
        sim.calls.append(RecordedCall(request.method, request.url.path, response.status_code))
    slow = sim._take(sim._slow, request.method)
    if slow is not None:
        await asyncio.sleep(slow.seconds)
    return response


def _too_many(sim: EbaySimulator) -> JSONResponse:
    response = _error(
        429,
        2001,
        "Too many requests. The request limit has been reached for the resource.",
        domain="ACCESS",
    )
    if sim.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(sim.retry_after_seconds)
    return response


def _gate(request: Request, scope: str) -> JSONResponse | None:
    """Rate limit, injected failures and the bearer token, before any real work."""
    sim = _current(request)
    if sim._bucket is not None and not sim._bucket.take():
        return _too_many(sim)
    failure = sim._take(sim._failures, request.method)
    if failure is not None:
        if failure.status == 429:
            return _too_many(sim)
        return _error(failure.status, 30500, "System error", category="APPLICATION")
    if not sim.token_valid(request.headers.get("Authorization"), scope):
        return _error(
            401,
            1001,
            "Invalid access token",
            domain="OAuth",
            longMessage="Invalid access token. Check the value of the Authorization "
            "HTTP request header.",
        )
    return None


async def _token(request: Request) -> Response:
    sim = _current(request)
    credentials = _basic_credentials(request.headers.get("Authorization"))
    if credentials != (sim.client_id, sim.client_secret):
        return _oauth_error(401, "invalid_client", "client authentication failed")
    form = parse_qs((await request.body()).decode("utf-8"))
    if form.get("grant_type", [""])[0] != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", "grant type not supported")
    offered = form.get("refresh_token", [""])[0]
    if offered != sim.refresh_token or sim.refresh_token_revoked:
        return _oauth_error(
            400,
            "invalid_grant",
            "the provided authorization refresh token is invalid or was issued to another client",
        )
    requested = frozenset(" ".join(form.get("scope", [SCOPE])).split())
    if not requested or not requested <= KNOWN_SCOPES:
        return _oauth_error(
            400,
            "invalid_scope",
            "The requested scope is invalid, unknown, malformed, or exceeds the scope "
            "granted to the client",
        )
    access = sim._issue_token(requested)
    return JSONResponse(
        {"access_token": access, "expires_in": sim.token_ttl, "token_type": "User Access Token"}
    )


async def _list_fulfillments(order_id: str, request: Request) -> Response:
    refused = _gate(request, READONLY_SCOPE)
    if refused is not None:
        return await _finish(request, refused)
    sim = _current(request)
    with sim._lock:
        order = sim._orders.get(order_id)
        items = [dict(f) for f in order.fulfillments.values()] if order else None
    if items is None:
        return await _finish(request, _error(400, 32100, f"Invalid order ID: {order_id}"))
    return await _finish(request, JSONResponse({"fulfillments": items, "total": len(items)}))


async def _get_fulfillment(order_id: str, fulfillment_id: str, request: Request) -> Response:
    refused = _gate(request, READONLY_SCOPE)
    if refused is not None:
        return await _finish(request, refused)
    sim = _current(request)
    with sim._lock:
        order = sim._orders.get(order_id)
        found = order.fulfillments.get(fulfillment_id) if order else None
    if order is None:
        return await _finish(request, _error(400, 32100, f"Invalid order ID: {order_id}"))
    if found is None:
        message = f"Invalid shipping fulfillment ID: {fulfillment_id}"
        return await _finish(request, _error(400, 32110, message))
    return await _finish(request, JSONResponse(dict(found)))


async def _create_fulfillment(order_id: str, request: Request) -> Response:
    refused = _gate(request, SCOPE)
    if refused is not None:
        return await _finish(request, refused)
    sim = _current(request)
    if not request.headers.get("content-type", "").startswith("application/json"):
        return await _finish(request, _error(400, 32600, "Invalid input data"))
    try:
        body = json.loads(await request.body())
    except ValueError:
        return await _finish(request, _error(400, 32600, "Invalid input data"))
    with sim._lock:
        order = sim._orders.get(order_id)
        if order is None:
            answer: Response = _error(400, 32100, f"Invalid Order Id: {order_id}")
        else:
            answer = _store(sim, order, body, request)
    if answer.status_code == 201 and sim._take(sim._store_then_fail, "POST") is not None:
        answer = _error(500, 30500, "System error", category="APPLICATION")
    return await _finish(request, answer)


async def _seed_order(request: Request) -> Response:
    """Seed an order over HTTP (demo): {"orderId": ..., "lineItems": {"id": qty}}."""
    body = await request.json()
    line_items = {str(k): int(v) for k, v in body["lineItems"].items()}
    _current(request).add_order(str(body["orderId"]), line_items)
    return Response(status_code=204)


def build_app(sim: EbaySimulator) -> FastAPI:
    app = FastAPI(title="eBay simulator", docs_url=None, redoc_url=None, openapi_url=None)
    check_requests(app, [SPEC_FILE], _spec_refusal)
    app.state.sim = sim
    fulfillments = BASE_PATH + "/order/{order_id}/shipping_fulfillment"
    app.add_api_route("/identity/v1/oauth2/token", _token, methods=["POST"])
    app.add_api_route(fulfillments, _list_fulfillments, methods=["GET"])
    app.add_api_route(fulfillments, _create_fulfillment, methods=["POST"])
    app.add_api_route(fulfillments + "/{fulfillment_id}", _get_fulfillment, methods=["GET"])
    app.add_api_route("/__sim/orders", _seed_order, methods=["POST"])
    return app


def _store(sim: EbaySimulator, order: SimOrder, body: Any, request: Request) -> Response:
    """Validate and store one fulfillment (caller holds the lock)."""
    checked = _validate_fulfillment(order, body)
    if isinstance(checked, JSONResponse):
        return checked
    tracking = checked["shipmentTrackingNumber"]
    # eBay: with a tracking number the fulfillment id *is* the tracking number
    fulfillment_id = tracking or f"{999 + len(order.fulfillments)}"
    if fulfillment_id in order.fulfillments:
        if sim.duplicate_status == 409:
            return JSONResponse({}, status_code=409)
        return _error(400, 34500, "Please use PUT operation for updating shipping fulfillment")
    if tracking and len({f["shipmentTrackingNumber"] for f in order.fulfillments.values()}) >= (
        MAX_TRACKING_NUMBERS_PER_ORDER
    ):
        return _error(400, 34100, "Maximum tracking number for order is exceeded")
    stored = {"fulfillmentId": fulfillment_id, **checked}
    if tracking is None:
        del stored["shipmentTrackingNumber"], stored["shippingCarrierCode"]
    order.fulfillments[fulfillment_id] = stored
    location = (
        f"{request.url.scheme}://{request.headers.get('host', 'api.ebay.com')}{BASE_PATH}"
        f"/order/{quote(order.order_id, safe='')}/shipping_fulfillment/{fulfillment_id}"
    )
    return JSONResponse({}, status_code=201, headers={"Location": location})


def create_app(**options: Any) -> FastAPI:
    """A fresh simulator app; its state is `app.state.sim` (see `simulator()`)."""
    return build_app(EbaySimulator(**options))


def simulator(app: FastAPI) -> EbaySimulator:
    sim = app.state.sim
    assert isinstance(sim, EbaySimulator)
    return sim
