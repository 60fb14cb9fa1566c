"""The deliver run's mails against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
import os
import time
from collections import Counter
from datetime import date
from email.message import Message
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings
from core.tracking_rows import ParcelRow
from db.models import Order, ShippingMail
from db.queries.mails import orders_to_mail
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from tasks.mails import send_shipping_mails
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders


def add_parcel(db_url: str, order_no: str, carrier: str, number: str) -> None:
    with session_scope(db_url) as session:
        outcome = attach_parcels(
            session,
            rows=[
                ParcelRow(
                    1,
                    order_no,
                    carrier,
                    normalise_tracking_number(carrier, number),
                    date(2026, 11, 26),
                )
            ],
            source="test",
        )
    assert outcome.imported == 1, outcome.problems


def set_order(db_url: str, order_no: str, **values: object) -> None:
    with session_scope(db_url) as session:
        order = session.scalars(select(Order).where(Order.order_no == order_no)).one()
        for key, value in values.items():
            setattr(order, key, value)


def deliver(db_url: str, carrier: str, **kw: object) -> dict[str, int]:
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=[carrier])
    report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier=carrier, **kw))  # type: ignore[arg-type]
    return dict(report.counts)


def ledger(db_url: str) -> dict[str, ShippingMail]:
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Order.order_no, ShippingMail).join(
                ShippingMail, ShippingMail.order_id == Order.id
            )
        ).all()
    return {no: row for no, row in rows}


def parsed(server: FaultySmtpServer) -> list[Message]:
    return [email.message_from_bytes(data, policy=default) for _, _, data in server.messages]


def bodies(message: Message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


def shop_orders(db_url: str, count: int) -> list[str]:
    """Orders of the own shop (mails are sent by default there)."""
    samples = seed_orders(db_url, count)
    for s in samples:
        set_order(db_url, s.order["order_no"], portal="shop", portal_account="webshop")
    return [s.order["order_no"] for s in samples]


def test_german_mail_carries_every_parcel_link_and_arrival_link(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    [order_no] = shop_orders(db_url, 1)
    set_order(db_url, order_no, language="de", buyer_name="Jürgen Größ")
    (dhl,) = numbers("dhl", 1)
    (ups,) = numbers("ups", 1)
    add_parcel(db_url, order_no, "dhl", dhl)
    add_parcel(db_url, order_no, "ups", ups)
    assert deliver(db_url, "dhl") == {"sent": 1}
    [message] = parsed(smtp)
    assert message["Subject"] == f"Ihre Bestellung {order_no} ist unterwegs"
    assert str(message["To"]).startswith("Jürgen Größ <")
    text, html = bodies(message)
    assert "Hallo Jürgen Größ" in text
    assert dhl[2:] in text and ups in text
    assert f"piececode={dhl[2:]}" in text and "tracknum=" + ups in text
    assert "/arrived/" in text and "/arrived/" in html
    assert message["Message-ID"] == ledger(db_url)[order_no].message_id
    # the UPS run later finds nothing: one mail per order, all parcels in it
    assert deliver(db_url, "ups") == {}
    assert len(smtp.messages) == 1


def test_english_mail_for_buyers_outside_german_speaking_countries(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    [order_no] = shop_orders(db_url, 1)
    set_order(db_url, order_no, language="en", country="NL")
    add_parcel(db_url, order_no, "dpd", numbers("dpd", 1)[0])
    deliver(db_url, "dpd")
    [message] = parsed(smtp)
    assert message["Subject"] == f"Your order {order_no} is on its way"
    assert "Hello" in bodies(message)[0]


def test_a_run_for_one_carrier_leaves_other_carriers_orders_untouched(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    a, b = shop_orders(db_url, 2)
    add_parcel(db_url, a, "dpd", numbers("dpd", 1)[0])
    add_parcel(db_url, b, "ups", numbers("ups", 1)[0])
    assert deliver(db_url, "dpd") == {"sent": 1}
    rows = ledger(db_url)
    assert set(rows) == {a}
    with session_scope(db_url) as session:
        status = dict(session.execute(select(Order.order_no, Order.status)).tuples().all())
    assert status == {a: "shipped", b: "open"}


def test_amazon_orders_are_suppressed_by_default_but_still_shipped(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    [order_no] = shop_orders(db_url, 1)
    set_order(db_url, order_no, portal="amazon", portal_account="amazon-de")
    add_parcel(db_url, order_no, "dhl", numbers("dhl", 1)[0])
    assert deliver(db_url, "dhl") == {"suppressed": 1}
    row = ledger(db_url)[order_no]
    assert (row.status, row.reason) == (
        "suppressed",
        "Amazon sends the buyer its own shipping notification",
    )
    assert smtp.messages == []


def test_account_option_switches_mail_policy(
    db_url: str, smtp: FaultySmtpServer, settings: Settings
) -> None:
    a, b = shop_orders(db_url, 2)
    set_order(db_url, a, portal="amazon", portal_account="amazon-own-mails")
    set_order(db_url, b, portal="ebay", portal_account="ebay-quiet")
    settings.accounts_path.write_text(
        '[accounts.amazon-own-mails]\nportal = "amazon"\nmail = "send"\n'
        '[accounts.ebay-quiet]\nportal = "ebay"\nmail = "suppress"\n'
        'suppress_reason = "buyer mails go through eBay messages"\n'
    )
    add_parcel(db_url, a, "gls", numbers("gls", 1)[0])
    add_parcel(db_url, b, "gls", numbers("gls", 1, seed=8)[0])
    assert deliver(db_url, "gls") == {"sent": 1, "suppressed": 1}
    assert ledger(db_url)[b].reason == "buyer mails go through eBay messages"


def test_buyer_name_is_escaped_in_html_and_cannot_inject_headers(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    [order_no] = shop_orders(db_url, 1)
    set_order(db_url, order_no, buyer_name="<script>alert(1)</script>\r\nBcc: evil@example.com")
    add_parcel(db_url, order_no, "dhl", numbers("dhl", 1)[0])
    deliver(db_url, "dhl")
    [(_, recipients, data)] = smtp.messages
    message = email.message_from_bytes(data, policy=default)
    assert message["Bcc"] is None
    assert len(recipients) == 1
    _, html = bodies(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_permanent_550_fails_that_mail_and_the_batch_goes_on(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    orders = shop_orders(db_url, 3)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "dpd", numbers("dpd", 3)[i])
    bad = ledger_email(db_url, orders[1])
    smtp.reject_recipient(bad, 550, "5.1.1 mailbox unavailable")
    assert deliver(db_url, "dpd") == {"sent": 2, "failed": 1}
    row = ledger(db_url)[orders[1]]
    assert row.status == "failed" and "550" in (row.reason or "")
    assert deliver(db_url, "dpd") == {}  # failed is final: no second try in the next run
    assert len(smtp.messages) == 2


def ledger_email(db_url: str, order_no: str) -> str:
    with session_scope(db_url) as session:
        return session.scalars(select(Order.buyer_email).where(Order.order_no == order_no)).one()


@pytest.mark.parametrize("code", [421, 451])
def test_temporary_failures_are_retried_and_sent_once(
    db_url: str, smtp: FaultySmtpServer, code: int
) -> None:
    orders = shop_orders(db_url, 4)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "hermes", numbers("hermes", 4)[i])
    smtp.fail_next(2, code)
    assert deliver(db_url, "hermes") == {"sent": 4}
    ids = Counter(m["Message-ID"] for m in parsed(smtp))
    assert len(ids) == 4


def test_disconnect_after_data_resends_with_the_same_message_id(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    orders = shop_orders(db_url, 3)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "ups", numbers("ups", 3)[i])
    smtp.drop_next(1, stage="data")
    assert deliver(db_url, "ups") == {"sent": 3}
    ids = Counter(m["Message-ID"] for m in parsed(smtp))
    assert sorted(ids.values()) == [1, 1, 2]  # the dropped one arrived twice, same Message-ID
    assert {r.status for r in ledger(db_url).values()} == {"sent"}


def test_dry_run_renders_and_sends_nothing(db_url: str, smtp: FaultySmtpServer) -> None:
    [order_no] = shop_orders(db_url, 1)
    add_parcel(db_url, order_no, "dhl", numbers("dhl", 1)[0])
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=["dhl"])
    report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier="dhl", dry_run=True))
    assert report.counts == {"would_send": 1}
    [preview] = report.preview
    assert preview.action == "send" and preview.subject and preview.subject.endswith("unterwegs")
    assert smtp.messages == [] and ledger(db_url) == {}
    with session_scope(db_url) as session:
        assert session.scalars(select(Order.status)).one() == "open"


def test_operator_template_overrides_per_portal_without_touching_defaults(
    db_url: str, smtp: FaultySmtpServer, settings: Settings, tmp_path: Path
) -> None:
    a, b = shop_orders(db_url, 2)
    set_order(db_url, a, portal="ebay", portal_account="ebay-main", language="de")
    set_order(db_url, b, language="de")
    folder = settings.home / "templates" / "mails"
    folder.mkdir(parents=True)
    (folder / "shipped.ebay.de.txt.j2").write_text(
        '{% set subject = "eBay-Bestellung " ~ order_no ~ " versendet" %}eBay: {{ order_no }}\n'
    )
    add_parcel(db_url, a, "dhl", numbers("dhl", 2)[0])
    add_parcel(db_url, b, "dhl", numbers("dhl", 2)[1])
    deliver(db_url, "dhl")
    subjects = sorted(str(m["Subject"]) for m in parsed(smtp))
    assert subjects == sorted(
        [f"eBay-Bestellung {a} versendet", f"Ihre Bestellung {b} ist unterwegs"]
    )


def test_a_template_edited_between_runs_is_used_by_the_next_run(
    db_url: str, smtp: FaultySmtpServer, settings: Settings
) -> None:
    a, b = shop_orders(db_url, 2)
    for order_no in (a, b):
        set_order(db_url, order_no, portal="ebay", portal_account="ebay-main", language="de")
    template = settings.home / "templates" / "mails" / "shipped.ebay.de.txt.j2"
    template.parent.mkdir(parents=True)
    template.write_text('{% set subject = "erste Fassung" %}eins\n')
    add_parcel(db_url, a, "dhl", numbers("dhl", 2)[0])
    deliver(db_url, "dhl")
    template.write_text('{% set subject = "zweite Fassung" %}zwei\n')
    os.utime(template, (time.time() + 5, time.time() + 5))  # a later modification time
    add_parcel(db_url, b, "dhl", numbers("dhl", 2)[1])
    deliver(db_url, "dhl")
    assert [str(m["Subject"]) for m in parsed(smtp)] == ["erste Fassung", "zweite Fassung"]
