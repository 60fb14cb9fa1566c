"""Business dates are German dates: a parcel handed over at 00:30 CET belongs to that day."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Europe/Berlin")


def business_today() -> date:
    return datetime.now(BUSINESS_TZ).date()
