"""Every button of the operator's workbench in a real browser (Debian's Chromium): release a
held confirmation, resend a mail (one order, and all failed mails), correct a tracking number,
remove a parcel, mark arrived, the list's bulk actions on a selection, and a double click.

Each test checks what left the building: the mails the SMTP server (aiosmtpd) took and the
calls the eBay simulator got over HTTP; every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select, update

from core.carriers.numbers import normalise_tracking_number
from core.settings import get_settings
from db.models import Confirmation, ConfirmationRelease, Order
from db.session import session_scope
from simulators import ebay
from simulators.server import serve_in_thread
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tasks.actions import deliver_orders
from tests.helpers import numbers
from tests.test_browser import browser, operator_page, run_async
from tests.test_confirmation_gate import (
    bounce,
    confirmation_of,
    ebay_holds,
)
from tests.test_order_actions import ebay_order, mail_of
from tests.test_web_order_actions import actions_of, two_orders
from tests.test_web_order_actions import parcel_numbers as parcels_of
from web.app import create_app

pytestmark = pytest.mark.browser
__all__ = ["browser", "ebay_order", "two_orders"]  # shared fixtures

WINDOW = {"width": 1280, "height": 1000}


class Operator:
    """The operator's browser tab on the served app (English unless told otherwise)."""

    def __init__(self, browser: Any, base_url: str, locale: str = "en-GB") -> None:
        self.page = operator_page(browser, locale=locale, viewport=WINDOW)
        self.base_url = base_url

    def open(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page


@pytest.fixture
def operator(browser: Any) -> Iterator[Callable[..., Operator]]:
    """Opens the operator's tab on the app, which is served from the first tab on: after the
    test's other fixtures, so its settings point at their SMTP server and simulators."""
    from tests.test_web_app import web_settings

    served: list[str] = []
    opened: list[Operator] = []
    with ExitStack() as stack:

        def tab(locale: str = "en-GB") -> Operator:
            if not served:
                app = create_app(web_settings(get_settings()))
                served.append(stack.enter_context(serve_in_thread(app)))
            opened.append(Operator(browser, served[0], locale))
            return opened[-1]

        yield tab
        for each in opened:
            each.page.context.close()


def ebay_calls(portals: PortalStack) -> int:
    """Shipping-fulfillment requests (reads and creations) the eBay simulator got so far."""
    sim = ebay.simulator(portals.apps["ebay"])
    return sim.count("GET") + sim.count("POST")


def mails(smtp: FaultySmtpServer) -> list[tuple[list[str], Message]]:
    return [(to, email.message_from_bytes(data)) for _, to, data in smtp.messages]


def body_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


def eventually(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.05)


def press(page: Any, button: str, *, result: str = "#action-result") -> str:
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url("**result=**" if result == "#action-result" else "**bulk=**")
    return str(page.inner_text(result))


# --- one order ---------------------------------------------------------------------------------


def test_an_operator_releases_a_held_confirmation_with_a_reason(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    bounce(smtp, ebay_order)
    page = operator().open(f"/orders/{ebay_order.order_no}")
    press(page, "Send the shipping mail now")
    assert confirmation_of(db_url, ebay_order).status == "held"
    calls = ebay_calls(portals)

    page.fill("#action-release-ebay input[name=reason]", "buyer informed by phone")
    shown = press(page, "Release the held confirmation at ebay")

    assert shown == "Release confirmation: held confirmation released; the next run confirms it."
    assert confirmation_of(db_url, ebay_order).status == "pending"
    with session_scope(db_url) as session:
        [release] = session.scalars(select(ConfirmationRelease)).all()
        assert release.reason == "buyer informed by phone"
    assert smtp.messages == []  # the buyer's mailbox still refuses: nothing was delivered
    assert ebay_calls(portals) == calls and ebay_holds(portals, ebay_order) == []
    assert page.locator("#action-release-ebay").count() == 0  # nothing held any more


def test_an_operator_resends_a_failed_mail_and_the_held_confirmation_goes_out(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    bounce(smtp, ebay_order)
    page = operator().open(f"/orders/{ebay_order.order_no}")
    press(page, "Send the shipping mail now")
    assert mail_of(db_url, ebay_order).status == "failed"
    smtp.clear_faults()  # the address was fixed

    shown = press(page, "Resend the shipping mail")

    assert shown == "Resend the shipping mail: shipping mail sent."
    [(to, message)] = mails(smtp)
    assert to == [ebay_order.buyer_email]
    [parcel] = parcels_of(db_url, ebay_order)
    assert parcel is not None and parcel in body_of(message)
    assert ebay_holds(portals, ebay_order) == [parcel]
    assert confirmation_of(db_url, ebay_order).status == "confirmed"


def test_an_operator_corrects_a_tracking_number_after_it_went_out(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    page = operator().open(f"/orders/{ebay_order.order_no}")
    press(page, "Send the shipping mail now")
    [old] = parcels_of(db_url, ebay_order)
    assert ebay_holds(portals, ebay_order) == [old]
    [typed] = numbers("dhl", 1, seed=99)
    new = normalise_tracking_number("dhl", typed)

    page.fill("#new-1", typed)
    shown = press(page, "Correct tracking number")

    assert shown.startswith("Correct tracking number: tracking number corrected")
    assert parcels_of(db_url, ebay_order) == [new]
    [_, (to, correction)] = mails(smtp)  # the shipping mail, then the correction mail
    assert to == [ebay_order.buyer_email]
    assert new in body_of(correction)
    assert ebay_holds(portals, ebay_order) == [old, new]  # eBay took a further fulfillment
    assert new in page.inner_text("table.parcels")


def test_an_operator_removes_a_parcel_no_portal_was_told_of(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    page = operator().open(f"/orders/{ebay_order.order_no}")

    shown = press(page, "Remove parcel")

    assert shown == "Remove parcel: parcel removed."
    assert parcels_of(db_url, ebay_order) == []
    assert smtp.messages == [] and ebay_calls(portals) == 0
    assert page.locator("#action-deliver").count() == 0  # no parcel: nothing to send


def test_an_operator_marks_an_order_arrived(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    page = operator("de-DE").open(f"/orders/{ebay_order.order_no}")

    shown = press(page, "Als angekommen markieren")

    assert shown == "Als angekommen markieren: Bestellung als angekommen markiert."
    with session_scope(db_url) as session:
        order = session.get(Order, ebay_order.id)
        assert order is not None and (order.status, order.arrived_source) == (
            "arrived",
            "operator",
        )
    assert smtp.messages == [] and ebay_calls(portals) == 0


def test_a_double_click_on_send_now_sends_one_mail_and_tells_ebay_once(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    page = operator().open(f"/orders/{ebay_order.order_no}")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    button = page.get_by_role("button", name="Send the shipping mail now")
    # Chromium folds a fast double click into one submission; a slower one reaches the server
    # twice while the first is still sending (the mail server answers slowly here)
    smtp.delay_next(1, 1.5, stage="mail")
    with page.expect_request(lambda r: r.method == "POST"):
        button.click()
    button.click()
    page.wait_for_url("**result=**")

    assert len(posts) == 2  # the form did reach the web app twice
    eventually(lambda: confirmation_of(db_url, ebay_order).status == "confirmed")
    eventually(lambda: ("deliver", "operator") in actions_of(db_url, ebay_order))
    time.sleep(2)  # time for a second mail, were one on its way
    assert [to for to, _ in mails(smtp)] == [[ebay_order.buyer_email]]
    assert len(ebay_holds(portals, ebay_order)) == 1


# --- many orders -------------------------------------------------------------------------------


def deliver(db_url: str, orders: list[Order]) -> None:
    """`liefern deliver --order` for the orders (off the browser's event loop)."""
    run_async(deliver_orders(db_url, order_nos=[o.order_no for o in orders], by="anna"))


def tick(page: Any, orders: list[Order]) -> None:
    for order in orders:
        page.get_by_label(f"select order {order.order_no}").check()


def test_bulk_resend_on_a_selection_sends_the_ticked_orders_failed_mails(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    two_orders: list[Order],
) -> None:
    bounce(smtp, *two_orders)
    deliver(db_url, two_orders)
    smtp.clear_faults()
    first, second = two_orders
    page = operator().open("/orders?mail=failed")
    tick(page, [first])

    shown = press(page, "Resend mails", result="#bulk-result")

    assert shown == "Resend mails: 1 done, 0 did not work."
    assert [to for to, _ in mails(smtp)] == [[first.buyer_email]]
    assert [mail_of(db_url, o).status for o in two_orders] == ["sent", "failed"]
    assert len(ebay_holds(portals, first)) == 1 and ebay_holds(portals, second) == []


def test_resend_all_failed_mails_sends_every_failed_one(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    two_orders: list[Order],
) -> None:
    bounce(smtp, *two_orders)
    deliver(db_url, two_orders)
    smtp.clear_faults()
    page = operator("de-DE").open("/orders?carrier=dhl")

    shown = press(page, "Alle fehlgeschlagenen Mails erneut senden", result="#bulk-result")

    assert shown == "Alle fehlgeschlagenen Mails erneut senden: 2 erledigt, 0 nicht erledigt."
    assert sorted(to[0] for to, _ in mails(smtp)) == sorted(o.buyer_email for o in two_orders)
    for order in two_orders:
        assert len(ebay_holds(portals, order)) == 1  # the held confirmations went out too


def test_bulk_retry_confirmations_tells_ebay_again_for_the_ticked_orders(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    two_orders: list[Order],
) -> None:
    deliver(db_url, two_orders)
    with session_scope(db_url) as session:  # as if eBay had not answered those times
        session.execute(update(Confirmation).values(status="failed", error_text="timeout"))
    calls = ebay_calls(portals)
    page = operator().open("/orders?confirmation=red")
    tick(page, two_orders)

    shown = press(page, "Retry confirmations", result="#bulk-result")

    assert shown == "Retry confirmations: 2 done, 0 did not work."
    assert [confirmation_of(db_url, o).status for o in two_orders] == ["confirmed", "confirmed"]
    assert ebay_calls(portals) >= calls + 2  # eBay asked again for each order
    for order in two_orders:
        assert len(ebay_holds(portals, order)) == 1  # and keeps one fulfillment each
    assert len(smtp.messages) == 2  # no mail went out again


def test_bulk_mark_arrived_marks_the_ticked_orders(
    db_url: str,
    operator: Callable[..., Operator],
    smtp: FaultySmtpServer,
    portals: PortalStack,
    two_orders: list[Order],
) -> None:
    first, second = two_orders
    page = operator().open("/orders?carrier=dhl")
    tick(page, [first])

    shown = press(page, "Mark arrived", result="#bulk-result")

    assert shown == "Mark arrived: 1 done, 0 did not work."
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Order.order_no, Order.status).where(Order.id.in_([first.id, second.id]))
        )
        statuses = {order_no: status for order_no, status in rows}
    assert statuses == {first.order_no: "arrived", second.order_no: "open"}
    assert actions_of(db_url, first) == [("arrived", "operator")]
    assert smtp.messages == [] and ebay_calls(portals) == 0
