"""Hood mapping from fixture files: the request XML we build and the answers we read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from connectors.base import ParcelShipment
from connectors.errors import TransientError
from connectors.hood.auth import md5_hex
from connectors.hood.mapping import (
    ENVELOPE,
    UNVERIFIED_ORDER_STATUS_SHAPE,
    HoodParcel,
    HoodParseError,
    build_update_order_status,
    check_shipment,
    chunk_parcels,
    is_auth_error,
    parse_answer,
    result_for,
    to_parcel,
)
from core.domain import ConfirmationStatus

FIXTURES = Path(__file__).parent / "fixtures" / "hood"
SHAPE = UNVERIFIED_ORDER_STATUS_SHAPE
LIEFERN_CARRIERS = ("dhl", "deutsche_post", "dhl_express", "dpd", "ups", "gls", "hermes", "fedex")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True, resolve_entities=False)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


def shipment(order_id: str = "4711", tracking: str = "T1", carrier: str = "dhl") -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=1,
        order_no="A-1",
        portal_order_id=order_id,
        account="main",
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=datetime(2024, 5, 6, 10, 0, tzinfo=UTC),
    )


def parcel(cid: int, order_id: str, tracking: str = "T") -> HoodParcel:
    return HoodParcel(cid, order_id, tracking, "DHL")


def test_request_matches_the_fixture_including_escaped_names_and_codes() -> None:
    parcels = [
        to_parcel(shipment("4711", "00340434161234567890", "dhl")),
        to_parcel(shipment("12<3&\"4'", "AB<&>\"'1", "other")),
    ]
    body = build_update_order_status(
        parcels, account_name="Müller & Söhne <Shop>", password_md5=md5_hex("geheim")
    )
    assert canonical(body) == canonical(fixture("update_order_status_request.xml"))


def test_request_is_utf8_text_xml_with_declaration() -> None:
    body = build_update_order_status(
        [parcel(1, "4711")], account_name="Müller", password_md5=md5_hex("x")
    )
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Müller".encode() in body


def test_markup_in_a_tracking_number_stays_text_and_cannot_add_elements() -> None:
    hostile = "X</trackingCode><statusAction>cancel</statusAction><trackingCode>Y"
    body = build_update_order_status(
        [parcel(1, "4711", hostile)], account_name="shop", password_md5=md5_hex("x")
    )
    order = etree.fromstring(body).find("orders/order")
    assert order is not None
    assert [e.text for e in order.iter(SHAPE.status_action)] == [SHAPE.status_action_shipped]
    assert order.findtext(SHAPE.tracking_code) == hostile
    assert b"&lt;/trackingCode&gt;" in body


def test_quotes_in_the_account_name_cannot_break_out_of_the_attribute() -> None:
    name = 'shop" password="forged'
    body = build_update_order_status(
        [parcel(1, "4711")], account_name=name, password_md5=md5_hex("real")
    )
    root = etree.fromstring(body)
    assert root.get(ENVELOPE.user_attr) == name
    assert root.get(ENVELOPE.password_attr) == md5_hex("real")


def test_envelope_carries_the_md5_of_the_password_never_the_password() -> None:
    body = build_update_order_status(
        [parcel(1, "4711")], account_name="shop", password_md5=md5_hex("geheim-123")
    )
    root = etree.fromstring(body)
    assert root.findtext(ENVELOPE.account_pass) == md5_hex("geheim-123")
    assert root.findtext(ENVELOPE.function) == SHAPE.function
    assert b"geheim-123" not in body


def test_every_liefern_carrier_but_other_has_a_hood_label() -> None:
    assert set(SHAPE.carrier_labels) == set(LIEFERN_CARRIERS)
    assert to_parcel(shipment(carrier="other")).carrier_label is None


def test_an_order_with_two_parcels_is_split_over_two_requests() -> None:
    chunks = chunk_parcels([parcel(1, "A"), parcel(2, "A"), parcel(3, "B")], max_per_request=5)
    assert [[p.confirmation_id for p in chunk] for chunk in chunks] == [[1, 3], [2]]


def test_requests_never_carry_more_orders_than_allowed() -> None:
    parcels = [parcel(i, str(i)) for i in range(12)]
    chunks = chunk_parcels(parcels, max_per_request=5)
    assert [len(chunk) for chunk in chunks] == [5, 5, 2]
    assert [p for chunk in chunks for p in chunk] == parcels


@pytest.mark.parametrize(
    ("order_id", "tracking", "reason"),
    [
        ("", "T1", "order id"),
        ("4711", "  ", "tracking number is empty"),
        ("4711", "T\x001", "control characters"),
        ("47\x0b11", "T1", "control characters"),
    ],
)
def test_check_refuses_what_cannot_be_sent(order_id: str, tracking: str, reason: str) -> None:
    refusal = check_shipment(shipment(order_id, tracking))
    assert refusal is not None and reason in refusal


def test_check_accepts_umlauts_and_punctuation() -> None:
    assert check_shipment(shipment("4711", "Ä-1/2 <3>")) is None


def test_success_answer_confirms_every_order() -> None:
    answer = parse_answer(fixture("answer_success.xml"))
    assert answer.global_error is None
    assert {oid: o.ok for oid, o in answer.orders.items()} == {"4711": True, "4712": True}
    result = result_for(parcel(7, "4712"), answer)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.confirmation_id == 7


def test_per_order_error_rejects_with_hoods_text() -> None:
    answer = parse_answer(fixture("answer_order_error.xml"))
    assert result_for(parcel(1, "4711"), answer).status is ConfirmationStatus.CONFIRMED
    rejected = result_for(parcel(2, "4712"), answer)
    assert rejected.status is ConfirmationStatus.REJECTED
    assert rejected.error_code == "failed"
    assert rejected.error_text == "Bestellung 4712 ist storniert & kann nicht versendet werden"


def test_global_error_rejects_every_order_with_hoods_text() -> None:
    answer = parse_answer(fixture("answer_global_error.xml"))
    assert not is_auth_error(answer.global_error or "")
    result = result_for(parcel(1, "4711"), answer)
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "globalError"
    assert result.error_text == "Die Anfrage konnte nicht verarbeitet werden: Element orders fehlt"


def test_global_error_about_user_or_password_is_an_auth_error() -> None:
    answer = parse_answer(fixture("answer_auth_error.xml"))
    assert answer.global_error == "Ungültiger Benutzername oder Passwort"
    assert is_auth_error(answer.global_error)


def test_empty_global_error_element_is_not_an_error() -> None:
    answer = parse_answer(fixture("answer_empty_global_error.xml"))
    assert answer.global_error is None
    assert answer.orders["4711"].ok


def test_order_missing_from_the_answer_fails_instead_of_confirming() -> None:
    result = result_for(parcel(3, "9999"), parse_answer(fixture("answer_success.xml")))
    assert result.status is ConfirmationStatus.FAILED
    assert "9999" in (result.error_text or "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("answer_truncated.xml", "not well-formed"),
        ("answer_entity_expansion.xml", "DTD"),
        ("answer_unknown_shape.xml", "neither globalError nor orders"),
    ],
)
def test_unreadable_answers_raise_a_clear_retryable_parse_error(name: str, message: str) -> None:
    with pytest.raises(HoodParseError, match=message) as caught:
        parse_answer(fixture(name))
    assert isinstance(caught.value, TransientError) and caught.value.retryable


def test_empty_body_is_a_parse_error() -> None:
    with pytest.raises(HoodParseError):
        parse_answer(b"")


def test_a_parcel_without_tracking_number_is_refused_with_what_to_do() -> None:
    refusal = check_shipment(replace(shipment(), tracking_number=None))
    assert refusal is not None
    assert "without tracking code" in refusal and "by hand" in refusal
