"""The OTTO simulator answers as OTTO documents it (connectors/otto/README.md): token grant,
validation errors with a JSON path, 409 for a repeat, the shipment list with its cursor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.otto import OttoSimulator, build_app
from simulators.server import serve_in_thread

ORDER, ITEMS = "so-1", ["pi-1", "pi-2", "pi-3"]


@pytest.fixture
def otto() -> Iterator[tuple[OttoSimulator, httpx.Client]]:
    sim = OttoSimulator("id", "secret")
    sim.add_order(ORDER, ITEMS)
    with serve_in_thread(build_app(sim)) as base, httpx.Client(base_url=base) as client:
        form = {"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"}
        token = client.post("/v1/token", data=form).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield sim, client


def shipment(number: str, items: list[str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trackingKey": {"carrier": "HERMES", "trackingNumber": number},
        "shipDate": "2026-12-03T14:20:00.000Z",
        "shipFromAddress": {"city": "Hamburg", "countryCode": "DEU", "zipCode": "22179"},
        "positionItems": [
            {
                "positionItemId": item,
                "salesOrderId": ORDER,
                "returnTrackingKey": {"carrier": "HERMES", "trackingNumber": "R" + number},
            }
            for item in items
        ],
    }
    body.update(changes)
    return body


def test_the_token_endpoint_refuses_unknown_clients_in_oauth_terms() -> None:
    sim = OttoSimulator("id", "secret")
    with serve_in_thread(build_app(sim)) as base:
        wrong = {"grant_type": "client_credentials", "client_id": "id", "client_secret": "x"}
        answer = httpx.post(base + "/v1/token", data=wrong)
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
        assert httpx.get(base + "/v1/shipments?datefrom=2026-01-01").status_code == 401


@pytest.mark.parametrize(
    ("changes", "json_path"),
    [
        (
            {"trackingKey": {"carrier": "POSTKUTSCHE", "trackingNumber": "1"}},
            "$.trackingKey.carrier",
        ),
        ({"trackingKey": {"carrier": "DHL", "trackingNumber": ""}}, "$.trackingKey.trackingNumber"),
        ({"shipDate": "2026-12-03"}, "$.shipDate"),
        (
            {"shipFromAddress": {"city": "Hamburg", "countryCode": "DE", "zipCode": "22179"}},
            "$.shipFromAddress.countryCode",
        ),
    ],
)
def test_invalid_shipments_are_400_with_the_json_path(
    otto: tuple[OttoSimulator, httpx.Client], changes: dict[str, Any], json_path: str
) -> None:
    _, client = otto
    answer = client.post("/v1/shipments", json=shipment("H1", ["pi-1"], **changes))
    assert answer.status_code == 400
    assert answer.json()["errors"]["jsonPath"] == json_path


def test_a_return_tracking_key_of_dhl_gls_or_hermes_is_required(
    otto: tuple[OttoSimulator, httpx.Client],
) -> None:
    _, client = otto
    body = shipment("H1", ["pi-1"])
    body["positionItems"][0]["returnTrackingKey"] = {"carrier": "DPD", "trackingNumber": "1"}
    answer = client.post("/v1/shipments", json=body)
    assert answer.json()["errors"]["jsonPath"] == "$.positionItems[0].returnTrackingKey.carrier"
    del body["positionItems"][0]["returnTrackingKey"]
    assert client.post("/v1/shipments", json=body).status_code == 400


def test_a_repeat_is_409_and_the_shipment_reads_back(
    otto: tuple[OttoSimulator, httpx.Client],
) -> None:
    sim, client = otto
    created = client.post("/v1/shipments", json=shipment("H1", ["pi-1", "pi-2"]))
    assert created.status_code == 201
    shipment_id = created.json()["shipmentId"]
    assert client.post("/v1/shipments", json=shipment("H1", ["pi-3"])).status_code == 409
    assert client.post("/v1/shipments", json=shipment("H2", ["pi-2"])).status_code == 409
    by_number = client.get("/v1/shipments/carriers/HERMES/trackingnumbers/H1").json()
    assert by_number == client.get(f"/v1/shipments/{shipment_id}").json()
    assert [p["positionItemId"] for p in by_number["positionItems"]] == ["pi-1", "pi-2"]
    assert by_number["states"][0]["state"] == "SENT"
    assert sim.positions["pi-3"].state == "PROCESSABLE"


def test_the_list_pages_with_a_next_link(otto: tuple[OttoSimulator, httpx.Client]) -> None:
    _, client = otto
    for n, item in enumerate(ITEMS):
        client.post("/v1/shipments", json=shipment(f"H{n}", [item]))
    assert client.get("/v1/shipments").status_code == 400  # datefrom is required
    first = client.get("/v1/shipments", params={"datefrom": "2026-01-01", "limit": 2}).json()
    assert len(first["resources"]) == 2
    rest = client.get(first["links"][0]["href"] + "&datefrom=2026-01-01&limit=2").json()
    assert len(rest["resources"]) == 1 and "links" not in rest
