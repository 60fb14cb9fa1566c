"""The Rakuten connector against the Rakuten simulator over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from connectors.base import ConfirmationResult, ParcelShipment, PortalConnector
from connectors.errors import AuthError
from connectors.rakuten.auth import RakutenCredentials
from connectors.rakuten.connector import RakutenConnector
from connectors.rakuten.mapping import DOCUMENTED_ERRORS
from core.domain import ConfirmationStatus
from simulators.rakuten import (
    BASE_PATH,
    RakutenShipment,
    RakutenSimulator,
    create_app,
    simulator_of,
)
from simulators.server import serve_in_thread

T = TypeVar("T")
KEY = "123456789a123456789a123456789a12"
CREDENTIALS = RakutenCredentials("main", SecretStr(KEY))


@dataclass
class Rakuten:
    base_url: str
    sim: RakutenSimulator

    def connector(
        self, credentials: RakutenCredentials = CREDENTIALS, **options: Any
    ) -> RakutenConnector:
        settings: dict[str, Any] = {
            "enabled": True,
            "base_url": self.base_url,
            "base_delay": 0.01,
            "max_delay": 0.05,
            "timeout": 2.0,
            "rate_per_second": 100.0,
            "burst": 10,
        }
        settings.update(options)
        return RakutenConnector(credentials, **settings)


@pytest.fixture
def rakuten() -> Iterator[Rakuten]:
    app = create_app(KEY)
    with serve_in_thread(app) as base:
        yield Rakuten(base_url=base + BASE_PATH, sim=simulator_of(app))


def run(connector: RakutenConnector, call: Callable[[RakutenConnector], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await call(connector)
        finally:
            await connector.aclose()

    return asyncio.run(go())


def submit(connector: RakutenConnector, *rows: ParcelShipment) -> list[ConfirmationResult]:
    return run(connector, lambda c: c.submit(rows))


def parcel(
    cid: int, order_no: str, tracking: str = "00340434161234567890", carrier: str = "dhl"
) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=cid,
        order_no=f"A-{cid}",
        portal_order_id=order_no,
        account="main",
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=datetime(2020, 10, 1, 9, 0, tzinfo=UTC),
    )


def test_connector_implements_the_portal_protocol(rakuten: Rakuten) -> None:
    connector: PortalConnector = rakuten.connector()
    assert connector.portal == "rakuten"
    assert run(rakuten.connector(), lambda c: c.poll([])) == []


def test_disabled_by_default_refuses_every_row_without_sending(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    connector = RakutenConnector(CREDENTIALS, base_url=rakuten.base_url)
    [result] = submit(connector, parcel(1, "123-456-789"))
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "portal_disabled"
    assert "15.10.2020" in (result.error_text or "")
    assert rakuten.sim.requests == 0


def test_enabling_warns_that_the_marketplace_closed(
    rakuten: Rakuten, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.rakuten.connector")
    run(rakuten.connector(), lambda c: c.poll([]))
    assert "closed on 15.10.2020" in caplog.text


def test_disabled_connector_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.rakuten.connector")
    run(RakutenConnector(CREDENTIALS), lambda c: c.poll([]))
    assert caplog.text == ""


def test_confirms_an_editable_order_and_rakuten_records_the_shipment(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    [result] = submit(
        rakuten.connector(), parcel(1, "123-456-789", "RR123456785DE", "deutsche_post")
    )
    assert result.status is ConfirmationStatus.CONFIRMED
    order = rakuten.sim.orders["123-456-789"]
    assert order.status == "shipped"
    assert order.shipments == [RakutenShipment("Deutsche Post (Einschreiben)", "RR123456785DE", "")]


def test_rejects_with_rakutens_code_and_text_and_goes_on_with_the_batch(rakuten: Rakuten) -> None:
    rakuten.sim.seed("111-111-111", status="shipped")
    rakuten.sim.seed("333-333-333")
    results = submit(
        rakuten.connector(),
        replace(parcel(1, "111-111-111"), sent_before=False),
        parcel(2, "222-222-222"),
        parcel(3, "333-333-333"),
    )
    assert [(r.status, r.error_code) for r in results] == [
        (ConfirmationStatus.REJECTED, "3710"),
        (ConfirmationStatus.REJECTED, "3705"),
        (ConfirmationStatus.CONFIRMED, None),
    ]
    assert (results[0].error_text or "").startswith(DOCUMENTED_ERRORS["3710"])
    assert "marked shipped without liefern" in (results[0].error_text or "")
    assert results[1].error_text == DOCUMENTED_ERRORS["3705"]


def test_tracking_link_with_reserved_characters_arrives_unchanged(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    link = "https://www.fedex.com/fedextrack/?trknbr=123456789012&lang=de_DE&key=x y+z"
    connector = rakuten.connector(tracking_url=lambda row: link)
    [result] = submit(connector, parcel(1, "123-456-789", "123456789012", "fedex"))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert rakuten.sim.orders["123-456-789"].shipments == [
        RakutenShipment("Tracking-Link", "123456789012", link)
    ]


def test_server_errors_are_retried_without_duplicate_shipments(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    rakuten.sim.fail_next(2, status=502)
    [result] = submit(rakuten.connector(), parcel(1, "123-456-789"))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert rakuten.sim.requests == 3
    assert len(rakuten.sim.orders["123-456-789"].shipments) == 1


def test_retries_exhausted_leave_the_row_failed(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    rakuten.sim.fail_next(10)
    [result] = submit(rakuten.connector(attempts=3), parcel(1, "123-456-789"))
    assert result.status is ConfirmationStatus.FAILED
    assert rakuten.sim.requests == 3
    assert rakuten.sim.orders["123-456-789"].status == "editable"


def test_wrong_key_raises_auth_error_and_ships_nothing(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    wrong = RakutenCredentials("main", SecretStr("not-the-key"))
    with pytest.raises(AuthError, match="Schlüssel"):
        submit(rakuten.connector(wrong), parcel(1, "123-456-789"), parcel(2, "123-456-789"))
    assert rakuten.sim.orders["123-456-789"].status == "editable"
    assert rakuten.sim.requests == 1


def test_rows_refused_locally_never_reach_rakuten(rakuten: Rakuten) -> None:
    results = submit(
        rakuten.connector(),
        parcel(1, "123456789"),
        parcel(2, "123-456-789", tracking="0034 0434"),
        parcel(3, "123-456-789", carrier="fedex"),
    )
    assert [r.error_code for r in results] == ["invalid_order_no", "4703", "carrier_not_supported"]
    assert rakuten.sim.requests == 0


def test_the_key_never_appears_in_logs_errors_or_reprs(
    rakuten: Rakuten, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rakuten.sim.seed("123-456-789")
    rakuten.sim.fail_next(1)
    results = submit(rakuten.connector(), parcel(1, "123-456-789"), parcel(2, "999-999-999"))
    wrong_key = "wrong" + KEY
    with pytest.raises(AuthError) as caught:
        submit(
            rakuten.connector(RakutenCredentials("main", SecretStr(wrong_key))),
            parcel(3, "123-456-789"),
        )
    text = caplog.text + str(caught.value) + repr(CREDENTIALS) + repr(results)
    assert "attempt 1 failed" in caplog.text
    assert KEY not in text and wrong_key not in text


# --- after a lost answer: the order's status is read back ----------------------------------------


def test_a_second_run_after_a_lost_answer_ends_confirmed(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    rakuten.sim.malformed_next(1)  # the call goes through, its answer is cut off
    [first] = submit(rakuten.connector(attempts=1), parcel(1, "123-456-789"))
    assert first.status is ConfirmationStatus.FAILED  # the process "dies" with nothing known
    assert rakuten.sim.orders["123-456-789"].status == "shipped"
    [second] = submit(rakuten.connector(), replace(parcel(1, "123-456-789"), sent_before=True))
    assert second.status is ConfirmationStatus.CONFIRMED
    assert "getOrders" in second.extra["note"]
    assert len(rakuten.sim.orders["123-456-789"].shipments) == 1
    assert rakuten.sim.order_reads == 1


def test_a_whole_batch_shipped_by_a_killed_run_ends_confirmed(rakuten: Rakuten) -> None:
    numbers = [f"123-456-{n:03d}" for n in range(5)]
    for number in numbers:
        rakuten.sim.seed(number, status="shipped")  # the killed run's calls all went through
    results = submit(rakuten.connector(), *(parcel(n, o) for n, o in enumerate(numbers)))
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 5


def test_a_repeat_within_one_run_after_a_lost_answer_is_confirmed(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    rakuten.sim.malformed_next(1)
    [result] = submit(rakuten.connector(), replace(parcel(1, "123-456-789"), sent_before=False))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert len(rakuten.sim.orders["123-456-789"].shipments) == 1


def test_a_cancelled_order_is_rejected_with_its_status(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789", status="cancelled")
    [result] = submit(rakuten.connector(), parcel(1, "123-456-789"))
    assert (result.status, result.error_code) == (ConfirmationStatus.REJECTED, "3710")
    assert "cancelled on Rakuten" in (result.error_text or "")


def test_a_parcel_without_tracking_number_is_refused_with_what_to_do(rakuten: Rakuten) -> None:
    rakuten.sim.seed("123-456-789")
    [result] = submit(rakuten.connector(), replace(parcel(1, "123-456-789"), tracking_number=None))
    assert result.status is ConfirmationStatus.REJECTED
    assert "by hand in the Rakuten back office" in (result.error_text or "")
    assert rakuten.sim.requests == 0
