"""A local stand-in for Amazon's SP-API (Feeds 2021-06-30, Orders v0 confirmShipment, Orders
2026-01-01 getOrder) and LWA.

It speaks the shapes of the official models (checked by tests/test_amazon_spec.py) and behaves
like Amazon where liefern depends on it:

- `POST /auth/o2/token` (Login with Amazon) trades a known refresh token for an access token
  with `expires_in`; an unknown refresh token gets `400 invalid_grant`, wrong client
  credentials `401 invalid_client`. SP-API paths want that token in `x-amz-access-token`
  (`403 Unauthorized` otherwise).
- Feed documents are uploaded to a presigned-style URL on this server that checks its signature
  and that the Content-Type is exactly the one declared in createFeedDocument (as S3 does);
  an LWA token on that request is refused as an unsigned header.
- A feed goes IN_QUEUE -> IN_PROGRESS -> DONE within `processing_seconds`; processing parses the
  uploaded XML and writes a real XML `ProcessingReport` (optionally GZIP-compressed):
  5001 for XML that is not well-formed, 5000 for schema violations (wrong element order,
  unknown CarrierCode, bad patterns), 18028 for an order Amazon does not know, 18021 for an
  order fulfilled again with a different tracking number (the same one twice is fine), and a
  warning for tracking numbers that do not look like the carrier's.
- `GET /orders/2026-01-01/orders/{orderId}` (getOrder) answers a `GetOrderResponse` whose
  `packages[]` (with `includedData=PACKAGES`) are the order's accepted shipment confirmations,
  each with a `packageStatus` that moves along `PACKAGE_LIFE` every `package_step_seconds`
  (None: it stays PENDING) or as a test sets it (`set_package_status`); 404 for an order the
  simulator does not know.
- Token buckets per operation with the models' default rates answer 429 `QuotaExceeded`.
- Order feeds are recorded per seller (the document's MerchantIdentifier): `order_feeds(...)`.
  A seller's second feed within 20 minutes is taken like any other and logged as a warning
  (`feed_warnings`): Amazon asks for "one feed of the same type no more than once every 20
  minutes" (Feeds API Best Practices) but refuses none.

Fault knobs for stress tests live on `app.state.sim` (`AmazonSimulator`): `fail_next(...)`
makes the next N requests of an operation answer 429 (with or without Retry-After) or 5xx,
`force_next_feed(...)`/`force_feed(...)` make a feed end FATAL or CANCELLED or stay
IN_PROGRESS forever, `expire_access_tokens()` ends all issued tokens early.

Result codes 5000, 5001, 18021 and 18028 and their wording follow processing reports Amazon
sent to sellers; Amazon publishes no number for the tracking-format warning, so the one used
here (`TRACKING_FORMAT_WARNING`) is the simulator's own.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import itertools
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.xml import UntrustedXmlError, parse_untrusted_xml
from simulators.amazon_carriers import CARRIER_CODES
from simulators.knobs import ServerBucket
from simulators.spec_check import check_requests

FEEDS = "/feeds/2021-06-30"
ORDERS = "/orders/v0/orders"
ORDERS_2026 = "/orders/2026-01-01/orders"
MARKETPLACE_DE = "A1PA6795UKMFR9"
ORDER_FULFILLMENT_FEED = "POST_ORDER_FULFILLMENT_DATA"

DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.liefernsimulator"
DEFAULT_CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - the simulator's own test value
DEFAULT_REFRESH_TOKEN = "Atzr|liefern-simulator-refresh-token"  # noqa: S105 - test value

# operation -> (rate per second, burst): the models' default usage plans
DEFAULT_LIMITS: Mapping[str, tuple[float, int]] = {
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "cancelFeed": (2.0, 15),
    "confirmShipment": (2.0, 10),
    "getOrder": (0.5, 30),
}

# (status, detailedStatus) a merchant-fulfilled package passes through, values of the model's
# PackageStatus; IN_TRANSIT with OUT_FOR_DELIVERY as in the model's getOrder example
PACKAGE_LIFE: Sequence[tuple[str, str]] = (
    ("PENDING", "PENDING_PICK_UP"),
    ("IN_TRANSIT", "PICKED_UP"),
    ("IN_TRANSIT", "AT_DESTINATION_FC"),
    ("IN_TRANSIT", "OUT_FOR_DELIVERY"),
    ("DELIVERED", "DELIVERED"),
)

FATAL_PARSE_ERROR = "5001"
SCHEMA_ERROR = "5000"
ORDER_NOT_FOUND = "18028"
QUANTITY_EXCEEDED = "18021"
TRACKING_FORMAT_WARNING = "18500"  # the simulator's own number, see module docstring

_FORMAT_CHECKED_CARRIERS = frozenset({"DHL", "Deutsche Post", "DPD", "GLS", "Hermes", "UPS"})
_PLAIN_TRACKING = re.compile(r"[A-Za-z0-9]{8,40}")
_ORDER_ID_TYPE = re.compile(r"\w{3}-\w{7}-\w{7}")
_ORDER_ID_DIGITS = re.compile(r"\d{3}-\d{7}-\d{7}")
_ITEM_CODE = re.compile(r"\d{14}")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_MERCHANT = re.compile(rb"<MerchantIdentifier>\s*([^<]*?)\s*</MerchantIdentifier>")
# Feeds API Best Practices: "Upload one feed of the same type no more than once every 20 minutes"
FEED_INTERVAL_SECONDS = 20 * 60

log = logging.getLogger(__name__)


# --- small parts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    status: int
    retry_after: float | None = None


@dataclass
class FeedDocumentRecord:
    document_id: str
    content_type: str
    signature: str
    created: float  # monotonic
    kind: str  # "input" | "result"
    content: bytes | None = None
    compression: str | None = None


@dataclass
class FeedRecord:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created_at: datetime
    created: float  # monotonic
    forced: str | None = None  # FATAL | CANCELLED | IN_PROGRESS
    final_status: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result_document_id: str | None = None
    seller: str = ""  # the input document's MerchantIdentifier


@dataclass
class Fulfillment:
    """One accepted shipment confirmation of an order (items None: the whole order)."""

    tracking_number: str
    carrier_code: str
    items: dict[str, int] | None
    source: str  # "feed <id>" or "confirmShipment"
    package: str | None = None  # confirmShipment's packageReferenceId
    recorded: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class RequestRecord:
    method: str
    path: str
    operation: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Outcome:
    result_code: str | None = None  # None: success without remark
    message_code: str = ""
    description: str = ""
    order_id: str | None = None


# --- the state ---------------------------------------------------------------------------------


class AmazonSimulator:
    """In-memory state of the simulated marketplace, shared by all requests."""

    def __init__(
        self,
        *,
        processing_seconds: float = 0.0,
        known_orders: Callable[[str], bool] | None = None,
        ordered_items: Callable[[str], Mapping[str, int] | None] | None = None,
        throttle: bool = True,
        limits: Mapping[str, tuple[float, int]] | None = None,
        gzip_reports: bool = False,
        token_ttl_seconds: int = 3600,
        url_ttl_seconds: float = 300.0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_tokens: Iterable[str] = (DEFAULT_REFRESH_TOKEN,),
        package_step_seconds: float | None = None,
    ) -> None:
        self.processing_seconds = processing_seconds
        self.package_step_seconds = package_step_seconds
        self.started = datetime.now(UTC)
        # tracking number -> (status, detailedStatus, since) set by a test or the demo
        self.package_states: dict[str, tuple[str, str, datetime]] = {}
        self.known_orders = known_orders
        self.ordered_items = ordered_items
        self.throttle = throttle
        self.gzip_reports = gzip_reports
        self.token_ttl_seconds = token_ttl_seconds
        self.url_ttl_seconds = url_ttl_seconds
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens = set(refresh_tokens)
        self.lock = threading.RLock()
        self._signing_key = secrets.token_bytes(32)
        self._buckets = {
            op: ServerBucket(rate, burst)
            for op, (rate, burst) in {**DEFAULT_LIMITS, **(limits or {})}.items()
        }
        self._feed_numbers = itertools.count(50_001_018_000)
        self.access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.token_owners: dict[str, str] = {}  # token -> its refresh token (the seller)
        self.token_requests = 0
        self.documents: dict[str, FeedDocumentRecord] = {}
        self.feeds: dict[str, FeedRecord] = {}
        self.feed_warnings: list[str] = []  # a seller's order feeds closer than 20 minutes
        self.fulfillments: dict[str, list[Fulfillment]] = {}
        self.confirmations: list[dict[str, Any]] = []  # accepted confirmShipment bodies
        self.requests: list[RequestRecord] = []
        self.faults: dict[str, deque[Fault]] = {}
        self._forced_next: deque[str] = deque()

    # -- knobs for tests -----------------------------------------------------------------------

    def fail_next(
        self, operation: str, status: int = 429, count: int = 1, *, retry_after: float | None = None
    ) -> None:
        """The next `count` requests of `operation` (an operationId, `token`, `upload` or
        `download`) answer `status`; 429s carry Retry-After when `retry_after` is given."""
        with self.lock:
            queue = self.faults.setdefault(operation, deque())
            queue.extend(Fault(status, retry_after) for _ in range(count))

    def force_next_feed(self, outcome: str) -> None:
        """The next created feed ends FATAL or CANCELLED, or stays IN_PROGRESS forever."""
        if outcome not in ("FATAL", "CANCELLED", "IN_PROGRESS"):
            raise ValueError(f"unknown forced feed outcome {outcome!r}")
        with self.lock:
            self._forced_next.append(outcome)

    def force_feed(self, feed_id: str, outcome: str) -> None:
        if outcome not in ("FATAL", "CANCELLED", "IN_PROGRESS"):
            raise ValueError(f"unknown forced feed outcome {outcome!r}")
        with self.lock:
            feed = self.feeds[feed_id]
            if feed.final_status is None:
                feed.forced = outcome

    def set_package_status(self, tracking_number: str, status: str, detailed: str = "") -> None:
        """The package with this tracking number has this PackageStatus from now on."""
        with self.lock:
            self.package_states[tracking_number] = (status, detailed, datetime.now(UTC))

    def package_status(self, fulfillment: Fulfillment) -> tuple[str, str, datetime]:
        """(status, detailedStatus, since when) of one package now."""
        with self.lock:
            state = self.package_states.get(fulfillment.tracking_number)
        if state is not None:
            return state
        step = self.package_step_seconds
        if not step:
            return (*PACKAGE_LIFE[0], fulfillment.recorded)
        elapsed = (datetime.now(UTC) - fulfillment.recorded).total_seconds()
        stage = min(int(elapsed // step), len(PACKAGE_LIFE) - 1)
        return (*PACKAGE_LIFE[stage], fulfillment.recorded + timedelta(seconds=stage * step))

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def count(self, operation: str, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.operation == operation and (status is None or r.status == status)
            )

    def uploaded_feed(self, feed_id: str) -> bytes:
        with self.lock:
            content = self.documents[self.feeds[feed_id].input_document_id].content
        if content is None:
            raise LookupError(f"feed {feed_id} has no uploaded document")
        return content

    def report(self, feed_id: str) -> bytes:
        """The processing report of a finished feed, uncompressed."""
        with self.lock:
            self.tick()
            document_id = self.feeds[feed_id].result_document_id
            if document_id is None:
                raise LookupError(f"feed {feed_id} has no processing report (yet)")
            record = self.documents[document_id]
        assert record.content is not None
        return gzip.decompress(record.content) if record.compression else record.content

    # -- plumbing ------------------------------------------------------------------------------

    def _sign(self, document_id: str, created: float) -> str:
        message = f"{document_id}:{created}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def presigned_url(self, base_url: str, kind: str, record: FeedDocumentRecord) -> str:
        query = urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                "X-Amz-Expires": str(int(self.url_ttl_seconds)),
                "X-Amz-SignedHeaders": "content-type;host" if kind == "upload" else "host",
                "X-Amz-Signature": record.signature,
            }
        )
        return f"{base_url.rstrip('/')}/_{kind}/{record.document_id}?{query}"

    def new_document(self, content_type: str, kind: str) -> FeedDocumentRecord:
        document_id = f"amzn1.tortuga.4.eu.{uuid.uuid4()}.T{secrets.randbelow(10**13):013d}"
        created = time.monotonic()
        record = FeedDocumentRecord(
            document_id, content_type, self._sign(document_id, created), created, kind
        )
        self.documents[document_id] = record
        return record

    def take_fault(self, operation: str) -> Fault | None:
        queue = self.faults.get(operation)
        return queue.popleft() if queue else None

    def throttled(self, operation: str) -> bool:
        bucket = self._buckets.get(operation)
        return self.throttle and bucket is not None and not bucket.take()

    def rate_header(self, operation: str) -> str | None:
        bucket = self._buckets.get(operation)
        return f"{bucket.rate:g}" if bucket else None

    # -- feed processing -----------------------------------------------------------------------

    def order_feeds(self, seller: str) -> list[FeedRecord]:
        """The order feeds a seller (MerchantIdentifier) submitted, oldest first."""
        with self.lock:
            feeds = [f for f in self.feeds.values() if f.seller == seller]
        return sorted(feeds, key=lambda f: f.created)

    def _seller_of(self, document_id: str) -> str:
        document = self.documents.get(document_id)
        found = _MERCHANT.search((document.content or b"")[:4096]) if document else None
        return found.group(1).decode("utf-8", "replace") if found else ""

    def new_feed(self, feed_type: str, marketplace_ids: list[str], document_id: str) -> FeedRecord:
        seller = self._seller_of(document_id)
        earlier = [f.created for f in self.feeds.values() if seller and f.seller == seller]
        if earlier and time.monotonic() - max(earlier) < FEED_INTERVAL_SECONDS:
            warning = (
                f"seller {seller}: another {feed_type} feed "
                f"{time.monotonic() - max(earlier):.0f} s after the last one; Amazon asks for "
                "one feed of the same type no more than once every 20 minutes"
            )
            self.feed_warnings.append(warning)
            log.warning("%s", warning)
        feed = FeedRecord(
            seller=seller,
            feed_id=str(next(self._feed_numbers)),
            feed_type=feed_type,
            marketplace_ids=marketplace_ids,
            input_document_id=document_id,
            created_at=datetime.now(UTC),
            created=time.monotonic(),
            forced=self._forced_next.popleft() if self._forced_next else None,
        )
        self.feeds[feed.feed_id] = feed
        return feed

    def status(self, feed: FeedRecord) -> str:
        if feed.final_status:
            return feed.final_status
        elapsed = time.monotonic() - feed.created
        if feed.forced == "CANCELLED" and elapsed >= self.processing_seconds / 2:
            return "CANCELLED"
        if elapsed < self.processing_seconds / 2:
            return "IN_QUEUE"
        if elapsed < self.processing_seconds or feed.forced == "IN_PROGRESS":
            return "IN_PROGRESS"
        return "DUE"

    def tick(self) -> None:
        """Finish every feed whose time has come, oldest first (order matters for orders)."""
        with self.lock:
            for feed in sorted(self.feeds.values(), key=lambda f: f.created):
                if feed.final_status:
                    continue
                status = self.status(feed)
                if status in ("IN_PROGRESS", "DUE") and feed.started_at is None:
                    feed.started_at = datetime.now(UTC)
                if status == "CANCELLED":
                    feed.final_status = "CANCELLED"
                    feed.ended_at = datetime.now(UTC)
                elif status == "DUE":
                    self._finish(feed)

    def _finish(self, feed: FeedRecord) -> None:
        feed.ended_at = datetime.now(UTC)
        document = self.documents.get(feed.input_document_id)
        if feed.forced == "FATAL" or document is None or document.content is None:
            feed.final_status = "FATAL"
            return
        report = _process_feed(self, feed, document.content)
        result = self.new_document("text/xml; charset=UTF-8", "result")
        if self.gzip_reports:
            result.content = gzip.compress(report)
            result.compression = "GZIP"
        else:
            result.content = report
        feed.result_document_id = result.document_id
        feed.final_status = "DONE"

    def fulfil(
        self,
        order_id: str,
        tracking: str,
        carrier_code: str,
        items: dict[str, int] | None,
        source: str,
        package: str | None = None,
    ) -> _Outcome:
        """Record a shipment confirmation as Amazon would, or say why not.

        A confirmShipment with the `packageReferenceId` of a package confirmed before edits
        that package (its tracking number, carrier, items): "If you need to make an edit to the
        shipment, submit another confirmShipment operation with the same packageReferenceID"
        (SP-API docs, "Confirm the shipment status"). Feeds name no package: a feed message
        with another tracking number is a further package, refused once the items are out."""
        if self.known_orders is not None and not self.known_orders(order_id):
            return _Outcome("Error", ORDER_NOT_FOUND, "", order_id)  # text added by the caller
        done = self.fulfillments.setdefault(order_id, [])
        edited = next((f for f in done if package and f.package == package), None)
        rest = [f for f in done if f is not edited]
        others = [f for f in rest if f.tracking_number != tracking]
        same = [f for f in rest if f.tracking_number == tracking]
        exceeded = _Outcome(
            "Error",
            QUANTITY_EXCEEDED,
            f"The quantities you provided for order id ({order_id}) were larger than the "
            "quantities that could be fulfilled. Please review the quantity from the order "
            "report and take into account any items that have been cancelled or already "
            "fulfilled.",
            order_id,
        )
        if any(f.items is None for f in others):
            return exceeded  # the whole order already went out with another parcel
        if items is not None and self.ordered_items is not None:
            ordered = self.ordered_items(order_id) or {}
            for item_id, quantity in items.items():
                shipped = sum((f.items or {}).get(item_id, 0) for f in others)
                if item_id in ordered and shipped + quantity > ordered[item_id]:
                    return exceeded
        if edited is not None:
            edited.tracking_number, edited.carrier_code, edited.items = (
                tracking,
                carrier_code,
                items,
            )
        elif not any(f.items == items for f in same):
            done.append(Fulfillment(tracking, carrier_code, items, source, package))
        return _Outcome(order_id=order_id)


# --- feed XML -> processing report -------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


class _SchemaError(Exception):
    def __init__(self, element: etree._Element, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.message = message


# (names that may stand here, minOccurs, maxOccurs or None) per sequence, after Amazon's
# OrderFulfillment schema (facts in ../shared/specs/amazon/README.md).
_Particle = tuple[tuple[str, ...], int, int | None]
ORDER_FULFILLMENT: Sequence[_Particle] = (
    (("AmazonOrderID", "MerchantOrderID"), 1, 1),
    (("MerchantFulfillmentID",), 0, 1),
    (("FulfillmentDate",), 1, 1),
    (("FulfillmentData",), 0, 1),
    (("CODCollectionMethod",), 0, 1),
    (("Item",), 0, None),
    (("ShipFromAddress",), 0, 1),
)
FULFILLMENT_DATA: Sequence[_Particle] = (
    (("CarrierCode",), 0, 1),
    (("CarrierName",), 0, 1),
    (("ShippingMethod",), 0, 1),
    (("ShipperTrackingNumber",), 0, 1),
)
ITEM: Sequence[_Particle] = (
    (("AmazonOrderItemCode", "MerchantOrderItemID"), 1, 1),
    (("MerchantFulfillmentItemID",), 0, 1),
    (("Quantity",), 0, 1),
    (("TransparencyCode",), 0, 10),
)


def _expected(particles: Sequence[_Particle], start: int) -> str:
    names: list[str] = []
    for choice, minimum, _ in particles[start:]:
        names.extend(choice)
        if minimum > 0:
            break
    return "{" + ", ".join(f'"{n}"' for n in names) + "}"


def _check_sequence(parent: etree._Element, particles: Sequence[_Particle]) -> None:
    """Validate child order and counts the way an XSD validator would (first error only)."""
    position, seen = 0, 0
    for child in _elements(parent):
        name = _local(child)
        while True:
            if position >= len(particles):
                raise _SchemaError(
                    child,
                    f"cvc-complex-type.2.4.d: Invalid content was found starting with element "
                    f"'{name}'. No child element is expected at this point.",
                )
            names, minimum, maximum = particles[position]
            if name in names and (maximum is None or seen < maximum):
                seen += 1
                break
            if seen < minimum:
                raise _SchemaError(
                    child,
                    f"cvc-complex-type.2.4.a: Invalid content was found starting with element "
                    f"'{name}'. One of '{_expected(particles, position)}' is expected.",
                )
            position, seen = position + 1, 0
    while position < len(particles):
        if seen < particles[position][1]:
            raise _SchemaError(
                parent,
                f"cvc-complex-type.2.4.b: The content of element '{_local(parent)}' is not "
                f"complete. One of '{_expected(particles, position)}' is expected.",
            )
        position, seen = position + 1, 0


def _value(element: etree._Element) -> str:
    return (element.text or "").strip()


def _check_string(element: etree._Element, type_name: str = "String") -> None:
    value = _value(element)
    if len(value) > 50:
        raise _SchemaError(
            element,
            f"cvc-maxLength-valid: Value '{value}' with length = '{len(value)}' is not "
            f"facet-valid with respect to maxLength '50' for type '{type_name}'.",
        )


def _check_pattern(element: etree._Element, pattern: re.Pattern[str], type_name: str) -> None:
    value = _value(element)
    if not pattern.fullmatch(value):
        raise _SchemaError(
            element,
            f"cvc-pattern-valid: Value '{value}' is not facet-valid with respect to pattern "
            f"'{pattern.pattern}' for type '{type_name}'.",
        )


def _check_datetime(element: etree._Element, *, zoned: bool = False) -> None:
    value = _value(element)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _SchemaError(
            element, f"cvc-datatype-valid.1.2.1: '{value}' is not a valid value for 'dateTime'."
        ) from None
    if zoned and moment.tzinfo is None:
        # Amazon reads a date without an offset in the marketplace's own time zone, which is
        # never what a seller means: the feed must say which zone it is in
        raise _SchemaError(
            element,
            f"The FulfillmentDate '{value}' has no time zone. Give it as an ISO 8601 date and "
            "time with an offset, e.g. 2026-12-04T10:00:00+01:00 or 2026-12-04T09:00:00Z.",
        )


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in _elements(parent) if _local(c) == name), None)


def _child_value(parent: etree._Element | None, name: str) -> str:
    child = _child(parent, name) if parent is not None else None
    return _value(child) if child is not None else ""


def _validate_fulfillment(fulfillment: etree._Element) -> None:
    _check_sequence(fulfillment, ORDER_FULFILLMENT)
    order = _child(fulfillment, "AmazonOrderID")
    if order is not None:
        _check_pattern(order, _ORDER_ID_TYPE, "#AnonType_AmazonOrderID")
    date = _child(fulfillment, "FulfillmentDate")
    assert date is not None  # required by the sequence
    _check_datetime(date, zoned=True)
    data = _child(fulfillment, "FulfillmentData")
    if data is not None:
        _check_sequence(data, FULFILLMENT_DATA)
        code = _child(data, "CarrierCode")
        if code is not None and _value(code) not in CARRIER_CODES:
            sample = ", ".join(sorted(CARRIER_CODES)[:12])
            raise _SchemaError(
                code,
                f"cvc-enumeration-valid: Value '{_value(code)}' is not facet-valid with respect "
                f"to enumeration '[{sample}, ...]'. It must be a value from the enumeration.",
            )
        for name in ("CarrierName", "ShippingMethod", "ShipperTrackingNumber"):
            element = _child(data, name)
            if element is not None:
                _check_string(element)
    for item in (c for c in _elements(fulfillment) if _local(c) == "Item"):
        _check_sequence(item, ITEM)
        code = _child(item, "AmazonOrderItemCode")
        if code is not None:
            _check_pattern(code, _ITEM_CODE, "#AnonType_AmazonOrderItemCode")
        quantity = _child(item, "Quantity")
        if quantity is not None and not (_value(quantity).isdigit() and int(_value(quantity)) > 0):
            raise _SchemaError(
                quantity,
                f"cvc-datatype-valid.1.2.1: '{_value(quantity)}' is not a valid value for "
                "'positiveInteger'.",
            )


def _position(source: bytes, element: etree._Element) -> tuple[int, int]:
    """Line and column just after the element's start tag, as an XSD validator reports."""
    line: int = getattr(element, "sourceline", None) or 1
    lines = source.decode("utf-8", "replace").splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = text.find(f"<{_local(element)}")
    end = text.find(">", start) if start >= 0 else -1
    return line, (end + 2 if end >= 0 else 1)


