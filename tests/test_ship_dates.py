"""Ship dates: never in the future, never implausibly old, and no portal told a later time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.clock import BUSINESS_TZ, business_today
from core.settings import Settings, reset_settings
from core.ship_dates import CLOCK_SKEW, DEFAULT_MAX_AGE_DAYS, ShipDateWindow
from db.models import Parcel
from db.queries.confirmations import ItemRow, LedgerOrder, LedgerParcel, LedgerRow
from db.session import session_scope
from simulators.samples import generate_orders, orders_csv
from tasks.confirmations import to_shipment
from tests.helpers import import_tracking_file, numbers, seed_orders
from tests.test_web_app import WebClient, web_settings
from tests.test_web_uploads import upload, wait_until_finished
from web.app import create_app
from web.imports import drain

runner = CliRunner()


def import_file(db_url: str, data: bytes) -> list[tuple[int, str, str]]:
    """Import with today's date as the flow does; the rejected rows as (row, column, code)."""
    return import_tracking_file(db_url, data)[2]


def stored_numbers(db_url: str) -> list[str]:
    with session_scope(db_url) as session:
        return sorted(n for n in session.scalars(select(Parcel.tracking_number)) if n)


def test_tracking_file_rows_with_future_ship_dates_are_rejected_by_row(db_url: str) -> None:
    seed_orders(db_url, 3)
    a, b, c = numbers("dpd", 3)
    today = business_today()
    data = (
        "order_no;carrier;tracking_number;Versanddatum\n"
        f"AU100001;dpd;{a};{today:%d.%m.%Y}\n"
        f"AU100002;dpd;{b};2030-12-31\n"
        f"AU100003;dpd;{c};{today + timedelta(days=2):%Y-%m-%d}\n"
    ).encode()
    rejected = import_file(db_url, data)
    assert rejected == [
        (3, "Versanddatum", "ship_date_in_future"),
        (4, "Versanddatum", "ship_date_in_future"),
    ]
    assert stored_numbers(db_url) == [a]


def test_tracking_file_rows_older_than_the_max_age_are_rejected_by_row(db_url: str) -> None:
    seed_orders(db_url, 2)
    a, b = numbers("gls", 2)
    today = business_today()
    data = (
        "order_no;carrier;tracking_number;ship_date\n"
        f"AU100001;gls;{a};{today - timedelta(days=30):%Y-%m-%d}\n"
        f"AU100002;gls;{b};{today - timedelta(days=31):%Y-%m-%d}\n"
    ).encode()
    assert import_file(db_url, data) == [(3, "ship_date", "ship_date_too_old")]
    assert stored_numbers(db_url) == [a]


