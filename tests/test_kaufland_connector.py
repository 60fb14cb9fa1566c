"""KauflandConnector against the Kaufland simulator over real HTTP: each unit sent once.

Answers the simulator never gives (malformed order bodies) come from an httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from connectors.base import ConfirmationResult, OrderParcel, ParcelShipment, ShipmentItem
from connectors.errors import AuthError
from connectors.kaufland.connector import KauflandConnector, KauflandOptions
from core.domain import ConfirmationStatus
from simulators.kaufland import KauflandSimulator, build_app
from simulators.server import serve_in_thread

CLIENT_KEY = "35f5dba43b471cd2ad28fd68e4825e2b"
SECRET_KEY = "b3575f222f7b768c25160b879699118b331c6883dd6010864b7ead130be77cd5"
FAST = KauflandOptions(
    rate_per_second=1000, burst=100, base_delay=0.02, max_delay=0.2, timeout_seconds=5
)
FIRST, SECOND = "00340434161234567890", "H1002345678901234567"


@dataclass
class Kaufland:
    sim: KauflandSimulator
    api_base: str

    def submit(
        self,
        shipments: list[ParcelShipment],
        options: KauflandOptions = FAST,
        *,
        secret_key: str = SECRET_KEY,
    ) -> list[ConfirmationResult]:
        async def run() -> list[ConfirmationResult]:
            connector = KauflandConnector.from_credentials(
                client_key=CLIENT_KEY,
                secret_key=SecretStr(secret_key),
                account="kaufland-de",
                options=replace(options, api_base=self.api_base),
            )
            try:
                return await connector.submit(shipments)
            finally:
                await connector.aclose()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FastAPI, str]]:
    """One simulator server per module; each test swaps in a fresh simulator state."""
    app = build_app(KauflandSimulator(CLIENT_KEY, SECRET_KEY))
    with serve_in_thread(app) as base_url:
        yield app, base_url + "/v2"


@pytest.fixture
def kaufland(server: tuple[FastAPI, str]) -> Callable[..., Kaufland]:
    app, api_base = server

    def fresh(**options: Any) -> Kaufland:
        sim = KauflandSimulator(CLIENT_KEY, SECRET_KEY, **options)
        app.state.sim = sim
        return Kaufland(sim, api_base)

    return fresh


def calls(shop: Kaufland) -> list[tuple[str, str, int]]:
    return [(c.method, c.path, c.status) for c in shop.sim.calls]


def parcel(
    number: str,
    *units: int,
    order: str = "MB7UWLD",
    order_numbers: tuple[str, ...] | None = None,
    confirmation_id: int = 1,
    carrier: str = "dhl",
    carriers: dict[str, str] | None = None,
) -> ParcelShipment:
    """`order_numbers`: the order's parcels by tracking number, each of `carrier` unless
    `carriers` names another one for it."""
    numbers = order_numbers if order_numbers is not None else (number,)
    of = carriers or {}
    return ParcelShipment(
        confirmation_id=confirmation_id,
        order_no="100981",
        portal_order_id=order,
        account="kaufland-de",
        carrier=carrier,
        tracking_number=number,
        shipped_at=datetime.now(UTC) - timedelta(hours=1),
        items=tuple(ShipmentItem(str(unit), 1) for unit in units),
        order_tracking_numbers=numbers,
        order_parcels=tuple(OrderParcel(of.get(n, carrier), n) for n in numbers),
        parcel_index=numbers.index(number) if number in numbers else 0,
    )


def test_an_open_unit_is_marked_sent_with_carrier_and_tracking_number(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    [result] = shop.submit([parcel(FIRST, 1001)])
    unit = shop.sim.unit(1001)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.reference == "1001"
    assert unit.status == "sent"
    assert unit.carrier_code == "DHL"
    assert unit.tracking_numbers == [FIRST]


def test_every_unit_of_the_parcel_is_marked_sent(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland()
    for unit_id in (1001, 1002, 1003):
        shop.sim.add_order_unit(unit_id, "MB7UWLD")
    [result] = shop.submit([parcel(FIRST, 1001, 1002, 1003)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert result.reference == "1001,1002,1003"
    assert {shop.sim.unit(u).status for u in (1001, 1002, 1003)} == {"sent"}


def test_the_order_is_read_once_for_all_units_of_the_parcel(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    for unit_id in (1001, 1002, 1003):
        shop.sim.add_order_unit(unit_id, "MB7UWLD")
    shop.sim.add_order_unit(1004, "MB7UWLD", status="cancelled")  # not in this parcel
    [result] = shop.submit([parcel(FIRST, 1001, 1002, 1003)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert calls(shop) == [
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 204),
        ("PATCH", "/v2/order-units/1002/send", 204),
        ("PATCH", "/v2/order-units/1003/send", 204),
    ]
    assert shop.sim.count("GET", "/order-units/") == 0


def test_parcels_of_one_carrier_are_sent_together_and_each_unit_only_once(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.add_order_unit(1002, "MB7UWLD")
    both = (FIRST, SECOND)
    results = shop.submit(
        [
            parcel(FIRST, 1001, 1002, order_numbers=both, confirmation_id=1),
            parcel(SECOND, 1001, 1002, order_numbers=both, confirmation_id=2),
        ]
    )
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert shop.sim.unit(1001).carriers() == {FIRST: "DHL", SECOND: "DHL"}
    assert f"sent with {SECOND} in one request" in results[1].extra["note"]
    # the second parcel is covered by the first one's request: no request at all
    assert calls(shop) == [
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 204),
        ("PATCH", "/v2/order-units/1002/send", 204),
    ]


def test_parcels_of_two_carriers_each_go_out_under_their_own_carrier(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.add_order_unit(1002, "MB7UWLD")
    both, of = (FIRST, SECOND), {SECOND: "dpd"}
    results = shop.submit(
        [
            parcel(FIRST, 1001, 1002, order_numbers=both, carriers=of, confirmation_id=1),
            parcel(SECOND, 1001, 1002, order_numbers=both, carriers=of, carrier="dpd"),
        ]
    )
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    for unit in (1001, 1002):
        assert shop.sim.unit(unit).carriers() == {FIRST: "DHL", SECOND: "DPD"}
    assert shop.sim.count("PATCH", status=204) == 2
    assert shop.sim.count("POST", status=204) == 2


def test_a_resend_of_a_mixed_carrier_order_adds_nothing_twice(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    both, of = (FIRST, SECOND), {SECOND: "dpd"}
    parcels = [
        parcel(FIRST, 1001, order_numbers=both, carriers=of, confirmation_id=1),
        parcel(SECOND, 1001, order_numbers=both, carriers=of, carrier="dpd"),
    ]
    shop.submit(parcels)
    again = shop.submit(parcels)
    assert [r.status for r in again] == [ConfirmationStatus.CONFIRMED] * 2
    assert shop.sim.unit(1001).carriers() == {FIRST: "DHL", SECOND: "DPD"}
    assert shop.sim.count("PATCH") == 1
    assert shop.sim.count("POST", status=204) == 1


def test_a_parcel_added_after_the_unit_was_sent_becomes_a_shipment(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.submit([parcel(FIRST, 1001)])
    [later] = shop.submit(
        [
            parcel(
                SECOND,
                1001,
                order_numbers=(FIRST, SECOND),
                carriers={FIRST: "dhl"},
                carrier="hermes",
            )
        ]
    )
    unit = shop.sim.unit(1001)
    assert later.status is ConfirmationStatus.CONFIRMED
    assert unit.tracking_numbers == [FIRST]
    assert unit.shipments == [{"carrier_code": "Hermes", "tracking_number": SECOND}]
    assert shop.sim.count("PATCH") == 1


def test_an_already_sent_unit_is_confirmed_with_a_note_and_left_alone(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD", status="sent")
    [result] = shop.submit([parcel(FIRST, 1001)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert "already 'sent'" in result.extra["note"]
    assert shop.sim.count("PATCH") == 0
    assert shop.sim.count("POST") == 0


@pytest.mark.parametrize("status", ["sent_and_autopaid", "received"])
def test_units_past_sending_are_already_done(
    kaufland: Callable[..., Kaufland], status: str
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD", status=status)
    [result] = shop.submit([parcel(FIRST, 1001)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert status in result.extra["note"]
    assert shop.sim.unit(1001).status == status


def test_a_cancelled_unit_is_rejected(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD", status="cancelled")
    [result] = shop.submit([parcel(FIRST, 1001)])
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "cancelled"
    assert shop.sim.count("PATCH") == 0


def test_an_order_kaufland_does_not_know_is_rejected_with_its_reason_and_the_rest_goes_on(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(2001, "X2AB3CD")
    missing, good = shop.submit(
        [
            parcel(FIRST, 999, confirmation_id=1),
            parcel(SECOND, 2001, order="X2AB3CD", confirmation_id=2),
        ]
    )
    assert missing.status is ConfirmationStatus.REJECTED
    assert missing.error_code == "not-found"
    assert missing.error_text == "order MB7UWLD: Resource not found"
    assert good.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("GET", "/orders/MB7UWLD", status=404) == 1


def test_a_unit_the_order_does_not_list_rejects_the_parcel_before_any_change(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.add_order_unit(2001, "X2AB3CD")  # known to Kaufland, but of another order
    [result] = shop.submit([parcel(FIRST, 1001, 2001, 999)])
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "not-found"
    assert result.error_text == "Kaufland order MB7UWLD has no order unit(s) 2001, 999"
    assert shop.sim.unit(1001).status == "need_to_be_sent"
    assert shop.sim.count("GET") == 1
    assert shop.sim.count("PATCH") == 0


def test_a_500_after_kaufland_stored_the_change_is_read_back_not_repeated(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.fail_after_store(1)
    [result] = shop.submit([parcel(FIRST, 1001)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.unit(1001).tracking_numbers == [FIRST]
    assert shop.sim.count("PATCH") == 1
    assert shop.sim.count("POST") == 0


def test_a_lost_answer_for_a_multi_parcel_order_adds_no_duplicate_shipment(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.fail_after_store(1)
    [result] = shop.submit([parcel(FIRST, 1001, order_numbers=(FIRST, SECOND))])
    unit = shop.sim.unit(1001)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert unit.tracking_numbers == [FIRST, SECOND]
    assert unit.shipments == []


def test_a_timeout_is_retried_without_sending_twice(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.slow_next(1, 0.6, method="PATCH")
    [result] = shop.submit([parcel(FIRST, 1001)], replace(FAST, timeout_seconds=0.2))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("PATCH") == 1
    assert shop.sim.count("GET", "/orders/MB7UWLD") == 2  # read again before deciding


def test_a_lost_answer_re_reads_the_order_before_the_next_change(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    for unit_id in (1001, 1002, 1003):
        shop.sim.add_order_unit(unit_id, "MB7UWLD")
    shop.sim.fail_after_store(1)
    [result] = shop.submit([parcel(FIRST, 1001, 1002, 1003)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert calls(shop) == [
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 500),  # stored all the same
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1002/send", 204),
        ("PATCH", "/v2/order-units/1003/send", 204),
    ]
    assert all(shop.sim.unit(u).tracking_numbers == [FIRST] for u in (1001, 1002, 1003))


def test_a_5xx_on_a_change_re_reads_the_order_and_then_sends(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.add_order_unit(1002, "MB7UWLD")
    shop.sim.fail_next(1, 503, method="PATCH")
    [result] = shop.submit([parcel(FIRST, 1001, 1002)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert calls(shop) == [
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 503),
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 204),
        ("PATCH", "/v2/order-units/1002/send", 204),
    ]


def test_a_429_on_a_change_repeats_only_the_change(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.add_order_unit(1002, "MB7UWLD")
    shop.sim.fail_next(1, 429, method="PATCH")
    [result] = shop.submit([parcel(FIRST, 1001, 1002)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert calls(shop) == [
        ("GET", "/v2/orders/MB7UWLD", 200),
        ("PATCH", "/v2/order-units/1001/send", 429),
        ("PATCH", "/v2/order-units/1001/send", 204),
        ("PATCH", "/v2/order-units/1002/send", 204),
    ]


def test_a_failing_order_read_is_retried(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    shop.sim.fail_next(2, 500, method="GET")
    [result] = shop.submit([parcel(FIRST, 1001)])
    assert result.status is ConfirmationStatus.CONFIRMED
    assert shop.sim.count("GET", "/orders/MB7UWLD", status=500) == 2
    assert shop.sim.count("PATCH") == 1


def _order_answers(*bodies: object) -> tuple[httpx.MockTransport, list[str]]:
    """A Kaufland stand-in answering the order reads with `bodies` in turn (the last one
    repeats) and every change with 204; the paths asked for are logged."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        if request.method != "GET":
            return httpx.Response(204)
        reads = sum(1 for a in asked if a.startswith("GET"))
        return httpx.Response(200, json=bodies[min(reads, len(bodies)) - 1])

    return httpx.MockTransport(answer), asked


