"""The XML the project builds: data can never become markup.

Amazon's fulfillment feed and Hood's updateOrderStatus request carry order ids, tracking
numbers, carrier names and account names. With `<`, `&`, `]]>`, quotes or control
characters in any of them, a value either is refused before sending (the connector's check,
with a reason) or arrives in exactly its element, unchanged, with the document's element
structure the same as for harmless values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connectors.amazon.mapping import build_fulfillment_feed
from connectors.amazon.mapping import check as amazon_check
from connectors.base import ParcelShipment, ShipmentItem
from connectors.hood.auth import md5_hex
from connectors.hood.mapping import build_update_order_status, check_shipment, to_parcel
from core.domain import ConfirmationStatus
from tests.stress.fuzzing import fuzz

HOSTILE = [
    "</ShipperTrackingNumber><Item>",
    "&lt;&amp;&#x0;",
    "]]><![CDATA[",
    "\"'><!--",
    "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
    "JJD\x00\x0b\x1f",
    "\ufffe\uffff",
    "a\r\nb\tc",
]
VALUES = st.text(max_size=40) | st.sampled_from(HOSTILE)
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def shipment(*, order_id: str, tracking: str, item_id: str = "12345678901234") -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=1,
        order_no="AU100001",
        portal_order_id=order_id,
        account="amazon-de",
        carrier="dhl",
        tracking_number=tracking,
        shipped_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        items=(ShipmentItem(item_id, 1),),
    )


def shape(root: etree._Element) -> list[str]:
    return [str(e.tag) for e in root.iter()]


BENIGN_FEED = etree.fromstring(
    build_fulfillment_feed(
        "A2MERCHANT", [shipment(order_id="302-1234567-1234567", tracking="340434161094042557")]
    )[0]
)


@fuzz()
@given(
    order_id=st.just("302-1234567-1234567") | VALUES,
    tracking=VALUES,
    item_id=st.just("12345678901234") | VALUES,
)
def test_amazon_feed_values_are_refused_or_carried_verbatim(
    order_id: str, tracking: str, item_id: str
) -> None:
    parcel = shipment(order_id=order_id, tracking=tracking, item_id=item_id)
    verdict = amazon_check(parcel)
    if verdict is not None:
        assert verdict.status is ConfirmationStatus.REJECTED and verdict.error_text
        return
    content, _ = build_fulfillment_feed("A2MERCHANT", [parcel])
    root = etree.fromstring(content, SAFE_PARSER)
    docinfo: Any = root.getroottree().docinfo
    assert docinfo.doctype == ""
    assert shape(root) == shape(BENIGN_FEED)
    fulfillment = root.find("Message/OrderFulfillment")
    assert fulfillment is not None
    assert fulfillment.findtext("AmazonOrderID") == order_id.strip()
    assert fulfillment.findtext("FulfillmentData/ShipperTrackingNumber") == tracking.strip()
    assert fulfillment.findtext("Item/AmazonOrderItemCode") == item_id.strip()


@fuzz()
@given(merchant=VALUES.filter(lambda s: s.strip()))
def test_amazon_merchant_id_cannot_open_an_element(merchant: str) -> None:
    parcel = shipment(order_id="302-1234567-1234567", tracking="340434161094042557")
    try:
        content, _ = build_fulfillment_feed(merchant, [parcel])
    except ValueError:
        return  # lxml refuses text XML cannot carry (control characters): nothing is sent
    root = etree.fromstring(content, SAFE_PARSER)
    assert shape(root) == shape(BENIGN_FEED)
    assert root.findtext("Header/MerchantIdentifier") == merchant


BENIGN_HOOD = etree.fromstring(
    build_update_order_status(
        [to_parcel(shipment(order_id="4711", tracking="340434161094042557"))],
        account_name="shop",
        password_md5=md5_hex("p"),
    )
)


@fuzz()
@given(order_id=VALUES, tracking=VALUES, account=VALUES)
def test_hood_request_values_are_refused_or_carried_verbatim(
    order_id: str, tracking: str, account: str
) -> None:
    parcel = shipment(order_id=order_id, tracking=tracking)
    reason = check_shipment(parcel)  # what HoodConnector.check refuses with
    if reason is not None:
        assert reason.strip()
        return
    try:
        body = build_update_order_status(
            [to_parcel(parcel)], account_name=account, password_md5=md5_hex("p")
        )
    except ValueError:
        return  # an account name XML cannot carry: refused by lxml before anything is sent
    root = etree.fromstring(body, SAFE_PARSER)
    assert shape(root) == shape(BENIGN_HOOD)
    order = root.find("orders/order")
    assert order is not None
    assert order.findtext("orderID") == order_id.strip()
    assert order.findtext("trackingCode") == tracking.strip()
    assert root.get("user") == account and root.findtext("accountName") == account
