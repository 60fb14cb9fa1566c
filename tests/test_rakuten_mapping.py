"""Rakuten mapping: the documented sample answers (from ../shared/specs/rakuten), our own
fixtures for the documented error codes, and the form fields built for setOrderShipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import ParcelShipment
from connectors.errors import TransientError
from connectors.rakuten.mapping import (
    CARRIER_CODES,
    DOCUMENTED_ERRORS,
    RAKUTEN_CARRIERS,
    TRACKING_LINK,
    RakutenParseError,
    after_not_editable,
    check_shipment,
    is_auth_error,
    parse_answer,
    parse_order_status,
    result_for,
    to_params,
)
from core.domain import ConfirmationStatus

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs" / "rakuten"
FIXTURES = Path(__file__).parent / "fixtures" / "rakuten"
LIEFERN_CARRIERS = ("dhl", "deutsche_post", "dhl_express", "dpd", "ups", "gls", "hermes", "fedex")


def spec_sample(name: str) -> bytes:
    path = SPECS / name
    if not path.is_file():
        pytest.skip(f"Rakuten spec samples not found at {SPECS} (../shared/specs absent)")
    return path.read_bytes()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def shipment(
    order_no: str = "123-456-789", tracking: str = "00340434161234567890", carrier: str = "dhl"
) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=5,
        order_no="A-1",
        portal_order_id=order_no,
        account="main",
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=datetime(2020, 10, 1, 9, 0, tzinfo=UTC),
    )


def test_documented_success_sample_confirms() -> None:
    answer = parse_answer(spec_sample("setOrderShipped_response_success.xml"))
    assert answer.success and answer.errors == ()
    assert result_for(5, answer).status is ConfirmationStatus.CONFIRMED


def test_documented_error_sample_yields_every_error_with_code_message_and_help() -> None:
    answer = parse_answer(spec_sample("error_response_sample.xml"))
    assert not answer.success
    assert [(e.code, e.message, e.help) for e in answer.errors] == [
        (
            "40",
            'Der benötigte Parameter "name" konnte nicht gefunden werden',
            "http://www.google.de",
        ),
        (
            "40",
            'Der benötigte Parameter "price" konnte nicht gefunden werden',
            "http://www.google.de",
        ),
    ]
    result = result_for(5, answer)
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "40"
    assert result.error_text is not None and '"name"' in result.error_text
    assert '"price"' in result.error_text
    assert result.extra == {"help": "http://www.google.de"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("error_3705_order_not_found.xml", "3705"),
        ("error_3710_not_editable.xml", "3710"),
        ("error_4702_carrier_not_allowed.xml", "4702"),
        ("error_4703_tracking_number_format.xml", "4703"),
    ],
)
def test_documented_error_codes_reject_with_rakutens_code_and_text(name: str, code: str) -> None:
    answer = parse_answer(fixture(name))
    assert not is_auth_error(answer)
    result = result_for(9, answer)
    assert (result.status, result.error_code, result.error_text) == (
        ConfirmationStatus.REJECTED,
        code,
        DOCUMENTED_ERRORS[code],
    )


def test_the_assumed_wrong_key_answer_is_an_auth_error() -> None:
    assert is_auth_error(parse_answer(fixture("error_auth_assumed.xml")))


def test_failure_without_error_details_is_still_a_rejection() -> None:
    result = result_for(1, parse_answer(fixture("error_without_details.xml")))
    assert result.status is ConfirmationStatus.REJECTED
    assert "without an error" in (result.error_text or "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.xml", "not well-formed"),
        ("entity_expansion.xml", "DTD"),
        ("unknown_root.xml", "expected <result>"),
        ("unexpected_success_value.xml", "expected 1 or -1"),
    ],
)
def test_unreadable_answers_raise_a_clear_retryable_parse_error(name: str, message: str) -> None:
    with pytest.raises(RakutenParseError, match=message) as caught:
        parse_answer(fixture(name))
    assert isinstance(caught.value, TransientError)


def test_every_mapped_carrier_is_one_rakuten_allows() -> None:
    assert set(CARRIER_CODES.values()) <= set(RAKUTEN_CARRIERS)
    assert TRACKING_LINK in RAKUTEN_CARRIERS


@pytest.mark.parametrize(
    ("carrier", "expected"),
    [
        ("dhl", "DHL"),
        ("deutsche_post", "Deutsche Post (Einschreiben)"),
        ("dhl_express", "DHL"),
        ("dpd", "DPD"),
        ("ups", "UPS"),
        ("gls", "GLS"),
        ("hermes", "Hermes"),
    ],
)
def test_form_fields_for_a_carrier_with_a_rakuten_code(carrier: str, expected: str) -> None:
    form = to_params(shipment(carrier=carrier)).form()
    assert form == {
        "order_no": "123-456-789",
        "carrier": expected,
        "tracking_number": "00340434161234567890",
    }


def test_carrier_without_rakuten_code_goes_out_as_tracking_link() -> None:
    link = "https://www.fedex.com/fedextrack/?trknbr=123456789012&x=1"
    params = to_params(shipment(tracking="123456789012", carrier="fedex"), link)
    assert (params.carrier, params.tracking_url) == (TRACKING_LINK, link)
    assert params.form()["tracking_url"] == link


def test_form_never_contains_the_key() -> None:
    assert "key" not in to_params(shipment()).form()


def test_liefern_carriers_are_covered_or_need_a_link() -> None:
    unmapped = [c for c in LIEFERN_CARRIERS if c not in CARRIER_CODES]
    assert unmapped == ["fedex"]


@pytest.mark.parametrize("order_no", ["123456789", "123-456", "123-456-7890", " ", "12-3456-789"])
def test_check_refuses_order_numbers_not_shaped_xxx_xxx_xxx(order_no: str) -> None:
    refusal = check_shipment(shipment(order_no=order_no))
    assert refusal is not None and refusal.error_code == "invalid_order_no"


@pytest.mark.parametrize("tracking", ["0034 0434", "AB-12", "", "1Z<&>"])
def test_check_refuses_tracking_numbers_rakuten_calls_malformed(tracking: str) -> None:
    refusal = check_shipment(shipment(tracking=tracking))
    assert refusal is not None
    assert (refusal.error_code, refusal.error_text) == ("4703", DOCUMENTED_ERRORS["4703"])
    assert refusal.extra == {"checked": "before sending"}


def test_check_refuses_fedex_without_a_tracking_link_and_accepts_it_with_one() -> None:
    refusal = check_shipment(shipment(carrier="fedex"))
    assert refusal is not None and refusal.error_code == "carrier_not_supported"
    assert check_shipment(shipment(carrier="fedex"), "https://fedex.example/t/1") is None


def test_check_accepts_a_well_formed_row() -> None:
    assert check_shipment(shipment(order_no="AB1-234-5C6", tracking="1Z999AA10123456784")) is None


def test_get_orders_answer_gives_the_status_of_the_order_asked_for() -> None:
    body = fixture("getOrders_two_orders.xml")
    assert parse_order_status(body, "123-456-789")[1] == "shipped"
    assert parse_order_status(body, "111-222-333")[1] == "payout"
    assert parse_order_status(body, "999-999-999")[1] is None


def test_get_orders_error_answer_lists_no_status() -> None:
    answer, status = parse_order_status(fixture("error_auth_assumed.xml"), "123-456-789")
    assert not answer.success and status is None


@pytest.mark.parametrize("status", ["shipped", "payout"])
def test_shipped_after_a_call_of_ours_is_confirmed(status: str) -> None:
    result = after_not_editable(shipment(), status, ours_may_have_gone_through=True)
    assert result.status is ConfirmationStatus.CONFIRMED


@pytest.mark.parametrize(
    ("status", "ours", "words"),
    [
        ("shipped", False, "marked shipped without liefern"),
        ("cancelled", True, "cancelled on Rakuten"),
        ("pending", True, "not released for shipping yet"),
        (None, True, "does not list order 123-456-789"),
    ],
)
def test_anything_else_after_3710_is_rejected_with_the_reason(
    status: str | None, ours: bool, words: str
) -> None:
    result = after_not_editable(shipment(), status, ours_may_have_gone_through=ours)
    assert (result.status, result.error_code) == (ConfirmationStatus.REJECTED, "3710")
    assert words in (result.error_text or "")
