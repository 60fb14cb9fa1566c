"""Amazon connector against the SP-API simulator over real HTTP (serve_in_thread)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lxml import etree
from pydantic import SecretStr
from starlette.applications import Starlette

from connectors.amazon.auth import LwaAuth
from connectors.amazon.client import Limit, RateLimits
from connectors.amazon.connector import AmazonConnector
from connectors.amazon.mapping import FEED_CONTENT_TYPE, FEED_TYPE, parse_processing_report
from connectors.base import (
    ConfirmationResult,
    OrderParcel,
    ParcelShipment,
    ShipmentItem,
    SubmittedConfirmation,
)
from connectors.errors import AuthError
from core.domain import ConfirmationStatus
from simulators.amazon import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    AmazonSimulator,
    create_app,
)
from simulators.server import serve_in_thread

MERCHANT = "A2EXAMPLEMERCH"
MARKETPLACE_DE = "A1PA6795UKMFR9"
UNKNOWN_ORDER = "302-0000000-0000000"
SHIPPED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


@dataclass
class Amazon:
    base_url: str
    sim: AmazonSimulator

    def auth(self, refresh_token: str = DEFAULT_REFRESH_TOKEN, **kw: Any) -> LwaAuth:
        return LwaAuth(
            DEFAULT_CLIENT_ID,
            SecretStr(DEFAULT_CLIENT_SECRET),
            SecretStr(refresh_token),
            f"{self.base_url}/auth/o2/token",
            **kw,
        )

    def connector(self, auth: LwaAuth | None = None, **kw: Any) -> AmazonConnector:
        kw.setdefault("limits", RateLimits.relaxed())
        kw.setdefault("retry_base_delay", 0.01)
        return AmazonConnector(
            "main", MERCHANT, MARKETPLACE_DE, auth or self.auth(), self.base_url, **kw
        )


class _Swappable:
    """One real server for the module; each test mounts a fresh simulator behind it."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Swappable, str]]:
    front = _Swappable()
    with serve_in_thread(front) as base_url:
        yield front, base_url


@pytest.fixture
def serve(server: tuple[_Swappable, str]) -> Iterator[Callable[..., Amazon]]:
    """Mount a simulator with the given options (unknown order and no throttling by default)."""
    front, base_url = server

    def start(**options: Any) -> Amazon:
        options.setdefault("known_orders", lambda order_id: order_id != UNKNOWN_ORDER)
        options.setdefault("throttle", False)
        front.app = create_app(**options)
        return Amazon(base_url, front.app.state.sim)

    yield start
    front.app = None


def parcel(
    confirmation_id: int,
    order_id: str,
    tracking: str,
    carrier: str = "dhl",
    items: tuple[ShipmentItem, ...] = (),
) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=confirmation_id,
        order_no=f"A-{confirmation_id}",
        portal_order_id=order_id,
        account="main",
        carrier=carrier,
        tracking_number=tracking,
        shipped_at=SHIPPED,
        items=items,
    )


def submitted(results: list[ConfirmationResult]) -> list[SubmittedConfirmation]:
    return [
        SubmittedConfirmation(
            confirmation_id=r.confirmation_id,
            account="main",
            reference=r.reference or "",
            message_id=int(r.extra["message_id"]),
        )
        for r in results
        if r.status == ConfirmationStatus.SUBMITTED
    ]


def by_id(results: list[ConfirmationResult]) -> dict[int, ConfirmationResult]:
    return {r.confirmation_id: r for r in results}


async def submit_and_poll(
    connector: AmazonConnector, parcels: list[ParcelShipment]
) -> dict[int, ConfirmationResult]:
    results = await connector.submit(parcels)
    polled = await connector.poll(submitted(results))
    await connector.aclose()
    return by_id(polled)


# --- LWA ------------------------------------------------------------------------------------------