def _message_outcome(
    sim: AmazonSimulator, feed: FeedRecord, merchant: str, fulfillment: etree._Element
) -> _Outcome:
    order_id = _child_value(fulfillment, "AmazonOrderID")
    data = _child(fulfillment, "FulfillmentData")
    carrier = _child_value(data, "CarrierCode")
    name = _child_value(data, "CarrierName")
    tracking = _child_value(data, "ShipperTrackingNumber")
    items: dict[str, int] | None = None
    for item in (c for c in _elements(fulfillment) if _local(c) == "Item"):
        items = items if items is not None else {}
        key = _child_value(item, "AmazonOrderItemCode")
        quantity = _child_value(item, "Quantity")
        items[key] = items.get(key, 0) + (int(quantity) if quantity else 1)
    if _child(fulfillment, "AmazonOrderID") is None or not _ORDER_ID_DIGITS.fullmatch(order_id):
        order_id = order_id or _child_value(fulfillment, "MerchantOrderID")
        return _Outcome(
            "Error",
            ORDER_NOT_FOUND,
            f"Your order cannot be found using Merchant ID {merchant} and Merchant Order "
            f"{order_id}. Enter the correct order ID and then resubmit your feed.",
            None,
        )
    outcome = sim.fulfil(order_id, tracking, carrier, items, f"feed {feed.feed_id}")
    if outcome.message_code == ORDER_NOT_FOUND:
        outcome.description = (
            f"Your order cannot be found using Merchant ID {merchant} and Amazon Order ID "
            f"{order_id}. Enter the correct order ID and then resubmit your feed."
        )
    if (
        outcome.result_code is None
        and carrier in _FORMAT_CHECKED_CARRIERS
        and not _PLAIN_TRACKING.fullmatch(tracking)
    ):
        return _Outcome(
            "Warning",
            TRACKING_FORMAT_WARNING,
            f"The tracking ID {tracking} for {name or carrier} does not match the expected "
            "format for the carrier. Please verify that you have entered the tracking ID and "
            "carrier name correctly.",
            order_id,
        )
    return outcome


