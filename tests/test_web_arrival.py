"""The buyer's arrival page: GET shows, only the page's own POST confirms, bad links say nothing."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from core.links import arrival_token
from core.settings import Settings
from db.models import Order
from db.session import session_scope
from tests.helpers import seed_orders
from tests.test_web_app import WebClient, web_settings
from web.app import create_app
from web.buyer import make_nonce


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


def first_order(settings: Settings, *, language: str = "de", status: str = "shipped") -> Order:
    seed_orders(settings.db_url, 2)
    with session_scope(settings.db_url) as session:
        order = session.scalars(select(Order).order_by(Order.id)).first()
        assert order is not None
        session.execute(
            update(Order).where(Order.id == order.id).values(language=language, status=status)
        )
    return order


def state(settings: Settings, order_id: int) -> tuple[str, object, object]:
    with session_scope(settings.db_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status, order.arrived_at, order.arrived_source


def link(settings: Settings, order_id: int) -> str:
    return f"/arrived/{arrival_token(settings.secret_key.get_secret_value(), order_id)}"


def page_nonce(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found, "the page has no form nonce"
    return found.group(1)


def test_opening_the_link_shows_a_button_and_changes_nothing(
    settings: Settings, client: WebClient
) -> None:
    order = first_order(settings)
    for _ in range(3):  # a mail scanner, a link preview, the buyer
        response = client.get(link(settings, order.id))
        assert response.status_code == 200
        assert '<form method="post">' in response.text and "<button" in response.text
    assert state(settings, order.id) == ("shipped", None, None)


def test_the_button_marks_the_order_arrived(settings: Settings, client: WebClient) -> None:
    order = first_order(settings)
    url = link(settings, order.id)
    response = client.post(url, data={"nonce": page_nonce(client.get(url).text)})
    assert response.status_code == 200
    assert "Vielen Dank!" in response.text
    status, arrived_at, source = state(settings, order.id)
    assert (status, source) == ("arrived", "buyer-link") and arrived_at is not None


def test_confirming_twice_is_harmless_and_says_when_it_was_confirmed(
    settings: Settings, client: WebClient
) -> None:
    order = first_order(settings, language="en")
    url = link(settings, order.id)
    nonce = page_nonce(client.get(url).text)
    client.post(url, data={"nonce": nonce})
    first = state(settings, order.id)
    again = client.post(url, data={"nonce": nonce})
    assert again.status_code == 200
    assert "You already confirmed the arrival on" in again.text
    assert state(settings, order.id) == first
    assert "already confirmed" in client.get(url).text


def test_a_post_without_the_pages_nonce_is_refused(settings: Settings, client: WebClient) -> None:
    order = first_order(settings)
    response = client.post(link(settings, order.id))
    assert response.status_code == 403
    assert state(settings, order.id)[0] == "shipped"


def test_a_nonce_for_another_order_or_with_a_forged_signature_is_refused(
    settings: Settings, client: WebClient
) -> None:
    order = first_order(settings)
    secret = settings.secret_key.get_secret_value()
    for nonce in (
        make_nonce(secret, order.id + 1),
        make_nonce("another-secret-0123456789", order.id),
    ):
        response = client.post(link(settings, order.id), data={"nonce": nonce})
        assert response.status_code == 403
    assert state(settings, order.id)[0] == "shipped"


def test_a_refused_post_offers_the_button_again(settings: Settings, client: WebClient) -> None:
    order = first_order(settings, language="en")
    url = link(settings, order.id)
    response = client.post(url, data={"nonce": "stale"})
    assert "Please tap the button once more" in response.text
    assert client.post(url, data={"nonce": page_nonce(response.text)}).status_code == 200
    assert state(settings, order.id)[0] == "arrived"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://attacker.example"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_a_valid_nonce(
    settings: Settings, client: WebClient, headers: dict[str, str]
) -> None:
    order = first_order(settings)
    url = link(settings, order.id)
    nonce = page_nonce(client.get(url).text)
    assert client.post(url, data={"nonce": nonce}, headers=headers).status_code == 403
    assert state(settings, order.id)[0] == "shipped"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        {"Origin": "http://testserver"},
        {"Origin": "http://127.0.0.1:8000"},  # LIEFERN_PUBLIC_URL
    ],
)
def test_a_same_origin_post_is_accepted(
    settings: Settings, client: WebClient, headers: dict[str, str]
) -> None:
    order = first_order(settings)
    url = link(settings, order.id)
    nonce = page_nonce(client.get(url).text)
    assert client.post(url, data={"nonce": nonce}, headers=headers).status_code == 200
    assert state(settings, order.id)[0] == "arrived"


def test_bad_tokens_all_get_the_same_404_page(settings: Settings, client: WebClient) -> None:
    order = first_order(settings)
    secret = settings.secret_key.get_secret_value()
    good = arrival_token(secret, order.id)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_secret = arrival_token("some-other-secret-key-0123456789", order.id)
    unknown_order = arrival_token(secret, 999_999)
    bodies = set()
    for token in (tampered, other_secret, unknown_order, "garbage", "x" * 300):
        for method in ("GET", "POST"):
            response = client.request(method, f"/arrived/{token}")
            assert response.status_code == 404, (token, method)
            bodies.add(response.text)
    assert len(bodies) == 1
    assert order.order_no not in bodies.pop()
    assert state(settings, order.id)[0] == "shipped"


def test_a_token_never_reaches_another_order(settings: Settings, client: WebClient) -> None:
    first_order(settings)
    with session_scope(settings.db_url) as session:
        first, second = session.scalars(select(Order).order_by(Order.id)).all()[:2]
    url = link(settings, first.id)
    client.post(url, data={"nonce": page_nonce(client.get(url).text)})
    assert state(settings, first.id)[0] == "arrived"
    assert state(settings, second.id)[0] != "arrived"


def test_a_cancelled_order_cannot_be_marked_arrived(settings: Settings, client: WebClient) -> None:
    order = first_order(settings, status="cancelled")
    url = link(settings, order.id)
    shown = client.get(url)
    assert shown.status_code == 200 and "storniert" in shown.text and "<button" not in shown.text
    nonce = make_nonce(settings.secret_key.get_secret_value(), order.id)
    response = client.post(url, data={"nonce": nonce})
    assert "storniert" in response.text
    assert state(settings, order.id) == ("cancelled", None, None)


@pytest.mark.parametrize(
    ("language", "words", "absent"),
    [
        ("de", ["Ist Ihre Bestellung angekommen?", "Ja, die Ware ist angekommen"], "arrived"),
        ("en", ["Has your order arrived?", "Yes, my order has arrived"], "angekommen"),
    ],
)
def test_the_page_speaks_the_orders_language(
    settings: Settings, client: WebClient, language: str, words: list[str], absent: str
) -> None:
    order = first_order(settings, language=language)
    html = client.get(link(settings, order.id)).text
    assert f'<html lang="{language}">' in html
    for word in words:
        assert word in html
    assert absent not in html
    assert settings.shop_name in html and order.order_no in html


def test_the_page_names_the_shop_from_the_settings(settings: Settings) -> None:
    client = WebClient(create_app(web_settings(settings, shop_name="Krämerladen <Süd>")))
    order = first_order(settings)
    html = client.get(link(settings, order.id)).text
    assert "Krämerladen &lt;Süd&gt;" in html and "<Süd>" not in html


def test_links_signed_with_a_rotated_secret_no_longer_work(settings: Settings) -> None:
    order = first_order(settings)
    old_link = link(settings, order.id)
    rotated = web_settings(settings, secret_key=SecretStr("a-brand-new-secret-key-0123456789"))
    assert WebClient(create_app(rotated)).get(old_link).status_code == 404