def test_access_token_is_fetched_once_and_reused(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    auth = amazon.auth()
    results = asyncio.run(
        submit_and_poll(amazon.connector(auth), [parcel(1, "302-1234567-1234567", "00340434")])
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert amazon.sim.token_requests == 1
    assert auth.refresh_count == 1
    assert amazon.sim.count("getFeed") == 1 and amazon.sim.count("createFeed") == 1


def test_parallel_requests_share_one_token_refresh(serve: Callable[..., Amazon]) -> None:
    amazon = serve()

    async def main() -> None:
        connector = amazon.connector()
        rows = [SubmittedConfirmation(i, "main", f"unknown-{i}", 1) for i in range(8)]
        await asyncio.gather(*(connector.poll([row]) for row in rows))
        await connector.aclose()

    asyncio.run(main())
    assert amazon.sim.count("getFeed") == 8
    assert amazon.sim.token_requests == 1


def test_token_is_renewed_before_it_runs_out(serve: Callable[..., Amazon]) -> None:
    amazon = serve(token_ttl_seconds=2)
    auth = amazon.auth(safety_margin_seconds=1.4)  # usable for 0.6 s
    row = SubmittedConfirmation(1, "main", "f1", 1)

    async def main() -> list[int]:
        connector = amazon.connector(auth)
        await connector.poll([row])
        await connector.poll([row])
        counts = [amazon.sim.token_requests]
        await asyncio.sleep(0.7)
        await connector.poll([row])
        counts.append(amazon.sim.token_requests)
        await connector.aclose()
        return counts

    assert asyncio.run(main()) == [1, 2]


def test_token_ended_early_by_amazon_is_renewed_once(serve: Callable[..., Amazon]) -> None:
    amazon = serve()

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector()
        first = await connector.submit([parcel(1, "302-1234567-1234567", "00340434")])
        amazon.sim.expire_access_tokens()
        polled = await connector.poll(submitted(first))
        await connector.aclose()
        return polled

    polled = asyncio.run(main())
    assert polled[0].status == ConfirmationStatus.CONFIRMED
    assert amazon.sim.token_requests == 2
    assert amazon.sim.count("getFeed", 403) == 1


def test_refused_refresh_token_raises_auth_error_and_sends_nothing(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    revoked = "Atzr|revoked-by-the-seller"
    connector = amazon.connector(amazon.auth(refresh_token=revoked))
    with pytest.raises(AuthError) as caught:
        asyncio.run(connector.submit([parcel(1, "302-1234567-1234567", "00340434")]))
    message = str(caught.value)
    assert "re-authorise" in message
    assert caught.value.code == "invalid_grant"
    assert revoked not in message and DEFAULT_CLIENT_SECRET not in message
    assert amazon.sim.feeds == {}


def test_secrets_stay_out_of_reprs(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    auth = amazon.auth()
    connector = amazon.connector(auth)
    for text in (repr(auth), repr(connector), str(vars(connector))):
        assert DEFAULT_CLIENT_SECRET not in text
        assert DEFAULT_REFRESH_TOKEN not in text


# --- feeds ----------------------------------------------------------------------------------------


def test_feed_submit_then_poll_confirms_every_parcel(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    parcels = [
        parcel(1, "302-1234567-1234567", "00340434161234567890"),
        parcel(2, "028-7654321-7654321", "H1001234567890123456", carrier="hermes"),
    ]

    async def main() -> tuple[list[ConfirmationResult], dict[int, ConfirmationResult]]:
        connector = amazon.connector()
        sent = await connector.submit(parcels)
        polled = by_id(await connector.poll(submitted(sent)))
        await connector.aclose()
        return sent, polled

    sent, polled = asyncio.run(main())
    assert [r.status for r in sent] == [ConfirmationStatus.SUBMITTED] * 2
    assert len({r.reference for r in sent}) == 1
    assert [r.extra["message_id"] for r in sent] == ["1", "2"]
    assert {cid: r.status for cid, r in polled.items()} == {
        1: ConfirmationStatus.CONFIRMED,
        2: ConfirmationStatus.CONFIRMED,
    }
    feed = etree.fromstring(amazon.sim.uploaded_feed(sent[0].reference or ""))
    assert feed.findtext("Message/OrderFulfillment/FulfillmentData/CarrierCode") == "DHL"
    assert amazon.sim.fulfillments["028-7654321-7654321"][0].tracking_number == (
        "H1001234567890123456"
    )


def test_upload_goes_without_lwa_token_and_with_the_declared_content_type(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    asyncio.run(submit_and_poll(amazon.connector(), [parcel(1, "302-1234567-1234567", "0034043")]))
    upload = next(r for r in amazon.sim.requests if r.operation == "upload")
    create = next(r for r in amazon.sim.requests if r.operation == "createFeedDocument")
    assert upload.status == 200
    assert "x-amz-access-token" not in upload.headers
    assert upload.headers["content-type"] == FEED_CONTENT_TYPE
    assert "x-amz-access-token" in create.headers


def test_unknown_order_is_rejected_with_amazons_words(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    results = asyncio.run(
        submit_and_poll(
            amazon.connector(),
            [parcel(1, "302-1234567-1234567", "00340434"), parcel(2, UNKNOWN_ORDER, "00340435")],
        )
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert results[2].status == ConfirmationStatus.REJECTED
    assert results[2].error_code == "18028"
    assert f"Your order cannot be found using Merchant ID {MERCHANT}" in (
        results[2].error_text or ""
    )


def test_order_shipped_again_with_another_tracking_number_is_rejected(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    order = "302-1234567-1234567"
    first = asyncio.run(submit_and_poll(amazon.connector(), [parcel(1, order, "00340434")]))
    again = asyncio.run(submit_and_poll(amazon.connector(), [parcel(1, order, "00340434")]))
    other = asyncio.run(submit_and_poll(amazon.connector(), [parcel(2, order, "00340999")]))
    assert first[1].status == ConfirmationStatus.CONFIRMED
    assert again[1].status == ConfirmationStatus.CONFIRMED
    assert other[2].status == ConfirmationStatus.REJECTED
    assert other[2].error_code == "18021"
    assert "already fulfilled" in (other[2].error_text or "")


def test_odd_tracking_number_is_confirmed_with_amazons_warning(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    results = asyncio.run(
        submit_and_poll(amazon.connector(), [parcel(1, "302-1234567-1234567", "DHL 12/3")])
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert "does not match the expected format" in (results[1].error_text or "")


def test_rejected_pre_check_rows_never_reach_amazon(serve: Callable[..., Amazon]) -> None:
    amazon = serve()

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector()
        results = await connector.submit(
            [parcel(1, "not-an-order", "00340434"), parcel(2, "302-1234567-1234567", "")]
        )
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert [r.error_code for r in results] == ["invalid_order_id", "missing_tracking_number"]
    assert amazon.sim.requests == []


def test_429_is_retried_without_duplicate_feeds(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    amazon.sim.fail_next("createFeedDocument", 429, retry_after=0.05)
    amazon.sim.fail_next("createFeed", 429, count=2)  # no Retry-After, as Amazon often does
    results = asyncio.run(
        submit_and_poll(amazon.connector(), [parcel(1, "302-1234567-1234567", "00340434")])
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert amazon.sim.count("createFeed", 429) == 2
    assert amazon.sim.count("createFeedDocument", 429) == 1
    assert len(amazon.sim.feeds) == 1
    assert len(amazon.sim.fulfillments["302-1234567-1234567"]) == 1


def test_server_errors_while_polling_are_retried(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    amazon.sim.fail_next("getFeed", 503, count=2)
    amazon.sim.fail_next("getFeedDocument", 500)
    results = asyncio.run(
        submit_and_poll(amazon.connector(), [parcel(1, "302-1234567-1234567", "00340434")])
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert amazon.sim.count("getFeed", 503) == 2


def test_exhausted_retries_leave_rows_pending_with_the_reason(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    amazon.sim.fail_next("createFeedDocument", 500, count=10)

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(retry_attempts=2)
        results = await connector.submit([parcel(1, "302-1234567-1234567", "00340434")])
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert results[0].status == ConfirmationStatus.PENDING
    assert results[0].error_code == "InternalFailure"
    assert amazon.sim.feeds == {}


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_feed_that_ends_undone_sends_rows_back_to_pending(
    serve: Callable[..., Amazon], outcome: str
) -> None:
    amazon = serve()
    amazon.sim.force_next_feed(outcome)

    async def main() -> tuple[list[ConfirmationResult], list[ConfirmationResult]]:
        connector = amazon.connector()
        sent = await connector.submit(
            [parcel(1, "302-1234567-1234567", "00340434"), parcel(2, "302-1234567-7654321", "9")]
        )
        polled = await connector.poll(submitted(sent))
        await connector.aclose()
        return sent, polled

    sent, polled = asyncio.run(main())
    feed_id = sent[0].reference
    assert [r.status for r in polled] == [ConfirmationStatus.PENDING] * 2
    assert polled[0].error_text == f"feed {feed_id} ended {outcome}; will be resubmitted"


def test_feed_still_in_progress_yields_no_results(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    amazon.sim.force_next_feed("IN_PROGRESS")
    results = asyncio.run(
        submit_and_poll(amazon.connector(), [parcel(1, "302-1234567-1234567", "00340434")])
    )
    assert results == {}


def test_feed_is_confirmed_once_amazon_has_processed_it(serve: Callable[..., Amazon]) -> None:
    amazon = serve(processing_seconds=0.4)

    async def main() -> tuple[list[ConfirmationResult], list[ConfirmationResult]]:
        connector = amazon.connector()
        rows = submitted(await connector.submit([parcel(1, "302-1234567-1234567", "00340434")]))
        early = await connector.poll(rows)
        await asyncio.sleep(0.45)
        late = await connector.poll(rows)
        await connector.aclose()
        return early, late

    early, late = asyncio.run(main())
    assert early == []
    assert [r.status for r in late] == [ConfirmationStatus.CONFIRMED]


def test_gzip_processing_report_is_decompressed(serve: Callable[..., Amazon]) -> None:
    amazon = serve(gzip_reports=True)
    results = asyncio.run(
        submit_and_poll(
            amazon.connector(),
            [parcel(1, "302-1234567-1234567", "00340434"), parcel(2, UNKNOWN_ORDER, "00340435")],
        )
    )
    assert results[1].status == ConfirmationStatus.CONFIRMED
    assert results[2].error_code == "18028"
    compressed = [d for d in amazon.sim.documents.values() if d.kind == "result"]
    assert compressed and compressed[0].compression == "GZIP"


def test_report_without_our_message_ids_sends_rows_back_to_pending(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector()
        feed_id = await connector.client.submit_feed(
            b"this is not XML",
            feed_type=FEED_TYPE,
            marketplace_ids=[MARKETPLACE_DE],
            content_type=FEED_CONTENT_TYPE,
        )
        polled = await connector.poll([SubmittedConfirmation(7, "main", feed_id, 1)])
        await connector.aclose()
        return polled

    polled = asyncio.run(main())
    assert polled[0].status == ConfirmationStatus.PENDING
    assert "5001" in (polled[0].error_text or "")


def test_unknown_feed_id_sends_rows_back_to_pending(serve: Callable[..., Amazon]) -> None:
    amazon = serve()

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector()
        polled = await connector.poll([SubmittedConfirmation(3, "main", "123", 1)])
        await connector.aclose()
        return polled

    polled = asyncio.run(main())
    assert polled[0].status == ConfirmationStatus.PENDING
    assert polled[0].error_code == "NotFound"


def test_client_waits_for_its_rate_limit_bucket(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    limits = RateLimits(get_feed=Limit(rate=20.0, burst=1))

    async def main() -> float:
        connector = amazon.connector(limits=limits)
        started = time.monotonic()
        for n in range(4):
            await connector.poll([SubmittedConfirmation(n, "main", f"f{n}", 1)])
        elapsed = time.monotonic() - started
        await connector.aclose()
        return elapsed

    assert asyncio.run(main()) >= 3 / 20 - 0.02
    assert amazon.sim.count("getFeed", 429) == 0


def test_simulator_throttles_with_quota_exceeded_and_client_recovers(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve(throttle=True, limits={"getFeed": (20.0, 1)})

    async def main() -> None:
        connector = amazon.connector()
        for n in range(3):
            await connector.poll([SubmittedConfirmation(n, "main", f"f{n}", 1)])
        await connector.aclose()

    asyncio.run(main())
    assert amazon.sim.count("getFeed", 429) >= 1
    assert amazon.sim.count("getFeed", 404) == 3


# --- the simulator's schema checks ----------------------------------------------------------------


def feed_with(order_fulfillment: list[tuple[str, str | list[tuple[str, str]]]]) -> bytes:
    """A one-message fulfillment feed with the given children (built with lxml)."""
    envelope = etree.Element("AmazonEnvelope")
    header = etree.SubElement(envelope, "Header")
    etree.SubElement(header, "DocumentVersion").text = "1.01"
    etree.SubElement(header, "MerchantIdentifier").text = MERCHANT
    etree.SubElement(envelope, "MessageType").text = "OrderFulfillment"
    message = etree.SubElement(envelope, "Message")
    etree.SubElement(message, "MessageID").text = "1"
    fulfillment = etree.SubElement(message, "OrderFulfillment")
    for tag, value in order_fulfillment:
        element = etree.SubElement(fulfillment, tag)
        if isinstance(value, str):
            element.text = value
        else:
            for sub_tag, sub_value in value:
                etree.SubElement(element, sub_tag).text = sub_value
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def process(amazon: Amazon, content: bytes) -> bytes:
    async def main() -> str:
        connector = amazon.connector()
        feed_id = await connector.client.submit_feed(
            content,
            feed_type=FEED_TYPE,
            marketplace_ids=[MARKETPLACE_DE],
            content_type=FEED_CONTENT_TYPE,
        )
        await connector.client.get_feed(feed_id)
        await connector.aclose()
        return feed_id

    return amazon.sim.report(asyncio.run(main()))


def test_simulator_refuses_an_unknown_carrier_code(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    report = parse_processing_report(
        process(
            amazon,
            feed_with(
                [
                    ("AmazonOrderID", "302-1234567-1234567"),
                    ("FulfillmentDate", "2026-11-26T14:05:00+01:00"),
                    ("FulfillmentData", [("CarrierCode", "dhl"), ("ShipperTrackingNumber", "1")]),
                ]
            ),
        )
    )
    assert report.summary.with_error == 1
    assert report.results[0].message_id == 1
    assert report.results[0].message_code == "5000"
    assert "cvc-enumeration-valid: Value 'dhl'" in report.results[0].description


def test_simulator_refuses_elements_out_of_order(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    report = parse_processing_report(
        process(
            amazon,
            feed_with(
                [
                    ("FulfillmentDate", "2026-11-26T14:05:00+01:00"),
                    ("AmazonOrderID", "302-1234567-1234567"),
                ]
            ),
        )
    )
    assert report.results[0].message_code == "5000"
    assert "Invalid content was found starting with element 'FulfillmentDate'" in (
        report.results[0].description
    )
    assert amazon.sim.fulfillments == {}


def test_simulator_refuses_tracking_before_carrier(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    report = parse_processing_report(
        process(
            amazon,
            feed_with(
                [
                    ("AmazonOrderID", "302-1234567-1234567"),
                    ("FulfillmentDate", "2026-11-26T14:05:00+01:00"),
                    ("FulfillmentData", [("ShipperTrackingNumber", "1"), ("CarrierCode", "DHL")]),
                ]
            ),
        )
    )
    assert "starting with element 'CarrierCode'" in report.results[0].description


def test_sp_api_without_access_token_is_forbidden(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    response = httpx.get(f"{amazon.base_url}/feeds/2021-06-30/feeds/1")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_upload_with_another_content_type_is_refused(serve: Callable[..., Amazon]) -> None:
    amazon = serve()

    async def main() -> int:
        connector = amazon.connector()
        _, url = await connector.client.create_feed_document(FEED_CONTENT_TYPE)
        await connector.aclose()
        async with httpx.AsyncClient() as plain:
            response = await plain.put(url, content=b"<x/>", headers={"Content-Type": "text/xml"})
        return response.status_code

    assert asyncio.run(main()) == 403


# --- confirmShipment ------------------------------------------------------------------------------


def test_confirm_shipment_mode_confirms_each_parcel_at_once(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    item = (ShipmentItem("12345678901234", 1),)

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit(
            [
                parcel(1, "302-1234567-1234567", "00340434", items=item),
                parcel(2, "302-1234567-7654321", "00340435", carrier="gls", items=item),
            ]
        )
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert results[0].reference == "302-1234567-1234567"
    assert [c["packageDetail"]["carrierCode"] for c in amazon.sim.confirmations] == ["DHL", "GLS"]
    assert amazon.sim.feeds == {}


def test_confirm_shipment_mode_rejection_carries_amazons_error(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    item = (ShipmentItem("12345678901234", 1),)

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit(
            [
                parcel(1, UNKNOWN_ORDER, "00340434", items=item),
                parcel(2, "302-1234567-1234567", "00340435", items=item),
            ]
        )
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert results[0].status == ConfirmationStatus.REJECTED
    assert results[0].error_code == "InvalidInput"
    assert UNKNOWN_ORDER in (results[0].error_text or "")
    assert results[1].status == ConfirmationStatus.CONFIRMED


def test_confirm_shipment_mode_needs_item_ids_before_sending(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit([parcel(1, "302-1234567-1234567", "00340434")])
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert results[0].status == ConfirmationStatus.REJECTED
    assert results[0].error_code == "missing_order_items"
    assert amazon.sim.count("confirmShipment") == 0


def test_confirm_shipment_mode_retries_429(serve: Callable[..., Amazon]) -> None:
    amazon = serve()
    amazon.sim.fail_next("confirmShipment", 429, count=2, retry_after=0.02)

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit(
            [parcel(1, "302-1234567-1234567", "00340434", items=(ShipmentItem("1" * 14, 1),))]
        )
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert results[0].status == ConfirmationStatus.CONFIRMED
    assert len(amazon.sim.confirmations) == 1


# --- several parcels per order, parcels without tracking number ----------------------------------

ITEM_A, ITEM_B = "12345678901234", "43210987654321"


def packages(
    order_id: str, items: tuple[ShipmentItem, ...], numbers: list[str | None]
) -> list[ParcelShipment]:
    """The ledger rows of one order with a parcel per tracking number, as to_shipment makes them."""
    order_parcels = tuple(OrderParcel("dhl", n) for n in numbers)
    return [
        replace(
            parcel(10 + index, order_id, "", items=items),
            tracking_number=number,
            order_parcels=order_parcels,
            parcel_index=index,
        )
        for index, number in enumerate(numbers)
    ]


def held(amazon: Amazon, order_id: str) -> list[tuple[str, dict[str, int] | None]]:
    return [(f.tracking_number, f.items) for f in amazon.sim.fulfillments.get(order_id, [])]


def test_a_two_parcel_order_goes_out_as_two_packages_with_their_items(
    serve: Callable[..., Amazon],
) -> None:
    order = "302-1234567-1234567"
    amazon = serve(ordered_items=lambda _: {ITEM_A: 1, ITEM_B: 1})
    items = (ShipmentItem(ITEM_A, 1), ShipmentItem(ITEM_B, 1))
    results = asyncio.run(
        submit_and_poll(amazon.connector(), packages(order, items, ["00340434", "00340435"]))
    )
    assert [r.status for r in results.values()] == [ConfirmationStatus.CONFIRMED] * 2
    assert held(amazon, order) == [("00340434", {ITEM_A: 1}), ("00340435", {ITEM_B: 1})]


def test_a_three_parcel_order_splits_its_pieces_over_three_packages(
    serve: Callable[..., Amazon],
) -> None:
    order = "302-1234567-1234567"
    amazon = serve(ordered_items=lambda _: {ITEM_A: 2, ITEM_B: 2})
    items = (ShipmentItem(ITEM_A, 2), ShipmentItem(ITEM_B, 2))
    numbers: list[str | None] = ["00340434", "00340435", "00340436"]
    results = asyncio.run(submit_and_poll(amazon.connector(), packages(order, items, numbers)))
    assert [r.status for r in results.values()] == [ConfirmationStatus.CONFIRMED] * 3
    assert held(amazon, order) == [
        ("00340434", {ITEM_A: 2}),
        ("00340435", {ITEM_B: 1}),
        ("00340436", {ITEM_B: 1}),
    ]


def test_a_resent_package_carries_the_same_items(serve: Callable[..., Amazon]) -> None:
    order = "302-1234567-1234567"
    amazon = serve(ordered_items=lambda _: {ITEM_A: 3})
    rows = packages(order, (ShipmentItem(ITEM_A, 3),), ["00340434", "00340435"])
    asyncio.run(submit_and_poll(amazon.connector(), rows))
    again = asyncio.run(submit_and_poll(amazon.connector(), rows[1:]))
    assert again[11].status == ConfirmationStatus.CONFIRMED
    assert held(amazon, order) == [("00340434", {ITEM_A: 2}), ("00340435", {ITEM_A: 1})]


def test_a_parcel_without_a_piece_of_its_own_is_skipped_with_the_reason(
    serve: Callable[..., Amazon],
) -> None:
    order = "302-1234567-1234567"
    amazon = serve(ordered_items=lambda _: {ITEM_A: 1})
    rows = packages(order, (ShipmentItem(ITEM_A, 1),), ["00340434", "00340435"])

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector()
        sent = await connector.submit(rows)
        await connector.poll(submitted(sent))
        await connector.aclose()
        return sent

    sent = asyncio.run(main())
    assert sent[1].status == ConfirmationStatus.SKIPPED
    assert "1 piece(s) for 2 parcels" in (sent[1].error_text or "")
    assert held(amazon, order) == [("00340434", {ITEM_A: 1})]


def test_confirm_shipment_mode_sends_each_package_with_its_items(
    serve: Callable[..., Amazon],
) -> None:
    order = "302-1234567-1234567"
    amazon = serve(ordered_items=lambda _: {ITEM_A: 1, ITEM_B: 1})
    items = (ShipmentItem(ITEM_A, 1), ShipmentItem(ITEM_B, 1))

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit(packages(order, items, ["00340434", "00340435"]))
        await connector.aclose()
        return results

    results = asyncio.run(main())
    assert [r.status for r in results] == [ConfirmationStatus.CONFIRMED] * 2
    assert [c["packageDetail"]["orderItems"] for c in amazon.sim.confirmations] == [
        [{"orderItemId": ITEM_A, "quantity": 1}],
        [{"orderItemId": ITEM_B, "quantity": 1}],
    ]


def test_a_parcel_without_tracking_number_goes_in_the_feed_without_one(
    serve: Callable[..., Amazon],
) -> None:
    order = "302-1234567-1234567"
    amazon = serve()
    row = replace(parcel(1, order, "", carrier="deutsche_post"), tracking_number=None)

    async def main() -> tuple[list[ConfirmationResult], dict[int, ConfirmationResult]]:
        connector = amazon.connector()
        sent = await connector.submit([row])
        polled = by_id(await connector.poll(submitted(sent)))
        await connector.aclose()
        return sent, polled

    sent, polled = asyncio.run(main())
    assert polled[1].status == ConfirmationStatus.CONFIRMED
    feed = etree.fromstring(amazon.sim.uploaded_feed(sent[0].reference or ""))
    data = feed.find("Message/OrderFulfillment/FulfillmentData")
    assert data is not None
    assert data.findtext("CarrierCode") == "Deutsche Post"
    assert data.find("ShipperTrackingNumber") is None


def test_confirm_shipment_mode_refuses_a_parcel_without_tracking_number_before_sending(
    serve: Callable[..., Amazon],
) -> None:
    amazon = serve()
    row = replace(
        parcel(1, "302-1234567-1234567", "", items=(ShipmentItem(ITEM_A, 1),)),
        tracking_number=None,
    )

    async def main() -> list[ConfirmationResult]:
        connector = amazon.connector(mode="confirm_shipment")
        results = await connector.submit([row])
        await connector.aclose()
        return results

    [result] = asyncio.run(main())
    assert result.status == ConfirmationStatus.REJECTED
    assert "needs a tracking number" in (result.error_text or "")
    assert amazon.sim.confirmations == []
