"""Buyer links: a token names exactly one order, and nothing but that token names it.

Forged tokens, tokens tampered with anywhere, tokens of another order with the signature moved
over, tokens signed with another key or for another purpose, and signed payloads that are not
an order id all come back as None; no change to a token ever yields a different order.
"""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from core.links import arrival_token, arrival_url, order_from_token
from tests.stress.fuzzing import fuzz

SECRET = "links-test-secret-0123456789abcdef"
ORDER_IDS = st.integers(1, 2**53)


@fuzz()
@given(token=st.text(max_size=120) | st.from_regex(r"[A-Za-z0-9_.-]{1,80}", fullmatch=True))
def test_a_forged_token_names_no_order(token: str) -> None:
    assert order_from_token(SECRET, token) is None


@fuzz()
@given(order_id=ORDER_IDS, data=st.data())
def test_a_tampered_token_names_no_other_order(order_id: int, data: st.DataObject) -> None:
    token = list(arrival_token(SECRET, order_id))
    at = data.draw(st.integers(0, len(token) - 1))
    token[at] = data.draw(st.sampled_from("ABCXYZabcxyz0189-_.").filter(lambda c: c != token[at]))
    # the last character of a base64 block may carry unused bits: the same token, then
    assert order_from_token(SECRET, "".join(token)) in (None, order_id)


@fuzz()
@given(first=ORDER_IDS, second=ORDER_IDS)
def test_one_orders_signature_does_not_fit_another_order(first: int, second: int) -> None:
    payload = arrival_token(SECRET, second).rsplit(".", 1)[0]  # "." + zlib data: compressed
    signature = arrival_token(SECRET, first).rsplit(".", 1)[1]
    forged = f"{payload}.{signature}"
    assert order_from_token(SECRET, forged) in ((None,) if first != second else (first,))


@fuzz(0.2)
@given(order_id=ORDER_IDS, other_secret=st.text(min_size=16, max_size=40))
def test_a_token_signed_with_another_key_is_refused(order_id: int, other_secret: str) -> None:
    if other_secret == SECRET:
        return
    assert order_from_token(SECRET, arrival_token(other_secret, order_id)) is None


def test_a_token_signed_for_another_purpose_is_refused() -> None:
    other_purpose = URLSafeSerializer(SECRET, salt="liefern.unsubscribe.v1").dumps(7)
    unsalted = URLSafeSerializer(SECRET).dumps(7)
    assert order_from_token(SECRET, str(other_purpose)) is None
    assert order_from_token(SECRET, str(unsalted)) is None


def test_signed_payloads_that_are_not_an_order_id_are_refused() -> None:
    serializer = URLSafeSerializer(SECRET, salt="liefern.arrived.v1")
    for payload in ("7", 7.0, True, None, [7], {"order": 7}):
        assert order_from_token(SECRET, str(serializer.dumps(payload))) is None, payload


def test_an_unsigned_token_with_a_none_algorithm_is_refused() -> None:
    body = base64.urlsafe_b64encode(json.dumps(7).encode()).decode().rstrip("=")
    for token in (body, f"{body}.", f"{body}.none", "." * 5, "x" * 10_000):
        assert order_from_token(SECRET, token) is None


def test_the_link_in_a_mail_names_its_order() -> None:
    url = arrival_url("https://shop.example/", SECRET, 4711)
    assert url.startswith("https://shop.example/arrived/")
    assert order_from_token(SECRET, url.rsplit("/", 1)[1]) == 4711
