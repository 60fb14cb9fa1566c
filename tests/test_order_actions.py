"""The operator's actions on single orders (tasks/actions.py, cli/actions_cmd.py).

Real parts: the mails go to an aiosmtpd server on loopback, the portals are the eBay
simulator over HTTP; every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import json
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from db.models import Confirmation, Order, OrderAction, ShippingMail
from db.session import session_scope
from simulators import ebay
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tests.test_confirmation_gate import (
    bounce,
    configure,
    confirmation_of,
    ebay_holds,
    shipped_orders,
)

runner = CliRunner()


@pytest.fixture
def ebay_order(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> Order:
    """One eBay order with a DHL parcel, no mail yet; accounts.toml of the simulators."""
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    return order


def cli(*args: str) -> tuple[int, Any]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def message_ids(smtp: FaultySmtpServer) -> list[str]:
    return [str(email.message_from_bytes(data)["Message-ID"]) for _, _, data in smtp.messages]


def mail_of(db_url: str, order: Order) -> ShippingMail:
    with session_scope(db_url) as session:
        row = session.scalars(select(ShippingMail).where(ShippingMail.order_id == order.id)).one()
        session.expunge(row)
    return row


def actions_of(db_url: str, order: Order) -> list[tuple[str, str, str]]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
        return [(a.action, a.by, a.detail) for a in rows]


def timeline(order: Order) -> list[str]:
    code, shown = cli("orders", "show", order.order_no)
    assert code == 0
    return [entry["what"] for entry in shown["timeline"]]


# --- 1. liefern deliver --order ----------------------------------------------------------------


def test_deliver_order_sends_its_mail_and_confirms_its_portal(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    code, answer = cli("deliver", "--order", ebay_order.order_no, "--by", "anna")

    assert code == 0, answer
    assert [o["status"] for o in answer["orders"]] == ["sent"]
    assert len(smtp.messages) == 1
    assert mail_of(db_url, ebay_order).status == "sent"
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert len(ebay_holds(portals, ebay_order)) == 1
    assert any(w.startswith("anna: shipping mail sent to") for w in timeline(ebay_order))


def test_deliver_order_twice_sends_one_mail_and_says_so(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    code, answer = cli("deliver", "--order", ebay_order.order_no)

    assert code == 0
    [again] = answer["orders"]
    assert again["status"] == "already_sent"
    assert "--resend" in again["detail"]
    assert len(smtp.messages) == 1
    assert len(ebay_holds(portals, ebay_order)) == 1


def test_deliver_order_with_resend_sends_a_second_mail_with_its_own_message_id(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    code, answer = cli("deliver", "--order", ebay_order.order_no, "--resend", "--by", "ben")

    assert code == 0, answer
    first, second = message_ids(smtp)
    assert first != second
    assert mail_of(db_url, ebay_order).message_id == second
    assert [a[0] for a in actions_of(db_url, ebay_order)] == ["deliver", "mail_resend", "deliver"]
    reopened = actions_of(db_url, ebay_order)[1][2]
    assert f"was sent (Message-ID {first})" in reopened


def test_deliver_unknown_order_exits_1_naming_it_and_delivers_the_others(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    code, answer = cli("deliver", "--order", "AU999999", "--order", ebay_order.order_no)

    assert code == 1
    by_no = {o["order_no"]: o for o in answer["orders"]}
    assert by_no["AU999999"]["status"] == "unknown"
    assert "no such order" in by_no["AU999999"]["detail"]
    assert by_no[ebay_order.order_no]["status"] == "sent"
    assert len(smtp.messages) == 1


def test_deliver_order_with_carrier_is_bad_usage(ebay_order: Order) -> None:
    code, answer = cli("deliver", "--order", ebay_order.order_no, "--carrier", "dhl")

    assert code == 2
    assert "--order goes alone" in answer["error"]


# --- 2. liefern mails resend -------------------------------------------------------------------


def test_resend_of_failed_mails_sends_them_and_releases_the_held_confirmation(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    bounce(smtp, ebay_order)
    code, _ = cli("deliver", "--order", ebay_order.order_no)
    assert code == 1
    assert confirmation_of(db_url, ebay_order).status == "held"
    failed_id = mail_of(db_url, ebay_order).message_id
    smtp.clear_faults()  # the buyer's address was fixed

    code, answer = cli("mails", "resend", "--failed", "--by", "cara")

    assert code == 0, answer
    assert [o["status"] for o in answer["orders"]] == ["sent"]
    assert message_ids(smtp) == [failed_id]  # never delivered before: the same Message-ID
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert len(ebay_holds(portals, ebay_order)) == 1
    assert any(
        "cara: shipping mail reopened for a resend, was failed" in w for w in timeline(ebay_order)
    )


def test_resend_twice_sends_once(db_url: str, smtp: FaultySmtpServer, ebay_order: Order) -> None:
    bounce(smtp, ebay_order)
    cli("deliver", "--order", ebay_order.order_no)
    smtp.clear_faults()

    cli("mails", "resend", ebay_order.order_no)
    code, answer = cli("mails", "resend", ebay_order.order_no)

    assert code == 0
    assert answer["orders"][0]["status"] == "already_sent"
    assert "--force" in answer["orders"][0]["detail"]
    assert len(smtp.messages) == 1


def test_resend_of_a_sent_mail_with_force_is_a_new_mail(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)

    code, answer = cli("mails", "resend", ebay_order.order_no, "--force")

    assert code == 0, answer
    assert len(set(message_ids(smtp))) == 2


def test_resend_without_orders_or_failed_is_bad_usage(ebay_order: Order) -> None:
    code, answer = cli("mails", "resend")

    assert code == 2
    assert "--failed" in answer["error"]


def test_resend_of_an_order_never_mailed_points_to_deliver(
    smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    code, answer = cli("mails", "resend", ebay_order.order_no)

    assert code == 1
    assert f"liefern deliver --order {ebay_order.order_no}" in answer["orders"][0]["detail"]
    assert smtp.messages == []


# --- 3. liefern portals retry ------------------------------------------------------------------


def fail_confirmation(db_url: str, order: Order, status: str = "failed") -> None:
    """The eBay row as the portal's outage left it: retries used up, eBay never told."""
    with session_scope(db_url) as session:
        session.execute(
            update(Confirmation)
            .where(Confirmation.order_id == order.id)
            .values(status=status, error_code="30500", error_text="eBay was down", attempts=5)
        )


