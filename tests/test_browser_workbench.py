"""The operator's workbench in a real browser (Debian's Chromium): tracking entry on the
German order page and the red-icon filter of the order list.

Screenshots go to a temporary folder; with LIEFERN_TEST_SCREENSHOTS=docs/screenshots they
refresh the README's pictures (`order-entry.png`, `orders-filtered.png`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings
from db.models import Order, Parcel
from db.session import session_scope
from tests.helpers import numbers, seed_orders
from tests.test_browser import browser, operator_page, screenshots, served
from tests.test_web_operator import LEDGER, seed_ledger

pytestmark = pytest.mark.browser
__all__ = ["browser", "screenshots", "served"]  # the fixtures this file shares

WINDOW = {"width": 1280, "height": 900}


def test_an_operator_enters_tracking_numbers_on_the_german_order_page(
    settings: Settings, browser: Any, served: str, screenshots: Path
) -> None:
    seed_orders(settings.db_url, 3)
    good, typo = numbers("dhl", 2)
    typo = typo[:-1] + str((int(typo[-1]) + 1) % 10)
    page = operator_page(browser, locale="de-DE", viewport=WINDOW)
    page.goto(f"{served}/orders/AU100001")
    assert page.locator("html").get_attribute("lang") == "de"
    page.select_option("#carrier-1", "dhl")
    page.fill("#number-1", good)
    page.select_option("#carrier-2", "dhl")
    page.fill("#number-2", typo)
    page.get_by_role("button", name="Pakete hinzufügen").click()
    page.wait_for_selector("#number-1-error")
    assert "Die Prüfziffer stimmt nicht" in page.inner_text("#number-1-error")
    assert page.input_value("#number-1") == typo  # the bad line is shown again to be fixed
    page.fill("#number-1", numbers("dhl", 3)[2])
    page.get_by_role("button", name="Pakete hinzufügen").click()
    page.wait_for_selector("#entry-result")
    assert page.inner_text("#entry-result") == "1 Paket(e) hinzugefügt."
    page.select_option("#untracked-carrier", "deutsche_post")
    page.get_by_role("button", name="Als versendet ohne Sendungsnummer markieren").click()
    page.wait_for_selector("#entry-result")
    assert "ohne Sendungsnummer" in page.inner_text("table.parcels")
    page.screenshot(path=str(screenshots / "order-entry.png"), full_page=True)
    page.context.close()
    with session_scope(settings.db_url) as session:
        stored = session.execute(
            select(Parcel.carrier, Parcel.tracking_number, Parcel.source)
            .join(Order, Order.id == Parcel.order_id)
            .where(Order.order_no == "AU100001")
            .order_by(Parcel.id)
        ).all()
    assert [tuple(r) for r in stored] == [
        ("dhl", normalise_tracking_number("dhl", good), "web"),
        ("dhl", normalise_tracking_number("dhl", numbers("dhl", 3)[2]), "web"),
        ("deutsche_post", None, "web"),
    ]


def test_an_operator_filters_the_red_icons(
    settings: Settings, browser: Any, served: str, screenshots: Path
) -> None:
    order_nos = seed_ledger(settings)
    red = sorted(
        n for n, (s, _, _) in zip(order_nos, LEDGER, strict=True) if s in ("rejected", "failed")
    )
    page = operator_page(browser, locale="de-DE", viewport=WINDOW)
    page.goto(f"{served}/orders")
    page.select_option("select[name=confirmation]", "red")
    page.get_by_role("button", name="Filtern").click()
    page.wait_for_url("**/orders?*confirmation=red*")
    assert page.inner_text("#found") == "2 Bestellungen gefunden"
    shown = sorted(
        page.locator("tr[data-order]").evaluate_all("rows => rows.map(r => r.dataset.order)")
    )
    assert shown == red
    page.screenshot(path=str(screenshots / "orders-filtered.png"), full_page=True)
    page.context.close()
