"""Accounts marked `simulator = true` are not held to a portal's production pace.

open_connector promises that `simulator=True` relaxes client-side rate limits that only make
sense against the real portals; without that, a stress run (or the demo) with a few hundred
eBay orders spends most of its time waiting for eBay's 5 requests per second.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import ParcelShipment, ShipmentItem
from connectors.credentials import env_name
from connectors.registry import open_connector
from core.accounts import AccountOptions
from core.domain import ConfirmationStatus
from simulators import ebay
from simulators.stack import PortalStack
from tests.helpers import numbers

PARCELS = 60  # 120 requests: at eBay's 5 per second (burst 10) at least 22 s


def test_simulator_ebay_account_is_not_paced_like_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with PortalStack() as stack:
        sim = ebay.simulator(stack.apps["ebay"])
        for field, value in (
            ("client_id", sim.client_id),
            ("client_secret", sim.client_secret),
            ("refresh_token", sim.refresh_token),
        ):
            monkeypatch.setenv(env_name("ebay", "main", field), value)
        shipments = []
        for index, number in enumerate(numbers("dhl", PARCELS, seed=21)):
            order_id = f"12-{index:05d}-00001"
            sim.add_order(order_id, {"110000000001": 1})
            shipments.append(
                ParcelShipment(
                    confirmation_id=index + 1,
                    order_no=f"AU{index}",
                    portal_order_id=order_id,
                    account="main",
                    carrier="dhl",
                    tracking_number=number[2:],
                    shipped_at=datetime.now(UTC) - timedelta(hours=1),
                    items=(ShipmentItem("110000000001", 1),),
                )
            )
        options = AccountOptions("ebay", "main", base_url=stack.urls["ebay"])
        connector = open_connector(options, simulator=True)

        async def confirm_all() -> list[ConfirmationStatus]:
            try:
                return [r.status for r in await connector.submit(shipments)]
            finally:
                await connector.aclose()

        started = time.monotonic()
        statuses = asyncio.run(confirm_all())
        elapsed = time.monotonic() - started
    assert statuses == [ConfirmationStatus.CONFIRMED] * PARCELS
    assert elapsed < 8.0, f"{PARCELS} parcels took {elapsed:.1f} s"


@pytest.mark.parametrize(("simulator", "fast"), [(True, True), (False, False)])
def test_kaufland_is_paced_like_production_only_against_the_real_portal(
    monkeypatch: pytest.MonkeyPatch, simulator: bool, fast: bool
) -> None:
    from connectors.kaufland.connector import KauflandConnector
    from connectors.kaufland.mapping import RATE_LIMIT_PER_SECOND

    monkeypatch.setenv(env_name("kaufland", "main", "client_key"), "key")
    monkeypatch.setenv(env_name("kaufland", "main", "secret_key"), "secret")
    connector = open_connector(AccountOptions("kaufland", "main"), simulator=simulator)
    assert isinstance(connector, KauflandConnector)
    limit = connector.options.rate_per_second
    assert (limit > RATE_LIMIT_PER_SECOND) is fast
    assert limit <= RATE_LIMIT_PER_SECOND or simulator
    asyncio.run(connector.aclose())


@pytest.mark.parametrize("simulator", [True, False])
def test_ebay_is_paced_like_production_only_against_the_real_portal(
    monkeypatch: pytest.MonkeyPatch, simulator: bool
) -> None:
    from connectors.ebay.connector import EbayConnector, EbayOptions

    for field in ("client_id", "client_secret", "refresh_token"):
        monkeypatch.setenv(env_name("ebay", "main", field), "x")
    connector = open_connector(AccountOptions("ebay", "main"), simulator=simulator)
    assert isinstance(connector, EbayConnector)
    production = EbayOptions()
    faster = (
        connector.options.rate_per_second > production.rate_per_second
        and connector.options.concurrency > production.concurrency
    )
    assert faster is simulator
    asyncio.run(connector.aclose())
