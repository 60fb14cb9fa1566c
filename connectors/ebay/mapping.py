"""Pure translation between liefern parcels and the eBay Sell Fulfillment API v1.

No I/O here (no httpx, no database): every function is tested from fixture files alone.
Vendor facts live in the tables at the top of this module and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from connectors.allocation import parcel_items, spare_piece
from connectors.base import ConfirmationResult, ParcelShipment, ShipmentItem
from connectors.results import rejected

API_BASE = "https://api.ebay.com"
FULFILLMENT_BASE_PATH = "/sell/fulfillment/v1"
TOKEN_PATH = "/identity/v1/oauth2/token"  # noqa: S105 - a URL path, not a secret
FULFILLMENT_SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment"

# liefern carrier code -> eBay ShippingCarrierCodeType value (the Trading API enumeration that
# `shippingCarrierCode` takes; GeteBayDetails/ShippingCarrierDetails lists the live values).
# DHL Express has its own code on eBay.de (DHLEXPRESS); FedEx is spelt with a capital E.
CARRIER_CODES: Mapping[str, str] = {
    "dhl": "DHL",
    "deutsche_post": "DeutschePost",
    "dhl_express": "DHLEXPRESS",
    "dpd": "DPD",
    "ups": "UPS",
    "gls": "GLS",
    "hermes": "Hermes",
    "fedex": "FedEx",
    "other": "Other",
}
FALLBACK_CARRIER_CODE = "Other"

# errorId values of createShippingFulfillment / getShippingFulfillments (spec x-response-codes).
ERROR_IDS: Mapping[int, str] = {
    30500: "System error",
    32100: "Invalid order id",
    32110: "Invalid shipping fulfillment id",
    32200: "Invalid line item id",
    32210: "Duplicate line item in the request",
    32300: "Invalid shipment tracking number or carrier",
    32400: "Requested user is suspended",
    32500: "Invalid shipped date",
    32600: "Invalid input data",
    34100: "Maximum tracking number for order is exceeded",
    34200: "Line items contain Global Shipping Program and non-Global Shipping Program orders",
    34300: "Mark as shipped for multiple Global Shipping Program line items is not supported",
    34500: "Please use PUT operation for updating shipping fulfillment",
}
# "this fulfillment exists already": answered when a parcel was stored by an earlier try
ALREADY_EXISTS_ERROR_ID = 34500

_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


@dataclass(frozen=True, slots=True)
class EbayError:
    """One entry of eBay's error envelope `{"errors": [...]}`."""

    error_id: int | None
    message: str
    long_message: str | None = None
    domain: str | None = None
    category: str | None = None


def ebay_carrier_code(carrier: str) -> str:
    """eBay's code for a liefern carrier; unknown carriers go as `Other` rather than fail."""
    return CARRIER_CODES.get(carrier.strip().lower(), FALLBACK_CARRIER_CODE)


def normalise_tracking_number(value: str) -> str:
    """eBay accepts letters and digits only: label spaces and hyphens are dropped."""
    return _NOT_ALPHANUMERIC.sub("", value)


def same_tracking_number(a: str, b: str) -> bool:
    return normalise_tracking_number(a).upper() == normalise_tracking_number(b).upper()