def test_max_age_of_ship_dates_is_configurable(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIEFERN_SHIP_DATE_MAX_AGE_DAYS", "5")
    reset_settings()
    seed_orders(db_url, 1)
    old = business_today() - timedelta(days=6)
    number = numbers("dhl", 1)[0]
    data = f"order_no;carrier;tracking_number;ship_date\nAU100001;dhl;{number};{old}\n"
    try:
        assert import_file(db_url, data.encode()) == [(2, "ship_date", "ship_date_too_old")]
    finally:
        reset_settings()


def test_max_age_setting_defaults_to_the_documented_days_and_is_never_negative(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings.model_fields["ship_date_max_age_days"].default == DEFAULT_MAX_AGE_DAYS
    monkeypatch.setenv("LIEFERN_SHIP_DATE_MAX_AGE_DAYS", "-1")
    with pytest.raises(ValueError, match="LIEFERN_SHIP_DATE_MAX_AGE_DAYS"):
        Settings()


def test_rejected_ship_date_says_what_to_do() -> None:
    window = ShipDateWindow.ending(date(2026, 12, 4), max_age_days=30)
    future = window.check(date(2030, 12, 31))
    old = window.check(date(2025, 12, 4))
    assert future is not None and "leave it empty for today" in future.message
    assert old is not None and "LIEFERN_SHIP_DATE_MAX_AGE_DAYS" in old.message
    assert window.check(date(2026, 12, 4)) is None
    assert window.check(date(2026, 11, 4)) is None


def test_tomorrow_passes_only_within_the_clock_skew_before_midnight() -> None:
    late = datetime(2026, 12, 4, 23, 50, tzinfo=BUSINESS_TZ)
    evening = datetime(2026, 12, 4, 23, 30, tzinfo=BUSINESS_TZ)
    tomorrow = date(2026, 12, 5)
    assert ShipDateWindow.at(late).check(tomorrow) is None
    problem = ShipDateWindow.at(evening).check(tomorrow)
    assert problem is not None and problem.code == "ship_date_in_future"


def test_window_is_taken_in_the_business_time_zone() -> None:
    # 23:30 UTC on 4 December is already 5 December in Germany
    window = ShipDateWindow.at(datetime(2026, 12, 4, 23, 30, tzinfo=UTC))
    assert window.latest == date(2026, 12, 5)


def write_orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_bytes(orders_csv(list(generate_orders(2))))
    return path


def test_tracking_add_refuses_a_future_ship_date(settings: Settings, tmp_path: Path) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    number = numbers("dpd", 1)[0]
    result = runner.invoke(
        app, ["tracking", "add", "AU100001", "dpd", number, "--ship-date", "2030-12-31", "--json"]
    )
    assert result.exit_code == 2
    assert "2030-12-31 is in the future" in json.loads(result.stdout)["error"]
    assert stored_numbers(settings.db_url) == []


def test_tracking_add_refuses_an_implausibly_old_ship_date(
    settings: Settings, tmp_path: Path
) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    old = business_today() - timedelta(days=400)
    result = runner.invoke(
        app, ["tracking", "add", "AU100001", "dpd", numbers("dpd", 1)[0], "--ship-date", str(old)]
    )
    assert result.exit_code == 2
    assert "oldest ship date accepted" in result.output
    assert stored_numbers(settings.db_url) == []


def ledger_entry(
    ship_date: date, *, shipped_at: datetime | None = None
) -> tuple[LedgerRow, LedgerOrder, LedgerParcel]:
    row = LedgerRow(1, "de-main", 0, None, None, None)
    order = LedgerOrder(
        1, "AU100001", "302-1", shipped_at, [ItemRow("i1", 1, "SKU")], ["00340434161094042557"]
    )
    parcel = LedgerParcel(1, "dhl", "00340434161094042557", ship_date)
    return row, order, parcel


def test_shipment_of_a_future_ship_date_is_sent_as_now() -> None:
    now = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    shipment = to_shipment(*ledger_entry(date(2030, 12, 31)), now=now)
    assert shipment.shipped_at == now


def test_shipment_of_today_is_never_later_than_now() -> None:
    # noon is the time used when the order's own shipping time is of another day
    morning = datetime(2026, 12, 4, 8, 0, tzinfo=BUSINESS_TZ)
    shipment = to_shipment(*ledger_entry(date(2026, 12, 4)), now=morning)
    assert shipment.shipped_at == morning


def test_shipment_of_an_earlier_day_keeps_its_time() -> None:
    now = datetime(2026, 12, 4, 8, 0, tzinfo=BUSINESS_TZ)
    shipment = to_shipment(*ledger_entry(date(2026, 12, 3)), now=now)
    assert shipment.shipped_at == datetime(2026, 12, 3, 12, 0, tzinfo=BUSINESS_TZ)


@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(min_value=-400, max_value=400),
    max_age=st.integers(min_value=0, max_value=365),
)
def test_a_ship_date_passes_exactly_between_max_age_and_today(
    now: datetime, offset: int, max_age: int
) -> None:
    today = now.astimezone(BUSINESS_TZ).date()
    day = today + timedelta(days=offset)
    latest = max(today, (now + CLOCK_SKEW).astimezone(BUSINESS_TZ).date())
    plausible = today - timedelta(days=max_age) <= day <= latest
    assert (ShipDateWindow.at(now, max_age_days=max_age).check(day) is None) == plausible


@pytest.mark.usefixtures("prefect_harness")
def test_an_uploaded_file_names_its_future_ship_date_row_and_imports_the_rest(
    settings: Settings,
) -> None:
    seed_orders(settings.db_url, 3)
    a, b = numbers("hermes", 2)
    data = (
        "order_no;carrier;tracking_number;ship_date\n"
        f"AU100001;hermes;{a};\n"
        f"AU100002;hermes;{b};31.12.2030\n"
        "AU100003;deutsche_post;;\n"
    ).encode()
    client = WebClient(create_app(web_settings(settings)))
    try:
        answer = upload(client, data).json()
        result = wait_until_finished(client, answer["import_id"])
    finally:
        drain(timeout=120)
    assert (result["status"], result["imported"]) == ("done", 2)
    [rejected] = result["rejected"]
    assert (rejected["row"], rejected["column"], rejected["code"]) == (
        3,
        "ship_date",
        "ship_date_in_future",
    )
    assert "2030-12-31 is in the future" in rejected["message"]
