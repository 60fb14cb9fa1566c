"""Amazon as a `PortalConnector`: shipment confirmations by feed (default) or per parcel.

Feed mode sends all parcels of a batch in one `POST_ORDER_FULFILLMENT_DATA` feed (split only
above 10 MiB) and answers `submitted` with the feed id; `poll` later reads Amazon's processing
report and turns each row `confirmed` or `rejected` with Amazon's code and words. A feed that
ends CANCELLED or FATAL, or whose report cannot vouch for a row, hands the row back as `pending`
so the next run sends it again (confirming the same tracking number twice is harmless).

confirm_shipment mode calls Orders v0 `confirmShipment` once per parcel and answers at once.

Rows that cannot be sent now (retries exhausted on 429/5xx/timeouts) come back `pending` with
the reason; rows Amazon can never accept come back `rejected`; requests Amazon refused for
reasons unrelated to a row (400 on createFeed) come back `failed` for an operator to look at.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import httpx

from connectors.account import Transport, call_timeout
from connectors.amazon import mapping
from connectors.amazon.auth import LWA_TOKEN_URL, LwaAuth
from connectors.amazon.client import Feed, RateLimits, SpApiClient
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.credentials import secret
from connectors.errors import AuthError, ConnectorError, Rejected
from connectors.results import ended
from core.accounts import AccountOptions
from core.domain import ConfirmationStatus, Portal

log = logging.getLogger(__name__)

Mode = Literal["feed", "confirm_shipment"]
WAITING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
ENDED_UNDONE = frozenset({"CANCELLED", "FATAL"})


def _unsent(
    shipment: ParcelShipment, error: ConnectorError, *, code: str | None = None
) -> ConfirmationResult:
    """A row that did not reach Amazon: `pending` when trying again can help, else `failed`."""
    status = ConfirmationStatus.PENDING if error.retryable else ConfirmationStatus.FAILED
    return ended(shipment.confirmation_id, status, code or error.code, str(error))


def _back_to_pending(
    rows: Sequence[SubmittedConfirmation], reason: str, code: str | None = None
) -> list[ConfirmationResult]:
    return [
        ConfirmationResult(
            confirmation_id=row.confirmation_id,
            status=ConfirmationStatus.PENDING,
            reference=row.reference,
            error_code=code,
            error_text=reason,
        )
        for row in rows
    ]


class AmazonConnector:
    portal = Portal.AMAZON.value

    def __init__(
        self,
        account: str,
        merchant_id: str,
        marketplace_id: str,
        auth: httpx.Auth,
        base_url: str,
        mode: Mode = "feed",
        limits: RateLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        timeout: float = 30.0,
        retry_attempts: int = 5,
        retry_base_delay: float = 0.5,
        shipping_method: str = mapping.DEFAULT_SHIPPING_METHOD,
        max_feed_bytes: int = mapping.MAX_FEED_BYTES,
    ) -> None:
        if mode not in ("feed", "confirm_shipment"):
            raise ValueError(f"unknown Amazon confirmation mode {mode!r}")
        self.account = account
        self.merchant_id = merchant_id
        self.marketplace_id = marketplace_id
        self.mode: Mode = mode
        self.shipping_method = shipping_method
        self.max_feed_bytes = max_feed_bytes
        self.client = SpApiClient(
            base_url,
            auth,
            account=account,
            limits=limits,
            transport=transport,
            timeout=timeout,
            retry_attempts=retry_attempts,
            retry_base_delay=retry_base_delay,
        )

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> AmazonConnector:
        """Options from accounts.toml [merchant_id, marketplace, mode, token_url, base_url],
        credentials client_id, client_secret, refresh_token from the environment or Secret
        blocks. `simulator=True` drops Amazon's production usage plans (one createFeed per two
        minutes)."""
        account = options.account
        marketplace = options.extra.get("marketplace", "DE")
        merchant_id = options.extra.get("merchant_id")
        if not merchant_id:
            raise ValueError(
                f"amazon account {account!r} needs merchant_id (the seller id) in accounts.toml"
            )
        auth = LwaAuth(
            secret("amazon", account, "client_id").get_secret_value(),
            secret("amazon", account, "client_secret"),
            secret("amazon", account, "refresh_token"),
            options.extra.get("token_url", LWA_TOKEN_URL),
            account=account,
        )
        return cls(
            account,
            merchant_id,
            mapping.resolve_marketplace(marketplace).marketplace_id,
            auth,
            options.base_url or mapping.endpoint_for_marketplace(marketplace),
            "confirm_shipment" if options.mode == "confirm_shipment" else "feed",
            RateLimits.relaxed() if simulator else None,
            transport,
            timeout=call_timeout(options),
        )

    @property
    def sends_order_feeds(self) -> bool:
        """Confirmations go out as order feeds (Amazon: one per seller every 20 minutes)."""
        return self.mode == "feed"

    @staticmethod
    def feeds_for(options: AccountOptions) -> bool:
        """The account's confirmations go out as order feeds (the mode from_account picks)."""
        return options.mode != "confirm_shipment"

    def __repr__(self) -> str:
        return f"AmazonConnector(account={self.account!r}, mode={self.mode!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def check(self, shipment: ParcelShipment) -> ConfirmationResult | None:
        return mapping.check(shipment, require_items=self.mode == "confirm_shipment")

    # -- submit --------------------------------------------------------------------------------

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results: dict[int, ConfirmationResult] = {}
        sendable: list[tuple[int, ParcelShipment]] = []
        for index, shipment in enumerate(shipments):
            refused = self.check(shipment)
            if refused is not None:
                results[index] = refused
            else:
                sendable.append((index, shipment))
        if sendable:
            if self.mode == "feed":
                results.update(await self._submit_feed(sendable))
            else:
                results.update(await self._confirm_each(sendable))
        return [results[index] for index in range(len(shipments))]

    async def _submit_feed(
        self, sendable: Sequence[tuple[int, ParcelShipment]]
    ) -> dict[int, ConfirmationResult]:
        documents = mapping.split_feed(
            self.merchant_id,
            [shipment for _, shipment in sendable],
            max_bytes=self.max_feed_bytes,
            shipping_method=self.shipping_method,
        )
        results: dict[int, ConfirmationResult] = {}
        start = 0
        sent_any = False
        for document in documents:
            chunk = sendable[start : start + len(document.message_ids)]
            start += len(chunk)
            try:
                feed_id = await self.client.submit_feed(
                    document.content,
                    feed_type=mapping.FEED_TYPE,
                    marketplace_ids=[self.marketplace_id],
                    content_type=mapping.FEED_CONTENT_TYPE,
                )
            except AuthError as error:
                if not sent_any:
                    raise
                # An earlier feed went out: keep its rows, hand this one and the rest back.
                for index, shipment in sendable[start - len(chunk) :]:
                    results[index] = ConfirmationResult(
                        shipment.confirmation_id,
                        ConfirmationStatus.PENDING,
                        error_code=error.code,
                        error_text=str(error),
                    )
                break
            except ConnectorError as error:
                log.warning("amazon %s: feed not sent: %s", self.account, error)
                for index, shipment in chunk:
                    results[index] = _unsent(shipment, error)
                continue
            sent_any = True
            log.info(
                "amazon %s: feed %s submitted with %d messages",
                self.account,
                feed_id,
                len(chunk),
            )
            for message_id, (index, shipment) in enumerate(chunk, start=1):
                assert document.message_ids[message_id] == shipment.confirmation_id
                results[index] = ConfirmationResult(
                    confirmation_id=shipment.confirmation_id,
                    status=ConfirmationStatus.SUBMITTED,
                    reference=feed_id,
                    extra={"message_id": str(message_id)},
                )
        return results

    async def _confirm_each(
        self, sendable: Sequence[tuple[int, ParcelShipment]]
    ) -> dict[int, ConfirmationResult]:
        # One at a time: the bucket (2/s) sets the pace anyway, and an AuthError on the first
        # call leaves nothing half-sent.
        results: dict[int, ConfirmationResult] = {}
        for position, (index, shipment) in enumerate(sendable):
            order_id = shipment.portal_order_id.strip()
            body = mapping.confirm_shipment_body(
                shipment, self.marketplace_id, shipping_method=self.shipping_method
            )
            try:
                await self.client.confirm_shipment(order_id, body)
            except Rejected as error:
                results[index] = ConfirmationResult(
                    confirmation_id=shipment.confirmation_id,
                    status=ConfirmationStatus.REJECTED,
                    reference=order_id,
                    error_code=error.code,
                    error_text=error.message,
                )
                continue
            except AuthError as error:
                if position == 0:
                    raise
                for rest_index, rest in sendable[position:]:
                    results[rest_index] = ConfirmationResult(
                        rest.confirmation_id,
                        ConfirmationStatus.PENDING,
                        error_code=error.code,
                        error_text=str(error),
                    )
                break
            except ConnectorError as error:
                results[index] = _unsent(shipment, error)
                continue
            results[index] = ConfirmationResult(
                confirmation_id=shipment.confirmation_id,
                status=ConfirmationStatus.CONFIRMED,
                reference=order_id,
                extra={"package_reference_id": body["packageDetail"]["packageReferenceId"]},
            )
        return results

    # -- poll ----------------------------------------------------------------------------------

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        """Results for feeds Amazon has finished; rows of feeds still running are left out."""
        by_feed: dict[str, list[SubmittedConfirmation]] = defaultdict(list)
        for row in submitted:
            by_feed[row.reference].append(row)
        results: list[ConfirmationResult] = []
        for feed_id, rows in by_feed.items():
            results.extend(await self._poll_feed(feed_id, rows))
        return results

    async def _poll_feed(
        self, feed_id: str, rows: Sequence[SubmittedConfirmation]
    ) -> list[ConfirmationResult]:
        try:
            feed = await self.client.get_feed(feed_id)
        except AuthError:
            raise
        except Rejected as error:
            return _back_to_pending(
                rows, f"feed {feed_id}: {error}; will be resubmitted", code=error.code
            )
        except ConnectorError as error:
            log.warning("amazon %s: feed %s not polled: %s", self.account, feed_id, error)
            return []
        status = feed.processing_status
        if status in WAITING:
            return []
        if status in ENDED_UNDONE:
            return _back_to_pending(
                rows, f"feed {feed_id} ended {status}; will be resubmitted", code=status
            )
        if status != "DONE":
            log.warning("amazon %s: feed %s has unknown status %r", self.account, feed_id, status)
            return []
        return await self._read_report(feed, rows)

    async def _read_report(
        self, feed: Feed, rows: Sequence[SubmittedConfirmation]
    ) -> list[ConfirmationResult]:
        feed_id = feed.feed_id
        if not feed.result_feed_document_id:
            return _back_to_pending(
                rows, f"feed {feed_id} is DONE without a processing report; will be resubmitted"
            )
        try:
            data = await self.client.fetch_feed_document(feed.result_feed_document_id)
        except AuthError:
            raise
        except ConnectorError as error:
            log.warning("amazon %s: report of feed %s not read: %s", self.account, feed_id, error)
            return []
        try:
            report = mapping.parse_processing_report(data)
        except ValueError as error:
            return _back_to_pending(
                rows, f"feed {feed_id}: unreadable processing report ({error}); will be resubmitted"
            )
        known = [row for row in rows if row.message_id is not None]
        unknown = [row for row in rows if row.message_id is None]
        results = mapping.report_results(
            report,
            {row.message_id: row.confirmation_id for row in known if row.message_id is not None},
            feed_id,
        )
        results += _back_to_pending(
            unknown, f"feed {feed_id}: no MessageID recorded for this row; will be resubmitted"
        )
        return results