def _submit_through(transport: httpx.MockTransport, shipment: ParcelShipment) -> ConfirmationResult:
    async def run() -> list[ConfirmationResult]:
        connector = KauflandConnector.from_credentials(
            client_key=CLIENT_KEY,
            secret_key=SecretStr(SECRET_KEY),
            options=replace(FAST, api_base="https://sellerapi.example/v2", attempts=3),
            transport=transport,
        )
        try:
            return await connector.submit([shipment])
        finally:
            await connector.aclose()

    [result] = asyncio.run(run())
    return result


OPEN_ORDER = {"data": {"order_units": [{"id_order_unit": 1001, "status": "need_to_be_sent"}]}}
NO_STATUS = {"data": {"order_units": [{"id_order_unit": 1001}]}}


def test_a_malformed_order_answer_is_read_again() -> None:
    transport, asked = _order_answers(NO_STATUS, OPEN_ORDER)
    result = _submit_through(transport, parcel(FIRST, 1001))
    assert result.status is ConfirmationStatus.CONFIRMED
    assert asked == [
        "GET /v2/orders/MB7UWLD",
        "GET /v2/orders/MB7UWLD",
        "PATCH /v2/order-units/1001/send",
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"data": {"id_order": "MB7UWLD"}}, "has no data.order_units"),
        ({"errors": []}, "has no data.order_units"),
        (NO_STATUS, "has no status for order unit 1001"),
    ],
)
def test_a_malformed_order_answer_fails_the_parcel_after_all_attempts(
    body: object, words: str
) -> None:
    transport, asked = _order_answers(body)
    result = _submit_through(transport, parcel(FIRST, 1001))
    assert result.status is ConfirmationStatus.FAILED
    assert result.error_code == "TransientError"
    assert result.error_text is not None
    assert result.error_text.startswith("order MB7UWLD: Kaufland's order answer")
    assert words in result.error_text
    assert asked == ["GET /v2/orders/MB7UWLD"] * 3


