"""Amazon's package status (Orders API 2026-01-01 getOrder) read as delivery status: from a
spec-derived fixture and against the words the model lists."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.amazon.package_status import (
    DETAILED_STATUS,
    STATUS,
    MalformedOrder,
    delivery_status,
    package_reports,
)
from core.tracking import DeliveryStatus

FIXTURES = Path(__file__).parent / "fixtures" / "amazon"
MODEL = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs" / "amazon"
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def model() -> dict[str, Any]:
    path = MODEL / "orders_2026-01-01.json"
    if not path.is_file():
        pytest.skip(f"Amazon spec absent: {path}")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def fixture() -> dict[str, Any]:
    loaded = json.loads((FIXTURES / "get_order_packages.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_each_package_with_a_tracking_number_is_one_report() -> None:
    reports = package_reports(fixture(), now=NOW)
    assert [(r.tracking_number, r.status) for r in reports] == [
        ("RR123456789GB", DeliveryStatus.OUT_FOR_DELIVERY),
        ("RR987654321GB", DeliveryStatus.DELIVERED),
    ]
    assert reports[0].events[0].code == "OUT_FOR_DELIVERY"
    assert reports[0].text == "Amazon: IN_TRANSIT / OUT_FOR_DELIVERY"


def test_the_event_is_dated_by_the_later_of_order_update_and_ship_time() -> None:
    report = package_reports(fixture(), now=NOW)[1]
    # lastUpdatedTime 2024-12-25T16:30Z, shipTime 2024-12-26T14:00Z
    assert report.events[0].at == datetime(2024, 12, 26, 14, 0, tzinfo=UTC)


def test_no_event_is_dated_after_the_time_of_asking() -> None:
    early = datetime(2024, 12, 26, 9, 0, tzinfo=UTC)
    assert all(r.events[0].at == early for r in package_reports(fixture(), now=early))


def test_detailed_status_wins_over_status() -> None:
    assert delivery_status("IN_TRANSIT", "OUT_FOR_DELIVERY") is DeliveryStatus.OUT_FOR_DELIVERY
    assert delivery_status("UNDELIVERABLE", "RETURNED_TO_SELLER") is DeliveryStatus.RETURNED
    assert delivery_status("SHIPPED") is DeliveryStatus.IN_TRANSIT


def test_a_word_the_model_does_not_list_gives_no_status_and_no_event() -> None:
    body = fixture()
    body["order"]["packages"][0]["packageStatus"] = {"status": "TELEPORTED"}
    report = package_reports(body, now=NOW)[0]
    assert report.status is None and report.events == ()


def test_an_answer_without_order_is_malformed() -> None:
    with pytest.raises(MalformedOrder):
        package_reports({"errors": []}, now=NOW)


def test_every_status_of_the_model_is_mapped() -> None:
    enum = model()["definitions"]["PackageStatus"]["properties"]["status"]["enum"]
    assert set(STATUS) == set(enum)


def test_every_detailed_status_the_model_lists_is_mapped() -> None:
    text = model()["definitions"]["PackageStatus"]["properties"]["detailedStatus"]["description"]
    listed = set(re.findall(r"^- `([A-Z_]+)`", text, flags=re.MULTILINE))
    assert len(listed) == 16
    assert set(DETAILED_STATUS) == listed


def test_the_models_own_example_reads_as_out_for_delivery() -> None:
    operation = model()["paths"]["/orders/2026-01-01/orders/{orderId}"]["get"]
    example = operation["responses"]["200"]["examples"]["application/json"]
    (report,) = package_reports(example, now=NOW)
    assert (report.tracking_number, report.status) == (
        "RR123456789GB",
        DeliveryStatus.OUT_FOR_DELIVERY,
    )
