"""Orders shipped without a tracking number (letters, untracked post), end to end: stored with
no number, imported and added by hand, mailed without a tracking link, told to the portals
without a number, shown as such in the protocol and on the operator's pages."""

from __future__ import annotations

import asyncio
import email
import json
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import Message
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.clock import business_today
from core.settings import Settings, reset_settings
from core.tracking_rows import ParcelRow
from db.models import Order, Parcel
from db.queries.confirmations import add_confirmations, confirmations_in_status
from db.queries.mails import orders_to_mail
from db.session import session_scope
from simulators.samples import generate_orders, orders_csv
from simulators.smtp import FaultySmtpServer
from tasks.confirmations import to_shipment
from tasks.mails import send_shipping_mails
from tasks.parcels import attach_parcels
from tests.helpers import import_tracking_file as import_file
from tests.helpers import numbers, seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from web.app import create_app

runner = CliRunner()
DAY = date(2026, 11, 26)


def parcels(db_url: str) -> list[tuple[str, str, str | None]]:
    """(order number, carrier, tracking number) of every stored parcel, in id order."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Order.order_no, Parcel.carrier, Parcel.tracking_number)
            .join(Order, Order.id == Parcel.order_id)
            .order_by(Parcel.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def add_parcel(db_url: str, order_no: str, carrier: str, number: str | None) -> None:
    with session_scope(db_url) as session:
        outcome = attach_parcels(
            session, rows=[ParcelRow(1, order_no, carrier, number, DAY)], source="test"
        )
    assert outcome.imported == 1, outcome.problems


# --- import -------------------------------------------------------------------------------


def test_row_with_a_carrier_and_no_number_is_an_untracked_parcel(db_url: str) -> None:
    seed_orders(db_url, 2)
    dpd = numbers("dpd", 1)[0]
    data = f"order_no;carrier;tracking_number\nAU100001;Deutsche Post;\nAU100002;dpd;{dpd}\n"
    assert import_file(db_url, data.encode()) == (2, 0, [])
    assert parcels(db_url) == [("AU100001", "deutsche_post", None), ("AU100002", "dpd", dpd)]


def test_reimporting_an_untracked_parcel_changes_nothing(db_url: str) -> None:
    seed_orders(db_url, 1)
    data = b"order_no;carrier;tracking_number;ship_date\nAU100001;deutsche_post;;\n"
    assert import_file(db_url, data) == (1, 0, [])
    assert import_file(db_url, data) == (0, 1, [])
    assert len(parcels(db_url)) == 1


def test_an_undated_untracked_row_imported_again_the_next_day_changes_nothing(
    db_url: str,
) -> None:
    # without a date the row cannot tell a second letter from the first one imported again
    seed_orders(db_url, 1)
    data = b"order_no;carrier;tracking_number;ship_date\nAU100001;deutsche_post;;\n"
    today = business_today()
    assert import_file(db_url, data, today=today - timedelta(days=1)) == (1, 0, [])
    assert import_file(db_url, data, today=today) == (0, 1, [])
    assert len(parcels(db_url)) == 1


def test_a_dated_untracked_row_of_another_day_is_a_further_parcel(db_url: str) -> None:
    seed_orders(db_url, 1)
    today = business_today()
    data = (
        "order_no;carrier;tracking_number;ship_date\n"
        f"AU100001;deutsche_post;;{today - timedelta(days=3)}\n"
        f"AU100001;deutsche_post;;{today}\n"
    )
    assert import_file(db_url, data.encode()) == (2, 0, [])
    assert [p[2] for p in parcels(db_url)] == [None, None]


def test_several_orders_can_each_have_an_untracked_parcel_of_one_carrier(db_url: str) -> None:
    seed_orders(db_url, 3)
    data = (
        "order_no;carrier;tracking_number\n"
        "AU100001;deutsche_post;\nAU100002;deutsche_post;\nAU100003;deutsche_post;\n"
    )
    assert import_file(db_url, data.encode()) == (3, 0, [])
    assert [p[2] for p in parcels(db_url)] == [None, None, None]


def test_a_row_without_number_and_without_carrier_stays_an_error(db_url: str) -> None:
    seed_orders(db_url, 1)
    data = b"order_no;carrier;tracking_number\nAU100001;;\n"
    assert import_file(db_url, data) == (0, 0, [(2, "carrier", "carrier_missing")])
    assert parcels(db_url) == []


def test_a_carrier_export_row_without_number_is_an_error_not_an_untracked_parcel(
    db_url: str,
) -> None:
    # DHL's export names no carrier per row: an empty number there is a label that failed
    seed_orders(db_url, 1)
    data = "Sendungsreferenz;Sendungsnummer\nAU100001;\n".encode("cp1252")
    imported, _, rejected = import_file(db_url, data, file_format="dhl")
    assert (imported, rejected) == (0, [(2, "Sendungsnummer", "empty")])


# --- CLI ----------------------------------------------------------------------------------


def write_orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_bytes(orders_csv(list(generate_orders(2))))
    return path


def test_tracking_add_untracked_adds_a_parcel_without_number(
    settings: Settings, tmp_path: Path
) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    result = runner.invoke(
        app, ["tracking", "add", "AU100001", "deutsche_post", "--untracked", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["tracking_number"], answer["imported"]) == (None, 1)
    text = runner.invoke(app, ["tracking", "add", "AU100001", "deutsche_post", "--untracked"])
    assert text.exit_code == 0 and "already known" in text.stdout
    assert parcels(settings.db_url) == [("AU100001", "deutsche_post", None)]


def test_tracking_add_without_number_asks_for_untracked(settings: Settings, tmp_path: Path) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    result = runner.invoke(app, ["tracking", "add", "AU100001", "deutsche_post"])
    assert result.exit_code == 2
    assert "--untracked" in result.output
    assert parcels(settings.db_url) == []


def test_tracking_add_refuses_a_number_together_with_untracked(
    settings: Settings, tmp_path: Path
) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    number = numbers("dpd", 1)[0]
    result = runner.invoke(app, ["tracking", "add", "AU100001", "dpd", number, "--untracked"])
    assert result.exit_code == 2
    assert parcels(settings.db_url) == []


def test_orders_show_says_the_parcel_has_no_tracking_number(
    settings: Settings, tmp_path: Path
) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    runner.invoke(app, ["tracking", "add", "AU100001", "deutsche_post", "--untracked"])
    text = runner.invoke(app, ["orders", "show", "AU100001"])
    assert text.exit_code == 0, text.output
    assert "deutsche_post without tracking number" in text.stdout
    assert "None" not in text.stdout
    shown = json.loads(runner.invoke(app, ["orders", "show", "AU100001", "--json"]).stdout)
    assert shown["parcels"][0]["tracking_number"] is None


# --- shipping mail ------------------------------------------------------------------------


@pytest.fixture
def smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as server:
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("LIEFERN_SMTP_TIMEOUT_SECONDS", "3")
        reset_settings()
        yield server


def shop_order(db_url: str, language: str) -> str:
    [sample] = seed_orders(db_url, 1)
    order_no = sample.order["order_no"]
    with session_scope(db_url) as session:
        order = session.scalars(select(Order).where(Order.order_no == order_no)).one()
        order.portal, order.portal_account, order.language = "shop", "webshop", language
    return order_no


def mail_of(db_url: str, server: FaultySmtpServer, carrier: str) -> tuple[str, str]:
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=[carrier])
    report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier=carrier))
    assert dict(report.counts) == {"sent": 1}
    [(_, _, data)] = server.messages
    message: Message = email.message_from_bytes(data, policy=default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


def test_german_mail_of_an_untracked_parcel_has_no_tracking_and_says_so(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    order_no = shop_order(db_url, "de")
    add_parcel(db_url, order_no, "deutsche_post", None)
    text, html = mail_of(db_url, smtp, "deutsche_post")
    for body in (text, html):
        assert "Deutsche Post, ohne Sendungsverfolgung verschickt" in body
        assert "Sendungsnummer" not in body and "verfolgen" not in body.lower()
        assert "None" not in body
        assert "/arrived/" in body


def test_english_mail_of_an_untracked_parcel_has_no_tracking_and_says_so(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    order_no = shop_order(db_url, "en")
    add_parcel(db_url, order_no, "deutsche_post", None)
    text, html = mail_of(db_url, smtp, "deutsche_post")
    for body in (text, html):
        assert "Deutsche Post, sent without tracking" in body
        assert "tracking number" not in body and "Track it" not in body
        assert "None" not in body


def test_mail_with_a_tracked_and_an_untracked_parcel_links_only_the_tracked_one(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    order_no = shop_order(db_url, "de")
    dpd = numbers("dpd", 1)[0]
    add_parcel(db_url, order_no, "dpd", dpd)
    add_parcel(db_url, order_no, "deutsche_post", None)
    text, _ = mail_of(db_url, smtp, "dpd")
    assert f"DPD, Sendungsnummer {dpd}" in text
    assert text.count("Sendungsverfolgung:") == 1
    assert "Deutsche Post, ohne Sendungsverfolgung verschickt" in text


# --- confirmations ------------------------------------------------------------------------


def test_portal_is_told_an_untracked_parcel_without_number(db_url: str) -> None:
    seed_orders(db_url, 1)
    dpd = numbers("dpd", 1)[0]
    add_parcel(db_url, "AU100001", "deutsche_post", None)
    add_parcel(db_url, "AU100001", "dpd", dpd)
    with session_scope(db_url) as session:
        order = session.scalars(select(Order)).one()
        add_confirmations(
            session,
            rows=[
                {
                    "order_id": order.id,
                    "parcel_id": p.id,
                    "portal": "ebay",
                    "account": order.portal_account,
                    "status": "pending",
                    "attempts": 0,
                }
                for p in order.parcels
            ],
        )
    with session_scope(db_url) as session:
        entries = confirmations_in_status(session, portal="ebay", status="pending")
    untracked, tracked = (to_shipment(*entry) for entry in entries)
    assert (untracked.carrier, untracked.tracking_number) == ("deutsche_post", None)
    assert (tracked.carrier, tracked.tracking_number) == ("dpd", dpd)


# --- operator pages -----------------------------------------------------------------------


def test_operator_pages_show_the_parcel_as_without_tracking_number(settings: Settings) -> None:
    seed_orders(settings.db_url, 1)
    add_parcel(settings.db_url, "AU100001", "deutsche_post", None)
    client = WebClient(create_app(web_settings(settings)))
    for url in ("/orders", "/orders/AU100001"):
        response = client.get(url, auth=OPERATOR)
        assert response.status_code == 200
        assert "without tracking number" in response.text
        assert "None" not in response.text


# --- migration ----------------------------------------------------------------------------


def test_upgrading_a_sqlite_store_with_confirmations_keeps_every_row(tmp_path: Path) -> None:
    """SQLite rebuilds the parcels table to drop NOT NULL; confirmations point at it."""
    from db.migrate import upgrade
    from db.session import dispose_engines, get_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO orders (id, order_no, portal, portal_account, portal_order_id, "
            "buyer_name, buyer_email, language, country, postal_code, city, status, created_at, "
            "updated_at) VALUES (1, 'AU1', 'ebay', 'e1', '11-1', 'B', 'b@example.de', 'de', "
            "'DE', '', '', 'shipped', '2026-11-26', '2026-11-26')"
        )
        connection.exec_driver_sql(
            "INSERT INTO parcels (id, order_id, carrier, tracking_number, ship_date, source, "
            "created_at) VALUES (1, 1, 'dpd', '01234567890128', '2026-11-26', 'cli', "
            "'2026-11-26')"
        )
        connection.exec_driver_sql(
            "INSERT INTO confirmations (id, order_id, parcel_id, portal, account, status, "
            "attempts, created_at) VALUES (1, 1, 1, 'ebay', 'e1', 'confirmed', 1, '2026-11-26')"
        )
    upgrade(url)
    add_parcel(url, "AU1", "deutsche_post", None)
    with get_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("SELECT parcel_id FROM confirmations").all() == [(1,)]
    assert parcels(url) == [("AU1", "dpd", "01234567890128"), ("AU1", "deutsche_post", None)]
    dispose_engines()


def test_downgrade_below_0008_refuses_while_untracked_parcels_exist(tmp_path: Path) -> None:
    from alembic import command

    from db.migrate import alembic_config, upgrade
    from db.session import dispose_engines

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    seed_orders(url, 1)
    add_parcel(url, "AU100001", "deutsche_post", None)
    with pytest.raises(RuntimeError, match="1 parcels have no tracking number"):
        command.downgrade(alembic_config(url), "0004")
    with session_scope(url) as session:
        session.execute(sa_delete(Parcel))
    command.downgrade(alembic_config(url), "0004")
    dispose_engines()