def test_retry_of_a_failed_confirmation_tells_the_portal(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    portal_before = len(ebay_holds(portals, ebay_order))
    fail_confirmation(db_url, ebay_order)

    code, answer = cli("portals", "retry", ebay_order.order_no, "--by", "dora")

    assert code == 0, answer
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert len(ebay_holds(portals, ebay_order)) == portal_before  # read back, not twice
    assert any(
        "dora: ebay confirmation back to pending, was failed" in w for w in timeline(ebay_order)
    )


def test_retry_leaves_rejected_confirmations_alone_without_the_flag(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    fail_confirmation(db_url, ebay_order, "rejected")

    code, answer = cli("portals", "retry", "--failed")

    assert code == 0
    assert answer["orders"] == []
    assert confirmation_of(db_url, ebay_order).status == "rejected"


def test_retry_later_only_reopens_the_row(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    fail_confirmation(db_url, ebay_order)

    code, _ = cli("portals", "retry", "--failed", "--later")

    assert code == 0
    row = confirmation_of(db_url, ebay_order)
    assert row.status == "pending"
    assert "retry requested by" in (row.error_text or "")


def test_retry_of_an_unknown_order_exits_1_naming_it(ebay_order: Order) -> None:
    code, answer = cli("portals", "retry", "AU999999")

    assert code == 1
    assert answer["orders"][0]["order_no"] == "AU999999"


def test_retry_refused_again_exits_1_with_the_portals_state(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    sim = ebay.simulator(portals.apps["ebay"])
    sim.fail_next(1, 400, method="POST")
    cli("deliver", "--order", ebay_order.order_no)
    assert confirmation_of(db_url, ebay_order).status == "rejected"
    sim.fail_next(1, 400, method="POST")  # the cause was not fixed

    code, answer = cli("portals", "retry", ebay_order.order_no, "--rejected")

    assert code == 1
    [outcome] = answer["orders"]
    assert (outcome["status"], outcome["detail"]) == ("failed", "retried, still ebay rejected")
    assert ebay_holds(portals, ebay_order) == []
