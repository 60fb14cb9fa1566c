"""Buyer data retention: when an order's buyer data are due, and what anonymising leaves.

The period of an order's portal account (accounts.toml `retention_days`, Amazon 30 by
default, the others keep the data unless configured) counts from its delivery: when the
carriers' tracking (or Amazon's package status) says all its parcels were delivered, the
latest parcel's delivery; else the moment the buyer confirmed arrival; else, for an order never
confirmed, its last parcel's ship date plus LIEFERN_RETENTION_TRANSIT_DAYS (an assumed transit
time), at midnight in Germany. The tracked time comes first because it is the carrier's record
of the fact, where a buyer may click the arrival link days before or after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.clock import BUSINESS_TZ

ANONYMISED = "[anonymisiert]"  # what stands in free text where the buyer's name or email stood
FROM_TRACKING = "tracking"
FROM_ARRIVAL = "arrived"
FROM_SHIP_DATE = "ship_date"
# a name this short ("Li") would blank ordinary words in free text; the columns are blanked anyway
MIN_SCRUBBED_NAME = 4


@dataclass(frozen=True, slots=True)
class Delivery:
    at: datetime
    source: str  # FROM_TRACKING, FROM_ARRIVAL or FROM_SHIP_DATE


def delivery_of(
    *,
    arrived_at: datetime | None,
    last_ship_date: date | None,
    transit_days: int,
    tracked_delivery: datetime | None = None,
) -> Delivery | None:
    """When the order counts as delivered; None when it never left (nothing to count from).
    `tracked_delivery`: the latest parcel's delivery, only when every parcel has one."""
    if tracked_delivery is not None:
        return Delivery(tracked_delivery, FROM_TRACKING)
    if arrived_at is not None:
        return Delivery(arrived_at, FROM_ARRIVAL)
    if last_ship_date is None:
        return None
    assumed = datetime.combine(last_ship_date + timedelta(days=transit_days), time(), BUSINESS_TZ)
    return Delivery(assumed, FROM_SHIP_DATE)


def due_at(delivery: Delivery, retention_days: int) -> datetime:
    return delivery.at + timedelta(days=retention_days)


def scrub(text: str | None, *, name: str, email: str) -> str | None:
    """`text` with the buyer's email address and name replaced (case-insensitive): SMTP
    replies, portal errors and operators' notes may quote them."""
    if not text:
        return text
    for value in (email.strip(), name.strip()):
        if len(value) >= MIN_SCRUBBED_NAME:
            text = re.sub(re.escape(value), ANONYMISED, text, flags=re.IGNORECASE)
    return text
