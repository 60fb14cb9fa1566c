"""Delivery status of parcels (Zustellstatus): the words, and what one report from a carrier
means for a parcel.

Every source (DHL's tracking API, Amazon's package status, a carrier's push) is mapped onto
`DeliveryStatus` by its connector; the raw code and text travel along in each `TrackedEvent`, so
the database keeps what the carrier said, not only what we made of it.

    announced         the label exists, the carrier has not scanned the parcel yet
    in_transit        scanned: picked up, in a hub, on its way
    out_for_delivery  on the delivery vehicle today
    delivered         delivered (to the buyer, a neighbour, a locker or a parcel shop)
    exception         something went wrong that may still be fixed (damage, delay, a failed try)
    undeliverable     cannot be delivered (refused, address unknown): on its way back or held
    lost              the carrier says the parcel is lost
    returned          returned to the seller

Final statuses (`FINAL`) end the asking: such a parcel is never asked about again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    ANNOUNCED = "announced"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    UNDELIVERABLE = "undeliverable"
    LOST = "lost"
    RETURNED = "returned"


FINAL = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERABLE,
        DeliveryStatus.LOST,
        DeliveryStatus.RETURNED,
    }
)
# the statuses a parcel's first scan can be read from (announced is data, not a scan)
SCANNED = frozenset(DeliveryStatus) - {DeliveryStatus.ANNOUNCED}


@dataclass(frozen=True)
class TrackedEvent:
    """One event as the source said it, with our reading of it."""

    at: datetime  # aware, the carrier's time of the event
    status: DeliveryStatus
    code: str  # the source's own code (DHL's ice/ric, Amazon's detailedStatus, ...)
    text: str = ""
    location: str | None = None
    event_id: str | None = None  # a pushed event's own id (webhooks), for idempotency


@dataclass(frozen=True)
class ParcelReport:
    """What one source says about one tracking number now."""

    tracking_number: str
    status: DeliveryStatus | None  # None: the source does not know the number (yet)
    text: str = ""
    events: Sequence[TrackedEvent] = field(default_factory=tuple)
    expected_delivery: date | None = None
    delivered_at: datetime | None = None


def latest(events: Iterable[TrackedEvent]) -> TrackedEvent | None:
    ordered = sorted(events, key=lambda e: e.at)
    return ordered[-1] if ordered else None


def first_scan(events: Iterable[TrackedEvent]) -> datetime | None:
    scans = [e.at for e in events if e.status in SCANNED]
    return min(scans) if scans else None


def delivered_time(report: ParcelReport) -> datetime | None:
    """When the parcel was delivered: the source's own time, else its delivery event's."""
    if report.delivered_at is not None:
        return report.delivered_at
    times = [e.at for e in report.events if e.status is DeliveryStatus.DELIVERED]
    return max(times) if times else None
