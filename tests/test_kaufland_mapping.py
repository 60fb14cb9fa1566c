"""Kaufland mapping: parcels to Seller API v2 payloads, unit statuses to actions, from fixtures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import OrderParcel, ParcelShipment, ShipmentItem
from connectors.kaufland.mapping import (
    CARRIER_CODES,
    UnitAction,
    add_shipment_request,
    check_shipment,
    kaufland_carrier_code,
    order_unit_ids,
    parcel_may_be_new,
    parse_problem,
    send_request,
    unit_action,
    unit_statuses,
)
from core.domain import ConfirmationStatus

FIXTURES = Path(__file__).parent / "fixtures" / "kaufland"


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


def test_send_request_carries_only_the_tracking_numbers_of_the_parcels_carrier() -> None:
    # the order's other parcel is DHL: it must not travel as Hermes
    assert send_request(parcel("parcel_second_of_two.json")) == load(
        "send_request_second_of_two.json"
    )


def test_send_request_joins_the_orders_numbers_of_one_carrier_with_commas() -> None:
    shipment = replace(
        parcel("parcel_second_of_two.json"),
        carrier="dpd",
        tracking_number="01234567890123",
        order_parcels=(
            OrderParcel("dpd", "01234567890123"),
            OrderParcel("dhl", "00340434161234567890"),
            OrderParcel("dpd", "01234567890124"),
        ),
        parcel_index=0,
    )
    assert send_request(shipment) == {
        "carrier_code": "DPD",
        "tracking_numbers": "01234567890123,01234567890124",
    }


def test_a_later_parcel_becomes_an_add_shipment_request() -> None:
    shipment = parcel("parcel_second_of_two.json")
    assert add_shipment_request(314567898654243, shipment) == load(
        "add_shipment_request_second_of_two.json"
    )


def test_the_parcels_own_number_is_sent_even_when_the_order_list_lacks_it() -> None:
    shipment = replace(
        parcel("parcel_second_of_two.json"), order_parcels=(OrderParcel("hermes", "A1"),)
    )
    assert send_request(shipment)["tracking_numbers"] == "A1,H1002345678901234567"


def test_each_order_unit_is_named_once() -> None:
    assert order_unit_ids(parcel("parcel_second_of_two.json")) == [
        314567898654242,
        314567898654243,
    ]


@pytest.mark.parametrize(
    ("carrier", "code"),
    [
        ("dhl", "DHL"),
        ("deutsche_post", "Deutsche Post"),
        ("dhl_express", "DHL Express"),
        ("dpd", "DPD"),
        ("ups", "UPS"),
        ("gls", "GLS"),
        ("hermes", "Hermes"),
        ("fedex", "Fedex"),
        ("other", "Other"),
        ("carrier_pigeon", "Other"),
    ],
)
def test_liefern_carriers_map_to_kauflands_carrier_names(carrier: str, code: str) -> None:
    assert kaufland_carrier_code(carrier) == code


def test_no_two_liefern_carriers_share_a_kaufland_name() -> None:
    assert len(set(CARRIER_CODES.values())) == len(CARRIER_CODES)


@pytest.mark.parametrize(
    ("status", "may_be_new", "action"),
    [
        ("need_to_be_sent", False, UnitAction.SEND),
        ("open", True, UnitAction.SEND),
        ("sent", False, UnitAction.ALREADY_DONE),
        ("sent_and_autopaid", False, UnitAction.ALREADY_DONE),
        ("sent", True, UnitAction.ADD_SHIPMENT),
        ("sent_and_autopaid", True, UnitAction.ADD_SHIPMENT),
        ("received", True, UnitAction.ALREADY_DONE),
        ("returned", True, UnitAction.ALREADY_DONE),
        ("returned_paid", False, UnitAction.ALREADY_DONE),
        ("cancelled", True, UnitAction.CANCELLED),
    ],
)
def test_the_units_status_decides_what_is_left_to_tell_kaufland(
    status: str, may_be_new: bool, action: UnitAction
) -> None:
    assert unit_action(status, parcel_may_be_new=may_be_new) is action


def test_only_a_parcel_of_a_multi_parcel_order_may_be_new_to_a_sent_unit() -> None:
    second = parcel("parcel_second_of_two.json")
    only = replace(second, order_parcels=(OrderParcel("hermes", second.tracking_number),))
    untracked = replace(second, carrier="other", tracking_number="")
    assert parcel_may_be_new(second)
    assert not parcel_may_be_new(only)
    assert not parcel_may_be_new(untracked)


def test_every_units_status_is_read_from_the_order_answer() -> None:
    assert unit_statuses(load("order_three_units.json")) == {
        314567898654242: "sent",
        314567898654243: "need_to_be_sent",
        314567898654244: "cancelled",
    }


def test_an_order_without_units_has_no_statuses() -> None:
    body = load("order_three_units.json")
    body["data"]["order_units"] = []
    assert unit_statuses(body) == {}


def _without_status(body: dict[str, Any]) -> dict[str, Any]:
    del body["data"]["order_units"][1]["status"]
    return body


def _without_unit_id(body: dict[str, Any]) -> dict[str, Any]:
    del body["data"]["order_units"][0]["id_order_unit"]
    return body


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"data": None},
        {"data": {"id_order": "MB7UWLD"}},
        {"data": {"order_units": None}},
        {"data": {"order_units": ["314567898654242"]}},
        _without_status(load("order_three_units.json")),
        _without_unit_id(load("order_three_units.json")),
    ],
    ids=[
        "none",
        "list",
        "no-data",
        "null-data",
        "no-order-units",
        "null-order-units",
        "unit-no-object",
        "unit-without-status",
        "unit-without-id",
    ],
)
def test_a_malformed_order_answer_is_an_error(body: Any) -> None:
    with pytest.raises(ValueError, match="Kaufland's order answer"):
        unit_statuses(body)


def test_a_validation_error_names_the_field_and_kauflands_reason() -> None:
    problem = parse_problem(load("error_validation.json"), status=400)
    assert problem.code == "validation-error"
    assert problem.text() == (
        "Request parameters have invalid values; carrier_code: not a valid carrier code"
    )


def test_a_body_that_is_no_error_response_still_gives_a_text() -> None:
    problem = parse_problem(None, status=502)
    assert problem.code == ""
    assert problem.text() == "Kaufland answered HTTP 502"


def test_check_passes_a_complete_parcel() -> None:
    assert check_shipment(parcel("parcel_second_of_two.json")) is None


def test_other_carrier_needs_no_tracking_number() -> None:
    shipment = replace(
        parcel("parcel_second_of_two.json"),
        carrier="other",
        tracking_number="",
        order_tracking_numbers=(),
        order_parcels=(),
    )
    assert check_shipment(shipment) is None
    assert send_request(shipment) == {"carrier_code": "Other", "tracking_numbers": ""}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"portal_order_id": " "}, "no-order-id"),
        ({"items": ()}, "no-order-units"),
        ({"items": (ShipmentItem("MB7UWLD-1", 1),)}, "bad-order-unit-id"),
        ({"tracking_number": "  "}, "no-tracking-number"),
        ({"tracking_number": "A1,B2"}, "bad-tracking-number"),
    ],
)
def test_check_rejects_what_kaufland_would_refuse(change: dict[str, Any], code: str) -> None:
    result = check_shipment(replace(parcel("parcel_second_of_two.json"), **change))
    assert result is not None
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == code
    assert result.confirmation_id == 77


def test_a_parcel_without_tracking_number_of_a_tracked_carrier_is_refused_with_what_to_do() -> None:
    shipment = replace(parcel("parcel_second_of_two.json"), carrier="deutsche_post")
    refused = check_shipment(replace(shipment, tracking_number=None))
    assert refused is not None and refused.error_code == "no-tracking-number"
    assert "by hand in the Kaufland seller portal" in (refused.error_text or "")


def test_a_parcel_without_tracking_number_goes_as_other_without_numbers() -> None:
    shipment = replace(
        parcel("parcel_second_of_two.json"),
        carrier="other",
        tracking_number=None,
        order_parcels=(OrderParcel("other", None),),
        parcel_index=0,
    )
    assert check_shipment(shipment) is None
    assert send_request(shipment) == {"carrier_code": "Other", "tracking_numbers": ""}
