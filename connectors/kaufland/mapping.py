"""Pure translation between liefern parcels and the Kaufland Seller API v2.

No I/O here (no httpx, no database): every function is tested from fixture files alone.
Kaufland confirms per *order unit* (one per purchased piece); `ShipmentItem.item_id` holds the
`id_order_unit`. Vendor facts live in the tables at the top and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from connectors.base import ConfirmationResult, OrderParcel, ParcelShipment
from connectors.results import rejected

API_BASE = "https://sellerapi.kaufland.com/v2"
USER_AGENT = "liefern/0.1"
RATE_LIMIT_PER_SECOND = 111  # per seller account; beyond it Kaufland answers 429

# liefern carrier code -> Kaufland carrier_code (the carrier's full name as Kaufland lists it
# under "Carrier Codes" / GET /carriers; note "Fedex" with a small e).
CARRIER_CODES: Mapping[str, str] = {
    "dhl": "DHL",
    "deutsche_post": "Deutsche Post",
    "dhl_express": "DHL Express",
    "dpd": "DPD",
    "ups": "UPS",
    "gls": "GLS",
    "hermes": "Hermes",
    "fedex": "Fedex",
    "other": "Other",
}
FALLBACK_CARRIER_CODE = "Other"
# carriers for which Kaufland accepts a unit as sent without a tracking number
CARRIERS_WITHOUT_TRACKING = frozenset({"Other", "Other Hauler"})

# OrderUnitStatus values and what they mean for a shipment confirmation
SENDABLE_STATUSES = frozenset({"need_to_be_sent", "open"})
SENT_STATUSES = frozenset({"sent", "sent_and_autopaid"})
CANCELLED_STATUS = "cancelled"

# ProblemType values (without the /problems/ prefix) meaning "that was done already"
DUPLICATE_PROBLEMS = frozenset({"duplicate-action", "already-exists"})
# ProblemType values that concern the account, not one order unit
ACCOUNT_PROBLEMS = frozenset(
    {
        "unauthorized",
        "invalid-credentials",
        "corrupted-signature",
        "inactive-account",
        "missing-or-invalid-request-header",
    }
)


class UnitAction(StrEnum):
    """What to do with one order unit, decided from its status on Kaufland."""

    SEND = "send"  # PATCH /order-units/{id}/send
    ADD_SHIPMENT = "add_shipment"  # POST /shipments (unit sent before, this parcel is new)
    ALREADY_DONE = "already_done"  # nothing to tell Kaufland any more
    CANCELLED = "cancelled"  # the buyer or Kaufland cancelled: nothing to confirm


@dataclass(frozen=True, slots=True)
class KauflandProblem:
    """Kaufland's `ErrorResponse`: a problem type, a message and per-field details."""

    type: str | None
    message: str
    details: tuple[tuple[str, str], ...] = ()

    @property
    def code(self) -> str:
        if not self.type or self.type == "about:blank":
            return ""
        return self.type.removeprefix("/problems/")

    def text(self) -> str:
        parts = [self.message]
        parts += [f"{name}: {reason}" for name, reason in self.details]
        return "; ".join(p for p in parts if p)


def kaufland_carrier_code(carrier: str) -> str:
    return CARRIER_CODES.get(carrier.strip().lower(), FALLBACK_CARRIER_CODE)


def order_unit_ids(shipment: ParcelShipment) -> list[int]:
    """The parcel's order units, each once, in the order given."""
    ids: list[int] = []
    for item in shipment.items:
        unit_id = int(item.item_id.strip())
        if unit_id not in ids:
            ids.append(unit_id)
    return ids