def _report(
    merchant: str,
    feed_id: str,
    processed: int,
    results: Sequence[tuple[int, _Outcome]],
) -> bytes:
    envelope = etree.Element("AmazonEnvelope", nsmap={"xsi": _XSI})
    envelope.set(f"{{{_XSI}}}noNamespaceSchemaLocation", "amzn-envelope.xsd")
    header = etree.SubElement(envelope, "Header")
    etree.SubElement(header, "DocumentVersion").text = "1.02"
    etree.SubElement(header, "MerchantIdentifier").text = merchant
    etree.SubElement(envelope, "MessageType").text = "ProcessingReport"
    message = etree.SubElement(envelope, "Message")
    etree.SubElement(message, "MessageID").text = "1"
    report = etree.SubElement(message, "ProcessingReport")
    etree.SubElement(report, "DocumentTransactionID").text = feed_id
    etree.SubElement(report, "StatusCode").text = "Complete"
    errors = {mid for mid, o in results if o.result_code == "Error" and mid > 0}
    warnings = {mid for mid, o in results if o.result_code == "Warning" and mid > 0} - errors
    summary = etree.SubElement(report, "ProcessingSummary")
    etree.SubElement(summary, "MessagesProcessed").text = str(processed)
    etree.SubElement(summary, "MessagesSuccessful").text = str(max(0, processed - len(errors)))
    etree.SubElement(summary, "MessagesWithError").text = str(len(errors))
    etree.SubElement(summary, "MessagesWithWarning").text = str(len(warnings))
    for message_id, outcome in results:
        result = etree.SubElement(report, "Result")
        etree.SubElement(result, "MessageID").text = str(message_id)
        etree.SubElement(result, "ResultCode").text = outcome.result_code
        etree.SubElement(result, "ResultMessageCode").text = outcome.message_code
        etree.SubElement(result, "ResultDescription").text = outcome.description
        if outcome.order_id:
            info = etree.SubElement(result, "AdditionalInfo")
            etree.SubElement(info, "AmazonOrderID").text = outcome.order_id
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _process_feed(sim: AmazonSimulator, feed: FeedRecord, source: bytes) -> bytes:
    try:
        root = parse_untrusted_xml(source)
    except UntrustedXmlError as error:
        line, column = error.position or (1, 1)
        outcome = _Outcome(
            "Error",
            FATAL_PARSE_ERROR,
            f"XML Parsing Fatal Error at Line {line}, Column {column}: {error.reason}",
        )
        return _report("", feed.feed_id, 0, [(0, outcome)])
    header = _child(root, "Header")
    merchant_element = _child(header, "MerchantIdentifier") if header is not None else None
    merchant = _value(merchant_element) if merchant_element is not None else ""
    message_type = _child(root, "MessageType")
    if _local(root) != "AmazonEnvelope" or message_type is None:
        line, column = _position(source, root)
        outcome = _Outcome(
            "Error",
            SCHEMA_ERROR,
            f"XML Parsing Error at Line {line}, Column {column}: cvc-elt.1: Cannot find the "
            f"declaration of element '{_local(root)}'."
            if _local(root) != "AmazonEnvelope"
            else f"XML Parsing Error at Line {line}, Column {column}: cvc-complex-type.2.4.b: "
            "The content of element 'AmazonEnvelope' is not complete.",
        )
        return _report(merchant, feed.feed_id, 0, [(0, outcome)])
    if _value(message_type) != "OrderFulfillment":
        outcome = _Outcome(
            "Error",
            SCHEMA_ERROR,
            f"The MessageType {_value(message_type)} does not match the feed type "
            f"{feed.feed_type}.",
        )
        return _report(merchant, feed.feed_id, 0, [(0, outcome)])
    results: list[tuple[int, _Outcome]] = []
    processed = 0
    for message in (c for c in _elements(root) if _local(c) == "Message"):
        processed += 1
        id_element = _child(message, "MessageID")
        try:
            message_id = int(_value(id_element)) if id_element is not None else 0
        except ValueError:
            message_id = 0
        fulfillment = _child(message, "OrderFulfillment")
        try:
            if fulfillment is None:
                raise _SchemaError(
                    message,
                    "cvc-complex-type.2.4.b: The content of element 'Message' is not complete. "
                    "One of '{\"OrderFulfillment\"}' is expected.",
                )
            _validate_fulfillment(fulfillment)
        except _SchemaError as error:
            line, column = _position(source, error.element)
            results.append(
                (
                    message_id,
                    _Outcome(
                        "Error",
                        SCHEMA_ERROR,
                        f"XML Parsing Error at Line {line}, Column {column}: {error.message}",
                    ),
                )
            )
            continue
        outcome = _message_outcome(sim, feed, merchant, fulfillment)
        if outcome.result_code is not None:
            results.append((message_id, outcome))
    return _report(merchant, feed.feed_id, processed, results)


