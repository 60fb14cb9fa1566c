"""The Hood connector against the Hood simulator over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from connectors.base import ConfirmationResult, ParcelShipment, PortalConnector
from connectors.errors import AuthError
from connectors.hood.auth import HoodCredentials, md5_hex
from connectors.hood.connector import HoodConnector
from connectors.hood.mapping import UNVERIFIED_ORDER_STATUS_SHAPE
from core.domain import ConfirmationStatus
from simulators.hood import API_PATH, HoodSimulator, create_app, simulator_of
from simulators.server import serve_in_thread

T = TypeVar("T")
PASSWORD = "Sehr-Geheim-42"
CREDENTIALS = HoodCredentials("main", "shop-mueller", SecretStr(PASSWORD))


@dataclass
class Hood:
    url: str
    sim: HoodSimulator

    def connector(
        self, credentials: HoodCredentials = CREDENTIALS, **options: Any
    ) -> HoodConnector:
        settings: dict[str, Any] = {
            "base_delay": 0.01,
            "max_delay": 0.05,
            "timeout": 2.0,
            "rate_per_second": 100.0,
            "burst": 10,
        }
        settings.update(options)
        return HoodConnector(credentials, url=self.url, **settings)


@pytest.fixture
def hood() -> Iterator[Hood]:
    app = create_app({CREDENTIALS.account_name: PASSWORD})
    with serve_in_thread(app) as base:
        yield Hood(url=base + API_PATH, sim=simulator_of(app))


def run(connector: HoodConnector, call: Callable[[HoodConnector], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await call(connector)
        finally:
            await connector.aclose()

    return asyncio.run(go())


def submit(connector: HoodConnector, *rows: ParcelShipment) -> list[ConfirmationResult]:
    return run(connector, lambda c: c.submit(rows))


def parcel(
    cid: int, order_id: str, tracking: str, carrier: str = "dhl", account: str = "main"
) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=cid,
        order_no=f"A-{order_id}",
        portal_order_id=order_id,
        account=account,
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=datetime(2024, 5, 6, 10, 0, tzinfo=UTC),
    )


def test_connector_implements_the_portal_protocol(hood: Hood) -> None:
    connector: PortalConnector = hood.connector()
    assert connector.portal == "hood"
    assert run(hood.connector(), lambda c: c.poll([])) == []


def test_confirms_an_open_order_and_hood_records_tracking_and_carrier(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    [result] = submit(hood.connector(), parcel(1, "4711", "00340434161234567890", "dpd"))
    assert result.status is ConfirmationStatus.CONFIRMED
    order = hood.sim.orders["4711"]
    assert (order.status, order.tracking_codes, order.carriers) == (
        "shipped",
        ["00340434161234567890"],
        ["DPD"],
    )


def test_rejects_with_hoods_text_and_the_rest_of_the_batch_goes_through(hood: Hood) -> None:
    hood.sim.seed("1", CREDENTIALS.account_name, status="cancelled")
    hood.sim.seed("2", CREDENTIALS.account_name)
    results = submit(
        hood.connector(), parcel(1, "1", "T1"), parcel(2, "404", "T2"), parcel(3, "2", "T3")
    )
    assert [r.status for r in results] == [
        ConfirmationStatus.REJECTED,
        ConfirmationStatus.REJECTED,
        ConfirmationStatus.CONFIRMED,
    ]
    assert results[0].error_text == "Bestellung 1 ist storniert"
    assert results[1].error_text == "Bestellung 404 nicht gefunden"
    assert hood.sim.orders["1"].tracking_codes == []


def test_an_order_of_another_hood_account_is_not_touched(hood: Hood) -> None:
    hood.sim.accounts["other-shop"] = "pw"
    hood.sim.seed("77", "other-shop")
    [result] = submit(hood.connector(), parcel(1, "77", "T1"))
    assert result.status is ConfirmationStatus.REJECTED
    assert hood.sim.orders["77"].status == "open"


def test_two_parcels_of_one_order_both_reach_hood(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    results = submit(hood.connector(), parcel(1, "4711", "T1"), parcel(2, "4711", "T2", "ups"))
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert hood.sim.orders["4711"].tracking_codes == ["T1", "T2"]
    assert hood.sim.requests == 2


def test_large_batches_are_split_into_requests_of_the_assumed_size(hood: Hood) -> None:
    size = UNVERIFIED_ORDER_STATUS_SHAPE.max_orders_per_request
    for n in range(size + 2):
        hood.sim.seed(str(n), CREDENTIALS.account_name)
    results = submit(hood.connector(), *(parcel(n, str(n), f"T{n}") for n in range(size + 2)))
    assert all(r.status is ConfirmationStatus.CONFIRMED for r in results)
    assert hood.sim.requests == 2


def test_server_errors_are_retried_without_duplicate_tracking_codes(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    hood.sim.fail_next(2, status=503)
    [result] = submit(hood.connector(), parcel(1, "4711", "T1"))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert hood.sim.requests == 3
    assert hood.sim.orders["4711"].tracking_codes == ["T1"]


def test_a_lost_answer_is_retried_and_hood_keeps_one_tracking_code(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    hood.sim.malformed_next(1)  # applied, but the answer arrives cut off
    [result] = submit(hood.connector(), parcel(1, "4711", "T1"))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert hood.sim.requests == 2
    assert hood.sim.orders["4711"].tracking_codes == ["T1"]


def test_a_timed_out_request_is_retried_without_duplicates(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    hood.sim.slow_next(1, seconds=0.4)
    [result] = submit(hood.connector(timeout=0.15), parcel(1, "4711", "T1"))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert hood.sim.orders["4711"].tracking_codes == ["T1"]


def test_retries_exhausted_leave_the_rows_failed_not_rejected(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    hood.sim.fail_next(10)
    [result] = submit(hood.connector(attempts=2), parcel(1, "4711", "T1"))
    assert result.status is ConfirmationStatus.FAILED
    assert "HTTP 500" in (result.error_text or "")
    assert hood.sim.requests == 2


def test_wrong_password_raises_auth_error_and_changes_nothing(hood: Hood) -> None:
    hood.sim.seed("4711", CREDENTIALS.account_name)
    wrong = HoodCredentials("main", CREDENTIALS.account_name, SecretStr("falsch"))
    with pytest.raises(AuthError, match="Login fehlgeschlagen"):
        submit(hood.connector(wrong), parcel(1, "4711", "T1"))
    assert hood.sim.orders["4711"].status == "open"
    assert hood.sim.requests == 1  # not retried


def test_rows_of_another_liefern_account_are_refused_before_sending(hood: Hood) -> None:
    [result] = submit(hood.connector(), parcel(1, "4711", "T1", account="second-shop"))
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "wrong_account"
    assert hood.sim.requests == 0


def test_client_side_rate_limit_spaces_the_requests(hood: Hood) -> None:
    for n in range(3):
        hood.sim.seed(str(n), CREDENTIALS.account_name)
    rows = [parcel(n, "0", f"T{n}") for n in range(3)]  # same order: three requests
    started = time.monotonic()
    submit(hood.connector(rate_per_second=10.0, burst=1), *rows)
    assert time.monotonic() - started >= 0.18
    assert hood.sim.requests == 3


def test_logs_name_the_assumed_shape_but_never_the_password_or_its_md5(
    hood: Hood, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hood.sim.seed("4711", CREDENTIALS.account_name)
    hood.sim.fail_next(1)
    submit(hood.connector(), parcel(1, "4711", "T1"))
    wrong = HoodCredentials("main", CREDENTIALS.account_name, SecretStr("falsch-" + PASSWORD))
    with pytest.raises(AuthError) as caught:
        submit(hood.connector(wrong), parcel(2, "4711", "T2"))
    text = caplog.text + str(caught.value) + repr(CREDENTIALS) + repr(wrong)
    assert "updateOrderStatus" in caplog.text and "assumed" in caplog.text
    for secret in (PASSWORD, md5_hex(PASSWORD), md5_hex("falsch-" + PASSWORD)):
        assert secret not in text
