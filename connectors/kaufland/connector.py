"""KauflandConnector: marks order units as sent, per unit and never twice.

Per parcel: read the order once (`GET /orders/{id_order}`) and take each of the parcel's units'
status from that answer. `need_to_be_sent`/`open` → mark the unit sent with the order's
tracking numbers of this parcel's carrier (one comma-joined string: a send request names one
carrier, so the parcels of another carrier follow as shipments); `sent` → done, or for an order
with several parcels add this parcel as a shipment (a duplicate answer counts as done);
`received`/`returned` → done;
`cancelled` → nothing to confirm. An order Kaufland does not know, or one that does not list a
unit of the parcel, rejects the parcel. A retry after a timeout or a 5xx on a change reads the
order again before the next change, so a PATCH whose answer got lost is not sent a second time;
after a 429 only the change is repeated.

Parcels of one order are handled one after the other (they touch the same units); different
orders run concurrently. A rejected parcel never stops the batch; refused API keys (AuthError)
stop it before anything is changed.

Whether an account wants units marked as sent at all is the caller's decision: accounts with
that option off are simply not handed to this connector.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from pydantic import SecretStr

from connectors.account import CallOptions, Transport, call_timeout
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.batch import refuse_first, run_concurrently
from connectors.calls import EventHooks
from connectors.credentials import secret
from connectors.errors import RateLimited, Rejected, TransientError
from connectors.kaufland.auth import KauflandAuth
from connectors.kaufland.client import KauflandClient
from connectors.kaufland.mapping import (
    API_BASE,
    DUPLICATE_PROBLEMS,
    RATE_LIMIT_PER_SECOND,
    USER_AGENT,
    UnitAction,
    add_shipment_request,
    check_shipment,
    order_unit_ids,
    parcel_may_be_new,
    send_request,
    unit_action,
    unit_statuses,
)
from connectors.results import confirmed, rejected, settle
from connectors.retry import log_retries, with_retries
from core.accounts import AccountOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KauflandOptions(CallOptions):
    """Tunables of one Kaufland account (no secrets: those come from Secret blocks)."""

    api_base: str = API_BASE
    user_agent: str = USER_AGENT
    rate_per_second: float = RATE_LIMIT_PER_SECOND * 0.9  # stay a little below the limit
    burst: int = 20
    concurrency: int = 24  # 111 calls/s at ~150 ms each: some 17 in flight reach the limit


@dataclass
class _UnitOutcome:
    unit_id: int
    action: UnitAction
    note: str | None = None


@dataclass
class _OrderRead:
    """One parcel's view of its order on Kaufland: unit statuses as last read, None when the
    order has to be read (again) before the next change."""

    order_id: str
    unit_ids: list[int]
    statuses: dict[int, str] | None = None

    async def status(self, client: KauflandClient, unit_id: int) -> str:
        if self.statuses is None:
            statuses = await self._read(client)
            # checked for all the parcel's units at once, so none is changed for a parcel
            # that names a unit Kaufland does not know
            missing = [u for u in self.unit_ids if u not in statuses]
            if missing:
                ids = ", ".join(map(str, missing))
                raise Rejected(
                    f"Kaufland order {self.order_id} has no order unit(s) {ids}", code="not-found"
                )
            self.statuses = statuses
        return self.statuses[unit_id]

    async def _read(self, client: KauflandClient) -> dict[int, str]:
        try:
            body = await client.order(self.order_id)
        except Rejected as error:  # e.g. 404: the whole parcel names an order Kaufland lacks
            raise Rejected(
                f"order {self.order_id}: {error.message}",
                code=error.code,
                status=error.status,
                request_id=error.request_id,
            ) from error
        try:
            return unit_statuses(body)
        except ValueError as exc:
            raise TransientError(f"order {self.order_id}: {exc}") from exc


@dataclass
class _OrderMemo:
    """What this batch already told Kaufland per unit (parcels of one order share units)."""

    sent: dict[int, set[str]] = field(default_factory=dict)


@dataclass
class KauflandConnector:
    client: KauflandClient
    options: KauflandOptions = field(default_factory=KauflandOptions)
    portal: str = field(default="kaufland", init=False)
    # Kaufland's own word for the confirmation: the order unit is marked as sent
    switched_off: ClassVar[str] = (
        "mark-as-sent is off for Kaufland account {account} (accounts.toml: confirm = false)"
    )
    check = staticmethod(check_shipment)  # the pre-submit check is pure: mapping's

    @classmethod
    def from_credentials(
        cls,
        *,
        client_key: str,
        secret_key: SecretStr,
        options: KauflandOptions | None = None,
        account: str = "",
        transport: Transport = None,
        event_hooks: EventHooks | None = None,
    ) -> KauflandConnector:
        """Tests and benchmarks come in here with keys and a transport of their own."""
        opts = options or KauflandOptions()
        client = KauflandClient(
            auth=KauflandAuth(client_key, secret_key, user_agent=opts.user_agent),
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
    ) -> KauflandConnector:
        """Options from accounts.toml [base_url], credentials client_key and secret_key from
        the environment or Secret blocks."""
        portal, account = options.portal, options.account
        tunables = KauflandOptions(timeout_seconds=call_timeout(options))
        if options.base_url:
            tunables = replace(tunables, api_base=options.base_url)
        # Kaufland's 111 requests per second are a production limit
        tunables = tunables.paced_for(simulator=simulator)
        return cls.from_credentials(
            client_key=secret(portal, account, "client_key").get_secret_value(),
            secret_key=secret(portal, account, "secret_key"),
            account=account,
            options=tunables,
            transport=transport,
        )

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results, pending = refuse_first(shipments, self.check)
        orders: dict[str, list[tuple[int, ParcelShipment]]] = {}
        for index, shipment in pending:
            orders.setdefault(shipment.portal_order_id, []).append((index, shipment))

        def job(parcels: list[tuple[int, ParcelShipment]]) -> Callable[[], Awaitable[None]]:
            async def confirm() -> None:
                memo = _OrderMemo()
                for index, shipment in parcels:
                    results[index] = await settle(shipment, self._confirm(shipment, memo), log)

            return confirm

        await run_concurrently(map(job, orders.values()), self.options.concurrency)
        return [results[index] for index in range(len(shipments))]

    async def _confirm(self, shipment: ParcelShipment, memo: _OrderMemo) -> ConfirmationResult:
        unit_ids = order_unit_ids(shipment)
        order = _OrderRead(shipment.portal_order_id.strip(), unit_ids)
        outcomes = [
            await self._unit_with_retries(unit_id, shipment, memo, order) for unit_id in unit_ids
        ]
        return self._result(shipment, outcomes)

    @staticmethod
    def _result(shipment: ParcelShipment, outcomes: list[_UnitOutcome]) -> ConfirmationResult:
        cancelled = [o.unit_id for o in outcomes if o.action is UnitAction.CANCELLED]
        if len(cancelled) == len(outcomes):
            ids = ", ".join(map(str, cancelled))
            return rejected(shipment, "cancelled", f"order unit(s) {ids} cancelled on Kaufland")
        notes = [o.note for o in outcomes if o.note]
        reference = ",".join(str(o.unit_id) for o in outcomes if o.unit_id not in cancelled)
        return confirmed(shipment, reference, "; ".join(notes) or None)

    async def _unit_with_retries(
        self, unit_id: int, shipment: ParcelShipment, memo: _OrderMemo, order: _OrderRead
    ) -> _UnitOutcome:
        return await with_retries(
            _UnitAttempt(self.client, unit_id, shipment, memo, order),
            attempts=self.options.attempts,
            base_delay=self.options.base_delay,
            max_delay=self.options.max_delay,
            on_retry=log_retries(log, f"Kaufland order {order.order_id}, unit {unit_id}"),
        )

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        return []  # Kaufland answers at once: nothing is ever left `submitted`

    async def aclose(self) -> None:
        await self.client.aclose()


class _UnitAttempt:
    """One order unit's tries for one parcel. Its status comes from the parcel's order read,
    which is done again whenever a change may have reached Kaufland (timeout, 5xx); after a
    429 Kaufland did nothing, so only the change is repeated."""

    def __init__(
        self,
        client: KauflandClient,
        unit_id: int,
        shipment: ParcelShipment,
        memo: _OrderMemo,
        order: _OrderRead,
    ) -> None:
        self.client = client
        self.unit_id = unit_id
        self.shipment = shipment
        self.memo = memo
        self.order = order

    async def __call__(self) -> _UnitOutcome:
        unit_id, number = self.unit_id, self.shipment.number
        if number in self.memo.sent.get(unit_id, set()):
            # the send request of an earlier parcel of this carrier carried this number too
            note = f"order unit {unit_id} was sent with {number} in one request"
            return _UnitOutcome(unit_id, UnitAction.ALREADY_DONE, note)
        status = await self.order.status(self.client, unit_id)
        action = unit_action(status, parcel_may_be_new=parcel_may_be_new(self.shipment))
        if action is UnitAction.SEND:
            payload = send_request(self.shipment)
            if not await self._change(self.client.send_order_unit(unit_id, payload)):
                return _UnitOutcome(unit_id, action, f"order unit {unit_id} was sent meanwhile")
            self.memo.sent[unit_id] = set(payload["tracking_numbers"].split(","))
            return _UnitOutcome(unit_id, action)
        if action is UnitAction.ADD_SHIPMENT:
            added = await self._change(
                self.client.add_shipment(add_shipment_request(unit_id, self.shipment))
            )
            self.memo.sent.setdefault(unit_id, set()).add(number)
            if not added:
                note = f"order unit {unit_id} had parcel {number} already"
                return _UnitOutcome(unit_id, UnitAction.ALREADY_DONE, note)
            return _UnitOutcome(unit_id, action)
        if action is UnitAction.CANCELLED:
            return _UnitOutcome(unit_id, action, f"order unit {unit_id} is cancelled")
        return _UnitOutcome(
            unit_id, action, f"order unit {unit_id} was already '{status}' on Kaufland"
        )

    async def _change(self, call: Awaitable[None]) -> bool:
        """Run a change; False when Kaufland says it was done already (duplicate action)."""
        try:
            await call
        except RateLimited:
            raise  # not processed: the order read stays valid
        except TransientError:
            self.order.statuses = None  # it may have gone through all the same
            raise
        except Rejected as error:
            if error.code in DUPLICATE_PROBLEMS:
                return False
            raise
        return True
