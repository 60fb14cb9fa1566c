"""Late bounces: a delivery status notification (RFC 3464) for a shipping mail that the relay
took, read from .eml or mbox files by `liefern mails bounces`, marks that mail failed with its
bounce class, once, and holds the portal confirmation where the account waits for the mail."""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.accounts import Accounts
from db.models import Confirmation
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from tasks.confirmations import open_confirmations
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, deliver, ledger, set_order, shop_orders


def dsn(
    headers: bytes,
    *,
    recipient: str,
    status: str,
    diagnostic: str,
    action: str = "failed",
    boundary: str = "dsn-boundary-1",
) -> bytes:
    """A DSN as a relay writes it: explanation, delivery-status, the original's headers."""
    return (
        (
            "From: Mail Delivery System <MAILER-DAEMON@relay.example>\r\n"
            f"To: versand@beispiel-shop.de\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            f' boundary="{boundary}"\r\n'
            f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
            "I'm sorry to have to inform you that your message could not be delivered.\r\n"
            f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; relay.example\r\nArrival-Date: Sat, 5 Dec 2026 08:00:00 +0100\r\n"
            f"\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
            f"Remote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; {diagnostic}\r\n"
            f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        ).encode()
        + headers
        + f"\r\n--{boundary}--\r\n".encode()
    )


def sent_headers(smtp: FaultySmtpServer) -> list[tuple[str, bytes]]:
    """(recipient, header block) of each mail the relay took."""
    return [(rcpt[0], data.split(b"\r\n\r\n", 1)[0] + b"\r\n") for _, rcpt, data in smtp.messages]


def bounces(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(app, ["mails", "bounces", *args, "--json"])
    return result.exit_code, json.loads(result.output)


def test_a_late_bounce_marks_the_sent_mail_failed_once(
    db_url: str, smtp: FaultySmtpServer, tmp_path: Path
) -> None:
    orders = shop_orders(db_url, 2)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "dhl", numbers("dhl", 2)[i])
    assert deliver(db_url, "dhl") == {"sent": 2}
    recipient, headers = sent_headers(smtp)[0]
    bounced = next(no for no, row in ledger(db_url).items() if row.recipient == recipient)
    path = tmp_path / "bounce.eml"
    path.write_bytes(
        dsn(headers, recipient=recipient, status="5.1.1", diagnostic="550 5.1.1 User unknown")
    )
    code, first = bounces(str(path))
    assert code == 0 and first["counts"] == {"bounced": 1}
    rows = ledger(db_url)
    row = rows[bounced]
    assert (row.status, row.bounce_class) == ("failed", "unknown_recipient")
    assert row.reason == "bounced: 550 5.1.1 User unknown" and row.bounced_at is not None
    assert {r.status for no, r in rows.items() if no != bounced} == {"sent"}

    code, again = bounces(str(path))
    assert code == 0 and again["counts"] == {"already_applied": 1}
    assert ledger(db_url)[bounced].bounced_at == row.bounced_at


def test_an_mbox_of_bounces_applies_failures_only(
    db_url: str, smtp: FaultySmtpServer, tmp_path: Path
) -> None:
    orders = shop_orders(db_url, 3)
    for i, order_no in enumerate(orders):
        add_parcel(db_url, order_no, "dpd", numbers("dpd", 3)[i])
    assert deliver(db_url, "dpd") == {"sent": 3}
    (r1, h1), (r2, h2), _ = sent_headers(smtp)
    refusal = "550 5.7.515 Access denied, sending domain does not meet the authentication level"
    auth = dsn(h1, recipient=r1, status="5.7.515", diagnostic=refusal)
    delayed = dsn(h2, recipient=r2, status="4.4.7", diagnostic="451 try later", action="delayed")
    reply = b"From: kunde@example.org\r\nSubject: Danke\r\n\r\nAngekommen, danke!\r\n"
    mbox = b"".join(
        b"From MAILER-DAEMON Sat Dec  5 08:00:00 2026\n" + m.replace(b"\r\n", b"\n") + b"\n"
        for m in (auth, delayed, reply)
    )
    path = tmp_path / "bounces.mbox"
    path.write_bytes(mbox)
    code, result = bounces(str(path))
    assert code == 0
    assert result["counts"] == {"bounced": 1, "not_final": 1}
    assert len(result["skipped"]) == 1 and "not a delivery status" in result["skipped"][0]  # type: ignore[index]
    classes = {r.recipient: (r.status, r.bounce_class) for r in ledger(db_url).values()}
    assert classes[r1] == ("failed", "auth")
    assert classes[r2] == ("sent", None)


