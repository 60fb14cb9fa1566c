"""`timeout_seconds` of an account in accounts.toml reaches that portal's calls; a wrong value
is refused with the account and the key named, before anything is sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import ParcelShipment, ShipmentItem
from connectors.credentials import env_name
from connectors.registry import open_connector
from core.accounts import AccountOptions, Accounts
from core.domain import ConfirmationStatus
from simulators import ebay, hood
from simulators.stack import PortalOrder, PortalStack
from tests.helpers import numbers


def shipment(portal_order_id: str, item: str, account: str = "main") -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=1,
        order_no="AU1",
        portal_order_id=portal_order_id,
        account=account,
        carrier="dhl",
        tracking_number=numbers("dhl", 1, seed=3)[0][2:],
        shipped_at=datetime.now(UTC) - timedelta(hours=1),
        items=(ShipmentItem(item, 1),),
    )


def submit(options: AccountOptions, parcel: ParcelShipment) -> ConfirmationStatus:
    connector = open_connector(options, simulator=True)

    async def run() -> ConfirmationStatus:
        try:
            [result] = await connector.submit([parcel])
            return result.status
        finally:
            await connector.aclose()

    return asyncio.run(run())


def accounts_with_timeout(tmp_path: Path, stack: PortalStack, seconds: str) -> Accounts:
    toml = stack.accounts_toml() + f"\n[portals.hood]\ntimeout_seconds = {seconds}\n"
    toml += f"\n[portals.ebay]\ntimeout_seconds = {seconds}\n"
    path = tmp_path / "accounts.toml"
    path.write_text(toml, encoding="utf-8")
    return Accounts.load(path)


@pytest.mark.parametrize("portal", ["hood", "ebay"])
def test_a_call_slower_than_the_accounts_timeout_is_retried(
    portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PortalStack() as stack:
        stack.seed([PortalOrder(portal, "main", "4711", {"110000000001": 1})])
        for name, value in stack.environment().items():
            monkeypatch.setenv(name, value)
        accounts = accounts_with_timeout(tmp_path, stack, "0.3")
        if portal == "hood":
            sim = hood.simulator_of(stack.apps["hood"])
            sim.slow_next(1, seconds=1.0)  # far below the default 30 s
        else:
            ebay.simulator(stack.apps["ebay"]).slow_next(1, 1.0, method="POST")
        status = submit(accounts.options(portal, "main"), shipment("4711", "110000000001"))
        assert status is ConfirmationStatus.CONFIRMED
        if portal == "hood":
            assert sim.requests == 2  # the slow call timed out after 0.3 s and was sent again
            assert sim.orders["4711"].tracking_codes == [shipment("4711", "x").tracking_number]
        else:
            # the POST timed out after 0.3 s; eBay had stored it, which the read-back shows
            methods = [c.method for c in ebay.simulator(stack.apps["ebay"]).calls]
            assert methods == ["GET", "POST", "GET"]


@pytest.mark.parametrize("value", ["'soon'", "0", "-5", "3600"])
def test_a_wrong_timeout_names_the_account_and_the_key(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(f'[accounts.main]\nportal = "hood"\ntimeout_seconds = {value}\n')
    monkeypatch.setenv(env_name("hood", "main", "account_name"), "someone")
    monkeypatch.setenv(env_name("hood", "main", "api_password"), "secret")
    with pytest.raises(ValueError, match=r"hood account 'main': timeout_seconds in accounts\.toml"):
        open_connector(Accounts.load(path).options("hood", "main"))
