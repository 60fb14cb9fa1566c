"""The order page's action buttons in a real browser (Debian's Chromium): send the shipping mail
now and retry a failed confirmation, checked at the SMTP server and the eBay simulator.

With LIEFERN_TEST_SCREENSHOTS=docs/screenshots the screenshot refreshes `order-actions.png`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from core.settings import get_settings
from db.models import Confirmation, Order
from db.session import session_scope
from simulators import ebay
from simulators.server import serve_in_thread
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tests.test_browser import browser, operator_page, screenshots
from tests.test_confirmation_gate import confirmation_of, ebay_holds
from tests.test_order_actions import ebay_order
from tests.test_web_app import web_settings
from web.app import create_app

pytestmark = pytest.mark.browser
__all__ = ["browser", "ebay_order", "screenshots"]  # shared fixtures

WINDOW = {"width": 1280, "height": 1000}


@pytest.fixture
def served_with_portals(ebay_order: Order) -> Iterator[str]:
    # after ebay_order: the settings then point at the SMTP server and the simulators
    with serve_in_thread(create_app(web_settings(get_settings()))) as base_url:
        yield base_url


def test_an_operator_sends_the_mail_now_and_retries_a_failed_confirmation(
    db_url: str,
    browser: Any,
    served_with_portals: str,
    screenshots: Path,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,
) -> None:
    page = operator_page(browser, locale="en-GB", viewport=WINDOW)
    page.goto(f"{served_with_portals}/orders/{ebay_order.order_no}")
    page.get_by_role("button", name="Send the shipping mail now").click()
    page.wait_for_selector("#action-result")

    assert page.inner_text("#action-result") == "Send the shipping mail now: shipping mail sent."
    assert len(smtp.messages) == 1
    [(_, recipients, _)] = smtp.messages
    assert recipients == [ebay_order.buyer_email]
    assert len(ebay_holds(portals, ebay_order)) == 1

    with session_scope(db_url) as session:  # as if eBay had not answered that time
        session.execute(
            update(Confirmation)
            .where(Confirmation.order_id == ebay_order.id)
            .values(status="failed", error_text="timeout")
        )
    sim = ebay.simulator(portals.apps["ebay"])
    calls = sim.count("GET") + sim.count("POST")
    page.reload()
    page.get_by_role("button", name="Retry confirmation at ebay").click()
    page.wait_for_url("**result=retried**")

    assert page.inner_text("#action-result") == "Retry confirmation: confirmation retried."
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    # eBay was asked again; it has the number already (read back), so it keeps one fulfillment
    assert sim.count("GET") + sim.count("POST") > calls
    assert len(ebay_holds(portals, ebay_order)) == 1
    assert len(smtp.messages) == 1
    page.screenshot(path=str(screenshots / "order-actions.png"), full_page=True)
    page.context.close()
