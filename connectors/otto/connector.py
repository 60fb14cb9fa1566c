"""OttoConnector: one OTTO shipment per parcel, never reported twice.

Per parcel: its share of the order's position items (connectors/allocation.py; one position
item per piece) goes to `POST /v1/shipments` with the parcel's carrier, tracking number, ship
date, the account's ship-from address and the return label's number for every position item.
OTTO keeps one shipment per carrier and tracking number and each position item in one
shipment only, so a retry must not create it again: when an earlier attempt may have reached
OTTO (the ledger shows one, or this run's call timed out or got a 5xx) the shipment is read
back first (`GET /v1/shipments/carriers/{carrier}/trackingnumbers/{number}`), and a 409 answer
is checked the same way. Found with all the parcel's position items: confirmed with its
shipmentId. After a 429 OTTO did nothing, so only the create is repeated.

A parcel without a position item of its own (more parcels than pieces) has nothing to report:
OTTO takes each position item in one shipment only. It is skipped with that reason.

Parcels run concurrently (each is its own shipment); a rejected parcel never stops the batch,
refused credentials (AuthError) stop it before anything is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import SecretStr

from connectors.account import CallOptions, Transport, call_timeout
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.batch import refuse_first, run_concurrently
from connectors.calls import EventHooks
from connectors.credentials import secret
from connectors.errors import RateLimited, Rejected, TransientError
from connectors.otto.auth import OttoAuth
from connectors.otto.client import OttoClient
from connectors.otto.mapping import (
    API_BASE,
    SHIPMENTS_SCOPE,
    TOKEN_PATH,
    ShipFrom,
    check_shipment,
    otto_carrier,
    position_items,
    shipment_id,
    shipment_request,
    shipped_position_items,
)
from connectors.results import confirmed, rejected, settle, skipped
from connectors.retry import log_retries, retried
from core.accounts import AccountOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OttoOptions(CallOptions):
    """Tunables of one OTTO account (no secrets: those come from Secret blocks)."""

    api_base: str = API_BASE
    token_url: str = API_BASE + TOKEN_PATH
    scope: str = SHIPMENTS_SCOPE
    ship_from: ShipFrom | None = None
    # OTTO publishes its per-endpoint limits on a page of its developer portal this project
    # could not read; 5 calls a second is a cautious pace of ours, and a 429's Retry-After
    # slows it further (connectors/calls.py)
    rate_per_second: float = 5.0
    burst: int = 5
    concurrency: int = 4


def ship_from_options(options: AccountOptions) -> ShipFrom | None:
    """accounts.toml: ship_from_city, ship_from_zip, ship_from_country (default DEU)."""
    city = options.extra.get("ship_from_city", "")
    zip_code = options.extra.get("ship_from_zip", "")
    if not city and not zip_code:
        return None
    return ShipFrom(city, zip_code, options.extra.get("ship_from_country", "DEU"))


@dataclass
class OttoConnector:
    client: OttoClient
    options: OttoOptions = field(default_factory=OttoOptions)
    portal: str = field(default="otto", init=False)

    def check(self, shipment: ParcelShipment) -> ConfirmationResult | None:
        return check_shipment(shipment, self.options.ship_from)

    @classmethod
    def from_credentials(
        cls,
        *,
        client_id: str,
        client_secret: SecretStr,
        options: OttoOptions | None = None,
        account: str = "",
        transport: Transport = None,
        event_hooks: EventHooks | None = None,
    ) -> OttoConnector:
        """Tests and benchmarks come in here with credentials and a transport of their own."""
        opts = options or OttoOptions()
        auth = OttoAuth(
            client_id,
            client_secret,
            token_url=opts.token_url,
            scope=opts.scope,
            account=account,
            timeout_seconds=opts.timeout_seconds,
            transport=transport,
        )
        client = OttoClient(
            auth=auth,
            api_base=opts.api_base,
            bucket=opts.bucket(opts.api_base, account),
            account=account,
            timeout_seconds=opts.timeout_seconds,
            transport=transport,
            event_hooks=event_hooks,
        )
        return cls(client, opts)

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> OttoConnector:
        """Options from accounts.toml [base_url, token_url, scope, ship_from_*], credentials
        client_id and client_secret from the environment or Secret blocks."""
        portal, account = options.portal, options.account
        tunables = OttoOptions(
            timeout_seconds=call_timeout(options), ship_from=ship_from_options(options)
        )
        if options.base_url:
            base = options.base_url.rstrip("/")
            tunables = replace(tunables, api_base=base, token_url=base + TOKEN_PATH)
        if options.extra.get("token_url"):
            tunables = replace(tunables, token_url=options.extra["token_url"])
        if options.extra.get("scope"):
            tunables = replace(tunables, scope=options.extra["scope"])
        tunables = tunables.paced_for(simulator=simulator)
        return cls.from_credentials(
            client_id=secret(portal, account, "client_id").get_secret_value(),
            client_secret=secret(portal, account, "client_secret"),
            account=account,
            options=tunables,
            transport=transport,
        )

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results, pending = refuse_first(shipments, self.check)
        if pending:
            await self.client.auth.token()  # AuthError here: nothing was sent

        def job(index: int, shipment: ParcelShipment) -> Callable[[], Awaitable[None]]:
            async def confirm() -> None:
                results[index] = await settle(shipment, self._confirm(shipment), log)

            return confirm

        await run_concurrently((job(i, s) for i, s in pending), self.options.concurrency)
        return [results[index] for index in range(len(shipments))]

    async def _confirm(self, shipment: ParcelShipment) -> ConfirmationResult:
        items = position_items(shipment)
        if not items:
            return skipped(
                shipment,
                "no-position-item",
                f"parcel {shipment.number} has no position item of its own (the order has "
                f"fewer pieces than parcels) and OTTO takes each position item in one shipment "
                f"only: the other parcels of order {shipment.order_no} report them",
            )
        attempt = _ShipmentAttempt(self.client, shipment, self.options.ship_from, items)
        what = f"OTTO order {shipment.portal_order_id}, parcel {shipment.number}"
        return await retried(attempt, self.options, log_retries(log, what))

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        return []  # OTTO answers at once: nothing is ever left `submitted`

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.client.auth.aclose()


class _ShipmentAttempt:
    """One parcel's tries. Reads back before creating whenever an earlier try may have
    reached OTTO; after a 429 only the create is repeated."""

    def __init__(
        self,
        client: OttoClient,
        shipment: ParcelShipment,
        ship_from: ShipFrom | None,
        items: Sequence,
    ) -> None:
        assert ship_from is not None  # the pre-submit check refused the parcel otherwise
        self.client = client
        self.shipment = shipment
        self.payload = shipment_request(shipment, ship_from, items)
        self.carrier = otto_carrier(shipment.carrier) or ""
        self.wanted = {str(p["positionItemId"]) for p in self.payload["positionItems"]}
        self.may_exist = shipment.sent_before

    async def __call__(self) -> ConfirmationResult:
        if self.may_exist:
            known = await self._read_back()
            if known is not None:
                return known
        try:
            answer = await self.client.create_shipment(self.payload)
        except RateLimited:
            raise
        except TransientError:
            self.may_exist = True  # it may have gone through all the same
            raise
        except Rejected as error:
            if error.status == 409:
                known = await self._read_back()
                if known is not None:
                    return known
            raise
        return confirmed(self.shipment, shipment_id(answer))

    async def _read_back(self) -> ConfirmationResult | None:
        found = await self.client.shipment_by_tracking(self.carrier, self.shipment.number)
        if found is None:
            return None
        held = shipped_position_items(found)
        missing = sorted(self.wanted - held)
        if missing:
            return rejected(
                self.shipment,
                "shipment-differs",
                f"OTTO has shipment {self.carrier} {self.shipment.number} already, without "
                f"position item(s) {', '.join(missing)}; check the order in OTTO Partner Connect",
            )
        return confirmed(
            self.shipment, shipment_id(found), "OTTO had this shipment already (read back)"
        )
