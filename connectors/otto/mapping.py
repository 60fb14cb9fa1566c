"""Pure translation between liefern parcels and OTTO Market's Shipments API v1.

No I/O here (no httpx, no database): every function is tested from fixture files alone.
OTTO confirms per *position item* (one per purchased piece, `positionItemId` of the Orders
API); `ShipmentItem.item_id` holds it and `ParcelShipment.portal_order_id` the `salesOrderId`.
Vendor facts live in the tables at the top and nowhere else; README.md names their sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from connectors.allocation import parcel_items
from connectors.base import ConfirmationResult, ParcelShipment, ShipmentItem
from connectors.results import rejected

API_BASE = "https://api.otto.market"
SANDBOX_BASE = "https://sandbox.api.otto.market"
TOKEN_PATH = "/v1/token"  # noqa: S105 - a URL path, no secret
SHIPMENTS_PATH = "/v1/shipments"
# the OAuth2 scope of the Shipments API (an API user of one's own, client-credentials grant)
SHIPMENTS_SCOPE = "shipments"

# liefern carrier code -> OTTO carrier (enum `carrier` of TrackingKey in the Shipments API v1).
# Deutsche Post Warenpost goes as DHL: OTTO's partner page on shipping & returns says
# a merchandise-mail number is transmitted with the parcel shipping type.
CARRIER_CODES: Mapping[str, str] = {
    "dhl": "DHL",
    "deutsche_post": "DHL",
    "dhl_express": "DHL_EXPRESS",
    "dpd": "DPD",
    "gls": "GLS",
    "hermes": "HERMES",
    "ups": "UPS",
}
PARCEL_CARRIERS = frozenset(
    {"DHL", "DHL_EXPRESS", "DHL_HOME_DELIVERY", "GLS", "HERMES", "DPD", "UPS"}
)
# freight forwarders OTTO lists in the same enum; their tracking number is optional
FORWARDERS = frozenset(
    {
        "DHL_FREIGHT",
        "BTW",
        "BURSPED",
        "CARGOLINE",
        "DACHSER",
        "DB_SCHENKER",
        "DSV",
        "EMONS",
        "EPH_DIREKT",
        "IDS",
        "GEIS",
        "GEL",
        "GUETTLER",
        "HES",
        "HELLMANN",
        "HEUEL",
        "KOCH",
        "KUEHNE_NAGEL",
        "LOGWIN",
        "MEYER_JUMBO",
        "RABEN_LOGISTIK",
        "RHENUS",
        "REIMER",
        "REITHMEIER",
        "SCHOCKEMOEHLE",
        "SCHMIDT_GEVELSBERG",
        "ZUFALL",
        "OTHER_FORWARDER",
    }
)
CARRIERS = PARCEL_CARRIERS | FORWARDERS
# ReturnTrackingKey.carrier: the return labels OTTO can print for the buyer
RETURN_CARRIERS = frozenset({"DHL", "GLS", "HERMES"})
# AddressShipmentsV1: city 1..60 characters, countryCode ISO 3166-1 alpha-3, zipCode up to 10
CITY_MAX, ZIP_MAX = 60, 10


@dataclass(frozen=True, slots=True)
class ShipFrom:
    """Where the parcels leave from (accounts.toml: ship_from_city, ship_from_zip,
    ship_from_country)."""

    city: str
    zip_code: str
    country_code: str = "DEU"

    def problem(self) -> str | None:
        if not self.city.strip() or len(self.city.strip()) > CITY_MAX:
            return f"ship_from_city must have 1 to {CITY_MAX} characters"
        if not self.zip_code.strip() or len(self.zip_code.strip()) > ZIP_MAX:
            return f"ship_from_zip must have 1 to {ZIP_MAX} characters"
        code = self.country_code.strip()
        if len(code) != 3 or not code.isalpha() or not code.isupper():
            return "ship_from_country must be an ISO 3166-1 alpha-3 code such as DEU"
        return None

    def payload(self) -> dict[str, str]:
        return {
            "city": self.city.strip(),
            "countryCode": self.country_code.strip(),
            "zipCode": self.zip_code.strip(),
        }


@dataclass(frozen=True, slots=True)
class OttoProblem:
    """One entry of OTTO's error answer: `{"errors": …}` with title, detail, path, jsonPath."""

    title: str
    detail: str = ""
    json_path: str = ""

    def text(self) -> str:
        parts = [self.title, self.detail, f"at {self.json_path}" if self.json_path else ""]
        return " — ".join(p for p in parts if p)


def otto_carrier(carrier: str) -> str | None:
    return CARRIER_CODES.get(carrier.strip().lower())


def position_items(shipment: ParcelShipment) -> tuple[ShipmentItem, ...]:
    """This parcel's position items: the order's pieces split over its parcels
    (connectors/allocation.py), one position item per piece."""
    return parcel_items(shipment)


