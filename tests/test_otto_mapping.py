"""OTTO mapping from fixture files alone: the shipment payload, the pre-submit checks (return
tracking number above all), the carrier table and OTTO's error bodies."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.base import OrderParcel, ParcelShipment, ShipmentItem
from connectors.otto.mapping import (
    CARRIERS,
    RETURN_CARRIERS,
    ShipFrom,
    otto_carrier,
    parse_problems,
    position_items,
    rejection_reason,
    shipment_request,
    shipped_position_items,
)

FIXTURES = Path(__file__).parent / "fixtures" / "otto"
BERLIN = ZoneInfo("Europe/Berlin")
HAMBURG = ShipFrom("Hamburg", "22179")
ORDER = "bf43d748-f13d-49ca-b2e2-1824e9000021"
ITEM_A = "b01b8ad2-a49c-47fc-8ade-8629ec000020"
ITEM_B = "b01b8ad2-a49c-47fc-8ade-8629ec000022"


def parcel(**changes: object) -> ParcelShipment:
    base = ParcelShipment(
        confirmation_id=1,
        order_no="AU100001",
        portal_order_id=ORDER,
        account="otto-de",
        carrier="dhl",
        tracking_number="00340434161094042557",
        shipped_at=datetime(2026, 12, 3, 15, 20, tzinfo=BERLIN),
        items=(ShipmentItem(ITEM_A, 1), ShipmentItem(ITEM_B, 1)),
        return_tracking_number="00340434161094099995",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_payload_is_the_documented_create_shipment_request() -> None:
    shipment = parcel()
    payload = shipment_request(shipment, HAMBURG, position_items(shipment))
    assert payload == json.loads((FIXTURES / "create_shipment_request.json").read_text())


def test_each_parcel_of_a_multi_parcel_order_carries_its_own_position_items() -> None:
    parcels = (
        OrderParcel("dhl", "00340434161094042557"),
        OrderParcel("dhl", "00340434161094042564"),
    )
    first = parcel(order_parcels=parcels, parcel_index=0)
    second = parcel(order_parcels=parcels, parcel_index=1, tracking_number="00340434161094042564")
    assert [i.item_id for i in position_items(first)] == [ITEM_A]
    assert [i.item_id for i in position_items(second)] == [ITEM_B]


def test_a_parcel_without_return_tracking_number_is_refused_with_what_to_do() -> None:
    code, text = rejection_reason(parcel(return_tracking_number=None), HAMBURG) or ("", "")
    assert code == "no-return-tracking-number"
    assert "--return" in text and "liefern portals retry AU100001" in text


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"portal_order_id": " "}, "no-order-id"),
        ({"items": ()}, "no-position-items"),
        ({"items": (ShipmentItem(ITEM_A, 2),)}, "bad-position-item"),
        ({"carrier": "fedex"}, "carrier-not-accepted"),
        ({"tracking_number": None}, "no-tracking-number"),
        ({"carrier": "dpd", "tracking_number": "01234567890128"}, "return-carrier-not-accepted"),
    ],
)
def test_what_otto_would_refuse_is_refused_before_sending(
    changes: dict[str, object], code: str
) -> None:
    reason = rejection_reason(parcel(**changes), HAMBURG)
    assert reason is not None and reason[0] == code


def test_the_ship_from_address_is_required_and_checked() -> None:
    assert rejection_reason(parcel(), None)[0] == "no-ship-from"  # type: ignore[index]
    bad = rejection_reason(parcel(), ShipFrom("Hamburg", "22179", "DE"))
    assert bad is not None and bad[0] == "bad-ship-from" and "alpha-3" in bad[1]
    assert rejection_reason(parcel(), HAMBURG) is None


def test_carrier_codes_are_otto_codes_and_return_labels_are_dhl_gls_hermes() -> None:
    assert otto_carrier("dhl") == "DHL" and otto_carrier("deutsche_post") == "DHL"
    assert otto_carrier("hermes") == "HERMES" and otto_carrier("fedex") is None
    assert {"DHL", "DHL_FREIGHT", "DPD", "GLS", "HERMES", "UPS"} <= CARRIERS
    assert {"DHL", "GLS", "HERMES"} == RETURN_CARRIERS


def test_otto_error_bodies_read_as_title_detail_and_json_path() -> None:
    body = json.loads((FIXTURES / "error_bad_request.json").read_text())
    (problem,) = parse_problems(body, status=400)
    assert problem.title == "Invalid return carrier"
    assert "$.positionItems[0].returnTrackingKey.carrier" in problem.text()
    as_list = {"errors": [body["errors"], {"title": "second"}]}
    assert [p.title for p in parse_problems(as_list, status=400)] == [problem.title, "second"]
    assert parse_problems("<html>", status=502)[0].title == "OTTO answered HTTP 502"


def test_a_read_shipment_names_its_position_items() -> None:
    body = {"shipmentId": "x", "positionItems": [{"positionItemId": ITEM_A}, {"bad": 1}]}
    assert shipped_position_items(body) == {ITEM_A}
    assert shipped_position_items([]) == set()
