"""EbayConnector against the eBay simulator over real HTTP: confirm once, never twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from connectors.base import ConfirmationResult, OrderParcel, ParcelShipment, ShipmentItem
from connectors.ebay.connector import EbayConnector, EbayOptions
from connectors.errors import AuthError
from core.domain import ConfirmationStatus
from simulators.ebay import EbaySimulator, build_app
from simulators.server import serve_in_thread

ORDER = "12-34567-89012"
FAST = EbayOptions(
    rate_per_second=1000, burst=100, base_delay=0.02, max_delay=0.2, timeout_seconds=5
)


@dataclass
class Ebay:
    sim: EbaySimulator
    base_url: str

    def connector(self, options: EbayOptions = FAST, **credentials: Any) -> EbayConnector:
        return EbayConnector.from_credentials(
            client_id=credentials.get("client_id", self.sim.client_id),
            client_secret=SecretStr(credentials.get("client_secret", self.sim.client_secret)),
            refresh_token=SecretStr(credentials.get("refresh_token", self.sim.refresh_token)),
            account="ebay-main",
            options=replace(options, api_base=self.base_url),
        )

    def submit(
        self, shipments: list[ParcelShipment], options: EbayOptions = FAST
    ) -> list[ConfirmationResult]:
        async def run() -> list[ConfirmationResult]:
            connector = self.connector(options)
            try:
                return await connector.submit(shipments)
            finally:
                await connector.aclose()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FastAPI, str]]:
    """One simulator server per module; each test swaps in a fresh simulator state."""
    app = build_app(EbaySimulator())
    with serve_in_thread(app) as base_url:
        yield app, base_url


@pytest.fixture
def ebay(server: tuple[FastAPI, str]) -> Callable[..., Ebay]:
    app, base_url = server

    def fresh(**options: Any) -> Ebay:
        sim = EbaySimulator(**options)
        sim.add_order(ORDER, {"111": 2, "222": 1, "333": 1})
        app.state.sim = sim
        return Ebay(sim, base_url)

    return fresh


def parcel(number: str, *items: tuple[str, int], confirmation_id: int = 1) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=confirmation_id,
        order_no="100234",
        portal_order_id=ORDER,
        account="ebay-main",
        carrier="dhl",
        tracking_number=number,
        shipped_at=datetime.now(UTC) - timedelta(hours=2),
        items=tuple(ShipmentItem(item_id, qty) for item_id, qty in items or (("111", 2),)),
        order_tracking_numbers=(number,),
    )


def test_a_parcel_is_confirmed_with_the_fulfillment_id_from_ebay(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    [result] = shop.submit([parcel("00340434161234567890", ("111", 2))])
    stored = shop.sim.fulfillments(ORDER)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.reference == "00340434161234567890"
    assert [f["shipmentTrackingNumber"] for f in stored] == ["00340434161234567890"]
    assert stored[0]["shippingCarrierCode"] == "DHL"
    assert stored[0]["lineItems"] == [{"lineItemId": "111", "quantity": 2}]


def test_each_parcel_of_an_order_gets_its_own_fulfillment(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    results = shop.submit(
        [
            parcel("00340434161234567890", ("111", 2), confirmation_id=1),
            replace(parcel("1Z999AA10123456784", ("222", 1), confirmation_id=2), carrier="ups"),
        ]
    )
    stored = {f["fulfillmentId"]: f for f in shop.sim.fulfillments(ORDER)}
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert stored["1Z999AA10123456784"]["shippingCarrierCode"] == "UPS"
    assert len(stored) == 2


def test_a_rejected_parcel_carries_ebays_reason_and_does_not_block_the_rest(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    bad, good = shop.submit(
        [
            parcel("00340434161234567890", ("999", 1), confirmation_id=1),
            parcel("00340434169999999999", ("222", 1), confirmation_id=2),
        ]
    )
    assert bad.status is ConfirmationStatus.REJECTED
    assert bad.error_code == "32200"
    assert bad.error_text == "Invalid line item id: 999"
    assert good.status is ConfirmationStatus.CONFIRMED


def test_results_come_back_in_the_order_of_the_batch(ebay: Callable[..., Ebay]) -> None:
    shipments = [
        parcel(f"003404341612345678{n:02d}", ("111", 1), confirmation_id=n) for n in range(8)
    ]
    shop = ebay()
    results = shop.submit(shipments)
    assert [r.confirmation_id for r in results] == list(range(8))


def test_a_parcel_ebay_already_has_is_confirmed_without_a_second_post(
    ebay: Callable[..., Ebay],
) -> None:
    shipment = parcel("00340434161234567890", ("111", 2))
    shop = ebay()
    shop.submit([shipment])
    [again] = shop.submit([shipment])
    posts = shop.sim.count("POST")
    assert again.status is ConfirmationStatus.CONFIRMED
    assert again.reference == "00340434161234567890"
    assert "already" in again.extra["note"]
    assert posts == 1


def test_a_parcel_never_attempted_goes_straight_to_the_post(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    [result] = shop.submit([replace(parcel("00340434161234567890"), sent_before=False)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert (shop.sim.count("GET"), shop.sim.count("POST")) == (0, 1)


@pytest.mark.parametrize("duplicate_status", [400, 409])
def test_a_parcel_entered_by_hand_on_ebay_is_confirmed_without_a_second_fulfillment(
    ebay: Callable[..., Ebay], duplicate_status: int
) -> None:
    shipment = parcel("00340434161234567890", ("111", 2))
    shop = ebay(duplicate_status=duplicate_status)
    shop.submit([shipment])  # stands for the seller's own entry in eBay's seller hub
    [result] = shop.submit([replace(shipment, sent_before=False)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.reference == "00340434161234567890"
    assert len(shop.sim.fulfillments(ORDER)) == 1


def test_a_never_attempted_parcel_reads_back_after_a_500(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    shop.sim.fail_after_store(1)
    [result] = shop.submit([replace(parcel("00340434161234567890"), sent_before=False)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert len(shop.sim.fulfillments(ORDER)) == 1
    assert (shop.sim.count("GET"), shop.sim.count("POST")) == (1, 1)


def test_a_500_after_ebay_stored_the_fulfillment_is_read_back_not_repeated(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    shop.sim.fail_after_store(1)
    [result] = shop.submit([parcel("00340434161234567890", ("111", 2))])
    stored = shop.sim.fulfillments(ORDER)
    posts = shop.sim.count("POST")
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.reference == "00340434161234567890"
    assert len(stored) == 1
    assert posts == 1


def test_a_timeout_after_ebay_stored_the_fulfillment_is_read_back_not_repeated(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    shop.sim.slow_next(1, 0.6, method="POST")
    [result] = shop.submit(
        [parcel("00340434161234567890", ("111", 2))], replace(FAST, timeout_seconds=0.2)
    )
    stored = shop.sim.fulfillments(ORDER)
    posts = shop.sim.count("POST")
    assert result.status is ConfirmationStatus.CONFIRMED
    assert len(stored) == 1
    assert posts == 1


@pytest.mark.parametrize("status", [500, 503])
def test_passing_server_errors_are_retried(ebay: Callable[..., Ebay], status: int) -> None:
    shop = ebay()
    shop.sim.fail_next(2, status)
    [result] = shop.submit([parcel("00340434161234567890", ("111", 2))])
    stored = shop.sim.fulfillments(ORDER)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert len(stored) == 1


def test_a_parcel_fails_with_ebays_code_when_retries_run_out(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    shop.sim.fail_next(50, 500)
    [result] = shop.submit([parcel("00340434161234567890", ("111", 2))], replace(FAST, attempts=3))
    assert result.status is ConfirmationStatus.FAILED
    assert result.error_code == "30500"


def test_throttling_is_recovered_without_duplicates(ebay: Callable[..., Ebay]) -> None:
    shipments = [
        parcel(f"003404341612345678{n:02d}", ("111", 1), confirmation_id=n) for n in range(6)
    ]
    shop = ebay(rate_per_second=15, burst=3, retry_after_seconds=0)
    results = shop.submit(shipments, replace(FAST, attempts=10, concurrency=6))
    throttled = shop.sim.count("GET", status=429) + shop.sim.count("POST", status=429)
    created = shop.sim.count("POST", status=201)
    stored = shop.sim.fulfillments(ORDER)
    assert throttled > 0
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 6
    assert created == 6
    assert len(stored) == 6


def test_the_client_side_rate_limit_keeps_ebay_from_throttling(ebay: Callable[..., Ebay]) -> None:
    shipments = [
        parcel(f"003404341612345678{n:02d}", ("111", 1), confirmation_id=n) for n in range(4)
    ]
    shop = ebay(rate_per_second=10, burst=4, retry_after_seconds=0)
    results = shop.submit(shipments, replace(FAST, rate_per_second=8, burst=2, concurrency=4))
    throttled = shop.sim.count("GET", status=429) + shop.sim.count("POST", status=429)
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 4
    assert throttled == 0


@pytest.mark.parametrize("duplicate_status", [400, 409])
def test_the_same_parcel_twice_in_one_batch_is_stored_once(
    ebay: Callable[..., Ebay], duplicate_status: int
) -> None:
    twice = [
        parcel("00340434161234567890", ("111", 2), confirmation_id=1),
        parcel("00340434161234567890", ("111", 2), confirmation_id=2),
    ]
    shop = ebay(duplicate_status=duplicate_status)
    shop.sim.slow_next(2, 0.4, method="GET")  # both read-backs see an empty order
    results = shop.submit(twice, replace(FAST, concurrency=2))
    stored = shop.sim.fulfillments(ORDER)
    posts = shop.sim.count("POST")
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert {r.reference for r in results} == {"00340434161234567890"}
    assert len(stored) == 1
    assert posts == 2


def test_a_refused_refresh_token_raises_auth_error_and_sends_nothing(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    shop.sim.revoke_refresh_token()
    with pytest.raises(AuthError) as refused:
        shop.submit([parcel("00340434161234567890", ("111", 2))])
    calls = len(shop.sim.calls)
    stored = shop.sim.fulfillments(ORDER)
    assert refused.value.code == "invalid_grant"
    assert "grant access again" in refused.value.message
    assert "pending" in refused.value.message
    assert calls == 0
    assert stored == []


def test_the_refresh_token_never_shows_in_the_auth_error(ebay: Callable[..., Ebay]) -> None:
    shop = ebay(refresh_token="v^1.1#i^1#r^1#very-secret-refresh")

    async def run() -> None:
        connector = EbayConnector.from_credentials(
            client_id=shop.sim.client_id,
            client_secret=SecretStr(shop.sim.client_secret),
            refresh_token=SecretStr("v^1.1#i^1#r^1#wrong-refresh-token"),
            options=replace(FAST, api_base=shop.base_url),
        )
        try:
            await connector.submit([parcel("00340434161234567890", ("111", 2))])
        finally:
            await connector.aclose()

    with pytest.raises(AuthError) as refused:
        asyncio.run(run())
    assert "wrong-refresh-token" not in str(refused.value)
    assert "wrong-refresh-token" not in repr(refused.value.args)


def test_an_access_token_ebay_no_longer_accepts_is_replaced_once(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()

    async def run() -> list[ConfirmationResult]:
        connector = shop.connector()
        try:
            first = await connector.submit([parcel("00340434161234567890", ("111", 2))])
            shop.sim.expire_access_tokens()
            return first + await connector.submit(
                [parcel("00340434169999999999", ("222", 1), confirmation_id=2)]
            )
        finally:
            await connector.aclose()

    results = asyncio.run(run())
    tokens = shop.sim.token_requests
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert tokens == 2


def test_rows_check_refuses_are_answered_without_calling_ebay(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()
    [result] = shop.submit([replace(parcel("00340434161234567890"), items=())])
    calls = len(shop.sim.calls)
    tokens = shop.sim.token_requests
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "no-line-items"
    assert calls == 0
    assert tokens == 0


def test_poll_has_nothing_to_ask_for(ebay: Callable[..., Ebay]) -> None:
    shop = ebay()

    async def run() -> list[ConfirmationResult]:
        connector = shop.connector()
        try:
            return await connector.poll([])
        finally:
            await connector.aclose()

    assert asyncio.run(run()) == []


# --- several parcels per order, parcels without tracking number ----------------------------------


def packages(numbers: list[str | None], *items: tuple[str, int]) -> list[ParcelShipment]:
    """The ledger rows of one order with a parcel per tracking number, as to_shipment makes them."""
    order_parcels = tuple(OrderParcel("dhl", n) for n in numbers)
    return [
        replace(
            parcel("x", *items, confirmation_id=10 + index),
            tracking_number=number,
            order_parcels=order_parcels,
            parcel_index=index,
        )
        for index, number in enumerate(numbers)
    ]


def held(shop: Ebay) -> list[tuple[str | None, list[dict[str, Any]]]]:
    return [(f.get("shipmentTrackingNumber"), f["lineItems"]) for f in shop.sim.fulfillments(ORDER)]


def test_a_two_parcel_order_gets_one_fulfillment_per_parcel_with_its_line_items(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    results = shop.submit(packages(["A1", "B2"], ("111", 2), ("222", 1)))
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    # the parcels go out side by side: the portal may store them in any order
    assert sorted(held(shop)) == [
        ("A1", [{"lineItemId": "111", "quantity": 2}]),
        ("B2", [{"lineItemId": "222", "quantity": 1}]),
    ]


def test_a_three_parcel_order_splits_its_line_items_over_three_fulfillments(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    results = shop.submit(packages(["A1", "B2", "C3"], ("111", 2), ("222", 1), ("333", 1)))
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 3
    # the parcels go out side by side: the portal may store them in any order
    assert sorted(held(shop)) == [
        ("A1", [{"lineItemId": "111", "quantity": 2}]),
        ("B2", [{"lineItemId": "222", "quantity": 1}]),
        ("C3", [{"lineItemId": "333", "quantity": 1}]),
    ]


def test_a_parcel_without_a_piece_of_its_own_rides_on_the_same_line_item(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    results = shop.submit(packages(["A1", "B2"], ("222", 1)))
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert sorted(held(shop)) == [
        ("A1", [{"lineItemId": "222", "quantity": 1}]),
        ("B2", [{"lineItemId": "222", "quantity": 1}]),
    ]


def test_a_parcel_without_tracking_number_is_marked_shipped_without_carrier_and_number(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    [result] = shop.submit([replace(parcel("x", ("111", 2)), tracking_number=None)])
    [stored] = shop.sim.fulfillments(ORDER)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert "shipmentTrackingNumber" not in stored and "shippingCarrierCode" not in stored
    assert stored["lineItems"] == [{"lineItemId": "111", "quantity": 2}]


def test_a_resent_parcel_without_tracking_number_is_found_and_not_stored_twice(
    ebay: Callable[..., Ebay],
) -> None:
    shop = ebay()
    row = replace(parcel("x", ("111", 2)), tracking_number=None)
    shop.submit([row])
    [again] = shop.submit([replace(row, sent_before=True)])
    assert again.status is ConfirmationStatus.CONFIRMED
    assert len(shop.sim.fulfillments(ORDER)) == 1
