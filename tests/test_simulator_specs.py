"""The simulators refuse what the vendors' official specs refuse, in each vendor's error shape.

With `../shared/specs` present, each request passes openapi-core against the vendor's spec
before the simulator sees it; without it the simulators run on their own checks alone (the
`liefern demo` case). Each request here is authorised correctly and wrong only where the
spec says so. Amazon's feed XML is checked against the full CarrierCode list of amzn-base.xsd
and must carry a time zone in FulfillmentDate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from connectors.dhl_parcel.auth import DhlBasicAuth
from connectors.kaufland.auth import KauflandAuth
from simulators import amazon, dhl_parcel, ebay, kaufland
from simulators.spec_check import SPECS_ENV, specs_dir

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ORDER = "12-00001-00001"
ITEM = "110000000001"
FULFILLMENT = {
    "lineItems": [{"lineItemId": ITEM, "quantity": 1}],
    "shippedDate": "2026-12-04T10:00:00.000Z",
    "shippingCarrierCode": "DHL",
    "trackingNumber": "00340434161094042557",
}


@pytest.fixture
def specs() -> Path:
    if not (specs_dir() / "ebay").is_dir():
        pytest.skip(f"official specs not present at {specs_dir()} (../shared/specs is missing)")
    return specs_dir()


@pytest.fixture
def no_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(SPECS_ENV, str(tmp_path))
    yield


def ebay_fulfillment(body: dict[str, Any]) -> Any:
    client = TestClient(ebay.create_app())
    sim = ebay.simulator(client.app)  # type: ignore[arg-type]
    sim.add_order(ORDER, {ITEM: 1})
    token = client.post(
        "/identity/v1/oauth2/token",
        auth=(sim.client_id, sim.client_secret),
        data={
            "grant_type": "refresh_token",
            "refresh_token": sim.refresh_token,
            "scope": ebay.SCOPE,
        },
    ).json()["access_token"]
    return client.post(
        f"/sell/fulfillment/v1/order/{ORDER}/shipping_fulfillment",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_ebay_refuses_a_quantity_that_is_no_integer_with_its_error_envelope(specs: Path) -> None:
    answer = ebay_fulfillment(
        {**FULFILLMENT, "lineItems": [{"lineItemId": ITEM, "quantity": True}]}
    )
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert (error["errorId"], error["category"]) == (32600, "REQUEST")
    assert "is not of type 'integer'" in error["longMessage"]


def test_ebay_runs_on_its_own_checks_without_the_specs(no_specs: None) -> None:
    assert ebay_fulfillment(FULFILLMENT).status_code == 201


def kaufland_send(body: dict[str, Any]) -> Any:
    client = TestClient(kaufland.create_app("client-key", "secret-key"))
    kaufland.simulator(client.app).add_order_unit(1001, "MB7UWLD")  # type: ignore[arg-type]
    auth = KauflandAuth("client-key", _secret("secret-key"))
    return client.patch("/v2/order-units/1001/send", json=body, auth=auth)


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def test_kaufland_refuses_a_list_of_tracking_numbers_with_its_error_response(specs: Path) -> None:
    answer = kaufland_send({"carrier_code": "DHL", "tracking_numbers": ["00340434161094042557"]})
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"type", "message", "errors"}
    assert "is not of type 'string'" in body["errors"][0]["message"]


def test_kaufland_sends_a_conforming_request_as_before(specs: Path) -> None:
    answer = kaufland_send({"carrier_code": "DHL", "tracking_numbers": "00340434161094042557"})
    assert answer.status_code == 204


def amazon_client() -> tuple[TestClient, str]:
    client = TestClient(amazon.create_app(throttle=False))
    sim: amazon.AmazonSimulator = client.app.state.sim  # type: ignore[attr-defined]
    sim.access_tokens["test-token"] = time.monotonic() + 600
    return client, "test-token"


def test_amazon_refuses_create_feed_with_marketplace_ids_not_a_list_as_an_error_list(
    specs: Path,
) -> None:
    client, token = amazon_client()
    answer = client.post(
        "/feeds/2021-06-30/feeds",
        json={
            "feedType": "POST_ORDER_FULFILLMENT_DATA",
            "marketplaceIds": "A1PA6795UKMFR9",
            "inputFeedDocumentId": "amzn1.tortuga.4.eu.1",
        },
        headers={"x-amz-access-token": token},
    )
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["code"] == "InvalidInput"
    assert "is not of type 'array'" in error["details"]


def test_amazon_refuses_get_order_with_included_data_the_model_does_not_list(specs: Path) -> None:
    client, token = amazon_client()
    client.app.state.sim.fulfil("302-1234567-1234567", "00340434161094042557", "DHL", None, "t")  # type: ignore[attr-defined]
    path = "/orders/2026-01-01/orders/302-1234567-1234567"
    fine = client.get(
        path, params={"includedData": "PACKAGES"}, headers={"x-amz-access-token": token}
    )
    assert fine.status_code == 200 and fine.json()["order"]["packages"]
    answer = client.get(
        path, params={"includedData": "PARCELS"}, headers={"x-amz-access-token": token}
    )
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["code"] == "InvalidInput"


def test_dhl_refuses_a_manifest_day_that_is_no_date_as_a_bad_request(specs: Path) -> None:
    client = TestClient(dhl_parcel.create_app("api-key", {"user": "pass"}))
    answer = client.get(
        "/parcel/de/shipping/v2/manifests",
        params={"date": "yesterday"},
        auth=DhlBasicAuth("api-key", "user", "pass"),
    )
    assert answer.status_code == 400
    status = answer.json()["status"]
    assert (status["title"], status["statusCode"]) == ("Bad Request", 400)


# --- Amazon's feed XML: the full CarrierCode list and a time zone in FulfillmentDate ----------


def feed(carrier: str, date: str = "2026-12-04T10:00:00+01:00") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
  <Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>M1</MerchantIdentifier></Header>
  <MessageType>OrderFulfillment</MessageType>
  <Message><MessageID>1</MessageID><OrderFulfillment>
    <AmazonOrderID>302-1234567-1234567</AmazonOrderID>
    <FulfillmentDate>{date}</FulfillmentDate>
    <FulfillmentData><CarrierCode>{carrier}</CarrierCode>
      <ShipperTrackingNumber>00340434161094042557</ShipperTrackingNumber></FulfillmentData>
  </OrderFulfillment></Message>
</AmazonEnvelope>""".encode()


def report_of(source: bytes) -> str:
    sim = amazon.AmazonSimulator(throttle=False)
    record = sim.new_feed("POST_ORDER_FULFILLMENT_DATA", ["A1PA6795UKMFR9"], "doc")
    return amazon._process_feed(sim, record, source).decode()


def test_amazon_feed_takes_a_carrier_code_from_amazons_full_list() -> None:
    assert "<ResultMessageCode>5000</ResultMessageCode>" not in report_of(feed("Yodel"))


def test_amazon_feed_refuses_a_carrier_code_amazon_does_not_list() -> None:
    report = report_of(feed("DHL Paket"))
    assert "<ResultMessageCode>5000</ResultMessageCode>" in report
    assert "cvc-enumeration-valid" in report


def test_amazon_feed_refuses_a_fulfillment_date_without_time_zone() -> None:
    report = report_of(feed("DHL", date="2026-12-04T10:00:00"))
    assert "<ResultMessageCode>5000</ResultMessageCode>" in report
    assert "has no time zone" in report
