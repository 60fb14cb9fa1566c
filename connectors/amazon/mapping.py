"""Amazon SP-API shipment confirmation: feed XML and request bodies out, processing reports in.

Pure on purpose (no httpx, no database): every rule about what Amazon expects and answers lives
here and is tested from fixture files alone.

Facts used (see ../shared/specs/amazon/README.md):
- Order feeds are `POST_ORDER_FULFILLMENT_DATA` XML documents: an `AmazonEnvelope` with a
  `Header`, `MessageType` `OrderFulfillment` and one `Message` per parcel. Inside
  `OrderFulfillment` the order of elements is fixed by Amazon's schema: `AmazonOrderID`,
  `FulfillmentDate`, `FulfillmentData` (`CarrierCode`, `CarrierName`, `ShippingMethod`,
  `ShipperTrackingNumber`), then `Item`s (`AmazonOrderItemCode`, `Quantity`).
- `AmazonOrderID` is 3-7-7 characters, `AmazonOrderItemCode` 14 digits, free texts such as the
  tracking number are at most 50 characters; `CarrierCode` is a case-sensitive enumeration and
  `CarrierName` is required when it is `Other`.
- Amazon answers with an XML `ProcessingReport`: a summary of counts plus one `Result` per
  message that had an error or a warning; messages without a result went through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from connectors.allocation import parcel_items
from connectors.base import ConfirmationResult, ParcelShipment, ShipmentItem
from connectors.results import rejected, skipped
from connectors.xml import parse_untrusted_xml
from core.domain import ConfirmationStatus

# --- vendor facts (one place) -------------------------------------------------------------------

FEED_TYPE = "POST_ORDER_FULFILLMENT_DATA"
FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"  # declared in createFeedDocument, sent on upload
DOCUMENT_VERSION = "1.01"
DEFAULT_SHIPPING_METHOD = "Standard"
MAX_FEED_BYTES = 10 * 1024 * 1024  # Amazon's advice for XML feeds: stay below 10 MB
MAX_TEXT_LENGTH = 50  # amzn-base.xsd `String`: normalizedString, maxLength 50

ORDER_ID_PATTERN = re.compile(r"\d{3}-\d{7}-\d{7}")
ORDER_ITEM_ID_PATTERN = re.compile(r"\d{14}")


@dataclass(frozen=True, slots=True)
class Region:
    endpoint: str
    sandbox: str


# SP-API endpoints per selling region (the models' `host` is the NA one).
REGIONS: Mapping[str, Region] = {
    "eu": Region(
        "https://sellingpartnerapi-eu.amazon.com",
        "https://sandbox.sellingpartnerapi-eu.amazon.com",
    ),
    "na": Region(
        "https://sellingpartnerapi-na.amazon.com",
        "https://sandbox.sellingpartnerapi-na.amazon.com",
    ),
    "fe": Region(
        "https://sellingpartnerapi-fe.amazon.com",
        "https://sandbox.sellingpartnerapi-fe.amazon.com",
    ),
}


@dataclass(frozen=True, slots=True)
class Marketplace:
    country: str
    marketplace_id: str
    region: str


MARKETPLACES: Mapping[str, Marketplace] = {
    m.country: m
    for m in (
        Marketplace("DE", "A1PA6795UKMFR9", "eu"),
        Marketplace("FR", "A13V1IB3VIYZZH", "eu"),
        Marketplace("IT", "APJ6JRA9NG5V4", "eu"),
        Marketplace("ES", "A1RKKUPIHCS9HS", "eu"),
        Marketplace("NL", "A1805IZSGTT6HS", "eu"),
        Marketplace("PL", "A1C3SOZRARQ6R3", "eu"),
        Marketplace("SE", "A2NODRKZP88ZB9", "eu"),
        Marketplace("BE", "AMEN7PMS3EDWL", "eu"),
        Marketplace("UK", "A1F83G8C2ARO7P", "eu"),
        Marketplace("TR", "A33AVAJ2PDY3EV", "eu"),
        Marketplace("US", "ATVPDKIKX0DER", "na"),
        Marketplace("CA", "A2EUQ1WTGCTBG2", "na"),
        Marketplace("MX", "A1AM78C64UM0Y8", "na"),
        Marketplace("JP", "A1VC38T7YXB528", "fe"),
        Marketplace("AU", "A39IBJ37TRP1C6", "fe"),
        Marketplace("SG", "A19VAU5U5O7RUS", "fe"),
    )
}


def resolve_marketplace(value: str) -> Marketplace:
    """A marketplace by country code (`DE`, `GB` or `UK`) or by marketplace id."""
    key = value.strip()
    country = "UK" if key.upper() == "GB" else key.upper()
    if country in MARKETPLACES:
        return MARKETPLACES[country]
    for market in MARKETPLACES.values():
        if market.marketplace_id == key:
            return market
    raise LookupError(f"unknown Amazon marketplace {value!r}")


def endpoint_for_marketplace(marketplace: str, *, sandbox: bool = False) -> str:
    """The SP-API base URL that serves a marketplace (country code or marketplace id)."""
    region = REGIONS[resolve_marketplace(marketplace).region]
    return region.sandbox if sandbox else region.endpoint


# liefern carrier code -> Amazon `CarrierCode` (exact, case-sensitive values of amzn-base.xsd).
CARRIER_CODES: Mapping[str, str] = {
    "dhl": "DHL",
    "deutsche_post": "Deutsche Post",
    "dhl_express": "DHL Express",
    "dpd": "DPD",
    "ups": "UPS",
    "gls": "GLS",
    "hermes": "Hermes",
    "fedex": "FedEx",
    "go": "GO!",
    "trans_o_flex": "Trans-o-Flex",
    "austrian_post": "AT Post",
    "swiss_post": "Swiss post",
    "postnl": "PostNL",
    "bpost": "BPOST",
    "royal_mail": "Royal Mail",
    "tnt": "TNT",
}
OTHER_CARRIER = "Other"


def amazon_carrier(carrier: str) -> tuple[str, str | None]:
    """(CarrierCode, CarrierName): the name only travels with `Other`, as Amazon requires."""
    code = CARRIER_CODES.get(carrier.strip().lower())
    if code is not None:
        return code, None
    name = " ".join(carrier.replace("_", " ").split()) or OTHER_CARRIER
    if name.islower():  # a liefern code such as `spedition_meier` reads "Spedition Meier"
        name = name.title()
    return OTHER_CARRIER, name[:MAX_TEXT_LENGTH]


# --- pre-submit check ---------------------------------------------------------------------------

_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def package_items(shipment: ParcelShipment) -> tuple[ShipmentItem, ...]:
    """The items in this parcel's package: Amazon takes one message per package with the
    items in it. Nothing records which item went into which parcel, so the order's pieces are
    split evenly over its parcels (connectors.allocation)."""
    return parcel_items(shipment)


def _package_without_items(shipment: ParcelShipment) -> ConfirmationResult | None:
    """A `skipped` result for a parcel Amazon cannot be told about as a package of its own."""
    if shipment.parcel_count == 1:
        return None
    place = f"parcel {shipment.parcel_index + 1} of {shipment.parcel_count}"
    if not shipment.items:
        if shipment.parcel_index == 0:
            return None  # a message without items confirms the whole order
        return skipped(
            shipment,
            "package_without_items",
            f"{place}: Amazon allocates items to packages and the order's item codes are "
            "unknown, so the order was confirmed with its first parcel; this tracking number "
            "stays in the protocol and the buyer's mail",
        )
    if package_items(shipment):
        return None
    pieces = sum(item.quantity for item in shipment.items)
    return skipped(
        shipment,
        "package_without_items",
        f"{place}: the order has {pieces} piece(s) for {shipment.parcel_count} parcels and "
        "Amazon takes each piece in one package only, so this parcel is not told to Amazon; "
        "its tracking number stays in the protocol and the buyer's mail",
    )


def check(shipment: ParcelShipment, *, require_items: bool = False) -> ConfirmationResult | None:
    """What Amazon would refuse, caught before sending (a `rejected` result), else None;
    `skipped` for a parcel of a multi-parcel order that has no item of its own to carry.

    `require_items` is for confirmShipment, whose `orderItems` list and `trackingNumber` are
    mandatory; the feed confirms the whole order when no items are given and takes a package
    without a tracking number (letters, untracked post)."""
    order_id = shipment.portal_order_id.strip()
    if not ORDER_ID_PATTERN.fullmatch(order_id):
        return rejected(
            shipment,
            "invalid_order_id",
            f"Amazon order id {order_id!r} is not in the 3-7-7 digit form "
            "(e.g. 302-1234567-1234567)",
        )
    tracking = shipment.number
    if not tracking and (require_items or shipment.tracking_number is not None):
        return rejected(
            shipment,
            "missing_tracking_number",
            "Amazon's confirmShipment needs a tracking number; confirm this order through "
            "the feed (mode = feed) or by hand in Seller Central"
            if require_items
            else "the parcel has no tracking number",
        )
    if len(tracking) > MAX_TEXT_LENGTH:
        return rejected(
            shipment,
            "tracking_number_too_long",
            f"Amazon accepts tracking numbers of at most {MAX_TEXT_LENGTH} characters",
        )
    if _XML_UNSAFE.search(tracking) or any(ch in tracking for ch in "\t\r\n"):
        return rejected(
            shipment, "invalid_tracking_number", "the tracking number contains control characters"
        )
    if shipment.shipped_at.tzinfo is None or shipment.shipped_at.utcoffset() is None:
        return rejected(shipment, "invalid_ship_date", "the ship date has no time zone")
    if require_items and not shipment.items:
        return rejected(
            shipment,
            "missing_order_items",
            "confirmShipment needs the Amazon order item ids of the parcel; "
            "import them with the order or confirm through the feed",
        )
    for item in shipment.items:
        if not item.item_id.strip():
            return rejected(
                shipment,
                "missing_order_item_id",
                "a partial shipment needs the AmazonOrderItemCode of every item",
            )
        if not ORDER_ITEM_ID_PATTERN.fullmatch(item.item_id.strip()):
            return rejected(
                shipment,
                "invalid_order_item_id",
                f"AmazonOrderItemCode {item.item_id!r} is not 14 digits",
            )
        if item.quantity < 1:
            return rejected(
                shipment,
                "invalid_quantity",
                f"item {item.item_id}: quantity must be at least 1, got {item.quantity}",
            )
    return _package_without_items(shipment)


# --- the fulfillment feed -----------------------------------------------------------------------

XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """One feed document: its bytes and which MessageID stands for which confirmation row."""

    content: bytes
    message_ids: dict[int, int]  # MessageID -> confirmation_id


def _text(parent: etree._Element, tag: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = value  # lxml escapes; control characters raise ValueError
    return element


def fulfillment_date(shipped_at: datetime) -> str:
    """xsd:dateTime with its offset, e.g. 2026-11-26T14:05:00+01:00."""
    if shipped_at.tzinfo is None or shipped_at.utcoffset() is None:
        raise ValueError("shipped_at must be timezone-aware")
    return shipped_at.isoformat(timespec="seconds")


def _order_fulfillment(message: etree._Element, shipment: ParcelShipment, method: str) -> None:
    fulfillment = etree.SubElement(message, "OrderFulfillment")
    _text(fulfillment, "AmazonOrderID", shipment.portal_order_id.strip())
    _text(fulfillment, "FulfillmentDate", fulfillment_date(shipment.shipped_at))
    data = etree.SubElement(fulfillment, "FulfillmentData")
    carrier_code, carrier_name = amazon_carrier(shipment.carrier)
    _text(data, "CarrierCode", carrier_code)
    if carrier_name is not None:
        _text(data, "CarrierName", carrier_name)
    _text(data, "ShippingMethod", method)
    if shipment.number:  # optional in the schema: a letter without tracking goes without
        _text(data, "ShipperTrackingNumber", shipment.number)
    for item in package_items(shipment):
        element = etree.SubElement(fulfillment, "Item")
        _text(element, "AmazonOrderItemCode", item.item_id.strip())
        _text(element, "Quantity", str(item.quantity))


def build_fulfillment_feed(
    merchant_id: str,
    shipments: Sequence[ParcelShipment],
    *,
    shipping_method: str = DEFAULT_SHIPPING_METHOD,
) -> tuple[bytes, dict[int, int]]:
    """The `POST_ORDER_FULFILLMENT_DATA` document, one message per parcel (MessageID 1..n).

    Returns the UTF-8 bytes (with XML declaration) and MessageID -> confirmation_id."""
    envelope = etree.Element("AmazonEnvelope", nsmap={"xsi": XSI})
    envelope.set(f"{{{XSI}}}noNamespaceSchemaLocation", "amzn-envelope.xsd")
    header = etree.SubElement(envelope, "Header")
    _text(header, "DocumentVersion", DOCUMENT_VERSION)
    _text(header, "MerchantIdentifier", merchant_id)
    _text(envelope, "MessageType", "OrderFulfillment")
    message_ids: dict[int, int] = {}
    for message_id, shipment in enumerate(shipments, start=1):
        message = etree.SubElement(envelope, "Message")
        _text(message, "MessageID", str(message_id))
        _order_fulfillment(message, shipment, shipping_method)
        message_ids[message_id] = shipment.confirmation_id
    content = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return content, message_ids


def split_feed(
    merchant_id: str,
    shipments: Sequence[ParcelShipment],
    *,
    max_bytes: int = MAX_FEED_BYTES,
    shipping_method: str = DEFAULT_SHIPPING_METHOD,
) -> list[FeedDocument]:
    """As few feed documents as possible, none above `max_bytes` (split in halves only then)."""
    if not shipments:
        return []
    content, ids = build_fulfillment_feed(merchant_id, shipments, shipping_method=shipping_method)
    if len(content) <= max_bytes:
        return [FeedDocument(content, ids)]
    if len(shipments) == 1:
        raise ValueError(f"a single fulfillment message exceeds {max_bytes} bytes")
    middle = len(shipments) // 2
    return [
        *split_feed(
            merchant_id, shipments[:middle], max_bytes=max_bytes, shipping_method=shipping_method
        ),
        *split_feed(
            merchant_id, shipments[middle:], max_bytes=max_bytes, shipping_method=shipping_method
        ),
    ]


# --- confirmShipment (Orders v0) ----------------------------------------------------------------


def ship_date(shipped_at: datetime) -> str:
    """ISO 8601 in UTC as in the model's examples, e.g. 2026-11-26T13:05:00.000Z."""
    if shipped_at.tzinfo is None or shipped_at.utcoffset() is None:
        raise ValueError("shipped_at must be timezone-aware")
    return shipped_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def confirm_shipment_body(
    shipment: ParcelShipment,
    marketplace_id: str,
    *,
    shipping_method: str = DEFAULT_SHIPPING_METHOD,
) -> dict[str, Any]:
    """`ConfirmShipmentRequest` for one parcel.

    `packageReferenceId` must be a positive number unique within the order: the confirmation
    row id is exactly that."""
    carrier_code, carrier_name = amazon_carrier(shipment.carrier)
    package: dict[str, Any] = {
        "packageReferenceId": str(max(shipment.confirmation_id, 1)),
        "carrierCode": carrier_code,
    }
    if carrier_name is not None:
        package["carrierName"] = carrier_name
    package |= {
        "shippingMethod": shipping_method,
        "trackingNumber": shipment.number,
        "shipDate": ship_date(shipment.shipped_at),
        "orderItems": [
            {"orderItemId": item.item_id.strip(), "quantity": item.quantity}
            for item in package_items(shipment)
        ],
    }
    return {"packageDetail": package, "marketplaceId": marketplace_id}


