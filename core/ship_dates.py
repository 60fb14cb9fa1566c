"""Which ship dates a parcel can have: never in the future, never implausibly old.

A ship date of 2030-12-31 once went to Amazon as typed; eBay refuses future dates outright.
A date far in the past is almost always a typo too (the previous year, a swapped day and
month), and the portals take the date as the buyer's "shipped on". Both are refused where a
parcel comes in (tracking files, `liefern tracking add`), and a ship time sent to a portal is
never later than the moment it is sent.

Dates are business dates (core.clock.BUSINESS_TZ). Near midnight another machine's clock may
already be in tomorrow: a few minutes of skew are allowed, so tomorrow's date passes only
while tomorrow is that close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import BUSINESS_TZ

# How far another machine's clock (carrier software, the shop's PC) may run ahead of ours.
CLOCK_SKEW = timedelta(minutes=15)

# The default of LIEFERN_SHIP_DATE_MAX_AGE_DAYS: a parcel is normally entered on the day it is
# handed over, a backlog after holidays or an outage is days, not weeks; the portals expect a
# ship date within the order's handling time. Older dates are treated as typos.
DEFAULT_MAX_AGE_DAYS = 30


@dataclass(frozen=True, slots=True)
class ShipDateProblem:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ShipDateWindow:
    """The ship dates accepted now: from `earliest` to `latest`, both included."""

    earliest: date
    latest: date

    @classmethod
    def at(cls, now: datetime, *, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> ShipDateWindow:
        """The window at the moment `now` (timezone-aware)."""
        today = now.astimezone(BUSINESS_TZ).date()
        return cls.ending(today, now=now, max_age_days=max_age_days)

    @classmethod
    def ending(
        cls, today: date, *, now: datetime | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS
    ) -> ShipDateWindow:
        """The window of the business day `today`; with `now`, tomorrow counts from
        CLOCK_SKEW before midnight."""
        latest = today
        if now is not None:
            latest = max(today, (now + CLOCK_SKEW).astimezone(BUSINESS_TZ).date())
        return cls(earliest=today - timedelta(days=max_age_days), latest=latest)

    def check(self, day: date) -> ShipDateProblem | None:
        """None for a plausible ship date, else what is wrong and what to do."""
        if day > self.latest:
            return ShipDateProblem(
                "ship_date_in_future",
                f"ship date {day.isoformat()} is in the future (today is "
                f"{self.latest.isoformat()}); a parcel can only be entered once it is handed "
                "over: correct the date or leave it empty for today",
            )
        if day < self.earliest:
            return ShipDateProblem(
                "ship_date_too_old",
                f"ship date {day.isoformat()} is before {self.earliest.isoformat()}, the oldest "
                "ship date accepted; correct the date (a typo in the year or month?) or raise "
                "LIEFERN_SHIP_DATE_MAX_AGE_DAYS",
            )
        return None
