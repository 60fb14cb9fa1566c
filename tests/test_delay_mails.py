"""The delay mail over a real SMTP server (SQLite and PostgreSQL): once per order, only for
accounts that switched it on and whose portal lets our mails go, only for delays the carrier's
data show, and only to buyers who got our shipping mail."""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.policy import default

import pytest
from sqlalchemy import select

from core.accounts import Accounts, AccountsError
from core.carriers.numbers import tracking_url
from core.settings import Settings, reset_settings
from db.models import Order, Parcel, ShippingMail
from db.queries.orders import get_order
from db.queries.protocol import order_protocol
from db.session import session_scope
from tasks.delay_mails import send_delay_mails
from tests.watch_seed import Shipped, ship

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ASKED = {"delivery_status": "announced", "tracked_at": NOW - timedelta(hours=1)}
LATE = NOW - timedelta(hours=50)  # the shipping mail's time: 50 h without a scan


@pytest.fixture
def accounts(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """Every account of every portal asks for delay mails."""
    path = settings.home / "accounts.toml"
    path.write_text(
        "".join(
            f"[portals.{p}]\ndelay_mail = true\n"
            for p in ("amazon", "ebay", "kaufland", "otto", "hood", "shop")
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("LIEFERN_ACCOUNTS_FILE", str(path))
    reset_settings()
    return path


def run(settings: Settings):
    from core.settings import get_settings

    return asyncio.run(send_delay_mails(settings.db_url, now=NOW, settings=get_settings()))


def received(smtp) -> list[Message]:
    return [email.message_from_bytes(data, policy=default) for _, _, data in smtp.messages]


def delay_rows(db_url: str) -> list[tuple[str, int]]:
    with session_scope(db_url) as session:
        return [
            (r.status, r.attempts)
            for r in session.scalars(select(ShippingMail).where(ShippingMail.kind == "delay"))
        ]


def test_a_late_parcel_gets_one_delay_mail_and_a_second_run_sends_none(settings, smtp, accounts):
    [order_no] = ship(
        settings.db_url,
        [Shipped(LATE, ASKED, order={"portal": "ebay", "language": "de"})],
    )
    first = run(settings)
    assert first.sent_orders == [order_no]
    [mail] = received(smtp)
    assert mail["Subject"] == f"Ihre Sendung verzögert sich – Bestellung {order_no}"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    with session_scope(settings.db_url) as session:
        number = session.scalars(select(Parcel.tracking_number)).one()
    assert f"Sendungsnummer {number}" in text
    assert tracking_url("dhl", number, "de") in text
    assert delay_rows(settings.db_url) == [("sent", 1)]
    with session_scope(settings.db_url) as session:
        protocol = order_protocol(session, order=get_order(session, order_no=order_no))
    assert any(e["what"].startswith("delay mail sent to") for e in protocol["timeline"])

    second = run(settings)
    assert second.sent_orders == [] and second.counts["done_before"] == 1
    assert len(smtp.messages) == 1
    assert delay_rows(settings.db_url) == [("sent", 1)]


def test_english_buyers_get_the_english_mail(settings, smtp, accounts):
    [order_no] = ship(
        settings.db_url, [Shipped(LATE, ASKED, order={"portal": "hood", "language": "en"})]
    )
    run(settings)
    [mail] = received(smtp)
    assert mail["Subject"] == f"Your parcel is delayed – order {order_no}"


@pytest.mark.parametrize("portal", ["amazon", "kaufland", "otto"])
def test_never_for_portals_that_forbid_our_own_mails(settings, smtp, accounts, portal):
    ship(settings.db_url, [Shipped(LATE, ASKED, order={"portal": portal})])
    report = run(settings)
    assert report.sent_orders == [] and smtp.messages == []
    assert delay_rows(settings.db_url) == []


def test_off_unless_the_account_switches_it_on(settings, smtp):
    ship(settings.db_url, [Shipped(LATE, ASKED, order={"portal": "ebay"})])
    assert run(settings).sent_orders == [] and smtp.messages == []


def test_only_delays_the_carrier_data_show(settings, smtp, accounts):
    ship(
        settings.db_url,
        [
            Shipped(LATE, order={"portal": "ebay"}),  # never asked: no news is no delay
            Shipped(LATE, {"delivery_status": "exception", "tracked_at": NOW}, {"portal": "ebay"}),
            Shipped(NOW - timedelta(hours=47), ASKED, order={"portal": "ebay"}),  # in time
        ],
    )
    assert run(settings).sent_orders == [] and smtp.messages == []


def test_not_to_a_buyer_who_never_got_the_shipping_mail(settings, smtp, accounts):
    ship(
        settings.db_url,
        [Shipped(LATE, ASKED, order={"portal": "ebay"}, mail_status="failed")],
    )
    report = run(settings)
    assert report.sent_orders == [] and report.counts["no_shipping_mail"] == 1
    assert smtp.messages == []


def test_a_refused_mail_is_failed_in_the_ledger_and_not_tried_again(settings, smtp, accounts):
    [order_no] = ship(settings.db_url, [Shipped(LATE, ASKED, order={"portal": "ebay"})])
    with session_scope(settings.db_url) as session:
        to = session.scalars(select(ShippingMail.recipient)).one()
    smtp.reject_recipient(to)
    report = run(settings)
    assert report.problems and report.problems[0]["order_no"] == order_no
    assert delay_rows(settings.db_url) == [("failed", 1)]
    assert run(settings).counts["done_before"] == 1


def test_the_switch_in_accounts_toml_is_true_or_false(tmp_path):
    path = tmp_path / "accounts.toml"
    path.write_text('[portals.ebay]\ndelay_mail = "yes"\n', encoding="utf-8")
    with pytest.raises(AccountsError, match="delay_mail"):
        Accounts.load(path)
    path.write_text("[portals.ebay]\ndelay_mail = true\n", encoding="utf-8")
    accounts = Accounts.load(path)
    assert accounts.options("ebay", "ebay-main").sends_delay_mail
    assert not accounts.options("hood", "hood-main").sends_delay_mail  # off by default


def test_a_mail_the_server_deferred_goes_next_run_or_is_dropped_once_the_parcel_moves(
    settings, smtp, accounts
):
    [first, second] = ship(
        settings.db_url,
        [
            Shipped(LATE, ASKED, order={"portal": "ebay"}),
            Shipped(LATE, ASKED, order={"portal": "ebay"}),
        ],
    )
    smtp.fail_next(20, 451)  # more than the sender's retries: both stay pending
    report = run(settings)
    assert report.sent_orders == [] and report.counts["pending"] == 2
    assert sorted(s for s, _ in delay_rows(settings.db_url)) == ["pending", "pending"]
    with session_scope(settings.db_url) as session:  # the second parcel got scanned meanwhile
        parcel = session.scalars(
            select(Parcel).join(Order, Order.id == Parcel.order_id).where(Order.order_no == second)
        ).one()
        parcel.delivery_status, parcel.first_scan_at = "in_transit", NOW
    smtp.clear_faults()
    again = run(settings)
    assert again.sent_orders == [first] and again.counts["no_longer_late"] == 1
    assert sorted(s for s, _ in delay_rows(settings.db_url)) == ["sent", "suppressed"]