def test_a_bounce_for_a_mail_not_ours_changes_nothing(
    db_url: str, smtp: FaultySmtpServer, tmp_path: Path
) -> None:
    [order_no] = shop_orders(db_url, 1)
    add_parcel(db_url, order_no, "ups", numbers("ups", 1)[0])
    assert deliver(db_url, "ups") == {"sent": 1}
    path = tmp_path / "other.eml"
    headers = b"Message-ID: <newsletter-4711@beispiel-shop.de>\r\nSubject: Angebote\r\n"
    path.write_bytes(dsn(headers, recipient="x@example.org", status="5.1.1", diagnostic="550"))
    code, result = bounces(str(path))
    assert code == 0 and result["counts"] == {"not_ours": 1}
    assert ledger(db_url)[order_no].status == "sent"


def test_a_bounced_mail_holds_the_portal_confirmation(
    db_url: str, smtp: FaultySmtpServer, tmp_path: Path
) -> None:
    [order_no] = shop_orders(db_url, 1)
    set_order(db_url, order_no, portal="ebay", portal_account="ebay-de")
    add_parcel(db_url, order_no, "hermes", numbers("hermes", 1)[0])
    assert deliver(db_url, "hermes") == {"sent": 1}
    recipient, headers = sent_headers(smtp)[0]
    path = tmp_path / "bounce.eml"
    path.write_bytes(dsn(headers, recipient=recipient, status="5.2.2", diagnostic="552 5.2.2 full"))
    assert bounces(str(path))[0] == 0
    order_id = ledger(db_url)[order_no].order_id
    open_confirmations(db_url, order_ids=[order_id], accounts=Accounts({}, {}), run_id=None)
    with session_scope(db_url) as session:
        rows = session.scalars(select(Confirmation).where(Confirmation.order_id == order_id)).all()
        assert [(c.portal, c.status, c.error_code) for c in rows] == [
            ("ebay", "held", "mail_failed")
        ]
        assert "bounced: 552 5.2.2 full" in (rows[0].error_text or "")


def test_a_dsn_parsed_from_a_file_names_the_original_message_id() -> None:
    from core.dsn import read_dsn

    headers = b"Message-ID: <100001.shipped.abc@beispiel-shop.de>\r\n"
    message = email.message_from_bytes(
        dsn(headers, recipient="k@example.org", status="5.7.26", diagnostic="550-5.7.26 DMARC"),
        policy=default,
    )
    [bounce] = list(read_dsn(message, "x.eml"))
    assert not isinstance(bounce, str)
    assert bounce.message_id == "<100001.shipped.abc@beispiel-shop.de>"
    assert (bounce.recipient, bounce.status, bounce.bounce_class) == (
        "k@example.org",
        "5.7.26",
        "auth",
    )


@pytest.mark.parametrize("content", [b"", b"not a mail at all"])
def test_a_file_that_is_no_dsn_is_said_and_skipped(
    tmp_path: Path, content: bytes, settings: object
) -> None:
    path = tmp_path / "x.eml"
    path.write_bytes(content)
    code, result = bounces(str(path))
    assert code == 0 and result["counts"] == {} and len(result["skipped"]) == 1  # type: ignore[arg-type]
