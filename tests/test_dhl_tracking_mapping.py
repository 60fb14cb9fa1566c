"""DHL Parcel DE Tracking, pure: request XML, answers, DHL's codes onto our statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from connectors.dhl_tracking.mapping import (
    MalformedAnswer,
    chunks,
    event_status,
    parse_answer,
    parse_timestamp,
    request_xml,
)
from connectors.xml import UntrustedXmlError
from core.tracking import DeliveryStatus

FIXTURES = Path(__file__).parent / "fixtures" / "dhl_tracking"


def test_the_request_carries_up_to_fifteen_numbers_escaped():
    xml = request_xml(["1", "2"], appname="zt<1>", password='p"w&', language="de")
    root = etree.fromstring(xml.encode())
    assert root.get("request") == "d-get-piece-detail"
    assert root.get("piece-code") == "1;2"
    assert (root.get("appname"), root.get("password")) == ("zt<1>", 'p"w&')
    with pytest.raises(ValueError, match="1 to 15"):
        request_xml([str(n) for n in range(16)], appname="a", password="b", language="de")
    assert [len(c) for c in chunks([str(n) for n in range(40)])] == [15, 15, 10]


def test_a_delivered_answer_becomes_a_report_with_its_events():
    delivered, unknown = parse_answer((FIXTURES / "piece_detail_delivered.xml").read_bytes())
    assert delivered.tracking_number == "00340434161094042557"
    assert delivered.status is DeliveryStatus.DELIVERED
    assert [e.status for e in delivered.events] == [
        DeliveryStatus.ANNOUNCED,
        DeliveryStatus.IN_TRANSIT,
        DeliveryStatus.DELIVERED,
    ]
    last = delivered.events[-1]
    assert last.code == "DLVRD/OTHER/ZU" and last.location == "Bonn, Deutschland"
    assert last.at == datetime(2016, 3, 18, 9, 2, tzinfo=UTC)  # 10:02 in Bonn (CET)
    assert unknown.status is None and "keine Informationen" in unknown.text


@pytest.mark.parametrize(
    ("ice", "standard", "returning", "status"),
    [
        ("DLVRD", "ZU", False, DeliveryStatus.DELIVERED),
        ("DLVRD", "", True, DeliveryStatus.RETURNED),
        ("OUTDL", "", False, DeliveryStatus.OUT_FOR_DELIVERY),
        ("NTDEL", "", False, DeliveryStatus.EXCEPTION),
        ("RTNTS", "", False, DeliveryStatus.UNDELIVERABLE),
        ("LOSTD", "", False, DeliveryStatus.LOST),
        ("SHRCU", "", False, DeliveryStatus.ANNOUNCED),
        ("XXXXX", "", False, DeliveryStatus.IN_TRANSIT),
    ],
)
def test_dhl_codes_map_onto_delivery_statuses(ice, standard, returning, status):
    assert event_status(ice, standard, returning=returning) is status


def test_summer_time_and_bad_answers():
    assert parse_timestamp("01.07.2026 12:00") == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(MalformedAnswer):
        parse_timestamp("2026-07-01")
    with pytest.raises(MalformedAnswer):
        parse_answer(b'<data name="something-else"/>')
    with pytest.raises(UntrustedXmlError):
        parse_answer(b'<!DOCTYPE x [<!ENTITY a "b">]><data name="piece-shipment-list"/>')