# --- HTTP --------------------------------------------------------------------------------------


SPEC_FILES = (
    "amazon/oas3/feeds_2021-06-30.oas3.json",
    "amazon/oas3/ordersV0.oas3.json",
    "amazon/oas3/orders_2026-01-01.oas3.json",
)


def _spec_refusal(reason: str) -> Response:
    """SP-API's ErrorList for a request its model refuses."""
    return JSONResponse(_errors("InvalidInput", "Invalid input", reason), status_code=400)


def _errors(code: str, message: str, details: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "details": details}]}


def _s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    root = etree.Element("Error")
    etree.SubElement(root, "Code").text = code
    etree.SubElement(root, "Message").text = message
    for name, value in extra.items():
        etree.SubElement(root, name).text = value
    etree.SubElement(root, "RequestId").text = secrets.token_hex(8).upper()
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, status_code=status, media_type="application/xml")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Api:
    """Request handlers; every SP-API call passes `_guard` (record, auth, faults, throttle)."""

    def __init__(self, sim: AmazonSimulator) -> None:
        self.sim = sim

    def _record(self, request: Request, operation: str, response: Response) -> Response:
        with self.sim.lock:
            self.sim.requests.append(
                RequestRecord(
                    request.method,
                    request.url.path,
                    operation,
                    response.status_code,
                    {k.lower(): v for k, v in request.headers.items()},
                )
            )
        return response

    def _json(self, status: int, body: Any, operation: str | None = None) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if operation and status != 429 and (rate := self.sim.rate_header(operation)):
            headers["x-amzn-RateLimit-Limit"] = rate
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    def _guard(self, request: Request, operation: str) -> Response | None:
        sim = self.sim
        with sim.lock:
            token = request.headers.get("x-amz-access-token")
            expiry = sim.access_tokens.get(token or "")
            if expiry is None:
                return self._json(
                    403, _errors("Unauthorized", "Access to requested resource is denied.")
                )
            if expiry <= time.monotonic():
                return self._json(
                    403,
                    _errors(
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "The access token you provided has expired.",
                    ),
                )
            fault = sim.take_fault(operation)
            if fault is not None:
                return self._fault(fault)
            if sim.throttled(operation):
                return self._json(
                    429,
                    _errors("QuotaExceeded", "You exceeded your quota for the requested resource."),
                )
            sim.tick()
        return None

    def _fault(self, fault: Fault) -> Response:
        if fault.status == 429:
            response = self._json(
                429, _errors("QuotaExceeded", "You exceeded your quota for the requested resource.")
            )
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        if fault.status == 503:
            return self._json(
                503, _errors("ServiceUnavailable", "Service temporarily unavailable.")
            )
        return self._json(
            fault.status,
            _errors("InternalFailure", "We encountered an internal error. Please try again."),
        )

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # -- LWA -----------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        sim = self.sim
        form = await request.form()
        with sim.lock:
            sim.token_requests += 1
            fault = sim.take_fault("token")
        if fault is not None:
            response = JSONResponse(
                {"error": "server_error", "error_description": "Internal error"},
                status_code=fault.status,
            )
        elif form.get("grant_type") != "refresh_token":
            response = JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported",
                },
                status_code=400,
            )
        elif form.get("client_id") != sim.client_id or form.get("client_secret") != (
            sim.client_secret
        ):
            response = JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status_code=401,
            )
        elif form.get("refresh_token") not in sim.refresh_tokens:
            response = JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : "
                    "refresh_token",
                },
                status_code=400,
            )
        else:
            token = f"Atza|{secrets.token_urlsafe(48)}"
            with sim.lock:
                sim.access_tokens[token] = time.monotonic() + sim.token_ttl_seconds
                sim.token_owners[token] = str(form.get("refresh_token"))
            response = JSONResponse(
                {
                    "access_token": token,
                    "refresh_token": form.get("refresh_token"),
                    "token_type": "bearer",
                    "expires_in": sim.token_ttl_seconds,
                }
            )
        return self._record(request, "token", response)

    # -- feeds ---------------------------------------------------------------------------------

    async def create_feed_document(self, request: Request) -> Response:
        op = "createFeedDocument"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        body = await self._body(request)
        content_type = body.get("contentType") if body else None
        if not isinstance(content_type, str) or not content_type.strip():
            response = self._json(400, _errors("InvalidInput", "Invalid input", "contentType"), op)
        else:
            with self.sim.lock:
                record = self.sim.new_document(content_type, "input")
            url = self.sim.presigned_url(str(request.base_url), "upload", record)
            response = self._json(201, {"feedDocumentId": record.document_id, "url": url}, op)
        return self._record(request, op, response)

    async def upload(self, request: Request) -> Response:
        op = "upload"
        sim = self.sim
        document_id = request.path_params["document_id"]
        content = await request.body()
        with sim.lock:
            record = sim.documents.get(document_id)
            fault = sim.take_fault(op)
        if fault is not None:
            response = _s3_error(fault.status, "InternalError", "We encountered an internal error.")
        elif record is None or record.kind != "input":
            response = _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        elif not hmac.compare_digest(
            request.query_params.get("X-Amz-Signature", ""), record.signature
        ):
            response = _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        elif time.monotonic() - record.created > sim.url_ttl_seconds:
            response = _s3_error(403, "AccessDenied", "Request has expired")
        elif any(name.lower().startswith("x-amz-") for name in request.headers):
            unsigned = ",".join(n for n in request.headers if n.lower().startswith("x-amz-"))
            response = _s3_error(
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed",
                HeadersNotSigned=unsigned,
            )
        elif request.headers.get("content-type") != record.content_type:
            response = _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
        else:
            with sim.lock:
                record.content = content
            etag = hashlib.md5(content, usedforsecurity=False).hexdigest()
            response = Response(status_code=200, headers={"ETag": f'"{etag}"'})
        return self._record(request, op, response)

    async def download(self, request: Request) -> Response:
        op = "download"
        sim = self.sim
        with sim.lock:
            record = sim.documents.get(request.path_params["document_id"])
            fault = sim.take_fault(op)
        if fault is not None:
            response = _s3_error(fault.status, "InternalError", "We encountered an internal error.")
        elif record is None or record.content is None:
            response = _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        elif not hmac.compare_digest(
            request.query_params.get("X-Amz-Signature", ""), record.signature
        ):
            response = _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        else:
            media = "application/octet-stream" if record.compression else record.content_type
            response = Response(record.content, media_type=media)
        return self._record(request, op, response)

    async def create_feed(self, request: Request) -> Response:
        op = "createFeed"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        body = await self._body(request) or {}
        feed_type = body.get("feedType")
        marketplaces = body.get("marketplaceIds")
        document_id = body.get("inputFeedDocumentId")
        with self.sim.lock:
            document = self.sim.documents.get(str(document_id))
        if not isinstance(feed_type, str) or not isinstance(document_id, str):
            problem = "feedType and inputFeedDocumentId are required"
        elif (
            not isinstance(marketplaces, list)
            or not 1 <= len(marketplaces) <= 25
            or not all(isinstance(m, str) for m in marketplaces)
        ):
            problem = "marketplaceIds must list 1 to 25 marketplace ids"
        elif feed_type != ORDER_FULFILLMENT_FEED:
            problem = f"Invalid feedType: {feed_type} (this simulator processes order feeds only)"
        elif document is None or document.kind != "input":
            problem = f"Invalid inputFeedDocumentId: {document_id}"
        else:
            problem = ""
        if problem:
            return self._record(request, op, self._json(400, _errors("InvalidInput", problem), op))
        assert isinstance(feed_type, str) and isinstance(document_id, str)
        assert isinstance(marketplaces, list)
        with self.sim.lock:
            feed = self.sim.new_feed(feed_type, [str(m) for m in marketplaces], document_id)
        return self._record(request, op, self._json(202, {"feedId": feed.feed_id}, op))

    def _feed_body(self, feed: FeedRecord) -> dict[str, Any]:
        status = self.sim.status(feed)
        body: dict[str, Any] = {
            "feedId": feed.feed_id,
            "feedType": feed.feed_type,
            "marketplaceIds": feed.marketplace_ids,
            "createdTime": _iso(feed.created_at),
            "processingStatus": "IN_PROGRESS" if status == "DUE" else status,
        }
        if feed.started_at:
            body["processingStartTime"] = _iso(feed.started_at)
        if feed.ended_at:
            body["processingEndTime"] = _iso(feed.ended_at)
        if feed.result_document_id:
            body["resultFeedDocumentId"] = feed.result_document_id
        return body

    async def get_feed(self, request: Request) -> Response:
        op = "getFeed"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        with self.sim.lock:
            feed = self.sim.feeds.get(request.path_params["feed_id"])
            body = self._feed_body(feed) if feed else None
        if body is None:
            response = self._json(404, _errors("NotFound", "The requested feed was not found."), op)
        else:
            response = self._json(200, body, op)
        return self._record(request, op, response)

    async def cancel_feed(self, request: Request) -> Response:
        op = "cancelFeed"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        with self.sim.lock:
            feed = self.sim.feeds.get(request.path_params["feed_id"])
            status = self.sim.status(feed) if feed else None
            if feed is not None and status == "IN_QUEUE":
                feed.final_status = "CANCELLED"
                feed.ended_at = datetime.now(UTC)
        if feed is None:
            response = self._json(404, _errors("NotFound", "The requested feed was not found."), op)
        elif status != "IN_QUEUE":
            response = self._json(
                400, _errors("InvalidInput", "Only feeds in IN_QUEUE can be cancelled."), op
            )
        else:
            response = Response(status_code=200, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        return self._record(request, op, response)

    async def get_feed_document(self, request: Request) -> Response:
        op = "getFeedDocument"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        with self.sim.lock:
            record = self.sim.documents.get(request.path_params["document_id"])
        if record is None:
            response = self._json(
                404, _errors("NotFound", "The requested feed document was not found."), op
            )
        else:
            body: dict[str, Any] = {
                "feedDocumentId": record.document_id,
                "url": self.sim.presigned_url(str(request.base_url), "download", record),
            }
            if record.compression:
                body["compressionAlgorithm"] = record.compression
            response = self._json(200, body, op)
        return self._record(request, op, response)

    # -- orders --------------------------------------------------------------------------------

    async def confirm_shipment(self, request: Request) -> Response:
        op = "confirmShipment"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        order_id = request.path_params["order_id"]
        body = await self._body(request)
        problem = _confirm_problem(order_id, body)
        if problem:
            response = self._json(400, _errors("InvalidInput", problem), op)
            return self._record(request, op, response)
        assert body is not None
        package = body["packageDetail"]
        items = {
            str(item["orderItemId"]): int(item["quantity"]) for item in package["orderItems"]
        } or None
        with self.sim.lock:
            outcome = self.sim.fulfil(
                order_id,
                str(package["trackingNumber"]).strip(),
                str(package["carrierCode"]),
                items,
                "confirmShipment",
                str(package["packageReferenceId"]),
            )
            if outcome.result_code is None:
                self.sim.confirmations.append({"orderId": order_id, **body})
        if outcome.message_code == ORDER_NOT_FOUND:
            response = self._json(
                400, _errors("InvalidInput", f"Order {order_id} was not found for this seller."), op
            )
        elif outcome.result_code == "Error":
            response = self._json(
                400,
                _errors(
                    "InvalidInput",
                    "The quantities you provided were larger than the quantities that could be "
                    "fulfilled.",
                    outcome.description,
                ),
                op,
            )
        else:
            response = self._json(204, None, op)
        return self._record(request, op, response)

    async def get_order(self, request: Request) -> Response:
        op = "getOrder"
        if (refused := self._guard(request, op)) is not None:
            return self._record(request, op, refused)
        order_id = request.path_params["order_id"]
        included = {
            word.strip()
            for value in request.query_params.getlist("includedData")
            for word in value.split(",")
        }
        with self.sim.lock:
            body = _order_body(self.sim, order_id, packages="PACKAGES" in included)
        if body is None:
            response = self._json(
                404, _errors("NotFound", f"Order {order_id} was not found for this seller."), op
            )
        else:
            response = self._json(200, body, op)
        return self._record(request, op, response)


def _order_body(sim: AmazonSimulator, order_id: str, *, packages: bool) -> dict[str, Any] | None:
    """A `GetOrderResponse` for the order, or None when the simulator does not know it."""
    done = sim.fulfillments.get(order_id, [])
    known = sim.known_orders(order_id) if sim.known_orders is not None else bool(done)
    if not known:
        return None
    ordered = dict(sim.ordered_items(order_id) or {}) if sim.ordered_items else {}
    for fulfillment in done:
        for item_id, quantity in (fulfillment.items or {}).items():
            ordered.setdefault(item_id, quantity)
    states = [(f, sim.package_status(f)) for f in done]
    updated = max([sim.started, *(f.recorded for f in done), *(s[2] for _, s in states)])
    order: dict[str, Any] = {
        "orderId": order_id,
        "createdTime": _iso(sim.started),
        "lastUpdatedTime": _iso(updated),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": MARKETPLACE_DE},
        "fulfillment": {
            "fulfillmentStatus": "SHIPPED" if done else "UNSHIPPED",
            "fulfilledBy": "MERCHANT",
        },
        "orderItems": [
            {"orderItemId": item_id, "quantityOrdered": quantity, "product": {}}
            for item_id, quantity in sorted(ordered.items())
        ],
    }
    if packages:
        order["packages"] = [
            {
                "packageReferenceId": f.package or str(number),
                "createdTime": _iso(f.recorded),
                "shipTime": _iso(f.recorded),
                "carrier": f.carrier_code,
                "trackingNumber": f.tracking_number,
                "packageStatus": {"status": status, "detailedStatus": detailed},
                "packageItems": [
                    {"orderItemId": item_id, "quantity": quantity}
                    for item_id, quantity in sorted((f.items or {}).items())
                ],
            }
            for number, (f, (status, detailed, _)) in enumerate(states, start=1)
        ]
    return {"order": order}


def _confirm_problem(order_id: str, body: dict[str, Any] | None) -> str:
    """Why a confirmShipment request is invalid ('' when it is fine)."""
    if not _ORDER_ID_DIGITS.fullmatch(order_id):
        return f"Invalid orderId: {order_id}"
    if body is None:
        return "Invalid Input"
    package = body.get("packageDetail")
    if not isinstance(body.get("marketplaceId"), str) or not isinstance(package, dict):
        return "marketplaceId and packageDetail are required"
    for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
        if not isinstance(package.get(name), str) or not package[name].strip():
            return f"packageDetail.{name} is required"
    if not package["packageReferenceId"].isdigit() or int(package["packageReferenceId"]) < 1:
        return "packageReferenceId must be a positive number"
    if package["carrierCode"] not in CARRIER_CODES:
        return f"Invalid carrierCode: {package['carrierCode']}"
    if package["carrierCode"] == "Other" and not str(package.get("carrierName") or "").strip():
        return "carrierName is required when carrierCode is Other"
    try:
        datetime.fromisoformat(package["shipDate"].replace("Z", "+00:00"))
    except ValueError:
        return f"Invalid shipDate: {package['shipDate']}"
    items = package.get("orderItems")
    if not isinstance(items, list) or not items:
        return "packageDetail.orderItems must list the shipped items"
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("orderItemId"), str):
            return "orderItems[].orderItemId is required"
        if not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
            return "orderItems[].quantity must be a positive integer"
    return ""


