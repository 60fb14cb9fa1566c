"""The web app in a real browser (Debian's Chromium): the buyer's button, the package icons'
colours after a demo-like run, and an uploaded file's import page.

Screenshots go to a temporary folder; with LIEFERN_TEST_SCREENSHOTS=docs/screenshots they
refresh the README's pictures (`orders.png`, `arrival.png`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update

from core.accounts import Accounts
from core.clock import business_today
from core.links import arrival_token
from core.settings import Settings, get_settings, reset_settings
from core.tracking_csv import read_tracking_file
from db.models import Confirmation, Order
from db.queries.confirmations import portals_with
from db.queries.imports import create_import, finish_import
from db.queries.mails import orders_to_mail
from db.queries.parcels import carriers_with_unmailed_orders
from db.session import session_scope
from simulators.samples import SampleOrder, tracking_csv
from simulators.server import serve_in_thread
from simulators.smtp import CaptureServer
from simulators.stack import PortalStack, portal_orders_from_store
from tasks.confirmations import open_confirmations, poll_submitted, submit_pending
from tasks.mails import send_shipping_mails
from tasks.tracking_import import import_rows
from tests.helpers import seed_orders
from tests.test_web_app import API_TOKEN, OPERATOR, web_settings
from web.app import create_app
from web.imports import drain

pytestmark = pytest.mark.browser
T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# the colours of DESIGN's package icon, as the browser computes them
ICON_COLOURS = {
    "pending": "rgb(154, 160, 166)",
    "submitted": "rgb(26, 115, 232)",
    "confirmed": "rgb(24, 128, 56)",
    "rejected": "rgb(217, 48, 37)",
    "failed": "rgb(217, 48, 37)",
    "skipped": "rgb(196, 199, 204)",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path, settings: Settings) -> Path:
    wanted = os.environ.get("LIEFERN_TEST_SCREENSHOTS")
    if wanted and settings.db_url.startswith("sqlite"):
        folder = Path(wanted)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(web_settings(settings))) as base_url:
        yield base_url
    drain(timeout=120)  # no import run of this test may outlive its database


def operator_page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(
        http_credentials={"username": OPERATOR[0], "password": OPERATOR[1]}, **options
    )
    return context.new_page()


# --- a demo-like store: imported parcels, mails, every portal told, Amazon polled -------------


def demo_like_store(settings: Settings, monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    """The deliver chain without Prefect, on the portal simulators and a capturing SMTP server.

    One Amazon order is unknown to Amazon (rejected), Rakuten is switched off (skipped), the
    last orders got their parcels after the run (pending), one Amazon feed is still being
    processed (submitted)."""
    url = settings.db_url
    samples = seed_orders(url, 24, seed=8)
    late = [s for s in samples if s.order["portal"] in ("ebay", "kaufland", "hood")][-2:]
    import_parcels(url, [s for s in samples if s not in late], seed=9)
    unknown_to_amazon = next(s for s in samples if s.order["portal"] == "amazon")
    with CaptureServer(outbox) as smtp, PortalStack(amazon_processing_seconds=0.2) as portals:
        portals.seed(
            o
            for o in portal_orders_from_store(url)
            if o.portal_order_id != unknown_to_amazon.order["portal_order_id"]
        )
        portals.accounts.setdefault(unknown_to_amazon.order["portal_account"], "amazon")
        settings.accounts_path.write_text(portals.accounts_toml(rakuten=False))
        for name, value in portals.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
        reset_settings()
        chain(get_settings(), submit=True)
        import_parcels(url, late, seed=10)
        chain(get_settings(), submit=False)
    with session_scope(url) as session:
        amazon_ok = session.scalars(
            select(Confirmation.id)
            .where(Confirmation.portal == "amazon", Confirmation.status == "confirmed")
            .limit(1)
        ).one()
        session.execute(
            update(Confirmation).where(Confirmation.id == amazon_ok).values(status="submitted")
        )


def import_parcels(url: str, samples: list[SampleOrder], *, seed: int) -> None:
    table = read_tracking_file(tracking_csv(samples, seed=seed))
    with session_scope(url) as session:
        import_id = create_import(
            session,
            file_name="tracking.csv",
            sha256="0" * 64,
            archive_path="-",
            file_format=None,
            carrier=None,
            source="import",
        )
    outcome = import_rows(
        url,
        import_id=import_id,
        frame=table.frame,
        headers=table.headers,
        preset=table.preset,
        carrier=None,
        today=business_today(),
        source="import",
    )
    with session_scope(url) as session:
        finish_import(
            session,
            import_id=import_id,
            rows=len(table.frame),
            imported=outcome.imported,
            already_known=outcome.already_known,
            rejected=len(outcome.problems),
        )


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in its own thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def chain(settings: Settings, *, submit: bool) -> None:
    url = settings.db_url
    mailed: list[int] = []
    with session_scope(url) as session:
        carriers = carriers_with_unmailed_orders(session)
    for carrier in carriers:
        with session_scope(url) as session:
            ids = [i for i in orders_to_mail(session, carriers=[carrier]) if i not in mailed]
        mailed += ids
        run_async(send_shipping_mails(url, order_ids=ids, carrier=carrier, settings=settings))
    open_confirmations(
        url, order_ids=mailed, accounts=Accounts.load(settings.accounts_path), run_id=None
    )
    if not submit:
        return
    with session_scope(url) as session:
        pending = portals_with(session, status="pending")
    for portal in pending:
        report = run_async(submit_pending(url, portal=portal, run_id=None, settings=settings))
        assert report.errors == [], report.errors
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run_async(poll_submitted(url, portal="amazon", settings=settings))
        with session_scope(url) as session:
            if "amazon" not in portals_with(session, status="submitted"):
                return
        time.sleep(0.1)
    raise AssertionError("Amazon's feed was not processed")


# --- the tests ---------------------------------------------------------------------------------


def test_the_buyer_taps_the_button_and_the_order_is_arrived(
    settings: Settings, browser: Any, served: str, screenshots: Path
) -> None:
    seed_orders(settings.db_url, 3)
    with session_scope(settings.db_url) as session:
        order = session.scalars(select(Order).order_by(Order.id)).first()
        assert order is not None
        order.status, order.language = "shipped", "de"
    token = arrival_token(settings.secret_key.get_secret_value(), order.id)
    context = browser.new_context(viewport={"width": 400, "height": 720}, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{served}/arrived/{token}")
    assert page.title().endswith("Ist Ihre Bestellung angekommen?")
    page.screenshot(path=str(screenshots / "arrival.png"), full_page=True)
    page.get_by_role("button", name="Ja, die Ware ist angekommen").click()
    page.wait_for_selector("#result")
    assert "Wir haben vermerkt, dass Ihre Bestellung angekommen ist." in page.inner_text("#result")
    context.close()
    with session_scope(settings.db_url) as session:
        stored = session.get(Order, order.id)
        assert stored is not None
        assert (stored.status, stored.arrived_source) == ("arrived", "buyer-link")


def test_package_icons_show_each_confirmations_status_in_its_colour(
    settings: Settings,
    browser: Any,
    served: str,
    screenshots: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    demo_like_store(settings, monkeypatch, tmp_path / "outbox")
    page = operator_page(browser, viewport={"width": 1440, "height": 900})
    page.goto(f"{served}/orders")
    icons = page.eval_on_selector_all(
        "span.pkg[data-status]",
        """els => els.map(e => ({
            order: e.closest('tr').dataset.order,
            portal: e.dataset.portal,
            status: e.dataset.status,
            colour: getComputedStyle(e).color,
            dashes: getComputedStyle(e.querySelector('.pkg-box')).strokeDasharray,
            title: e.getAttribute('title'),
        }))""",
    )
    with session_scope(settings.db_url) as session:
        ledger = sorted(
            (no, c.status)
            for no, c in session.execute(
                select(Order.order_no, Confirmation).join(Order, Order.id == Confirmation.order_id)
            ).tuples()
        )
    assert sorted((i["order"], i["status"]) for i in icons) == ledger
    assert {i["status"] for i in icons} >= {
        "pending",
        "submitted",
        "confirmed",
        "rejected",
        "skipped",
    }
    for icon in icons:
        assert icon["colour"] == ICON_COLOURS[icon["status"]], icon
        assert (icon["dashes"] != "none") == (icon["status"] == "skipped"), icon
    rejected = next(i for i in icons if i["status"] == "rejected")
    assert "amazon" in rejected["title"] and "rejected" in rejected["title"]
    assert len(rejected["title"]) > len("amazon x: rejected · 00340434000000000000") + 10
    skipped = next(i for i in icons if i["status"] == "skipped")
    assert "Rakuten" in skipped["title"] or "tracking number" in skipped["title"]
    page.screenshot(path=str(screenshots / "orders.png"), full_page=True)
    page.context.close()


@pytest.mark.usefixtures("prefect_harness")
def test_an_uploaded_files_import_page_shows_its_rejected_rows(
    settings: Settings, browser: Any, served: str
) -> None:
    samples = seed_orders(settings.db_url, 5)
    data = (
        tracking_csv(samples) + b"AU100001;dhl;3.40434E+17;\nAU424242;dhl;00340434161094042557;\n"
    )
    response = httpx.post(
        f"{served}/api/tracking-imports",
        files={"file": ("dhl-export.csv", data, "text/csv")},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["import_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = httpx.get(
            f"{served}{response.json()['url']}", headers={"Authorization": f"Bearer {API_TOKEN}"}
        ).json()
        if result["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert result["status"] == "done", result
    page = operator_page(browser)
    page.goto(f"{served}/imports")
    page.get_by_role("link", name=str(import_id), exact=True).click()
    page.wait_for_selector("table.rejected")
    rows = page.eval_on_selector_all(
        "table.rejected tbody tr",
        "trs => trs.map(tr => tr.cells[0].innerText + ' ' + tr.cells[2].innerText)",
    )
    bad_rows = [r["row"] for r in result["rejected"]]
    assert len(rows) == 2 and [int(r.split()[0]) for r in rows] == bad_rows
    assert "3.40434E+17" in rows[0] and "AU424242" in rows[1]
    assert "dhl-export.csv" in page.inner_text("dl.facts")
    page.context.close()
