"""Simulator profiles: `zero` (answer at once, no limits) and `realistic` (latency per call and
each portal's documented rate limits per seller account, answered with the portal's 429).

`Profile.wrap(portal, app)` puts a gate in front of a simulator app. The gate waits the
profile's latency, finds the seller account and the metered operation of a request, takes a
token from that (account, operation) bucket and answers the portal's 429 when there is none.
Every request it sees goes into `calls` (time, account, operation, status), so tests and the
benchmark can count what reached the portal per second.

The limits below are vendor facts; docs/benchmarks.md lists each with its source page.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from simulators.knobs import ServerBucket

PROFILES = ("zero", "realistic")
DEFAULT_LATENCY_SECONDS = 0.150


@dataclass(frozen=True)
class Limit:
    """One documented limit: `rate` calls per second, `burst` at once, per seller account."""

    method: str
    path: re.Pattern[str]
    operation: str
    rate: float
    burst: int


def _limit(method: str, path: str, operation: str, rate: float, burst: int) -> Limit:
    return Limit(method, re.compile(path), operation, rate, burst)


# Amazon SP-API "Feeds API Rate Limits" and the Orders v0 model's usage plan (per
# account-application pair): developer-docs.amazon.com/sp-api/docs/feeds-api-rate-limits,
# ../shared/specs/amazon/feeds_2021-06-30.json and ordersV0.json (`confirmShipment` 2/s, burst 10)
AMAZON_FEEDS = "/feeds/2021-06-30"
LIMITS: Mapping[str, tuple[Limit, ...]] = {
    "amazon": (
        _limit("POST", rf"^{AMAZON_FEEDS}/documents$", "createFeedDocument", 0.5, 15),
        _limit("POST", rf"^{AMAZON_FEEDS}/feeds$", "createFeed", 0.0083, 15),
        _limit("GET", rf"^{AMAZON_FEEDS}/feeds/[^/]+$", "getFeed", 2.0, 15),
        _limit("GET", rf"^{AMAZON_FEEDS}/documents/[^/]+$", "getFeedDocument", 0.0222, 10),
        _limit("POST", r"^/orders/v0/orders/[^/]+/shipmentConfirmation$", "confirmShipment", 2, 10),
    ),
    # eBay publishes daily call limits per application (developer.ebay.com/develop/api/sell/
    # api_call_limits); per second it publishes nothing. 5 calls/s is what the team measured
    # for createShippingFulfillment, so the simulator meters the Fulfillment API at that pace.
    "ebay": (_limit("*", r"^/sell/fulfillment/", "fulfillment", 5.0, 10),),
    # Kaufland Seller API "Rate Limits" (sellerapi.kaufland.com/?page=rate-limits): 111 requests
    # per seller per second, counted across all endpoints; beyond it 429 Too Many Requests.
    "kaufland": (_limit("*", r"^/v2/", "seller-api", 111.0, 111),),
    # Hood publishes no limit (no machine-readable spec, no limit in its API document): assumed
    # one call a second per account with two at once, the pace the Hood connector keeps.
    "hood": (_limit("POST", r"^/api\.htm$", "api", 1.0, 2),),
    # Rakuten Shop-API (webservice.rakuten.de/documentation/howto/auth, "Limitierung"): 10,000
    # calls per day and shop. Modelled as a day's quota that may be spent at once.
    "rakuten": (_limit("*", r"^/merchants/", "shop-api", 10_000 / 86_400, 10_000),),
}


@dataclass(frozen=True)
class CallRecord:
    """One request as the gate saw it (`at`: time.monotonic() on arrival)."""

    at: float
    portal: str
    account: str
    operation: str
    status: int


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
AccountOf = Callable[[Mapping[str, str], bytes, str], str]


@dataclass
class Profile:
    """How the simulators answer: `zero` as fast as they can, `realistic` like the portals."""

    name: str = "zero"
    latency_seconds: float = 0.0
    limits: Mapping[str, tuple[Limit, ...]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    _buckets: dict[tuple[str, str, str], ServerBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def named(cls, name: str, *, latency_seconds: float | None = None) -> Profile:
        if name == "zero":
            return cls("zero")
        if name == "realistic":
            latency = DEFAULT_LATENCY_SECONDS if latency_seconds is None else latency_seconds
            return cls("realistic", latency, LIMITS)
        raise ValueError(f"unknown simulator profile {name!r}; choose one of {PROFILES}")

    @property
    def active(self) -> bool:
        return self.latency_seconds > 0 or bool(self.limits)

    def limit_for(self, portal: str, method: str, path: str) -> Limit | None:
        for limit in self.limits.get(portal, ()):
            if limit.method in ("*", method) and limit.path.search(path):
                return limit
        return None

    def take(self, portal: str, account: str, limit: Limit) -> float | None:
        """None when the call may pass, else the seconds until the bucket has a token."""
        with self._lock:
            key = (portal, account, limit.operation)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = ServerBucket(limit.rate, limit.burst)
        if bucket.take():
            return None
        with bucket.lock:
            return max(0.0, (1 - bucket.tokens) / bucket.rate)

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self.calls.append(call)

    def calls_of(self, portal: str) -> list[CallRecord]:
        with self._lock:
            return [c for c in self.calls if c.portal == portal]

    def wrap(self, portal: str, app: App, account_of: AccountOf) -> App:
        """`app` behind this profile's latency and limits (itself when the profile is zero)."""
        if not self.active:
            return app
        return _Gate(self, portal, app, account_of)