def create_app(
    *,
    processing_seconds: float = 0.0,
    known_orders: Callable[[str], bool] | None = None,
    throttle: bool = True,
    ordered_items: Callable[[str], Mapping[str, int] | None] | None = None,
    limits: Mapping[str, tuple[float, int]] | None = None,
    gzip_reports: bool = False,
    token_ttl_seconds: int = 3600,
    url_ttl_seconds: float = 300.0,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    refresh_tokens: Iterable[str] = (DEFAULT_REFRESH_TOKEN,),
    package_step_seconds: float | None = None,
) -> Starlette:
    """The simulator as an ASGI app; its state is `app.state.sim` (an `AmazonSimulator`)."""
    sim = AmazonSimulator(
        processing_seconds=processing_seconds,
        known_orders=known_orders,
        ordered_items=ordered_items,
        throttle=throttle,
        limits=limits,
        gzip_reports=gzip_reports,
        token_ttl_seconds=token_ttl_seconds,
        url_ttl_seconds=url_ttl_seconds,
        client_id=client_id,
        client_secret=client_secret,
        refresh_tokens=refresh_tokens,
        package_step_seconds=package_step_seconds,
    )
    api = _Api(sim)
    app = Starlette(
        routes=[
            Route("/auth/o2/token", api.token, methods=["POST"]),
            Route(f"{FEEDS}/documents", api.create_feed_document, methods=["POST"]),
            Route(f"{FEEDS}/documents/{{document_id}}", api.get_feed_document, methods=["GET"]),
            Route(f"{FEEDS}/feeds", api.create_feed, methods=["POST"]),
            Route(f"{FEEDS}/feeds/{{feed_id}}", api.get_feed, methods=["GET"]),
            Route(f"{FEEDS}/feeds/{{feed_id}}", api.cancel_feed, methods=["DELETE"]),
            Route(
                f"{ORDERS}/{{order_id}}/shipmentConfirmation",
                api.confirm_shipment,
                methods=["POST"],
            ),
            Route(f"{ORDERS_2026}/{{order_id}}", api.get_order, methods=["GET"]),
            Route("/_upload/{document_id}", api.upload, methods=["PUT"]),
            Route("/_download/{document_id}", api.download, methods=["GET"]),
        ]
    )
    check_requests(app, SPEC_FILES, _spec_refusal)
    app.state.sim = sim
    return app
