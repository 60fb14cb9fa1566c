"""`liefern tracking correct` / `remove` after the number went out (tasks/tracking_fix.py).

Real parts: the mails go to an aiosmtpd server on loopback, the portals are the eBay and
Kaufland simulators over HTTP; every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
from email.policy import default

import pytest
from sqlalchemy import select, update

from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings
from db.models import Confirmation, Order, Parcel, ShippingMail
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tests.helpers import numbers
from tests.test_confirmation_gate import configure, confirmation_of, ebay_holds, shipped_orders
from tests.test_order_actions import cli, ebay_order, timeline

__all__ = ["ebay_order"]  # fixtures used below

NEW = normalise_tracking_number("dhl", numbers("dhl", 1, seed=77)[0])


def parcel_numbers(db_url: str, order: Order) -> list[str | None]:
    with session_scope(db_url) as session:
        return list(
            session.scalars(select(Parcel.tracking_number).where(Parcel.order_id == order.id))
        )


def correction_mails(smtp: FaultySmtpServer) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(data, policy=default) for _, _, data in smtp.messages]
    return [m for m in found if "Korrektur" in m["Subject"] or "Correction" in m["Subject"]]


def test_correct_replaces_the_number_tells_ebay_and_mails_the_buyer(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None

    code, answer = cli("tracking", "correct", ebay_order.order_no, old, NEW, "--by", "eva")

    assert code == 0, answer
    assert parcel_numbers(db_url, ebay_order) == [NEW]
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert NEW in ebay_holds(portals, ebay_order)  # eBay cannot drop the old fulfillment
    [mail] = correction_mails(smtp)
    body = mail.get_body(("plain",))
    assert body is not None and NEW in body.get_content() and old in body.get_content()
    shown = timeline(ebay_order)
    assert any(f"eva: parcel dhl {old} corrected to dhl {NEW}" in w for w in shown)
    assert any(w.startswith("correction mail sent to") for w in shown)


@pytest.mark.slow
def test_correct_twice_changes_and_mails_once(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None
    cli("tracking", "correct", ebay_order.order_no, old, NEW)

    code, answer = cli("tracking", "correct", ebay_order.order_no, old, NEW)

    assert code == 0
    assert [o["status"] for o in answer["orders"]] == ["already_corrected"]
    assert len(correction_mails(smtp)) == 1
    assert ebay_holds(portals, ebay_order).count(NEW) == 1


def test_correct_before_the_mail_went_sends_no_correction_mail(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None

    code, answer = cli("tracking", "correct", ebay_order.order_no, old, NEW)

    assert code == 0, answer
    assert answer["orders"][-1]["status"] == "no_correction_mail"
    assert smtp.messages == []
    with session_scope(db_url) as session:
        assert session.scalars(select(ShippingMail)).all() == []


def test_correct_on_kaufland_names_the_seller_centre_and_exits_1(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "kaufland", 1)
    configure(portals, settings, monkeypatch)
    cli("deliver", "--order", order.order_no)
    assert confirmation_of(db_url, order).status == "confirmed"
    [old] = parcel_numbers(db_url, order)
    assert old is not None

    code, answer = cli("tracking", "correct", order.order_no, old, NEW)

    assert code == 1
    by_hand = [o["detail"] for o in answer["orders"] if o["status"] == "by_hand"]
    assert by_hand and "not possible on this portal" in by_hand[0]
    assert "Kaufland's seller centre" in by_hand[0]
    assert any("not possible on this portal" in w for w in timeline(order))
    assert correction_mails(smtp) == []  # Kaufland mails the buyer itself (default policy)


def test_correct_of_a_number_the_order_does_not_have_exits_1_naming_its_parcels(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    [old] = parcel_numbers(db_url, ebay_order)

    code, answer = cli("tracking", "correct", ebay_order.order_no, "00340434161111111111", NEW)

    assert code == 1
    assert f"its parcels: dhl {old}" in answer["orders"][0]["detail"]


def test_correct_to_an_invalid_number_is_bad_usage(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None

    code, answer = cli("tracking", "correct", ebay_order.order_no, old, "12")

    assert code == 2
    assert "NEW '12'" in answer["error"]
    assert parcel_numbers(db_url, ebay_order) == [old]


def test_remove_takes_off_a_parcel_no_portal_was_told_of(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None

    code, answer = cli("tracking", "remove", ebay_order.order_no, old)
    again, _ = cli("tracking", "remove", ebay_order.order_no, old)

    assert (code, again) == (0, 0), answer
    assert parcel_numbers(db_url, ebay_order) == []


def test_remove_refuses_a_parcel_the_portal_has(
    db_url: str, smtp: FaultySmtpServer, portals: PortalStack, ebay_order: Order
) -> None:
    cli("deliver", "--order", ebay_order.order_no)
    [old] = parcel_numbers(db_url, ebay_order)
    assert old is not None

    code, answer = cli("tracking", "remove", ebay_order.order_no, old)

    assert code == 1
    assert "ebay has the number" in answer["orders"][0]["detail"]
    assert parcel_numbers(db_url, ebay_order) == [old]


def amazon_packages(stack: PortalStack, order: Order) -> list[tuple[str, str | None]]:
    """(tracking number, packageReferenceId) of each package Amazon holds for the order."""
    from simulators.amazon import AmazonSimulator

    sim: AmazonSimulator = stack.apps["amazon"].state.sim
    return [(f.tracking_number, f.package) for f in sim.fulfillments.get(order.portal_order_id, [])]


@pytest.mark.slow
def test_correct_on_amazon_confirmed_by_confirm_shipment_edits_that_package(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "amazon", 1)
    configure(portals, settings, monkeypatch, amazon='mode = "confirm_shipment"')
    cli("deliver", "--order", order.order_no)
    row = confirmation_of(db_url, order)
    assert row.status == "confirmed"
    [old] = parcel_numbers(db_url, order)
    assert old is not None and amazon_packages(portals, order) == [(old, str(row.id))]

    code, answer = cli("tracking", "correct", order.order_no, old, NEW, "--by", "eva")

    assert code == 0, answer
    assert amazon_packages(portals, order) == [(NEW, str(row.id))]  # edited, not a second one
    after = confirmation_of(db_url, order)
    assert (after.id, after.status, after.attempts) == (row.id, "confirmed", row.attempts + 1)
    assert any("packageReferenceId" in w for w in timeline(order))
    code, again = cli("tracking", "correct", order.order_no, old, NEW)
    assert code == 0 and [o["status"] for o in again["orders"]] == ["already_corrected"]
    assert amazon_packages(portals, order) == [(NEW, str(row.id))]


@pytest.mark.slow
def test_correct_on_amazon_confirmed_by_feed_names_seller_central_and_exits_1(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_confirmations import poll_until_done

    [order] = shipped_orders(db_url, "amazon", 1)
    configure(portals, settings, monkeypatch)
    cli("deliver", "--order", order.order_no)
    poll_until_done(db_url)
    assert confirmation_of(db_url, order).status == "confirmed"
    [old] = parcel_numbers(db_url, order)
    assert old is not None

    code, answer = cli("tracking", "correct", order.order_no, old, NEW)

    assert code == 1
    [by_hand] = [o["detail"] for o in answer["orders"] if o["status"] == "by_hand"]
    assert "not possible on this portal" in by_hand and "Seller Central" in by_hand
    assert "Edit shipment" in by_hand
    assert [n for n, _ in amazon_packages(portals, order)] == [old]  # Amazon was not told
    assert confirmation_of(db_url, order).status == "confirmed"


@pytest.mark.slow
def test_amazon_refuses_a_further_package_by_feed_with_18021(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why a feed cannot carry the correction: the feed message is a second package."""
    from tests.test_confirmations import poll_until_done

    [order] = shipped_orders(db_url, "amazon", 1)
    configure(portals, settings, monkeypatch)
    cli("deliver", "--order", order.order_no)
    poll_until_done(db_url)
    [old] = parcel_numbers(db_url, order)
    with session_scope(db_url) as session:
        session.execute(
            update(Parcel).where(Parcel.order_id == order.id).values(tracking_number=NEW)
        )
        session.execute(
            update(Confirmation)
            .where(Confirmation.order_id == order.id)
            .values(status="pending", finished_at=None)
        )
    cli("portals", "poll")  # resubmits the pending row in a feed
    poll_until_done(db_url)

    row = confirmation_of(db_url, order)
    assert (row.status, row.error_code) == ("rejected", "18021")
    assert [n for n, _ in amazon_packages(portals, order)] == [old]
