"""OttoConnector against the OTTO simulator over real HTTP: token, one shipment per parcel,
the return tracking number, and OTTO's 4xx/5xx/429 answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from connectors.base import ConfirmationResult, OrderParcel, ParcelShipment, ShipmentItem
from connectors.errors import AuthError
from connectors.otto.connector import OttoConnector, OttoOptions
from connectors.otto.mapping import ShipFrom
from core.domain import ConfirmationStatus
from simulators.otto import OttoSimulator, build_app
from simulators.server import serve_in_thread

CLIENT_ID, SECRET = "otto-api-user", "otto-api-secret"
FAST = OttoOptions(
    rate_per_second=1000,
    burst=100,
    base_delay=0.02,
    max_delay=0.2,
    timeout_seconds=5,
    ship_from=ShipFrom("Hamburg", "22179"),
)
ORDER = "bf43d748-f13d-49ca-b2e2-1824e9000021"
ITEMS = ("pos-1", "pos-2", "pos-3")
FIRST, SECOND = "00340434161094042557", "00340434161094042564"
RETURN = "00340434161094099995"


@dataclass
class Otto:
    sim: OttoSimulator
    base: str
    connector: OttoConnector | None = None

    def submit(
        self, shipments: list[ParcelShipment], *, secret: str = SECRET, **options: Any
    ) -> list[ConfirmationResult]:
        async def run() -> list[ConfirmationResult]:
            opts = replace(FAST, api_base=self.base, token_url=self.base + "/v1/token", **options)
            connector = OttoConnector.from_credentials(
                client_id=CLIENT_ID,
                client_secret=SecretStr(secret),
                account="otto-de",
                options=opts,
            )
            self.connector = connector
            try:
                return await connector.submit(shipments)
            finally:
                await connector.aclose()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FastAPI, str]]:
    app = build_app(OttoSimulator(CLIENT_ID, SECRET))
    with serve_in_thread(app) as base_url:
        yield app, base_url


@pytest.fixture
def otto(server: tuple[FastAPI, str]) -> Callable[..., Otto]:
    app, base = server

    def fresh(**options: Any) -> Otto:
        sim = OttoSimulator(CLIENT_ID, SECRET, **options)
        sim.add_order(ORDER, list(ITEMS))
        app.state.sim = sim
        return Otto(sim, base)

    return fresh


def parcel(number: str = FIRST, *, confirmation_id: int = 1, **changes: Any) -> ParcelShipment:
    base = ParcelShipment(
        confirmation_id=confirmation_id,
        order_no="AU100001",
        portal_order_id=ORDER,
        account="otto-de",
        carrier="dhl",
        tracking_number=number,
        shipped_at=datetime(2026, 12, 3, 14, 20, tzinfo=UTC),
        items=tuple(ShipmentItem(item, 1) for item in ITEMS),
        return_tracking_number=RETURN,
        sent_before=False,
    )
    return replace(base, **changes)


def test_a_parcel_becomes_one_shipment_with_token_and_return_numbers(
    otto: Callable[..., Otto],
) -> None:
    shop = otto()
    (result,) = shop.submit([parcel()])
    assert result.status is ConfirmationStatus.CONFIRMED
    shipment = shop.sim.shipment_of("DHL", FIRST)
    assert shipment is not None and result.reference == shipment.shipment_id
    items = shipment.body["positionItems"]
    assert [i["positionItemId"] for i in items] == list(ITEMS)
    assert {i["returnTrackingKey"]["trackingNumber"] for i in items} == {RETURN}
    assert shipment.body["shipFromAddress"] == {
        "city": "Hamburg",
        "countryCode": "DEU",
        "zipCode": "22179",
    }
    assert shop.sim.tokens_issued == 1
    assert all(p.state == "SENT" for p in shop.sim.positions.values())


def test_one_token_serves_the_whole_batch(otto: Callable[..., Otto]) -> None:
    shop = otto()
    shop.sim.add_order("order-2", ["pos-9"])
    other = parcel(
        SECOND, confirmation_id=2, portal_order_id="order-2", items=(ShipmentItem("pos-9", 1),)
    )
    assert [r.status for r in shop.submit([parcel(), other])] == [ConfirmationStatus.CONFIRMED] * 2
    assert shop.sim.tokens_issued == 1


def test_each_parcel_of_an_order_is_its_own_shipment_with_its_share_of_items(
    otto: Callable[..., Otto],
) -> None:
    shop = otto()
    parcels = (OrderParcel("dhl", FIRST), OrderParcel("dhl", SECOND))
    first = parcel(order_parcels=parcels, parcel_index=0)
    second = parcel(SECOND, confirmation_id=2, order_parcels=parcels, parcel_index=1)
    results = shop.submit([first, second])
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    one, two = shop.sim.shipment_of("DHL", FIRST), shop.sim.shipment_of("DHL", SECOND)
    assert one is not None and two is not None
    assert [i["positionItemId"] for i in one.body["positionItems"]] == ["pos-1", "pos-2"]
    assert [i["positionItemId"] for i in two.body["positionItems"]] == ["pos-3"]


def test_a_parcel_without_a_piece_of_its_own_is_skipped(otto: Callable[..., Otto]) -> None:
    shop = otto()
    parcels = tuple(OrderParcel("dhl", n) for n in ("A1", "A2", "A3", "A4"))
    extra = parcel("A4", order_parcels=parcels, parcel_index=3)
    (result,) = shop.submit([extra])
    assert result.status is ConfirmationStatus.SKIPPED and result.error_code == "no-position-item"
    assert shop.sim.count("POST", "/v1/shipments") == 0


def test_a_missing_return_number_is_refused_before_any_call(otto: Callable[..., Otto]) -> None:
    shop = otto()
    (result,) = shop.submit([parcel(return_tracking_number=None)])
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "no-return-tracking-number"
    assert "--return" in (result.error_text or "")
    assert shop.sim.calls == [] and shop.sim.tokens_issued == 0


def test_a_400_is_rejected_in_otto_words(otto: Callable[..., Otto]) -> None:
    shop = otto()
    (result,) = shop.submit([parcel(items=(ShipmentItem("unknown-pos", 1),))])
    assert result.status is ConfirmationStatus.REJECTED
    assert "Unknown position item" in (result.error_text or "")
    assert "$.positionItems[0].positionItemId" in (result.error_text or "")


def test_a_5xx_is_retried_and_a_lost_answer_is_read_back_not_sent_twice(
    otto: Callable[..., Otto],
) -> None:
    shop = otto()
    shop.sim.fail_next(1, 503, method="POST")
    shop.sim.fail_after_store(1)
    (result,) = shop.submit([parcel()])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert "read back" in result.extra.get("note", "")
    assert len(shop.sim.shipments) == 1
    assert shop.sim.count("POST", "/v1/shipments", status=201) == 0  # the stored one answered 500
    # read back after each 5xx: nothing after the 503, the stored shipment after the 500
    assert shop.sim.count("GET", "/trackingnumbers/") == 2
    assert shop.sim.count("POST", "/v1/shipments") == 2


def test_a_parcel_told_before_is_read_back_first(otto: Callable[..., Otto]) -> None:
    shop = otto()
    shop.submit([parcel()])
    (again,) = shop.submit([parcel(sent_before=True)])
    assert again.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("POST", "/v1/shipments") == 1 and len(shop.sim.shipments) == 1


def test_a_409_for_our_own_shipment_counts_as_done(otto: Callable[..., Otto]) -> None:
    shop = otto()
    shop.submit([parcel()])
    (again,) = shop.submit([parcel()])  # the ledger knew nothing: OTTO answers 409
    assert again.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("POST", "/v1/shipments", status=409) == 1


def test_a_429_waits_and_repeats_only_the_create(otto: Callable[..., Otto]) -> None:
    shop = otto()
    shop.sim.fail_next(2, 429, method="POST")
    (result,) = shop.submit([parcel()])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("POST", "/v1/shipments", status=429) == 2
    assert shop.sim.count("GET") == 0


def test_5xx_until_the_attempts_run_out_fails_the_row(otto: Callable[..., Otto]) -> None:
    shop = otto()
    shop.sim.fail_next(10, 500)
    (result,) = shop.submit([parcel()], attempts=3)
    assert result.status is ConfirmationStatus.FAILED
    assert shop.sim.shipments == {}


def test_refused_credentials_stop_the_batch_with_what_to_do(otto: Callable[..., Otto]) -> None:
    shop = otto()
    with pytest.raises(AuthError) as refused:
        shop.submit([parcel()], secret="wrong")
    assert "client_id and client_secret" in str(refused.value)
    assert "wrong" not in str(refused.value)
    assert shop.sim.shipments == {}


def test_an_expired_token_is_fetched_again_once(otto: Callable[..., Otto]) -> None:
    shop = otto(token_seconds=3600)
    shop.sim.add_order("order-2", ["pos-9"])
    first = parcel()
    second = parcel(
        SECOND, confirmation_id=2, portal_order_id="order-2", items=(ShipmentItem("pos-9", 1),)
    )

    async def run() -> list[ConfirmationResult]:
        opts = replace(FAST, api_base=shop.base, token_url=shop.base + "/v1/token")
        connector = OttoConnector.from_credentials(
            client_id=CLIENT_ID, client_secret=SecretStr(SECRET), options=opts
        )
        try:
            done = await connector.submit([first])
            shop.sim.expire_tokens()
            return done + await connector.submit([second])
        finally:
            await connector.aclose()

    results = asyncio.run(run())
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert shop.sim.tokens_issued == 2
