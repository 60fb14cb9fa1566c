"""Business dates are German dates: a parcel handed over at 00:30 CET belongs to that day."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Europe/Berlin")

# How far this process's clock runs ahead of the wall clock: zero, except where a test or a
# rehearsal moves time on (`later`) to see what the next scheduled run does.
_ahead = timedelta(0)


def utcnow() -> datetime:
    """Now, in UTC: every timestamp liefern stores (db.types.utcnow) comes from here."""
    return datetime.now(UTC) + _ahead


@contextmanager
def later(by: timedelta) -> Iterator[None]:
    """Run the block as if `by` had passed (cumulative when nested); this process only."""
    global _ahead
    before = _ahead
    _ahead = before + by
    try:
        yield
    finally:
        _ahead = before


def business_today() -> date:
    return datetime.now(BUSINESS_TZ).date()
