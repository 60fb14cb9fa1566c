"""A portal that made the change but whose answer never arrived is not told twice.

Two ways an answer gets lost after the portal acted: it comes later than the client waits
(timeout), or it arrives cut off / as a 500 after the change was stored. Either way the
connector tries again, and every portal must then end with the parcel exactly once and the
row `confirmed`, not `rejected` by the portal's refusal of the repeat.

Connectors are built directly here, with a timeout short enough for a test; the registry's
connectors wait 30 s, which the nightly fault-injection run exercises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.base import ConfirmationResult, ParcelShipment, PortalConnector, ShipmentItem
from connectors.ebay.connector import EbayConnector, EbayOptions
from connectors.hood.auth import HoodCredentials
from connectors.hood.connector import HoodConnector
from connectors.kaufland.connector import KauflandConnector, KauflandOptions
from connectors.rakuten.auth import RakutenCredentials
from connectors.rakuten.connector import RakutenConnector
from core.domain import ConfirmationStatus
from simulators import ebay, hood, kaufland, rakuten
from simulators.stack import (
    HOOD_PASSWORD,
    KAUFLAND_CLIENT_KEY,
    KAUFLAND_SECRET,
    RAKUTEN_KEY,
    PortalStack,
)

TIMEOUT = 0.3
LATE = 0.8  # the simulator answers after this, having made the change at once


@pytest.fixture(scope="module")
def portals() -> Iterator[PortalStack]:
    with PortalStack(amazon_processing_seconds=0.1) as stack:
        yield stack


@dataclass
class Case:
    """One portal: how to seed an order, build a connector, lose an answer, read the state."""

    seed: Callable[[PortalStack, str], ParcelShipment]
    connector: Callable[[PortalStack], PortalConnector]
    lose_answer: Callable[[PortalStack, str], None]  # kind: "timeout" | "cut_off"
    held: Callable[[PortalStack, ParcelShipment], list[str]]


def _shipment(order_id: str, number: str, items: tuple[ShipmentItem, ...]) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=1,
        order_no=f"AU-{order_id}",
        portal_order_id=order_id,
        account="main",
        carrier="dhl",
        tracking_number=number,
        shipped_at=datetime.now(UTC) - timedelta(hours=1),
        items=items,
        order_tracking_numbers=(number,),
    )


def _ebay_seed(stack: PortalStack, order_id: str) -> ParcelShipment:
    ebay.simulator(stack.apps["ebay"]).add_order(order_id, {"110000000001": 1})
    return _shipment(order_id, "340434188193019876", (ShipmentItem("110000000001", 1),))


def _ebay_connector(stack: PortalStack) -> PortalConnector:
    sim = ebay.simulator(stack.apps["ebay"])
    options = EbayOptions(
        api_base=stack.urls["ebay"],
        rate_per_second=1000.0,
        burst=1000,
        base_delay=0.05,
        timeout_seconds=TIMEOUT,
    )
    return EbayConnector.from_credentials(
        client_id=sim.client_id,
        client_secret=SecretStr(sim.client_secret),
        refresh_token=SecretStr(sim.refresh_token),
        account="main",
        options=options,
    )


def _ebay_lose(stack: PortalStack, kind: str) -> None:
    sim = ebay.simulator(stack.apps["ebay"])
    if kind == "timeout":
        sim.slow_next(1, LATE, method="POST")
    else:
        sim.fail_after_store(1)


def _ebay_held(stack: PortalStack, shipment: ParcelShipment) -> list[str]:
    sim = ebay.simulator(stack.apps["ebay"])
    return [f["shipmentTrackingNumber"] for f in sim.fulfillments(shipment.portal_order_id)]


def _kaufland_seed(stack: PortalStack, order_id: str) -> ParcelShipment:
    unit = int(order_id.removeprefix("M"))
    kaufland.simulator(stack.apps["kaufland"]).add_order_unit(unit, order_id)
    return _shipment(order_id, "340434188193019876", (ShipmentItem(str(unit), 1),))


def _kaufland_connector(stack: PortalStack) -> PortalConnector:
    options = KauflandOptions(
        api_base=stack.urls["kaufland"] + "/v2", base_delay=0.05, timeout_seconds=TIMEOUT
    )
    return KauflandConnector.from_credentials(
        client_key=KAUFLAND_CLIENT_KEY,
        secret_key=SecretStr(KAUFLAND_SECRET),
        account="main",
        options=options,
    )


def _kaufland_lose(stack: PortalStack, kind: str) -> None:
    sim = kaufland.simulator(stack.apps["kaufland"])
    if kind == "timeout":
        sim.slow_next(1, LATE, method="PATCH")
    else:
        sim.fail_after_store(1, method="PATCH")


def _kaufland_held(stack: PortalStack, shipment: ParcelShipment) -> list[str]:
    unit = kaufland.simulator(stack.apps["kaufland"]).unit(int(shipment.items[0].item_id))
    return [*unit.tracking_numbers, *(s["tracking_number"] for s in unit.shipments)]


def _hood_seed(stack: PortalStack, order_id: str) -> ParcelShipment:
    sim = hood.simulator_of(stack.apps["hood"])
    sim.accounts["shop-user"] = HOOD_PASSWORD
    sim.seed(order_id, "shop-user")
    return _shipment(order_id, "340434188193019876", ())


def _hood_connector(stack: PortalStack) -> PortalConnector:
    credentials = HoodCredentials("main", "shop-user", SecretStr(HOOD_PASSWORD))
    return HoodConnector(
        credentials,
        url=stack.urls["hood"] + hood.API_PATH,
        timeout=TIMEOUT,
        rate_per_second=100.0,
        burst=10,
        base_delay=0.05,
    )


def _one_value_lose(app_key: str) -> Callable[[PortalStack, str], None]:
    def lose(stack: PortalStack, kind: str) -> None:
        sim = stack.apps[app_key].state.simulator
        if kind == "timeout":
            sim.slow_next(1, LATE)
        else:
            sim.malformed_next(1)

    return lose


def _hood_held(stack: PortalStack, shipment: ParcelShipment) -> list[str]:
    order = hood.simulator_of(stack.apps["hood"]).orders[shipment.portal_order_id]
    return list(order.tracking_codes)


def _rakuten_seed(stack: PortalStack, order_id: str) -> ParcelShipment:
    rakuten.simulator_of(stack.apps["rakuten"]).seed(order_id)
    return _shipment(order_id, "340434188193019876", ())


def _rakuten_connector(stack: PortalStack) -> PortalConnector:
    return RakutenConnector(
        RakutenCredentials("main", SecretStr(RAKUTEN_KEY)),
        enabled=True,
        base_url=stack.urls["rakuten"] + "/merchants/",
        timeout=TIMEOUT,
        rate_per_second=100.0,
        base_delay=0.05,
    )


def _rakuten_held(stack: PortalStack, shipment: ParcelShipment) -> list[str]:
    order = rakuten.simulator_of(stack.apps["rakuten"]).orders[shipment.portal_order_id]
    return [s.tracking_number for s in order.shipments]


CASES = {
    "ebay": Case(_ebay_seed, _ebay_connector, _ebay_lose, _ebay_held),
    "kaufland": Case(_kaufland_seed, _kaufland_connector, _kaufland_lose, _kaufland_held),
    "hood": Case(_hood_seed, _hood_connector, _one_value_lose("hood"), _hood_held),
    "rakuten": Case(_rakuten_seed, _rakuten_connector, _one_value_lose("rakuten"), _rakuten_held),
}
ORDER_IDS = {
    ("ebay", "timeout"): "10-00001-00001",
    ("ebay", "cut_off"): "10-00001-00002",
    ("kaufland", "timeout"): "M1000001",
    ("kaufland", "cut_off"): "M1000002",
    ("hood", "timeout"): "10000001",
    ("hood", "cut_off"): "10000002",
    ("rakuten", "timeout"): "100-000-001",
    ("rakuten", "cut_off"): "100-000-002",
}


def submit(connector: PortalConnector, shipment: ParcelShipment) -> ConfirmationResult:
    async def go() -> ConfirmationResult:
        try:
            [result] = await connector.submit([shipment])
        finally:
            await connector.aclose()
        return result

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["timeout", "cut_off"])
@pytest.mark.parametrize("portal", sorted(CASES))
def test_lost_answer_after_the_change_confirms_the_parcel_exactly_once(
    portals: PortalStack, portal: str, kind: str
) -> None:
    case = CASES[portal]
    shipment = case.seed(portals, ORDER_IDS[(portal, kind)])
    case.lose_answer(portals, kind)
    result = submit(case.connector(portals), shipment)
    assert (result.status, result.error_code) == (ConfirmationStatus.CONFIRMED, None), result
    assert case.held(portals, shipment) == [shipment.tracking_number]
