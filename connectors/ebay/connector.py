"""EbayConnector: tells eBay that parcels shipped, once per parcel and never twice.

Per parcel: read the order's fulfillments back; a fulfillment with the same tracking number
means the parcel is already known (an earlier run, or a POST whose answer got lost), so it is
confirmed without a second POST. Otherwise create the fulfillment. A parcel whose ledger row was
never attempted skips the first read-back (no call of ours can have reached eBay; that halves
the requests of a normal run); should eBay hold it all the same (entered by hand), its
"already exists" answer is read back and counts as confirmed. Timeouts, 5xx and 429 are
retried with backoff. After a timeout or a 5xx the retry starts with the read-back again:
eBay documents that a 500 "may succeed if issued once more", and it may also already have
succeeded. After a 429 eBay did nothing, so only the create is repeated.

Rejected parcels carry eBay's errorId and message and never stop the rest of the batch; a
refused refresh token (AuthError) stops the batch before anything is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import SecretStr

from connectors.account import CallOptions, Transport, call_timeout
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.batch import refuse_first, run_concurrently
from connectors.calls import EventHooks
from connectors.credentials import secret
from connectors.ebay.auth import EbayAuth
from connectors.ebay.client import EbayClient
from connectors.ebay.mapping import (
    ALREADY_EXISTS_ERROR_ID,
    API_BASE,
    TOKEN_PATH,
    check_shipment,
    find_fulfillment,
    fulfillment_request,
)
from connectors.errors import RateLimited, Rejected, TransientError
from connectors.ratelimit import HEADROOM
from connectors.results import confirmed, settle
from connectors.retry import log_retries, with_retries
from core.accounts import AccountOptions

log = logging.getLogger(__name__)

ALREADY_KNOWN_NOTE = "eBay already had a fulfillment with this tracking number"


@dataclass(frozen=True)
class EbayOptions(CallOptions):
    """Tunables of one eBay account (no secrets here: those come from Secret blocks)."""

    api_base: str = API_BASE
    token_url: str | None = None  # default: api_base + /identity/v1/oauth2/token
    # eBay publishes calls per app and day only; 5 calls/s is the pace measured against it
    rate_per_second: float = 5.0 * HEADROOM
    burst: int = 10
    concurrency: int = 4
    token_margin_seconds: float = 300.0


@dataclass
class EbayConnector:
    client: EbayClient
    options: EbayOptions = field(default_factory=EbayOptions)
    portal: str = field(default="ebay", init=False)

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> EbayConnector:
        """Options from accounts.toml [base_url, token_url], credentials client_id,
        client_secret, refresh_token from the environment or Secret blocks."""
        portal, account = options.portal, options.account
        tunables = EbayOptions(timeout_seconds=call_timeout(options))
        if options.base_url:
            tunables = replace(tunables, api_base=options.base_url)
        if options.extra.get("token_url"):
            tunables = replace(tunables, token_url=options.extra["token_url"])
        # eBay's 5 requests per second (and the 4 at a time) are for production
        tunables = tunables.paced_for(simulator=simulator)
        return cls.from_credentials(
            client_id=secret(portal, account, "client_id").get_secret_value(),
            client_secret=secret(portal, account, "client_secret"),
            refresh_token=secret(portal, account, "refresh_token"),
            account=account,
            options=tunables,
            transport=transport,
        )

    @classmethod
    def from_credentials(
        cls,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        account: str = "",
        options: EbayOptions | None = None,
        transport: Transport = None,
        event_hooks: EventHooks | None = None,
    ) -> EbayConnector:
        """The usual way in: credentials from a Secret block, options from the accounts file."""
        opts = options or EbayOptions()
        auth = EbayAuth(
            client_id,
            client_secret,
            refresh_token,
            opts.token_url or opts.api_base.rstrip("/") + TOKEN_PATH,
            account=account,
            margin_seconds=opts.token_margin_seconds,
            timeout_seconds=opts.timeout_seconds,
            transport=transport,
        )
        client = EbayClient(
            auth=auth,
            api_base=opts.api_base,
            bucket=opts.bucket(opts.api_base, account),
            timeout_seconds=opts.timeout_seconds,
            transport=transport,
            event_hooks=event_hooks,
        )
        return cls(client, opts)

    check = staticmethod(check_shipment)  # the pre-submit check is pure: mapping's

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results, pending = refuse_first(shipments, self.check)
        if pending:
            await self.client.authenticate()  # AuthError here: nothing was sent

            def job(index: int, shipment: ParcelShipment) -> Callable[[], Awaitable[None]]:
                async def confirm() -> None:
                    results[index] = await settle(shipment, self._confirm(shipment), log)

                return confirm

            await run_concurrently((job(i, s) for i, s in pending), self.options.concurrency)
        return [results[index] for index in range(len(shipments))]

    async def _confirm(self, shipment: ParcelShipment) -> ConfirmationResult:
        return await with_retries(
            _ParcelAttempt(self.client, shipment),
            attempts=self.options.attempts,
            base_delay=self.options.base_delay,
            max_delay=self.options.max_delay,
            on_retry=log_retries(
                log, f"eBay order {shipment.portal_order_id} parcel {shipment.confirmation_id}"
            ),
        )

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        return []  # eBay answers at once: nothing is ever left `submitted`

    async def aclose(self) -> None:
        await self.client.aclose()


class _ParcelAttempt:
    """One parcel's tries. The read-back runs first and again whenever a create may have
    reached eBay (timeout, 5xx); after a 429 eBay did nothing, so only the create is repeated."""

    def __init__(self, client: EbayClient, shipment: ParcelShipment) -> None:
        self.client = client
        self.shipment = shipment
        self.payload: dict[str, Any] = fulfillment_request(shipment)
        self.read_back_needed = shipment.sent_before

    async def __call__(self) -> ConfirmationResult:
        shipment = self.shipment
        if self.read_back_needed:
            known = await self._read_back()
            if known is not None:
                return confirmed(shipment, known, ALREADY_KNOWN_NOTE)
            self.read_back_needed = False
        try:
            fulfillment_id = await self.client.create_shipping_fulfillment(
                shipment.portal_order_id, self.payload
            )
        except RateLimited:
            raise
        except TransientError:
            self.read_back_needed = True  # it may have been stored all the same
            raise
        except Rejected as error:
            if error.code != str(ALREADY_EXISTS_ERROR_ID) and error.status != 409:
                raise
            known = await self._read_back()
            if known is None:
                raise
            return confirmed(shipment, known, ALREADY_KNOWN_NOTE)
        return confirmed(shipment, fulfillment_id)

    async def _read_back(self) -> str | None:
        page = await self.client.shipping_fulfillments(self.shipment.portal_order_id)
        return find_fulfillment(page, self.shipment.tracking_number, self.payload["lineItems"])