class _Gate:
    def __init__(self, profile: Profile, portal: str, app: App, account_of: AccountOf) -> None:
        self.profile, self.portal, self.app, self.account_of = profile, portal, app, account_of
        self.state = getattr(app, "state", None)  # tests reach the simulator through app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        limit = self.profile.limit_for(self.portal, method, path)
        account = self.account_of(headers, body, scope.get("query_string", b"").decode())
        wait = self.profile.take(self.portal, account, limit) if limit else None
        if self.profile.latency_seconds:
            await asyncio.sleep(self.profile.latency_seconds)
        operation = limit.operation if limit else f"{method} {path}"
        if wait is not None and limit is not None:
            status, answer, extra = _too_many(self.portal, limit, wait)
            self.profile.record(CallRecord(arrived, self.portal, account, operation, status))
            await _respond(send, status, answer, extra)
            return
        statuses: list[int] = []

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))
            await send(message)

        await self.app(scope, replay, watch)
        status = statuses[0] if statuses else 0
        self.profile.record(CallRecord(arrived, self.portal, account, operation, status))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _too_many(portal: str, limit: Limit, wait: float) -> tuple[int, bytes, dict[str, str]]:
    """The portal's own 429: body and headers as its documentation shows them."""
    if portal == "amazon":
        # SP-API: the error list with QuotaExceeded; x-amzn-RateLimit-Limit names the rate
        body: dict[str, Any] = {
            "errors": [
                {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                    "details": "",
                }
            ]
        }
        headers = {"content-type": "application/json", "x-amzn-RateLimit-Limit": f"{limit.rate:g}"}
        return 429, json.dumps(body).encode(), headers
    retry = {"retry-after": str(max(1, math.ceil(wait)))}
    if portal == "ebay":
        body = {
            "errors": [
                {
                    "errorId": 2001,
                    "domain": "ACCESS",
                    "category": "REQUEST",
                    "message": "Too many requests. The request limit has been reached for the "
                    "resource.",
                }
            ]
        }
        return 429, json.dumps(body).encode(), {"content-type": "application/json", **retry}
    if portal == "kaufland":
        body = {"type": "about:blank", "message": "Too Many Requests", "errors": []}
        return 429, json.dumps(body).encode(), {"content-type": "application/json", **retry}
    return 429, b"Too Many Requests", {"content-type": "text/plain", **retry}


# --- who is calling: the seller account of a request, per portal --------------------------------


def by_header(name: str) -> AccountOf:
    def account_of(headers: Mapping[str, str], body: bytes, query: str) -> str:
        return headers.get(name, "")

    return account_of


_HOOD_ACCOUNT = re.compile(rb"<accountName>([^<]*)</accountName>")


def hood_account(headers: Mapping[str, str], body: bytes, query: str) -> str:
    found = _HOOD_ACCOUNT.search(body)
    return found.group(1).decode("utf-8", "replace") if found else ""


def rakuten_shop(headers: Mapping[str, str], body: bytes, query: str) -> str:
    params = parse_qs(query)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return (params.get("key") or [""])[0]


def one_application(headers: Mapping[str, str], body: bytes, query: str) -> str:
    """eBay meters per application (the keyset), not per seller."""
    return "application"