def shipment_request(
    shipment: ParcelShipment, ship_from: ShipFrom, items: Sequence[ShipmentItem]
) -> dict[str, Any]:
    """`CreateShipmentRequest`: one parcel with its position items, each carrying the return
    label's number (OTTO prints the buyer's return label from it)."""
    carrier = otto_carrier(shipment.carrier) or ""
    return_key = {"carrier": carrier, "trackingNumber": shipment.return_number}
    shipped = shipment.shipped_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "trackingKey": {"carrier": carrier, "trackingNumber": shipment.number},
        "shipDate": shipped,
        "shipFromAddress": ship_from.payload(),
        "positionItems": [
            {
                "positionItemId": item.item_id.strip(),
                "salesOrderId": shipment.portal_order_id.strip(),
                "returnTrackingKey": dict(return_key),
            }
            for item in items
        ],
    }


def rejection_reason(
    shipment: ParcelShipment, ship_from: ShipFrom | None
) -> tuple[str, str] | None:
    """(code, text) for what OTTO would refuse anyway, checked before anything is sent; the
    text says what to do."""
    if not shipment.portal_order_id.strip():
        return "no-order-id", "the parcel names no OTTO salesOrderId (the order's portal_order_id)"
    if not shipment.items:
        return "no-position-items", "the order names no OTTO positionItemIds (its items' item_id)"
    for item in shipment.items:
        if item.quantity != 1:
            return (
                "bad-position-item",
                f"OTTO position item {item.item_id!r} has quantity {item.quantity}: OTTO has one "
                "positionItemId per piece; import the order with one row per position item",
            )
    carrier = otto_carrier(shipment.carrier)
    if carrier is None:
        known = ", ".join(sorted(CARRIER_CODES))
        return (
            "carrier-not-accepted",
            f"OTTO takes parcels of {known} only, not {shipment.carrier!r}; report this "
            "shipment by hand in OTTO Partner Connect",
        )
    if not shipment.number:
        return (
            "no-tracking-number",
            "OTTO needs a tracking number for every parcel; record the parcel's number and run "
            "`liefern portals retry ORDER --rejected`",
        )
    if not shipment.return_number.strip():
        return (
            "no-return-tracking-number",
            f"OTTO needs the return label's tracking number (Retourensendungsnummer) of parcel "
            f"{shipment.number}: add it with `liefern tracking add {shipment.order_no} "
            f"{shipment.carrier} {shipment.number} --return NUMBER` (or a tracking file with a "
            f"Retourensendungsnummer column), then "
            f"`liefern portals retry {shipment.order_no} --rejected`",
        )
    if carrier not in RETURN_CARRIERS:
        return (
            "return-carrier-not-accepted",
            f"OTTO prints return labels of DHL, GLS and Hermes only, and liefern sends the "
            f"return number with the parcel's carrier ({carrier}); report this shipment by hand "
            "in OTTO Partner Connect",
        )
    if ship_from is None:
        return (
            "no-ship-from",
            "OTTO needs the address the parcels leave from: set ship_from_city and "
            "ship_from_zip (and ship_from_country, default DEU) for the account in accounts.toml",
        )
    problem = ship_from.problem()
    if problem:
        return "bad-ship-from", f"accounts.toml: {problem}"
    return None


def check_shipment(
    shipment: ParcelShipment, ship_from: ShipFrom | None
) -> ConfirmationResult | None:
    reason = rejection_reason(shipment, ship_from)
    return None if reason is None else rejected(shipment, *reason)


def parse_problems(body: Any, *, status: int) -> list[OttoProblem]:
    """OTTO's error answer; `errors` is one object or a list of them. Tolerant of bodies that
    are neither (a gateway's HTML page, an empty 429)."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    entries = [errors] if isinstance(errors, Mapping) else errors
    found: list[OttoProblem] = []
    if isinstance(entries, Sequence) and not isinstance(entries, str):
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("title"):
                found.append(
                    OttoProblem(
                        str(entry["title"]),
                        str(entry.get("detail") or ""),
                        str(entry.get("jsonPath") or ""),
                    )
                )
    return found or [OttoProblem(f"OTTO answered HTTP {status}")]


def shipment_id(body: Any) -> str | None:
    """`shipmentId` of a create answer or of a read shipment."""
    value = body.get("shipmentId") if isinstance(body, Mapping) else None
    return str(value) if value else None


def shipped_position_items(body: Any) -> set[str]:
    """The positionItemIds a read shipment (`GET /v1/shipments/…`) holds."""
    items = body.get("positionItems") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return set()
    return {
        str(item["positionItemId"])
        for item in items
        if isinstance(item, Mapping) and item.get("positionItemId")
    }
