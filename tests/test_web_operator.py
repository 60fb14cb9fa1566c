"""The operator's pages: login, the order list with its package icons, filters, imports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import lxml.html
import pytest
from sqlalchemy import select, update

from core.carriers.numbers import normalise_tracking_number
from core.problems import RowProblem
from core.settings import Settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, Order, Parcel, ShippingMail
from db.queries.imports import add_rejections, create_import, finish_import
from db.session import session_scope
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from web.app import create_app

FLOW_RUN = "0b6f3d1e-2c4a-4e5f-9a7b-1c2d3e4f5a6b"

# (status, error code, reason) of the one confirmation each seeded order gets
LEDGER = [
    ("pending", None, None),
    ("submitted", None, None),
    ("confirmed", None, None),
    ("rejected", "13013", "Order 028-1234567-1234567 not found"),
    ("failed", "503", "Service Unavailable after 5 attempts"),
    ("skipped", None, "mark-as-sent is off for Kaufland account kl-main"),
    ("held", "mail_failed", "shipping mail failed (550 5.1.1 mailbox unavailable)"),
]


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


def seed_ledger(settings: Settings) -> list[str]:
    """Orders with one DHL parcel and one confirmation in each status; returns order numbers."""
    url = settings.db_url
    seed_orders(url, len(LEDGER) + 2)
    with session_scope(url) as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))[: len(LEDGER)]
        for order, number in zip(orders, numbers("dhl", len(orders)), strict=True):
            attach_parcels(
                session,
                rows=[
                    ParcelRow(
                        1,
                        order.order_no,
                        "dhl",
                        normalise_tracking_number("dhl", number),
                        date(2026, 11, 26),
                    )
                ],
                source="test",
            )
        session.flush()
        now = datetime.now(UTC)
        for order, (status, code, reason) in zip(orders, LEDGER, strict=True):
            parcel = session.scalars(select(Parcel).where(Parcel.order_id == order.id)).one()
            order.status, order.shipped_at = "shipped", now
            session.add(
                Confirmation(
                    order_id=order.id,
                    parcel_id=parcel.id,
                    portal=order.portal,
                    account=order.portal_account,
                    status=status,
                    error_code=code,
                    error_text=reason,
                    reference="50012345678" if status != "pending" else None,
                    flow_run_id=FLOW_RUN,
                )
            )
            session.add(
                ShippingMail(
                    order_id=order.id,
                    carrier="dhl",
                    status="sent",
                    message_id=f"<{order.order_no}.shipped@beispiel-shop.de>",
                    recipient=order.buyer_email,
                    language=order.language,
                    flow_run_id=FLOW_RUN,
                )
            )
        return [o.order_no for o in orders]


def page(client: WebClient, url: str) -> lxml.html.HtmlElement:
    response = client.get(url, auth=OPERATOR)
    assert response.status_code == 200, response.text
    return lxml.html.fromstring(response.text)


def listed(client: WebClient, url: str) -> list[str]:
    return [str(tr.get("data-order")) for tr in page(client, url).xpath(".//tr[@data-order]")]


def test_operator_pages_need_the_operator_login(settings: Settings, client: WebClient) -> None:
    wrong: list[tuple[str, str] | None] = [
        None,
        ("operator", "wrong"),
        ("someone", OPERATOR[1]),
        ("operator", ""),
    ]
    for path in ("/", "/orders", "/orders/AU100001", "/imports", "/imports/1"):
        for auth in wrong:
            response = client.get(path, auth=auth)
            assert response.status_code == 401, (path, auth)
            assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_each_confirmation_is_a_package_coloured_by_its_status(
    settings: Settings, client: WebClient
) -> None:
    order_nos = seed_ledger(settings)
    html = page(client, "/orders")
    for order_no, (status, code, reason) in zip(order_nos, LEDGER, strict=True):
        (row,) = html.xpath(f'.//tr[@data-order="{order_no}"]')
        (icon,) = row.xpath(".//span[contains(@class, 'pkg')]")
        assert icon.get("class") == f"pkg st-{status}"
        title = icon.get("title")
        assert status in title
        if reason:
            assert reason in title
        if code:
            assert f"[{code}]" in title


def test_the_list_shows_the_mail_status(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    html = page(client, "/orders")
    (row,) = html.xpath(f'.//tr[@data-order="{order_nos[0]}"]')
    assert row.xpath(".//span[contains(@class, 'mail')]")[0].text == "sent"


def test_the_stylesheet_gives_each_status_its_colour(client: WebClient) -> None:
    css = client.get("/static/liefern.css").text
    colours = {
        "pending": "#9aa0a6",
        "submitted": "#1a73e8",
        "confirmed": "#188038",
        "rejected": "#d93025",
        "skipped": "#c4c7cc",
        "held": "#e37400",
    }
    for status, colour in colours.items():
        assert f"--{status}: {colour};" in css
        assert f".st-{status}" in css
    assert ".st-rejected, .st-failed { color: var(--rejected); }" in css
    assert "stroke-dasharray" in css.split(".st-skipped .pkg-box", 1)[1].split("}", 1)[0]


def test_the_legend_explains_the_held_package(settings: Settings, client: WebClient) -> None:
    legend = page(client, "/orders").xpath(".//section[@class='legend']//li")
    [held] = [li for li in legend if li.xpath(".//span[contains(@class, 'st-held')]")]
    assert "waits for the shipping mail" in held.text_content()
    assert "liefern portals release" in held.text_content()


def test_a_buyer_name_with_markup_is_shown_as_text(settings: Settings, client: WebClient) -> None:
    seed_ledger(settings)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with session_scope(settings.db_url) as session:
        session.execute(update(Order).values(buyer_name=evil))
        session.execute(update(Confirmation).values(error_text='"><script>alert(2)</script>'))
    for url in ("/orders", "/orders/AU100001"):
        response = client.get(url, auth=OPERATOR)
        assert "<script" not in response.text and "<img" not in response.text
        assert "&lt;script&gt;alert(" in response.text


def test_filters_narrow_the_list(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    with session_scope(settings.db_url) as session:
        orders = {o.order_no: o for o in session.scalars(select(Order))}
        parcel = session.scalars(select(Parcel).order_by(Parcel.id)).first()
        assert parcel is not None
        tracking, owner = parcel.tracking_number, parcel.order_id
    unshipped = sorted(set(orders) - set(order_nos))
    target = orders[order_nos[2]]

    assert sorted(listed(client, "/orders?status=open")) == unshipped
    assert sorted(listed(client, "/orders?status=shipped")) == sorted(order_nos)
    assert sorted(listed(client, f"/orders?portal={target.portal}")) == sorted(
        n for n, o in orders.items() if o.portal == target.portal
    )
    assert sorted(listed(client, "/orders?carrier=dhl")) == sorted(order_nos)
    assert listed(client, "/orders?carrier=ups") == []
    assert listed(client, f"/orders?q={target.order_no}") == [target.order_no]
    assert listed(client, f"/orders?q={target.portal_order_id}") == [target.order_no]
    owner_no = next(n for n, o in orders.items() if o.id == owner)
    assert listed(client, f"/orders?q={tracking}") == [owner_no]
    assert listed(client, "/orders?q=%25") == []  # a LIKE wildcard is just a character


def test_date_filters_use_created_and_shipped_dates(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    long_ago = datetime(2025, 3, 10, 12, tzinfo=UTC)
    with session_scope(settings.db_url) as session:
        session.execute(
            update(Order)
            .where(Order.order_no == order_nos[0])
            .values(created_at=long_ago, shipped_at=long_ago + timedelta(days=2))
        )
    assert listed(client, "/orders?created_from=2025-03-01&created_to=2025-03-10") == [order_nos[0]]
    assert listed(client, "/orders?shipped_from=2025-03-12&shipped_to=2025-03-12") == [order_nos[0]]
    assert order_nos[0] not in listed(client, "/orders?created_from=2025-03-11")
    html = client.get("/orders?created_from=yesterday", auth=OPERATOR).text
    assert "is not a date" in html


def test_the_list_is_newest_first_fifty_per_page(settings: Settings, client: WebClient) -> None:
    seed_orders(settings.db_url, 120)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(settings.db_url) as session:
        for order in session.scalars(select(Order)):
            order.created_at = base + timedelta(minutes=order.id)
    first = listed(client, "/orders")
    third = listed(client, "/orders?page=3")
    assert len(first) == 50 and len(third) == 20
    assert first[0] == "AU100120" and third[-1] == "AU100001"
    html = page(client, "/orders?page=2")
    assert html.xpath('.//a[@rel="next"]') and html.xpath('.//a[@rel="prev"]')
    assert not page(client, "/orders?page=3").xpath('.//a[@rel="next"]')


def test_an_orders_page_shows_its_protocol(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    text = page(client, f"/orders/{order_nos[3]}").text_content()
    assert f"<{order_nos[3]}.shipped@beispiel-shop.de>" in text  # the mail's Message-ID
    assert "Order 028-1234567-1234567 not found" in text  # the rejection's reason
    assert "50012345678" in text  # the feed id as reference
    for kind in ("imported", "parcel", "mail", "confirmation"):
        assert kind in text


def test_an_orders_page_shows_a_held_confirmation_with_its_reason(
    settings: Settings, client: WebClient
) -> None:
    order_no = seed_ledger(settings)[-1]  # the held one
    html = page(client, f"/orders/{order_no}")
    (icon,) = html.xpath(".//table[@class='confirmations']//span[contains(@class, 'pkg')]")
    assert icon.get("class") == "pkg st-held"
    row = html.xpath(".//table[@class='confirmations']//tbody/tr")[0].text_content()
    assert "held" in row and "[mail_failed] shipping mail failed (550 5.1.1" in row


def test_an_unknown_order_is_a_404_page(settings: Settings, client: WebClient) -> None:
    assert client.get("/orders/AU999999", auth=OPERATOR).status_code == 404


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PREFECT_UI_URL": "http://ui.local:4200/"},
            f"http://ui.local:4200/runs/flow-run/{FLOW_RUN}",
        ),
        (
            {"PREFECT_API_URL": "http://127.0.0.1:4200/api"},
            f"http://127.0.0.1:4200/runs/flow-run/{FLOW_RUN}",
        ),
        ({}, None),
    ],
)
def test_flow_runs_link_to_the_prefect_ui_when_it_is_known(
    settings: Settings,
    client: WebClient,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: str | None,
) -> None:
    for name in ("PREFECT_UI_URL", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    order_nos = seed_ledger(settings)
    html = page(client, f"/orders/{order_nos[2]}")
    (item,) = html.xpath('.//ul[@class="runs"]/li')
    assert FLOW_RUN in item.text_content() and "shipping mail" in item.text_content()
    links = [a.get("href") for a in item.xpath(".//a")]
    assert links == ([expected] if expected else [])


def test_an_import_page_lists_its_rejected_rows(settings: Settings, client: WebClient) -> None:
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session,
            file_name="dpd-export.csv",
            sha256="ab" * 32,
            archive_path="/archive/x.csv",
            file_format="dpd",
            carrier=None,
            source="upload",
        )
        add_rejections(
            session,
            import_id=import_id,
            problems=[
                RowProblem(4, "tracking_number", "3.4E+17", "scientific_notation", "Excel ate it"),
                RowProblem(9, "order_ref", "<b>AU1</b>", "unknown_order", "no such order"),
            ],
        )
        finish_import(
            session, import_id=import_id, rows=10, imported=8, already_known=0, rejected=2
        )
    html = page(client, f"/imports/{import_id}")
    rows = [
        [td.text_content() for td in tr.xpath("./td")]
        for tr in html.xpath('.//table[@class="rejected"]/tbody/tr')
    ]
    assert rows == [
        [
            "4",
            "tracking_number",
            "3.4E+17",
            "scientific_notation",
            "The number looks like a spreadsheet's 1.23E+15; copy it as text.",
        ],
        ["9", "order_ref", "<b>AU1</b>", "unknown_order", "no such order"],
    ]
    # the reader's own words for a known code on hover
    assert html.xpath('.//table[@class="rejected"]/tbody/tr/td[5]/@title')[0] == "Excel ate it"
    listing = page(client, "/imports").text_content()
    assert "dpd-export.csv" in listing and "upload" in listing
    assert client.get("/imports/999", auth=OPERATOR).status_code == 404