def _unique(numbers: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for number in numbers:
        cleaned = (number or "").strip()
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return seen


def order_parcels(shipment: ParcelShipment) -> list[OrderParcel]:
    """The order's parcels, this one always among them (alone when the order names none)."""
    own = OrderParcel(shipment.carrier, shipment.tracking_number)
    parcels = list(shipment.order_parcels)
    if not any(_unique([p.tracking_number]) == _unique([own.tracking_number]) for p in parcels):
        parcels.append(own)
    return parcels


def order_tracking_numbers(shipment: ParcelShipment) -> list[str]:
    """All tracking numbers of the order, whatever their carrier, this parcel's among them."""
    return _unique(p.tracking_number for p in order_parcels(shipment))


def carrier_tracking_numbers(shipment: ParcelShipment) -> list[str]:
    """The order's tracking numbers that go with this parcel's Kaufland carrier code: a send
    request names one carrier, so a DPD number must never travel under DHL."""
    code = kaufland_carrier_code(shipment.carrier)
    return _unique(
        p.tracking_number
        for p in order_parcels(shipment)
        if kaufland_carrier_code(p.carrier) == code
    )


def parcel_may_be_new(shipment: ParcelShipment) -> bool:
    """Could Kaufland lack this parcel although the unit is sent? Only if the order has
    several parcels (a one-parcel order's sent unit was sent with this very parcel)."""
    own = _unique([shipment.tracking_number])
    return bool(own) and order_tracking_numbers(shipment) != own


def send_request(shipment: ParcelShipment) -> dict[str, str]:
    """`OrderUnitSendRequest`: this parcel's carrier with the order's tracking numbers of that
    carrier, comma-joined. Parcels of another carrier follow as shipments (`POST /shipments`)."""
    return {
        "carrier_code": kaufland_carrier_code(shipment.carrier),
        "tracking_numbers": ",".join(carrier_tracking_numbers(shipment)),
    }


def add_shipment_request(unit_id: int, shipment: ParcelShipment) -> dict[str, Any]:
    """`AddShipmentRequest`: one more parcel for a unit that is marked sent already."""
    return {
        "id_order_unit": unit_id,
        "shipment_information": {
            "carrier_code": kaufland_carrier_code(shipment.carrier),
            "tracking_number": shipment.number,
        },
    }


def unit_action(status: str, *, parcel_may_be_new: bool) -> UnitAction:
    """Decide from the unit's status what this parcel still has to tell Kaufland.

    A sent unit of a one-parcel order is done: that parcel is what was sent (by an earlier run
    whose answer got lost, or by hand in the seller portal). With several parcels the unit may
    have been sent before this one existed, so the parcel is added as a shipment (a duplicate
    answer from Kaufland then also means done). Received or returned units are past caring."""
    if status in SENDABLE_STATUSES:
        return UnitAction.SEND
    if status == CANCELLED_STATUS:
        return UnitAction.CANCELLED
    if status in SENT_STATUSES and parcel_may_be_new:
        return UnitAction.ADD_SHIPMENT
    return UnitAction.ALREADY_DONE


def unit_statuses(body: Any) -> dict[int, str]:
    """`id_order_unit` -> `status` of every unit in an `ApiResponse_OrderDetails_`."""
    data = body.get("data") if isinstance(body, Mapping) else None
    units = data.get("order_units") if isinstance(data, Mapping) else None
    if not isinstance(units, list):
        raise ValueError("Kaufland's order answer has no data.order_units")
    statuses: dict[int, str] = {}
    for unit in units:
        unit_id = unit.get("id_order_unit") if isinstance(unit, Mapping) else None
        if not isinstance(unit_id, int) or isinstance(unit_id, bool):
            raise ValueError("Kaufland's order answer lists a unit without id_order_unit")
        status = unit.get("status")
        if not isinstance(status, str):
            raise ValueError(f"Kaufland's order answer has no status for order unit {unit_id}")
        statuses[unit_id] = status
    return statuses


def parse_problem(body: Any, *, status: int) -> KauflandProblem:
    """Kaufland's `ErrorResponse`; tolerant of bodies that are not one."""
    if not isinstance(body, Mapping):
        return KauflandProblem(None, f"Kaufland answered HTTP {status}")
    details: list[tuple[str, str]] = []
    errors = body.get("errors")
    if isinstance(errors, Sequence) and not isinstance(errors, str):
        for entry in errors:
            if isinstance(entry, Mapping):
                details.append((str(entry.get("field", "")), str(entry.get("message", ""))))
    problem_type = body.get("type")
    message = body.get("message")
    return KauflandProblem(
        type=str(problem_type) if problem_type else None,
        message=str(message) if message else f"Kaufland answered HTTP {status}",
        details=tuple(details),
    )


def rejection_reason(shipment: ParcelShipment) -> tuple[str, str] | None:
    """(code, text) for what Kaufland would refuse anyway, checked before anything is sent."""
    if not shipment.portal_order_id.strip():
        return "no-order-id", "the parcel names no Kaufland id_order"
    if not shipment.items:
        return "no-order-units", "the parcel names no Kaufland order units"
    for item in shipment.items:
        if not item.item_id.strip().isdigit():
            return "bad-order-unit-id", f"{item.item_id!r} is not a Kaufland id_order_unit"
    carrier = kaufland_carrier_code(shipment.carrier)
    if not shipment.number and carrier not in CARRIERS_WITHOUT_TRACKING:
        return (
            "no-tracking-number",
            f"Kaufland takes carrier {carrier} only with a tracking number; mark the order "
            "unit(s) as sent by hand in the Kaufland seller portal, or record the parcel "
            "with carrier 'other' (Kaufland takes 'Other' without a number)",
        )
    if any("," in number for number in order_tracking_numbers(shipment)):
        return "bad-tracking-number", "a tracking number contains a comma"
    return None


def check_shipment(shipment: ParcelShipment) -> ConfirmationResult | None:
    reason = rejection_reason(shipment)
    return None if reason is None else rejected(shipment, *reason)
