"""SMTP outages across deliver runs: mails wait for the mail server, then go out exactly once.

A real aiosmtpd server on loopback (simulators.smtp) is down, refuses the login or answers 4xx
for a whole run; the ledger keeps those mails `pending` ("waiting for the mail server", with
attempts and a not-before time) and the first run after the server is back sends each of them
once. Only a permanent refusal of the mail itself (550 to RCPT) is final `failed`."""

from __future__ import annotations

import asyncio
import email
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.settings import Settings, reset_settings
from db.models import ShippingMail
from db.queries.mails import orders_to_mail
from db.session import session_scope
from db.types import utcnow
from flows.results import DeliverResult
from simulators.server import free_port
from simulators.smtp import FaultySmtpServer
from tasks.mails import send_shipping_mails
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, deliver, ledger, ledger_email, shop_orders

LOGIN = ("versand", "richtig-geheim")


def point_smtp_at(monkeypatch: pytest.MonkeyPatch, port: int, login: str = "") -> None:
    monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://{login}127.0.0.1:{port}")
    reset_settings()


@pytest.fixture
def fast_smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short in-run backoff; waiting mails are due again at once (the backoff test sets it)."""
    monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("LIEFERN_SMTP_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("LIEFERN_SMTP_RETRY_WAIT_SECONDS", "0")
    reset_settings()


@pytest.fixture
def server(fast_smtp: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as running:
        point_smtp_at(monkeypatch, running.port)
        yield running


def dpd_orders(db_url: str, count: int) -> list[str]:
    orders = shop_orders(db_url, count)
    for order_no, number in zip(orders, numbers("dpd", count), strict=True):
        add_parcel(db_url, order_no, "dpd", number)
    return orders


def copies(server: FaultySmtpServer) -> Counter[str]:
    """Messages the server holds, per Message-ID."""
    return Counter(
        str(email.message_from_bytes(data)["Message-ID"]) for _, _, data in server.messages
    )


def assert_each_sent_once(db_url: str, server: FaultySmtpServer, orders: list[str]) -> None:
    rows = ledger(db_url)
    assert {no: rows[no].status for no in orders} == dict.fromkeys(orders, "sent")
    assert copies(server) == Counter({rows[no].message_id: 1 for no in orders})


def assert_waiting(db_url: str, orders: list[str], reply_start: str, attempts: int) -> None:
    rows = ledger(db_url)
    for order_no in orders:
        row = rows[order_no]
        assert row.status == "pending", (order_no, row.status, row.reason)
        assert (row.reason or "").startswith(f"waiting for the mail server: {reply_start}")
        assert row.attempts == attempts
        assert row.not_before is not None
        assert row.finished_at is None


def test_relay_down_for_a_whole_run_keeps_the_mails_waiting_then_sends_each_once(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = dpd_orders(db_url, 5)
    port = free_port()  # nothing listens there yet
    point_smtp_at(monkeypatch, port)

    assert deliver(db_url, "dpd") == {"waiting": 5}
    assert_waiting(db_url, orders, "connect failed", attempts=1)

    with FaultySmtpServer(port=port) as server:
        assert deliver(db_url, "dpd") == {"sent": 5}
        assert_each_sent_once(db_url, server, orders)
        assert deliver(db_url, "dpd") == {}


def test_wrong_password_keeps_the_mails_waiting_until_the_password_is_fixed(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = dpd_orders(db_url, 3)
    with FaultySmtpServer(auth=LOGIN) as server:
        point_smtp_at(monkeypatch, server.port, "versand:falsch@")
        assert deliver(db_url, "dpd") == {"waiting": 3}
        assert_waiting(db_url, orders, "535 ", attempts=1)
        assert server.messages == []

        point_smtp_at(monkeypatch, server.port, "versand:richtig-geheim@")
        assert deliver(db_url, "dpd") == {"sent": 3}
        assert_each_sent_once(db_url, server, orders)


def test_missing_login_keeps_the_mails_waiting_until_it_is_configured(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = dpd_orders(db_url, 3)
    with FaultySmtpServer(auth=LOGIN) as server:
        point_smtp_at(monkeypatch, server.port)
        assert deliver(db_url, "dpd") == {"waiting": 3}
        assert_waiting(db_url, orders, "530 ", attempts=1)

        point_smtp_at(monkeypatch, server.port, "versand:richtig-geheim@")
        assert deliver(db_url, "dpd") == {"sent": 3}
        assert_each_sent_once(db_url, server, orders)


def test_4xx_for_longer_than_a_run_retries_is_waited_out_in_the_next_run(
    db_url: str, server: FaultySmtpServer
) -> None:
    orders = dpd_orders(db_url, 3)
    server.fail_next(3 * 4, 451, stage="data")  # every try of the run (4 per mail)

    assert deliver(db_url, "dpd") == {"waiting": 3}
    assert_waiting(db_url, orders, "451 ", attempts=1)
    assert server.messages == []

    assert deliver(db_url, "dpd") == {"sent": 3}
    assert_each_sent_once(db_url, server, orders)


def test_550_for_one_recipient_stays_failed_while_the_waiting_others_go_later(
    db_url: str, server: FaultySmtpServer
) -> None:
    orders = dpd_orders(db_url, 3)
    refused = ledger_email(db_url, orders[1])
    server.reject_recipient(refused, 550, "5.1.1 mailbox unavailable")
    server.fail_next(2 * 4, 451, stage="data")  # the two others: every try of the run

    assert deliver(db_url, "dpd") == {"failed": 1, "waiting": 2}
    row = ledger(db_url)[orders[1]]
    assert (row.status, row.reason, row.not_before) == (
        "failed",
        "550 5.1.1 mailbox unavailable",
        None,
    )

    assert deliver(db_url, "dpd") == {"sent": 2}
    assert_each_sent_once(db_url, server, [orders[0], orders[2]])
    assert ledger(db_url)[orders[1]].status == "failed"
    assert deliver(db_url, "dpd") == {}


def test_a_waiting_mail_is_not_tried_before_its_not_before_time_and_the_wait_doubles(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIEFERN_SMTP_RETRY_WAIT_SECONDS", "600")
    point_smtp_at(monkeypatch, free_port())
    [order_no] = dpd_orders(db_url, 1)

    before = utcnow()
    assert deliver(db_url, "dpd") == {"waiting": 1}
    first = ledger(db_url)[order_no]
    assert first.not_before is not None
    assert timedelta(seconds=599) < first.not_before - before < timedelta(seconds=630)
    with session_scope(db_url) as session:
        assert orders_to_mail(session, carriers=["dpd"]) == []
        due = orders_to_mail(session, carriers=["dpd"], now=first.not_before)
        assert due == [first.order_id]

    with session_scope(db_url) as session:  # the wait has passed
        session.execute(update(ShippingMail).values(not_before=utcnow()))
    before = utcnow()
    assert deliver(db_url, "dpd") == {"waiting": 1}
    second = ledger(db_url)[order_no]
    assert second.attempts == 2
    assert second.not_before is not None
    assert timedelta(seconds=1199) < second.not_before - before < timedelta(seconds=1230)


def test_deliver_output_names_the_waiting_mails_the_reply_and_what_to_do(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.deliver_cmd import add_waiting, format_summary, has_failures
    from flows.deliver import _summarise

    monkeypatch.setenv("LIEFERN_SMTP_RETRY_WAIT_SECONDS", "600")
    orders = dpd_orders(db_url, 3)
    with FaultySmtpServer(auth=LOGIN) as server:
        point_smtp_at(monkeypatch, server.port, "versand:falsch-und-geheim@")
        with session_scope(db_url) as session:
            ids = orders_to_mail(session, carriers=["dpd"])
        report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier="dpd"))

    summary = add_waiting(_summarise([report], dry_run=False), db_url, ["dpd"])
    text = format_summary(summary)
    assert has_failures(summary)  # exit code 1: the mails did not go
    assert "dpd: 3 waiting" in text
    [line] = [line for line in text.splitlines() if "waiting for the mail server" in line]
    assert line.startswith("3 mails waiting for the mail server (535 ")
    assert "check the user and password in LIEFERN_SMTP_URL" in line
    assert "they go out with the first deliver run after 20" in line
    assert all(order_no in line for order_no in orders)
    assert "falsch-und-geheim" not in text

    # the next run, before their time: nothing to send, and it still says why
    later = add_waiting(DeliverResult(False, {}, {}, ()), db_url, ["dpd"])
    assert has_failures(later)
    assert format_summary(later).startswith("3 mails waiting for the mail server (535 ")


def test_retry_now_releases_waiting_mails_before_their_time_once_the_server_is_fixed(
    db_url: str, fast_smtp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.queries.mails import release_waiting_mails

    monkeypatch.setenv("LIEFERN_SMTP_RETRY_WAIT_SECONDS", "3600")
    orders = dpd_orders(db_url, 2)
    with FaultySmtpServer(auth=LOGIN) as server:
        point_smtp_at(monkeypatch, server.port, "versand:falsch@")
        assert deliver(db_url, "dpd") == {"waiting": 2}
        point_smtp_at(monkeypatch, server.port, "versand:richtig-geheim@")
        assert deliver(db_url, "dpd") == {}  # fixed, but their time has not come

        with session_scope(db_url) as session:
            assert release_waiting_mails(session, carriers=["ups"]) == 0
            assert release_waiting_mails(session, carriers=["dpd"]) == 2
        assert deliver(db_url, "dpd") == {"sent": 2}
        assert_each_sent_once(db_url, server, orders)
