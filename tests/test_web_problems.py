"""The operator's problems page and its CSV (SQLite and PostgreSQL): behind the login, in
German and English, with the count, links to the orders, and formula-safe cells."""

from __future__ import annotations

from datetime import timedelta

from core.settings import Settings
from db.types import utcnow
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.watch_seed import Shipped, ship
from web.app import create_app


def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


def seed(settings: Settings) -> tuple[str, str]:
    now = utcnow()
    late, _fresh, hurt = ship(
        settings.db_url,
        [
            Shipped(now - timedelta(hours=60)),
            Shipped(now - timedelta(hours=2)),
            Shipped(
                now - timedelta(days=2),
                {
                    "delivery_status": "exception",
                    "status_text": '=HYPERLINK("http://x")',
                    "last_event_at": now - timedelta(hours=5),
                    "first_scan_at": now - timedelta(days=1),
                },
            ),
        ],
    )
    return late, hurt


def test_the_page_needs_the_operator_login(settings):
    assert client(settings).get("/problems").status_code == 401
    assert client(settings).get("/problems.csv").status_code == 401


def test_the_page_lists_the_problems_with_count_and_links_in_both_languages(settings):
    late, hurt = seed(settings)
    web = client(settings)
    de = web.get("/problems?lang=de", auth=OPERATOR)
    assert de.status_code == 200
    assert "Pakete auf der Liste: 2" in de.text
    assert f'<a href="/orders/{late}">{late}</a>' in de.text
    assert f'<a href="/orders/{hurt}">{hurt}</a>' in de.text
    assert "kein Erstscan 48 Std. nach der Mail" in de.text
    assert "=HYPERLINK(&#34;http://x&#34;)" in de.text  # the carrier's text, escaped
    en = web.get("/problems?lang=en", auth=OPERATOR)
    assert "Parcels on the list: 2" in en.text and "no first scan 48 h after the mail" in en.text
    assert "the carrier reports trouble" in en.text


def test_the_order_list_links_to_the_problems(settings):
    page = client(settings).get("/orders?lang=en", auth=OPERATOR)
    assert '<a href="/problems">Problems</a>' in page.text


def test_an_empty_list_says_so(settings):
    page = client(settings).get("/problems?lang=de", auth=OPERATOR)
    assert "Pakete auf der Liste: 0" in page.text and "Kein Paket braucht einen Blick." in page.text


def test_the_csv_holds_every_problem_and_no_formula(settings):
    late, hurt = seed(settings)
    answer = client(settings).get("/problems.csv?lang=en", auth=OPERATOR)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = answer.content.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("Order;Portal;Carrier;")
    assert len(rows) == 3
    assert any(r.startswith(hurt) and ";\"'=HYPERLINK" in r for r in rows)
    assert any(r.startswith(late) and "no first scan 48 h after the mail" in r for r in rows)
