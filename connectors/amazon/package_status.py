"""Amazon's package status (Orders API v2026-01-01 `getOrder`) read as parcel delivery status.

Pure mapping: no I/O. The words come from the model (`../shared/specs/amazon/
orders_2026-01-01.json`, definitions `OrderPackage` and `PackageStatus`): each entry of an
order's `packages[]` (merchant-fulfilled orders only) carries `trackingNumber`, `carrier`,
`shipTime` and `packageStatus` = {`status` (enum PENDING, IN_TRANSIT, SHIPPED, DELIVERED,
CANCELLED, UNDELIVERABLE), `detailedStatus` (a documented list of 16 values, not an enum)}.
`detailedStatus` says more and wins where it is known; `status` is the fallback.

The model gives no time for a package's status. The event is dated with the later of the
order's `lastUpdatedTime` ("the most recent time when any aspect of this order was modified")
and the package's `shipTime`, capped at the time of asking (the model's own getOrder example
has a shipTime after lastUpdatedTime, so a package's progress need not move lastUpdatedTime).
That date is our approximation, not Amazon's: no delivery time is sent, so a delivered
package's `delivered_at` is this event's time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.tracking import DeliveryStatus, ParcelReport, TrackedEvent

GET_ORDER_PATH = "/orders/2026-01-01/orders/{orderId}"
# includedData: PACKAGES is "Information about shipping packages and tracking" (the model)
INCLUDED_DATA = ("PACKAGES",)

# PackageStatus.status (enum in the model)
STATUS: Mapping[str, DeliveryStatus] = {
    "PENDING": DeliveryStatus.ANNOUNCED,  # "preparation stage before carrier handoff"
    "IN_TRANSIT": DeliveryStatus.IN_TRANSIT,
    "SHIPPED": DeliveryStatus.IN_TRANSIT,  # "dispatch confirmation to customer"
    "DELIVERED": DeliveryStatus.DELIVERED,
    # "termination before delivery": nothing is on its way; an operator should look
    "CANCELLED": DeliveryStatus.EXCEPTION,
    "UNDELIVERABLE": DeliveryStatus.UNDELIVERABLE,
}

# PackageStatus.detailedStatus ("Possible values" in the model's description)
DETAILED_STATUS: Mapping[str, DeliveryStatus] = {
    "PENDING_SCHEDULE": DeliveryStatus.ANNOUNCED,
    "PENDING_PICK_UP": DeliveryStatus.ANNOUNCED,
    "PENDING_DROP_OFF": DeliveryStatus.ANNOUNCED,
    "LABEL_CANCELLED": DeliveryStatus.EXCEPTION,
    "PICKED_UP": DeliveryStatus.IN_TRANSIT,
    "DROPPED_OFF": DeliveryStatus.IN_TRANSIT,
    "AT_ORIGIN_FC": DeliveryStatus.IN_TRANSIT,
    "AT_DESTINATION_FC": DeliveryStatus.IN_TRANSIT,
    "OUT_FOR_DELIVERY": DeliveryStatus.OUT_FOR_DELIVERY,
    "DELIVERED": DeliveryStatus.DELIVERED,
    "REJECTED_BY_BUYER": DeliveryStatus.UNDELIVERABLE,
    "UNDELIVERABLE": DeliveryStatus.UNDELIVERABLE,
    "RETURNING_TO_SELLER": DeliveryStatus.UNDELIVERABLE,  # on its way back (core.tracking)
    "RETURNED_TO_SELLER": DeliveryStatus.RETURNED,
    "LOST": DeliveryStatus.LOST,
    "DAMAGED": DeliveryStatus.EXCEPTION,
}


class MalformedOrder(ValueError):
    """A getOrder answer without the `order` object the model requires."""


def delivery_status(status: str, detailed: str = "") -> DeliveryStatus | None:
    """Our reading of one package status; None for words the model does not list."""
    return DETAILED_STATUS.get(detailed) or STATUS.get(status)


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def package_reports(body: Mapping[str, Any], *, now: datetime) -> list[ParcelReport]:
    """One report per package with a tracking number, from a `GetOrderResponse`."""
    order = body.get("order")
    if not isinstance(order, Mapping):
        raise MalformedOrder("getOrder answer lacks `order`")
    updated = _time(order.get("lastUpdatedTime")) or now
    packages = order.get("packages") or []
    reports: list[ParcelReport] = []
    for package in packages if isinstance(packages, Sequence) else []:
        if not isinstance(package, Mapping):
            continue
        number = str(package.get("trackingNumber") or "").strip()
        if not number:
            continue
        state = package.get("packageStatus")
        state = state if isinstance(state, Mapping) else {}
        status = str(state.get("status") or "")
        detailed = str(state.get("detailedStatus") or "")
        mapped = delivery_status(status, detailed)
        shipped = _time(package.get("shipTime"))
        at = min(max(updated, shipped) if shipped else updated, now)
        code = detailed or status
        text = f"Amazon: {status}" + (f" / {detailed}" if detailed else "")
        events = (TrackedEvent(at=at, status=mapped, code=code, text=text),) if mapped else ()
        reports.append(
            ParcelReport(
                tracking_number=number,
                status=mapped,
                text=text if status or detailed else "Amazon: no package status yet",
                events=events,
            )
        )
    return reports
