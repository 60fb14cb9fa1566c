"""The delay and exception watchlist ("problems"): which parcel needs a look, and since when.

A pure rule over what the carriers said about a parcel (core/tracking.py) and when the buyer
was told it is on its way. One problem per parcel, the most telling first:

    exception      the carrier reports trouble (status exception, undeliverable or lost)
    no_first_scan  no carrier scan `first_scan_hours` after the shipping mail (default 48 h)
    overdue        the carrier's expected delivery date (a German date) has passed
    stalled        scanned, but no further event for `stalled_days` (default 3 days)

Delivered and returned parcels are never problems. "After the mail" is the time the shipping
mail went out, or was settled without going (suppressed by a portal's policy, refused), and
the order's shipped time where no mail row exists. The thresholds are settings
(LIEFERN_WATCH_FIRST_SCAN_HOURS, LIEFERN_WATCH_STALLED_DAYS); they are our judgement, not a
carrier's promise: DHL and the others publish no deadline for a first scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from core.clock import BUSINESS_TZ
from core.tracking import DeliveryStatus


class Problem(StrEnum):
    EXCEPTION = "exception"
    NO_FIRST_SCAN = "no_first_scan"
    OVERDUE = "overdue"
    STALLED = "stalled"


# carrier statuses that are a problem by themselves
TROUBLE = frozenset({DeliveryStatus.EXCEPTION, DeliveryStatus.UNDELIVERABLE, DeliveryStatus.LOST})
# the parcel's journey is over: nothing to watch
DONE = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.RETURNED})
# problems that mean "later than it should be": the ones a delay mail may tell the buyer about
DELAYS = frozenset({Problem.NO_FIRST_SCAN, Problem.OVERDUE, Problem.STALLED})


@dataclass(frozen=True, slots=True)
class Thresholds:
    first_scan_hours: int = 48
    stalled_days: int = 3

    @property
    def first_scan(self) -> timedelta:
        return timedelta(hours=self.first_scan_hours)

    @property
    def stalled(self) -> timedelta:
        return timedelta(days=self.stalled_days)


@dataclass(frozen=True, slots=True)
class ParcelFacts:
    delivery_status: str | None  # a DeliveryStatus value; None while no source said anything
    first_scan_at: datetime | None
    last_event_at: datetime | None
    expected_delivery: date | None
    mailed_at: datetime | None  # when the buyer was told (see the module docstring)


@dataclass(frozen=True, slots=True)
class Finding:
    problem: Problem
    since: datetime | None  # when the parcel became a problem (None: not known)


def day_start(day: date) -> datetime:
    """The first moment of a German business day, in UTC."""
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def overdue_since(expected: date) -> datetime:
    """A parcel expected on `expected` is overdue from the start of the next German day."""
    return day_start(expected + timedelta(days=1))


def problem_of(facts: ParcelFacts, *, now: datetime, thresholds: Thresholds) -> Finding | None:
    """The parcel's problem at `now`, or None when it is on its way as it should be."""
    status = facts.delivery_status
    if status in DONE:
        return None
    if status in TROUBLE:
        return Finding(Problem.EXCEPTION, facts.last_event_at)
    mailed = facts.mailed_at
    if facts.first_scan_at is None and mailed is not None and now >= mailed + thresholds.first_scan:
        return Finding(Problem.NO_FIRST_SCAN, mailed + thresholds.first_scan)
    if facts.expected_delivery is not None and now >= overdue_since(facts.expected_delivery):
        return Finding(Problem.OVERDUE, overdue_since(facts.expected_delivery))
    if facts.first_scan_at is None:
        return None
    last = facts.last_event_at or facts.first_scan_at
    if now >= last + thresholds.stalled:
        return Finding(Problem.STALLED, last + thresholds.stalled)
    return None


def say(problem: Problem, thresholds: Thresholds) -> str:
    """The problem in words (CLI, logs, the demo), with the threshold it was judged by."""
    if problem is Problem.NO_FIRST_SCAN:
        return f"no first scan {thresholds.first_scan_hours} h after the mail"
    if problem is Problem.STALLED:
        return f"no event for {thresholds.stalled_days} days"
    if problem is Problem.OVERDUE:
        return "past the expected delivery date"
    return "the carrier reports trouble"