def format_shipped_date(moment: datetime) -> str:
    """UTC `YYYY-MM-DDTHH:MM:SS.sssZ`, the only form eBay documents for `shippedDate`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("shipped_at must be timezone-aware")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _merged_line_items(items: Sequence[ShipmentItem]) -> list[dict[str, Any]]:
    """One entry per line item: eBay refuses a line item twice in one request (32210)."""
    quantities: dict[str, int] = {}
    for item in items:
        key = item.item_id.strip()
        quantities[key] = quantities.get(key, 0) + item.quantity
    return [{"lineItemId": key, "quantity": qty} for key, qty in quantities.items()]


def package_line_items(shipment: ParcelShipment) -> list[dict[str, Any]]:
    """The line items in this parcel's package: eBay wants one fulfillment per package with
    the line items and quantities in it. Nothing records which item went into which parcel,
    so the order's pieces are split evenly over its parcels (connectors.allocation); a parcel
    left without a piece of its own (one piece, two parcels) rides on one piece of a line item,
    so its tracking number still reaches the buyer through eBay."""
    items = parcel_items(shipment)
    if not items:
        spare = spare_piece(shipment)
        items = (spare,) if spare is not None else ()
    return _merged_line_items(items)


def fulfillment_request(shipment: ParcelShipment) -> dict[str, Any]:
    """The `ShippingFulfillmentDetails` body for one parcel.

    Without a tracking number the carrier goes too: eBay documents the two as mutually
    dependent ("if you include one, you must also include the other")."""
    body: dict[str, Any] = {
        "lineItems": package_line_items(shipment),
        "shippedDate": format_shipped_date(shipment.shipped_at),
    }
    if shipment.tracking_number is not None:
        body["shippingCarrierCode"] = ebay_carrier_code(shipment.carrier)
        body["trackingNumber"] = normalise_tracking_number(shipment.tracking_number)
    return body


def rejection_reason(shipment: ParcelShipment) -> tuple[str, str] | None:
    """(code, text) for what eBay would refuse anyway, checked before anything is sent."""
    if not shipment.portal_order_id.strip():
        return "no-order-id", "the order has no eBay order id"
    if not shipment.items:
        return "no-line-items", "the parcel names no eBay line items"
    if any(not item.item_id.strip() for item in shipment.items):
        return "no-line-item-id", "a line item of the parcel has no eBay lineItemId"
    if any(item.quantity < 1 for item in shipment.items):
        return "bad-quantity", "every line item needs a quantity of at least 1"
    if shipment.tracking_number is not None and not normalise_tracking_number(
        shipment.tracking_number
    ):
        return "no-tracking-number", "the parcel has no tracking number (letters and digits)"
    if shipment.shipped_at.tzinfo is None or shipment.shipped_at.utcoffset() is None:
        return "bad-shipped-date", "the ship date has no time zone"
    return None


def check_shipment(shipment: ParcelShipment) -> ConfirmationResult | None:
    reason = rejection_reason(shipment)
    if reason is None:
        return None
    return rejected(shipment, *reason)


def _line_item_set(entries: Any) -> frozenset[tuple[str, int]]:
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return frozenset()
    return frozenset(
        (str(e.get("lineItemId")), int(e.get("quantity") or 1))
        for e in entries
        if isinstance(e, Mapping)
    )


def find_fulfillment(
    page: Mapping[str, Any],
    tracking_number: str | None,
    line_items: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """The id of the fulfillment that already holds this parcel, if any.

    `page` is a `ShippingFulfillmentPagedCollection`. A parcel with a tracking number matches
    the fulfillment carrying that number; fulfillments without one (marked shipped by hand, or
    a parcel without tracking number) never match it. A parcel without tracking number matches
    a fulfillment without one for exactly its line items and quantities."""
    fulfillments = page.get("fulfillments") or []
    wanted = _line_item_set(line_items)
    for fulfillment in fulfillments:
        if not isinstance(fulfillment, Mapping):
            continue
        number = fulfillment.get("shipmentTrackingNumber")
        if tracking_number is None:
            if not number and wanted and _line_item_set(fulfillment.get("lineItems")) == wanted:
                return str(fulfillment.get("fulfillmentId") or "")
            continue
        if isinstance(number, str) and number and same_tracking_number(number, tracking_number):
            return str(fulfillment.get("fulfillmentId") or normalise_tracking_number(number))
    return None


def fulfillment_id_from_location(location: str) -> str:
    """`…/order/{orderId}/shipping_fulfillment/{fulfillmentId}` -> fulfillmentId."""
    path = urlsplit(location).path.rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    if not segment or segment == "shipping_fulfillment":
        raise ValueError(f"no fulfillment id in Location {location!r}")
    return unquote(segment)


def parse_errors(body: Any) -> list[EbayError]:
    """eBay's error envelope; tolerant of bodies that are not one (proxies, HTML pages)."""
    if not isinstance(body, Mapping):
        return []
    entries = body.get("errors")
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return []
    errors: list[EbayError] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        raw_id = entry.get("errorId")
        error_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        message = str(entry.get("message") or ERROR_IDS.get(error_id or 0, "") or "eBay error")
        long_message = entry.get("longMessage")
        errors.append(
            EbayError(
                error_id=error_id,
                message=message,
                long_message=str(long_message) if long_message else None,
                domain=str(entry["domain"]) if entry.get("domain") else None,
                category=str(entry["category"]) if entry.get("category") else None,
            )
        )
    return errors


def describe_errors(errors: Sequence[EbayError], *, status: int) -> tuple[str, str]:
    """(code, text) for the ledger: the first errorId and every message, eBay's own words."""
    if not errors:
        return f"http-{status}", f"eBay answered HTTP {status} without an error envelope"
    first = errors[0]
    code = str(first.error_id) if first.error_id is not None else f"http-{status}"
    if len(errors) == 1:
        return code, first.long_message or first.message
    texts = []
    for error in errors:
        text = error.long_message or error.message
        texts.append(f"{error.error_id}: {text}" if error.error_id is not None else text)
    return code, "; ".join(texts)
