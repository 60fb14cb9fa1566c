"""Bounce classes: what a refusal says about a shipping mail (core/bounces.py), read from the
server's reply and stored on the mail's ledger row, against a real SMTP server."""

from __future__ import annotations

import pytest

from core.bounces import classify
from simulators.smtp import FaultySmtpServer
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, deliver, ledger, ledger_email, shop_orders


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "550 5.7.26 Unauthenticated email from beispiel-shop.de is not accepted due to "
            "domain's DMARC policy",
            "auth",
        ),
        (
            "550 5.7.1 This message does not have authentication information or fails to pass "
            "authentication checks",
            "auth",
        ),
        (
            "550 5.7.515 Access denied, sending domain beispiel-shop.de does not meet the "
            "required authentication level",
            "auth",
        ),
        ("421 4.7.26 Unauthenticated email is not accepted, try again", "auth"),
        ("550 5.1.1 The email account that you tried to reach does not exist", "unknown_recipient"),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", "unknown_recipient"),
        ("550 Requested action not taken: user unknown", "unknown_recipient"),
        ("smtp; 550 5.1.2 bad destination system", "unknown_recipient"),
        ("552 5.2.2 The recipient's mailbox is full", "mailbox_full"),
        ("452 4.2.2 Mailbox over quota", "mailbox_full"),
        ("451 4.3.0 Local error in processing, try again later", "temporary"),
        ("421 Service not available", "temporary"),
        ("554 5.7.1 Message rejected as spam by content filter", "policy"),
        ("550 5.7.350 Remote server returned message detected as spam", "policy"),
        ("552 5.3.4 Message too big", "other"),
        ("250 2.0.0 OK", None),
        ("connection refused by 127.0.0.1:25", None),
        ("", None),
    ],
)
def test_a_reply_is_classified_by_its_status_code_and_words(
    reply: str, expected: str | None
) -> None:
    assert classify(reply) == expected


def test_an_ip_address_in_the_reply_is_not_read_as_a_status_code() -> None:
    assert classify("550 sender 10.4.2.2 listed at a blocklist") == "other"


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (550, "5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", "auth"),
        (550, "5.7.515 Access denied, sending domain does not meet the required authentication "
              "level", "auth"),
        (550, "5.1.1 user unknown", "unknown_recipient"),
        (552, "5.2.2 mailbox full", "mailbox_full"),
        (554, "5.7.1 Message rejected as spam", "policy"),
    ],
)  # fmt: skip
def test_a_refused_mail_keeps_its_bounce_class_on_the_ledger(
    db_url: str, smtp: FaultySmtpServer, code: int, text: str, expected: str
) -> None:
    orders = shop_orders(db_url, 2)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "dpd", numbers("dpd", 2)[i])
    smtp.reject_recipient(ledger_email(db_url, orders[0]), code, text)
    assert deliver(db_url, "dpd") == {"sent": 1, "failed": 1}
    rows = ledger(db_url)
    assert rows[orders[0]].status == "failed"
    assert rows[orders[0]].bounce_class == expected
    assert rows[orders[1]].bounce_class is None  # sent


def test_a_mail_waiting_after_4xx_is_classed_temporary(
    db_url: str, smtp: FaultySmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order_no] = shop_orders(db_url, 1)
    add_parcel(db_url, order_no, "dpd", numbers("dpd", 1)[0])
    smtp.fail_randomly(1.0, 451, stage="rcpt")
    assert deliver(db_url, "dpd") == {"waiting": 1}
    row = ledger(db_url)[order_no]
    assert row.status == "pending" and row.bounce_class == "temporary"
