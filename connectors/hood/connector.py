"""Hood.de shipment confirmation: `updateOrderStatus` with the tracking code, per account.

Hood answers synchronously, so every row ends `confirmed`, `rejected` (Hood's own text) or
`failed` (retries exhausted); `poll` has nothing to do. One connector serves one Hood account.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Unpack

from connectors.account import CallOptions, CallSettings, Transport, call_timeout
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.credentials import secret
from connectors.errors import AuthError, ConnectorError
from connectors.hood.auth import HoodCredentials
from connectors.hood.client import HoodClient
from connectors.hood.mapping import (
    HOOD_API_URL,
    UNVERIFIED_ORDER_STATUS_SHAPE,
    HoodAnswer,
    HoodParcel,
    OrderStatusShape,
    build_update_order_status,
    check_shipment,
    chunk_parcels,
    describe_shape,
    is_auth_error,
    parse_answer,
    result_for,
    to_parcel,
)
from connectors.ratelimit import HEADROOM
from connectors.results import ended, for_error
from connectors.retry import log_retries, retried
from core.accounts import AccountOptions
from core.domain import ConfirmationStatus, Portal

logger = logging.getLogger(__name__)


# Hood documents no rate limit; one call a second keeps a seller's account inconspicuous
HOOD_CALLS = CallOptions(rate_per_second=1.0 * HEADROOM, burst=2, attempts=4, base_delay=1.0)


class HoodConnector:
    portal: str = Portal.HOOD.value
    shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE  # assumed, see mapping

    def __init__(
        self,
        credentials: HoodCredentials,
        *,
        url: str = HOOD_API_URL,
        **calls: Unpack[CallSettings],
    ) -> None:
        self._credentials = credentials
        self.calls = HOOD_CALLS.with_settings(calls)
        self._client = HoodClient(
            url,
            bucket=self.calls.bucket(url, credentials.account),
            timeout=self.calls.timeout_seconds,
            transport=calls.get("transport"),
        )

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> HoodConnector:
        """Options from accounts.toml [base_url], credentials account_name and api_password
        from the environment or Secret blocks."""
        portal, account = options.portal, options.account
        credentials = HoodCredentials(
            account,
            secret(portal, account, "account_name").get_secret_value(),
            secret(portal, account, "api_password"),
        )
        return cls(
            credentials,
            url=options.base_url or HOOD_API_URL,
            rate_per_second=100.0 if simulator else HOOD_CALLS.rate_per_second,
            burst=100 if simulator else 2,
            timeout=call_timeout(options),
            transport=transport,
        )

    def check(self, shipment: ParcelShipment) -> ConfirmationResult | None:
        if shipment.account != self._credentials.account:
            return ended(
                shipment.confirmation_id,
                ConfirmationStatus.REJECTED,
                "wrong_account",
                f"row belongs to account {shipment.account!r}, this Hood connector serves "
                f"{self._credentials.account!r}",
            )
        reason = check_shipment(shipment)
        if reason:
            return ended(
                shipment.confirmation_id, ConfirmationStatus.REJECTED, "invalid_shipment", reason
            )
        return None

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results: dict[int, ConfirmationResult] = {}
        parcels: list[HoodParcel] = []
        for shipment in shipments:
            refused = self.check(shipment)
            if refused is not None:
                results[shipment.confirmation_id] = refused
            else:
                parcels.append(to_parcel(shipment, self.shape))
        chunks = chunk_parcels(parcels, self.shape.max_orders_per_request)
        if chunks:
            logger.info(
                "Hood account %s: %d parcel(s) in %d request(s), request shape %s",
                self._credentials.account,
                len(parcels),
                len(chunks),
                describe_shape(self.shape),
            )
        answered_any = False
        for index, chunk in enumerate(chunks):
            try:
                answer = await self._send(chunk)
            except AuthError as error:
                if not answered_any:
                    raise
                # Earlier requests went through: keep their results, leave the rest retryable.
                for rest in chunks[index:]:
                    for parcel in rest:
                        results[parcel.confirmation_id] = ended(
                            parcel.confirmation_id,
                            ConfirmationStatus.FAILED,
                            error.code,
                            error.message,
                        )
                break
            except ConnectorError as error:
                for parcel in chunk:
                    results[parcel.confirmation_id] = for_error(parcel.confirmation_id, error)
            else:
                answered_any = True
                for parcel in chunk:
                    results[parcel.confirmation_id] = result_for(parcel, answer)
        return [results[shipment.confirmation_id] for shipment in shipments]

    async def _send(self, chunk: Sequence[HoodParcel]) -> HoodAnswer:
        body = build_update_order_status(
            chunk,
            account_name=self._credentials.account_name,
            password_md5=self._credentials.password_md5(),
            shape=self.shape,
        )

        async def attempt() -> HoodAnswer:
            answer = parse_answer(await self._client.post_xml(body), self.shape)
            if answer.global_error is not None and is_auth_error(answer.global_error, self.shape):
                raise AuthError(answer.global_error, code="globalError")
            return answer

        what = f"Hood account {self._credentials.account}"
        return await retried(attempt, self.calls, log_retries(logger, what))

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        return []

    async def aclose(self) -> None:
        await self._client.aclose()
