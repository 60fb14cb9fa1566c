"""Amazon mapping: the fulfillment feed, confirmShipment bodies and processing reports.

Pure tests from fixture files (tests/fixtures/amazon/); no HTTP.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connectors.amazon import mapping
from connectors.base import OrderParcel, ParcelShipment, ShipmentItem
from core.domain import ConfirmationStatus

FIXTURES = Path(__file__).parent / "fixtures" / "amazon"
MERCHANT = "A2EXAMPLEMERCH"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load_parcels(name: str = "parcels.json") -> list[ParcelShipment]:
    rows = json.loads(fixture(name))
    return [
        ParcelShipment(
            confirmation_id=row["confirmation_id"],
            order_no=row["order_no"],
            portal_order_id=row["portal_order_id"],
            account=row["account"],
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            shipped_at=datetime.fromisoformat(row["shipped_at"]),
            items=tuple(ShipmentItem(**item) for item in row["items"]),
            order_parcels=tuple(OrderParcel(**p) for p in row.get("order_parcels", [])),
            parcel_index=row.get("parcel_index", 0),
        )
        for row in rows
    ]


def parcel(**changes: object) -> ParcelShipment:
    return replace(load_parcels()[0], **changes)  # type: ignore[arg-type]


def canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


def tags(element: etree._Element) -> list[str]:
    return [child.tag for child in element if isinstance(child.tag, str)]


# --- the feed -------------------------------------------------------------------------------------


def test_feed_matches_the_expected_document() -> None:
    content, _ = mapping.build_fulfillment_feed(MERCHANT, load_parcels())
    assert canonical(content) == canonical(fixture("fulfillment_feed.xml"))


def test_each_parcel_of_an_order_is_a_package_with_its_share_of_the_items() -> None:
    # 3 pieces over 2 parcels; the second, a letter, goes without ShipperTrackingNumber
    content, _ = mapping.build_fulfillment_feed(
        MERCHANT, load_parcels("parcels_one_order_two_packages.json")
    )
    assert canonical(content) == canonical(fixture("fulfillment_feed_two_packages.xml"))


def test_every_parcel_of_a_multi_parcel_order_passes_the_check() -> None:
    parcels = load_parcels("parcels_one_order_two_packages.json")
    assert [mapping.check(p) for p in parcels] == [None, None]


def test_feed_is_utf8_with_xml_declaration() -> None:
    content, _ = mapping.build_fulfillment_feed(MERCHANT, load_parcels())
    assert content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    content.decode("utf-8")


def test_envelope_has_header_message_type_then_messages() -> None:
    content, _ = mapping.build_fulfillment_feed(MERCHANT, load_parcels())
    root = etree.fromstring(content)
    assert root.tag == "AmazonEnvelope"
    assert tags(root) == ["Header", "MessageType", "Message", "Message", "Message"]
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == MERCHANT
    assert root.findtext("MessageType") == "OrderFulfillment"


def test_message_ids_count_from_one_and_map_to_confirmation_rows() -> None:
    parcels = load_parcels()
    content, message_ids = mapping.build_fulfillment_feed(MERCHANT, parcels)
    root = etree.fromstring(content)
    assert [m.findtext("MessageID") for m in root.iter("Message")] == ["1", "2", "3"]
    assert message_ids == {1: 101, 2: 102, 3: 103}


def test_order_fulfillment_elements_follow_the_schema_order() -> None:
    content, _ = mapping.build_fulfillment_feed(MERCHANT, load_parcels())
    fulfillments = etree.fromstring(content).findall("Message/OrderFulfillment")
    assert tags(fulfillments[0]) == ["AmazonOrderID", "FulfillmentDate", "FulfillmentData"]
    assert tags(fulfillments[1]) == [
        "AmazonOrderID",
        "FulfillmentDate",
        "FulfillmentData",
        "Item",
        "Item",
    ]
    item = fulfillments[1].find("Item")
    assert item is not None
    assert tags(item) == ["AmazonOrderItemCode", "Quantity"]


def test_carrier_name_travels_only_with_carrier_code_other() -> None:
    content, _ = mapping.build_fulfillment_feed(MERCHANT, load_parcels())
    data = etree.fromstring(content).findall("Message/OrderFulfillment/FulfillmentData")
    assert tags(data[0]) == ["CarrierCode", "ShippingMethod", "ShipperTrackingNumber"]
    assert tags(data[2]) == [
        "CarrierCode",
        "CarrierName",
        "ShippingMethod",
        "ShipperTrackingNumber",
    ]
    assert data[2].findtext("CarrierCode") == "Other"
    assert data[2].findtext("CarrierName") == "Spedition Meier"


def test_fulfillment_date_keeps_the_local_offset() -> None:
    shipped = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    content, _ = mapping.build_fulfillment_feed(MERCHANT, [parcel(shipped_at=shipped)])
    date = etree.fromstring(content).findtext("Message/OrderFulfillment/FulfillmentDate")
    assert date == "2026-07-01T09:30:00+02:00"


def test_naive_ship_time_is_refused_by_the_builder() -> None:
    with pytest.raises(ValueError, match="timezone"):
        mapping.build_fulfillment_feed(MERCHANT, [parcel(shipped_at=datetime(2026, 1, 1))])


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
        ("fedex", "FedEx"),
        ("DHL", "DHL"),
    ],
)
def test_liefern_carriers_map_to_amazons_case_sensitive_codes(carrier: str, code: str) -> None:
    assert mapping.amazon_carrier(carrier) == (code, None)


@pytest.mark.parametrize(
    ("carrier", "name"), [("other", "Other"), ("spedition_meier", "Spedition Meier")]
)
def test_unknown_carriers_become_other_with_a_carrier_name(carrier: str, name: str) -> None:
    assert mapping.amazon_carrier(carrier) == ("Other", name)


def test_markup_in_tracking_number_and_merchant_stays_text() -> None:
    hostile = '</ShipperTrackingNumber><CarrierCode>UPS</CarrierCode>&amp;"'
    content, _ = mapping.build_fulfillment_feed(
        "M<&>", [parcel(tracking_number=hostile, carrier="dhl")]
    )
    root = etree.fromstring(content)
    data = root.find("Message/OrderFulfillment/FulfillmentData")
    assert data is not None
    assert data.findtext("ShipperTrackingNumber") == hostile
    assert [c.text for c in data.iter("CarrierCode")] == ["DHL"]
    assert root.findtext("Header/MerchantIdentifier") == "M<&>"


@given(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"
        ),
        min_size=1,
        max_size=50,
    ).filter(lambda s: s.strip())
)
def test_any_tracking_number_the_check_accepts_round_trips_exactly(tracking: str) -> None:
    shipment = parcel(tracking_number=tracking)
    assert mapping.check(shipment) is None
    content, _ = mapping.build_fulfillment_feed(MERCHANT, [shipment])
    found = etree.fromstring(content).findtext(
        "Message/OrderFulfillment/FulfillmentData/ShipperTrackingNumber"
    )
    assert found == tracking.strip()


def test_feed_below_the_limit_is_one_document() -> None:
    documents = mapping.split_feed(MERCHANT, load_parcels())
    assert len(documents) == 1
    assert documents[0].message_ids == {1: 101, 2: 102, 3: 103}


def test_feed_above_the_limit_is_split_and_each_part_renumbered() -> None:
    parcels = [replace(load_parcels()[0], confirmation_id=n) for n in range(1, 41)]
    whole, _ = mapping.build_fulfillment_feed(MERCHANT, parcels)
    limit = len(whole) // 3
    documents = mapping.split_feed(MERCHANT, parcels, max_bytes=limit)
    assert len(documents) > 1
    assert all(len(d.content) <= limit for d in documents)
    for document in documents:
        assert sorted(document.message_ids) == list(range(1, len(document.message_ids) + 1))
    sent = [cid for d in documents for cid in d.message_ids.values()]
    assert sent == list(range(1, 41))


# --- pre-submit check -----------------------------------------------------------------------------


def test_a_well_formed_parcel_passes_the_check() -> None:
    assert all(mapping.check(p) is None for p in load_parcels())


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"portal_order_id": "302-123456-1234567"}, "invalid_order_id"),
        ({"portal_order_id": "A-1001"}, "invalid_order_id"),
        ({"tracking_number": "   "}, "missing_tracking_number"),
        ({"tracking_number": "X" * 51}, "tracking_number_too_long"),
        ({"tracking_number": "0034\x00043"}, "invalid_tracking_number"),
        ({"tracking_number": "0034\n043"}, "invalid_tracking_number"),
        ({"shipped_at": datetime(2026, 11, 26, 14, 5)}, "invalid_ship_date"),
        ({"items": (ShipmentItem("", 1),)}, "missing_order_item_id"),
        ({"items": (ShipmentItem("1234", 1),)}, "invalid_order_item_id"),
        ({"items": (ShipmentItem("12345678901234", 0),)}, "invalid_quantity"),
    ],
)
def test_check_rejects_what_amazon_would_refuse(changes: dict[str, object], code: str) -> None:
    result = mapping.check(parcel(**changes))
    assert result is not None
    assert result.status == ConfirmationStatus.REJECTED
    assert result.error_code == code
    assert result.confirmation_id == 101
    assert result.error_text


def test_confirm_shipment_needs_order_items() -> None:
    result = mapping.check(parcel(items=()), require_items=True)
    assert result is not None and result.error_code == "missing_order_items"
    assert mapping.check(load_parcels()[1], require_items=True) is None


# --- confirmShipment ------------------------------------------------------------------------------


def test_confirm_shipment_body_matches_the_expected_request() -> None:
    body = mapping.confirm_shipment_body(load_parcels()[1], "A1PA6795UKMFR9")
    assert body == json.loads(fixture("confirm_shipment_body.json"))


def test_confirm_shipment_body_names_other_carriers() -> None:
    body = mapping.confirm_shipment_body(load_parcels()[2], "A1PA6795UKMFR9")
    assert body["packageDetail"]["carrierCode"] == "Other"
    assert body["packageDetail"]["carrierName"] == "Spedition Meier"
    assert body["packageDetail"]["packageReferenceId"] == "103"


def test_ship_date_is_utc() -> None:
    shipped = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert mapping.ship_date(shipped) == "2026-07-01T07:30:00.000Z"


# --- processing reports ---------------------------------------------------------------------------


def test_report_summary_and_results_are_read() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_mixed.xml"))
    assert report.status_code == "Complete"
    assert report.document_transaction_id == "50001018417"
    assert report.summary == mapping.ProcessingSummary(5, 3, 2, 2)
    assert [(r.message_id, r.result_code, r.message_code) for r in report.results] == [
        (2, "Error", "18028"),
        (3, "Error", "18021"),
        (3, "Warning", "18500"),
        (4, "Warning", "18500"),
    ]
    assert report.results[0].amazon_order_id == "302-9999999-9999999"


def test_report_descriptions_are_whitespace_normalised() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_mixed.xml"))
    assert report.results[1].description.endswith("already fulfilled.")


def test_report_maps_each_message_to_a_ledger_result() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_mixed.xml"))
    ids = {1: 11, 2: 12, 3: 13, 4: 14, 5: 15}
    results = {r.confirmation_id: r for r in mapping.report_results(report, ids, "50001018417")}
    assert results[11].status == ConfirmationStatus.CONFIRMED
    assert results[11].error_text is None
    assert results[12].status == ConfirmationStatus.REJECTED
    assert results[12].error_code == "18028"
    assert results[12].error_text is not None
    assert results[12].error_text.startswith("Your order cannot be found")
    assert results[13].status == ConfirmationStatus.REJECTED
    assert results[13].error_code == "18021"
    assert results[14].status == ConfirmationStatus.CONFIRMED
    assert "does not match the expected format" in (results[14].error_text or "")
    assert "18500" in results[14].extra["warnings"]
    assert results[15].status == ConfirmationStatus.CONFIRMED
    assert all(r.reference == "50001018417" for r in results.values())
    assert results[13].extra["message_id"] == "3"


def test_summary_only_report_confirms_every_message() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_all_successful.xml"))
    results = mapping.report_results(report, {1: 1, 2: 2, 3: 3}, "f")
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 3


def test_feed_level_error_sends_every_message_back_to_pending() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_fatal.xml"))
    results = mapping.report_results(report, {1: 1, 2: 2}, "50001018419")
    assert [r.status for r in results] == [ConfirmationStatus.PENDING] * 2
    assert "5001" in (results[0].error_text or "")
    assert "will be resubmitted" in (results[0].error_text or "")


def test_message_beyond_the_processed_count_goes_back_to_pending() -> None:
    report = mapping.parse_processing_report(fixture("processing_report_short_count.xml"))
    results = mapping.report_results(report, {1: 1, 2: 2, 3: 3}, "f")
    assert [r.status for r in results] == [
        ConfirmationStatus.CONFIRMED,
        ConfirmationStatus.CONFIRMED,
        ConfirmationStatus.PENDING,
    ]
    assert "processed 2" in (results[2].error_text or "")


def test_report_with_doctype_and_entities_is_refused() -> None:
    with pytest.raises(ValueError, match="DOCTYPE"):
        mapping.parse_processing_report(fixture("processing_report_entity.xml"))


def test_truncated_report_raises_a_clear_error() -> None:
    with pytest.raises(ValueError, match="processing report: not well-formed XML"):
        mapping.parse_processing_report(fixture("processing_report_truncated.xml"))


def test_a_feed_is_not_mistaken_for_a_report() -> None:
    with pytest.raises(ValueError, match="no ProcessingReport"):
        mapping.parse_processing_report(fixture("fulfillment_feed.xml"))


def test_report_without_counts_is_refused() -> None:
    xml = fixture("processing_report_all_successful.xml").replace(
        b"<MessagesSuccessful>3</MessagesSuccessful>", b""
    )
    with pytest.raises(ValueError, match="MessagesSuccessful"):
        mapping.parse_processing_report(xml)


# --- vendor facts ---------------------------------------------------------------------------------


def test_german_marketplace_is_served_by_the_eu_endpoint() -> None:
    assert mapping.MARKETPLACES["DE"].marketplace_id == "A1PA6795UKMFR9"
    assert (
        mapping.endpoint_for_marketplace("A1PA6795UKMFR9")
        == "https://sellingpartnerapi-eu.amazon.com"
    )
    assert mapping.endpoint_for_marketplace("ATVPDKIKX0DER", sandbox=True) == (
        "https://sandbox.sellingpartnerapi-na.amazon.com"
    )


@pytest.mark.parametrize("value", ["UK", "gb", "A1F83G8C2ARO7P"])
def test_marketplace_is_found_by_country_or_id(value: str) -> None:
    assert mapping.resolve_marketplace(value).marketplace_id == "A1F83G8C2ARO7P"


def test_unknown_marketplace_is_an_error() -> None:
    with pytest.raises(LookupError, match="XX"):
        mapping.endpoint_for_marketplace("XX")


def test_every_marketplace_id_is_unique() -> None:
    ids = [m.marketplace_id for m in mapping.MARKETPLACES.values()]
    assert len(ids) == len(set(ids))