# --- the processing report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessingSummary:
    processed: int
    successful: int
    with_error: int
    with_warning: int


@dataclass(frozen=True, slots=True)
class ReportResult:
    """One `Result`: what Amazon said about one message (MessageID 0: about the whole feed)."""

    message_id: int | None
    result_code: str  # Error | Warning
    message_code: str
    description: str
    amazon_order_id: str | None = None

    @property
    def is_error(self) -> bool:
        return self.result_code.lower() == "error"


@dataclass(frozen=True, slots=True)
class ProcessingReport:
    status_code: str
    summary: ProcessingSummary
    results: tuple[ReportResult, ...] = ()
    document_transaction_id: str | None = None

    def results_for(self, message_id: int) -> list[ReportResult]:
        return [r for r in self.results if r.message_id == message_id]

    @property
    def unattributed_errors(self) -> list[ReportResult]:
        """Errors not tied to one of our messages (MessageID 0 or missing)."""
        return [r for r in self.results if r.is_error and not r.message_id]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in element if _local(child) == name)


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next(_children(element, name), None)


def _child_text(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    if child is None:
        return None
    return (child.text or "").strip()


def _count(summary: etree._Element, name: str) -> int:
    value = _child_text(summary, name)
    if value is None:
        raise ValueError(f"processing report summary lacks {name}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"processing report {name} is not a number: {value!r}") from None


def _find_report(root: etree._Element) -> etree._Element:
    if _local(root) == "ProcessingReport":
        return root
    for message in _children(root, "Message"):
        report = _child(message, "ProcessingReport")
        if report is not None:
            return report
    raise ValueError("the document holds no ProcessingReport")


def parse_processing_report(xml: bytes) -> ProcessingReport:
    """Read Amazon's XML processing report; malformed or unexpected input raises ValueError."""
    try:
        root = parse_untrusted_xml(xml)
    except ValueError as error:
        raise ValueError(f"processing report: {error}") from None
    report = _find_report(root)
    summary_element = _child(report, "ProcessingSummary")
    if summary_element is None:
        raise ValueError("processing report lacks ProcessingSummary")
    summary = ProcessingSummary(
        processed=_count(summary_element, "MessagesProcessed"),
        successful=_count(summary_element, "MessagesSuccessful"),
        with_error=_count(summary_element, "MessagesWithError"),
        with_warning=_count(summary_element, "MessagesWithWarning"),
    )
    results = []
    for result in _children(report, "Result"):
        raw_id = _child_text(result, "MessageID")
        try:
            message_id = int(raw_id) if raw_id else None
        except ValueError:
            raise ValueError(f"processing report MessageID is not a number: {raw_id!r}") from None
        info = _child(result, "AdditionalInfo")
        results.append(
            ReportResult(
                message_id=message_id,
                result_code=_child_text(result, "ResultCode") or "",
                message_code=_child_text(result, "ResultMessageCode") or "",
                description=" ".join((_child_text(result, "ResultDescription") or "").split()),
                amazon_order_id=_child_text(info, "AmazonOrderID") if info is not None else None,
            )
        )
    return ProcessingReport(
        status_code=_child_text(report, "StatusCode") or "",
        summary=summary,
        results=tuple(results),
        document_transaction_id=_child_text(report, "DocumentTransactionID"),
    )


def _describe(results: Sequence[ReportResult]) -> str:
    return "; ".join(f"{r.result_code} {r.message_code}: {r.description}" for r in results)


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What a report says about one of our messages (before it becomes a ledger result)."""

    status: ConfirmationStatus
    error_code: str | None = None
    error_text: str | None = None
    warnings: tuple[ReportResult, ...] = field(default=())


def message_outcome(report: ProcessingReport, message_id: int, feed_id: str) -> MessageOutcome:
    """Error -> rejected with Amazon's code and words; no error -> confirmed (warnings kept).

    Amazon lists only messages with errors or warnings. A message without a result counts as
    confirmed only when the summary accounts for it: every error is tied to a MessageID, the
    counts add up and the message was among those processed. Otherwise it goes back to
    `pending` (resubmitting the same tracking number is harmless)."""
    own = report.results_for(message_id)
    errors = [r for r in own if r.is_error]
    warnings = tuple(r for r in own if not r.is_error)
    if errors:
        # The first error's code goes to error_code, its words unchanged to error_text.
        text = errors[0].description or errors[0].message_code
        if errors[1:] or warnings:
            text = f"{text}; {_describe(errors[1:] + list(warnings))}"
        return MessageOutcome(
            ConfirmationStatus.REJECTED,
            error_code=errors[0].message_code or None,
            error_text=text,
            warnings=warnings,
        )
    if warnings:
        return MessageOutcome(
            ConfirmationStatus.CONFIRMED, error_text=_describe(warnings), warnings=warnings
        )
    summary = report.summary
    errored_ids = {r.message_id for r in report.results if r.is_error and r.message_id}
    accounted = (
        not report.unattributed_errors
        and summary.processed == summary.successful + summary.with_error
        and summary.with_error == len(errored_ids)
        and 0 < message_id <= summary.processed
    )
    if accounted:
        return MessageOutcome(ConfirmationStatus.CONFIRMED)
    reason = (
        f"feed {feed_id}: the processing report does not account for message {message_id} "
        f"(processed {summary.processed}, successful {summary.successful}, "
        f"errors {summary.with_error})"
    )
    if report.unattributed_errors:
        reason += f"; {_describe(report.unattributed_errors)}"
    return MessageOutcome(ConfirmationStatus.PENDING, error_text=f"{reason}; will be resubmitted")


def report_results(
    report: ProcessingReport, message_ids: Mapping[int, int], feed_id: str
) -> list[ConfirmationResult]:
    """One ledger result per (MessageID -> confirmation_id) of a finished feed."""
    results = []
    for message_id, confirmation_id in message_ids.items():
        outcome = message_outcome(report, message_id, feed_id)
        extra = {"message_id": str(message_id)}
        if outcome.warnings:
            extra["warnings"] = _describe(outcome.warnings)
        results.append(
            ConfirmationResult(
                confirmation_id=confirmation_id,
                status=outcome.status,
                reference=feed_id,
                error_code=outcome.error_code,
                error_text=outcome.error_text,
                extra=extra,
            )
        )
    return results