def test_throttling_is_recovered_without_duplicates(kaufland: Callable[..., Kaufland]) -> None:
    shop = kaufland(rate_per_second=20, burst=3, retry_after_seconds=0)
    shipments = []
    for n in range(6):
        shop.sim.add_order_unit(1000 + n, f"ORDER{n}")
        shipments.append(parcel(f"0034043416123456780{n}", 1000 + n, order=f"ORDER{n}"))
    results = shop.submit(shipments, replace(FAST, attempts=10))
    assert shop.sim.count("GET", status=429) + shop.sim.count("PATCH", status=429) > 0
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 6
    assert shop.sim.count("PATCH", status=204) == 6
    assert all(shop.sim.unit(1000 + n).status == "sent" for n in range(6))


def test_a_wrong_secret_key_raises_auth_error_and_changes_nothing(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    with pytest.raises(AuthError) as refused:
        shop.submit([parcel(FIRST, 1001)], secret_key="0" * 64)
    assert refused.value.code == "corrupted-signature"
    assert "pending" in refused.value.message
    assert "0" * 64 not in str(refused.value)
    assert shop.sim.unit(1001).status == "need_to_be_sent"
    assert shop.sim.count("PATCH") == 0


def test_rows_check_refuses_are_answered_without_calling_kaufland(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    [result] = shop.submit([replace(parcel(FIRST, 1001), items=(ShipmentItem("ABC", 1),))])
    assert result.status is ConfirmationStatus.REJECTED
    assert result.error_code == "bad-order-unit-id"
    assert shop.sim.calls == []


def test_a_parcel_without_tracking_number_is_sent_as_other_with_no_numbers(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    untracked = replace(
        parcel("", 1001, carrier="other"),
        tracking_number=None,
        order_tracking_numbers=(),
        order_parcels=(OrderParcel("other", None),),
    )
    [result] = shop.submit([untracked])
    unit = shop.sim.unit(1001)
    assert result.status is ConfirmationStatus.CONFIRMED
    assert (unit.status, unit.carrier_code, unit.tracking_numbers) == ("sent", "Other", [])


def test_a_tracked_carriers_parcel_without_number_is_refused_before_sending(
    kaufland: Callable[..., Kaufland],
) -> None:
    shop = kaufland()
    shop.sim.add_order_unit(1001, "MB7UWLD")
    [result] = shop.submit([replace(parcel(FIRST, 1001), tracking_number=None)])
    assert result.status is ConfirmationStatus.REJECTED
    assert shop.sim.calls == []
