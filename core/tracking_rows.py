"""Turning rows of a tracking table into parcel candidates, naming every bad field.

Pure: no database. Matching rows to orders and to known parcels happens in db/queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from connectors.carriers import (
    TrackingNumberError,
    UnknownCarrier,
    get_carrier,
    normalise_tracking_number,
)
from core.problems import RowProblem

_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%Y%m%d", "%d/%m/%Y", "%Y/%m/%d")


@dataclass(frozen=True, slots=True)
class ParcelRow:
    row: int
    order_ref: str
    carrier: str
    tracking_number: str
    ship_date: date
    # JTL-style `AU12345-001` also tries `AU12345`
    fallback_ref: str | None = None


def parse_ship_date(value: str) -> date:
    """ISO, German (`24.11.2026`, `24.11.26`), compact and slashed dates; a time is ignored."""
    text = value.strip()
    for sep in ("T", " "):
        if sep in text and len(text) > 10:
            text = text.split(sep, 1)[0]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(value)


class RowValidator:
    """Validates rows of one file; caches carrier and date look-ups across batches."""

    def __init__(
        self,
        *,
        headers: dict[str, str],
        default_carrier: str | None,
        today: date,
        ref_suffix: Callable[[str], str | None] | None = None,
    ) -> None:
        self.headers = headers
        self.default_carrier = default_carrier
        self.today = today
        self.ref_suffix = ref_suffix
        self._carriers: dict[str, str | UnknownCarrier] = {}
        self._dates: dict[str, date | None] = {}

    def carrier_code(self, value: str) -> str:
        cached = self._carriers.get(value)
        if cached is None:
            try:
                cached = get_carrier(value).code
            except UnknownCarrier as error:
                cached = error
            self._carriers[value] = cached
        if isinstance(cached, UnknownCarrier):
            raise cached
        return cached

    def ship_date(self, value: str) -> date | None:
        if value in self._dates:
            return self._dates[value]
        try:
            parsed: date | None = parse_ship_date(value)
        except ValueError:
            parsed = None
        self._dates[value] = parsed
        return parsed

    def validate(self, frame: pd.DataFrame) -> tuple[list[ParcelRow], list[RowProblem]]:
        good: list[ParcelRow] = []
        bad: list[RowProblem] = []
        n = len(frame)
        refs = frame["order_ref"].tolist()
        numbers = frame["tracking_number"].tolist()
        carriers = frame["carrier"].tolist() if "carrier" in frame else [""] * n
        dates = frame["ship_date"].tolist() if "ship_date" in frame else [""] * n
        rows = frame["row"].tolist()
        h_ref, h_num = self.headers["order_ref"], self.headers["tracking_number"]
        h_car = self.headers.get("carrier", "--carrier")
        h_date = self.headers.get("ship_date", "ship_date")
        for row, ref_raw, num_raw, car_raw, date_raw in zip(
            rows, refs, numbers, carriers, dates, strict=True
        ):
            ref = ref_raw.strip()
            if not ref:
                bad.append(RowProblem(row, h_ref, ref_raw, "order_missing", "no order number"))
                continue
            carrier_value = car_raw.strip() or self.default_carrier or ""
            if not carrier_value:
                bad.append(
                    RowProblem(
                        row,
                        h_car,
                        car_raw,
                        "carrier_missing",
                        "no carrier in this row; fill it in or pass --carrier",
                    )
                )
                continue
            try:
                carrier = self.carrier_code(carrier_value)
            except UnknownCarrier as error:
                bad.append(RowProblem(row, h_car, car_raw, "carrier_unknown", str(error)))
                continue
            try:
                number = normalise_tracking_number(carrier, num_raw)
            except TrackingNumberError as error:
                bad.append(RowProblem(row, h_num, num_raw, error.code, error.message))
                continue
            ship_date = self.today
            if date_raw.strip():
                parsed = self.ship_date(date_raw)
                if parsed is None:
                    bad.append(
                        RowProblem(
                            row,
                            h_date,
                            date_raw,
                            "bad_ship_date",
                            "not a date; use YYYY-MM-DD or DD.MM.YYYY",
                        )
                    )
                    continue
                ship_date = parsed
            fallback = self.ref_suffix(ref) if self.ref_suffix else None
            good.append(ParcelRow(row, ref, carrier, number, ship_date, fallback))
        return good, bad
