"""eBay mapping: liefern parcels to Fulfillment API payloads and back, from fixture files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import OrderParcel, ParcelShipment, ShipmentItem
from connectors.ebay.mapping import (
    CARRIER_CODES,
    check_shipment,
    describe_errors,
    ebay_carrier_code,
    find_fulfillment,
    format_shipped_date,
    fulfillment_id_from_location,
    fulfillment_request,
    normalise_tracking_number,
    parse_errors,
)
from core.domain import ConfirmationStatus

FIXTURES = Path(__file__).parent / "fixtures" / "ebay"
LIEFERN_CARRIERS = ("dhl", "deutsche_post", "dhl_express", "dpd", "ups", "gls", "hermes", "fedex")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def parcel(name: str) -> ParcelShipment:
    raw = load(name)
    return ParcelShipment(
        confirmation_id=raw["confirmation_id"],
        order_no=raw["order_no"],
        portal_order_id=raw["portal_order_id"],
        account=raw["account"],
        carrier=raw["carrier"],
        tracking_number=raw["tracking_number"],
        shipped_at=datetime.fromisoformat(raw["shipped_at"]),
        items=tuple(ShipmentItem(**item) for item in raw["items"]),
        order_tracking_numbers=tuple(raw["order_tracking_numbers"]),
        order_parcels=tuple(OrderParcel(**p) for p in raw.get("order_parcels", [])),
        parcel_index=raw.get("parcel_index", 0),
    )


def test_a_parcel_becomes_the_documented_fulfillment_request() -> None:
    assert fulfillment_request(parcel("parcel_two_line_items.json")) == load(
        "fulfillment_request_two_line_items.json"
    )


def test_the_second_of_two_parcels_claims_only_its_share_of_the_line_items() -> None:
    # 4 pieces over 2 parcels: the first takes 10031234567890 and one 10031234567891
    assert fulfillment_request(parcel("parcel_second_of_two.json")) == load(
        "fulfillment_request_second_of_two.json"
    )


def test_a_parcel_without_tracking_number_names_neither_number_nor_carrier() -> None:
    body = fulfillment_request(replace(parcel("parcel_two_line_items.json"), tracking_number=None))
    assert "trackingNumber" not in body and "shippingCarrierCode" not in body
    assert (
        check_shipment(replace(parcel("parcel_two_line_items.json"), tracking_number=None)) is None
    )


def test_every_code_we_send_is_in_ebays_carrier_list() -> None:
    from simulators.ebay import CARRIERS

    assert set(CARRIER_CODES.values()) <= CARRIERS
    assert CARRIER_CODES["deutsche_post"] == "DeutschePost"


@pytest.mark.parametrize(
    ("carrier", "code"),
    [
        ("dhl", "DHL"),
        ("deutsche_post", "DeutschePost"),
        ("dhl_express", "DHLEXPRESS"),
        ("dpd", "DPD"),
        ("ups", "UPS"),
        ("gls", "GLS"),
        ("hermes", "Hermes"),
        ("fedex", "FedEx"),
        ("other", "Other"),
    ],
)
def test_liefern_carriers_map_to_ebay_carrier_codes(carrier: str, code: str) -> None:
    assert ebay_carrier_code(carrier) == code


def test_every_liefern_carrier_has_its_own_ebay_code() -> None:
    assert set(LIEFERN_CARRIERS) <= set(CARRIER_CODES)
    codes = [CARRIER_CODES[c] for c in LIEFERN_CARRIERS]
    assert len(set(codes)) == len(codes)
    assert "Other" not in codes


def test_an_unknown_carrier_is_sent_as_other() -> None:
    assert ebay_carrier_code("pigeon_post") == "Other"


def test_shipped_date_is_utc_with_milliseconds() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    moment = datetime(2026, 7, 1, 0, 5, 9, 987654, tzinfo=berlin_summer)
    assert format_shipped_date(moment) == "2026-06-30T22:05:09.987Z"


def test_a_naive_ship_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_shipped_date(datetime(2026, 7, 1, 12, 0))


@given(st.text())
def test_tracking_numbers_keep_only_letters_and_digits(raw: str) -> None:
    cleaned = normalise_tracking_number(raw)
    assert all(ch.isascii() and ch.isalnum() for ch in cleaned)
    assert normalise_tracking_number(cleaned) == cleaned


def test_label_spaces_and_hyphens_are_dropped_from_tracking_numbers() -> None:
    assert normalise_tracking_number(" 1Z 999-AA1 0123456784 ") == "1Z999AA10123456784"


def test_read_back_finds_the_fulfillment_with_the_same_tracking_number() -> None:
    page = load("shipping_fulfillments_page.json")
    assert find_fulfillment(page, "0034 0434 1612 3456 78") == "003404341612345678"


def test_read_back_ignores_other_parcels_and_fulfillments_without_tracking() -> None:
    page = load("shipping_fulfillments_page.json")
    assert find_fulfillment(page, "1Z999AA10123456784") is None
    assert find_fulfillment({"total": 0}, "003404341612345678") is None


def test_fulfillment_id_comes_from_the_location_header() -> None:
    location = (
        "https://api.ebay.com/sell/fulfillment/v1/order/12-34567-89012/"
        "shipping_fulfillment/9405509699937003457459"
    )
    assert fulfillment_id_from_location(location) == "9405509699937003457459"


def test_a_location_without_fulfillment_id_is_an_error() -> None:
    with pytest.raises(ValueError):
        fulfillment_id_from_location(
            "https://api.ebay.com/sell/fulfillment/v1/order/1/shipping_fulfillment"
        )


def test_the_error_envelope_gives_ebays_error_id_and_message() -> None:
    code, text = describe_errors(parse_errors(load("error_invalid_line_item.json")), status=400)
    assert code == "32200"
    assert text == "Invalid line item id: 10031234567899"


def test_several_errors_are_all_kept_with_their_ids() -> None:
    code, text = describe_errors(parse_errors(load("error_two_errors.json")), status=400)
    assert code == "32300"
    assert "32300: Invalid shipment tracking number or carrier" in text
    assert "32500: The shipped date must not lie in the future." in text


def test_a_body_that_is_no_envelope_still_gives_a_code() -> None:
    assert describe_errors(parse_errors("<html>Bad Gateway</html>"), status=502)[0] == "http-502"


def test_check_passes_a_complete_parcel() -> None:
    assert check_shipment(parcel("parcel_two_line_items.json")) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"items": ()}, "no-line-items"),
        ({"items": (ShipmentItem("10031234567890", 0),)}, "bad-quantity"),
        ({"tracking_number": " - "}, "no-tracking-number"),
        ({"portal_order_id": " "}, "no-order-id"),
        ({"shipped_at": datetime(2026, 3, 2, 17, 45)}, "bad-shipped-date"),
    ],
)
def test_check_rejects_what_ebay_would_refuse(change: dict[str, Any], code: str) -> None:
    result = check_shipment(replace(parcel("parcel_two_line_items.json"), **change))
    assert result is not None
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == code
    assert result.confirmation_id == 41


def test_request_dates_are_never_local_time() -> None:
    shipment = replace(parcel("parcel_two_line_items.json"), shipped_at=datetime.now(UTC))
    assert fulfillment_request(shipment)["shippedDate"].endswith("Z")
