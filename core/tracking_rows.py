"""Turning rows of a tracking table into parcel candidates, naming every bad field.

Pure: no database. Matching rows to orders and to known parcels happens in db/queries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import NamedTuple

import pandas as pd

from core.carriers.numbers import (
    TrackingNumberError,
    UnknownCarrier,
    get_carrier,
    normalise_tracking_numbers,
)
from core.problems import RowProblem
from core.ship_dates import ShipDateProblem, ShipDateWindow

NO_NUMBER = (
    "no tracking number in this row; for a parcel sent without tracking, name its carrier "
    "in the row's carrier column"
)

RETURN_WITHOUT_TRACKING = (
    "a return tracking number needs the parcel's own tracking number in this row"
)

_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%Y%m%d", "%d/%m/%Y", "%Y/%m/%d")


class ParcelRow(NamedTuple):
    """One valid row; a named tuple because an import makes a million of them."""

    row: int
    order_ref: str
    carrier: str
    tracking_number: str | None  # None: shipped without tracking (a letter, untracked post)
    ship_date: date
    # JTL-style `AU12345-001` also tries `AU12345`
    fallback_ref: str | None = None
    # False: the row gave no ship date (today was taken); an untracked parcel is then matched
    # to a known one by carrier alone
    dated: bool = True
    # the return label's number packed into the parcel (OTTO needs it); None: not given
    return_number: str | None = None


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
        window: ShipDateWindow | None = None,
    ) -> None:
        self.headers = headers
        self.default_carrier = default_carrier
        self.today = today
        self.ref_suffix = ref_suffix
        self.window = window or ShipDateWindow.ending(today)
        self._carriers: dict[str, str | UnknownCarrier] = {}
        self._dates: dict[str, date | None] = {}
        self._date_problems: dict[date, ShipDateProblem | None] = {}

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

    def ship_date_problem(self, day: date) -> ShipDateProblem | None:
        if day not in self._date_problems:
            self._date_problems[day] = self.window.check(day)
        return self._date_problems[day]

    def validate(self, frame: pd.DataFrame) -> tuple[list[ParcelRow], list[RowProblem]]:
        good: list[ParcelRow] = []
        bad: list[RowProblem] = []
        n = len(frame)
        refs = frame["order_ref"].tolist()
        numbers = frame["tracking_number"].tolist()
        carriers = frame["carrier"].tolist() if "carrier" in frame else [""] * n
        dates = frame["ship_date"].tolist() if "ship_date" in frame else [""] * n
        returns_raw = (
            frame["return_tracking_number"].tolist() if "return_tracking_number" in frame else None
        )
        rows = frame["row"].tolist()
        h_ref, h_num = self.headers["order_ref"], self.headers["tracking_number"]
        h_car = self.headers.get("carrier", "--carrier")
        h_date = self.headers.get("ship_date", "ship_date")
        carrier_values = self._carrier_values(carriers)
        resolved = {value: self._resolve(value) for value in set(carrier_values) if value}
        normalised = self._normalise(carrier_values, numbers)
        returns = self._returns(carrier_values, returns_raw)
        h_ret = self.headers.get("return_tracking_number", "return_tracking_number")
        for index, (row, ref_raw, num_raw, car_raw, date_raw, carrier_value, number) in enumerate(
            zip(rows, refs, numbers, carriers, dates, carrier_values, normalised, strict=True)
        ):
            ref = ref_raw.strip()
            if not ref:
                bad.append(RowProblem(row, h_ref, ref_raw, "order_missing", "no order number"))
                continue
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
            carrier = resolved[carrier_value]
            if isinstance(carrier, UnknownCarrier):
                bad.append(RowProblem(row, h_car, car_raw, "carrier_unknown", str(carrier)))
                continue
            if not num_raw.strip():
                if not car_raw.strip():
                    # a carrier export (or --carrier) names no carrier per row: an empty
                    # number there is a label that failed, not a parcel without tracking
                    bad.append(RowProblem(row, h_num, num_raw, "empty", NO_NUMBER))
                    continue
                number = None  # the row names its carrier and no number: untracked
            elif isinstance(number, TrackingNumberError):
                bad.append(RowProblem(row, h_num, num_raw, number.code, number.message))
                continue
            ship_date = self.today
            dated = bool(date_raw.strip())
            if dated:
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
                implausible = self.ship_date_problem(parsed)
                if implausible is not None:
                    bad.append(
                        RowProblem(row, h_date, date_raw, implausible.code, implausible.message)
                    )
                    continue
                ship_date = parsed
            fallback = self.ref_suffix(ref) if self.ref_suffix else None
            back = returns[index]
            if isinstance(back, TrackingNumberError):
                value = returns_raw[index] if returns_raw else ""
                text = f"return tracking number: {back.message}"
                bad.append(RowProblem(row, h_ret, value, back.code, text))
                continue
            if back is not None and number is None:
                code = "return_without_tracking"
                bad.append(RowProblem(row, h_ret, back, code, RETURN_WITHOUT_TRACKING))
                continue
            good.append(ParcelRow(row, ref, carrier, number, ship_date, fallback, dated, back))
        return good, bad

    def _returns(
        self, carrier_values: list[str], raw: list[str] | None
    ) -> list[str | TrackingNumberError | None]:
        """Every row's return tracking number, checked like a tracking number of the row's
        carrier; None where the row (or the file) has none, or its carrier is unknown (the
        row is refused for that)."""
        out: list[str | TrackingNumberError | None] = [None] * len(carrier_values)
        if raw is None:
            return out
        given = [i for i, value in enumerate(raw) if value.strip()]
        checked = self._normalise([carrier_values[i] for i in given], [raw[i] for i in given])
        for i, result in zip(given, checked, strict=True):
            out[i] = result
        return out

    def _resolve(self, value: str) -> str | UnknownCarrier:
        try:
            return self.carrier_code(value)
        except UnknownCarrier as error:
            return error

    def _carrier_values(self, carriers: list[str]) -> list[str]:
        """The carrier name each row names (its own column, else the default)."""
        default = self.default_carrier or ""
        return [value.strip() or default for value in carriers]

    def _normalise(
        self, carrier_values: list[str], numbers: list[str]
    ) -> list[str | TrackingNumberError | None]:
        """Every row's number normalised for its carrier, carrier by carrier (vectorised);
        None for rows whose carrier is missing or unknown (they are rejected for that)."""
        by_carrier: dict[str, list[int]] = {}
        for index, value in enumerate(carrier_values):
            by_carrier.setdefault(value, []).append(index)
        out: list[str | TrackingNumberError | None] = [None] * len(numbers)
        for value, indexes in by_carrier.items():
            if not value:
                continue
            try:
                code = self.carrier_code(value)
            except UnknownCarrier:
                continue
            results = normalise_tracking_numbers(code, [numbers[i] for i in indexes])
            for index, result in zip(indexes, results, strict=True):
                out[index] = result
        return out
