"""Rakuten.de shipment confirmation (legacy): one `setOrderShipped` call per parcel.

Rakuten answers 3710 ("not in edit mode") to a repeat for an order that is shipped already,
e.g. after a run died between its call and recording the answer. Then the order's status is
read back with `getOrders`: shipped while a call of ours may have done it (the ledger row was
attempted before, or a try of this run lost its answer) is confirmed; anything else is
rejected with the status as the reason.

The marketplace closed on 15 October 2020. The connector is off by default: disabled, every
row is refused before anything is sent; enabled, it logs a warning once and talks to the
configured base URL (the simulator, an archive system, or the old endpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import ClassVar, Unpack

from connectors.account import CallOptions, CallSettings, Transport, call_timeout
from connectors.base import ConfirmationResult, ParcelShipment, SubmittedConfirmation
from connectors.credentials import secret
from connectors.errors import AuthError, ConnectorError, TransientError
from connectors.rakuten.auth import RakutenCredentials
from connectors.rakuten.client import RakutenClient
from connectors.rakuten.mapping import (
    ASSUMED_AUTH_ERROR_CODES,
    DAILY_CALL_LIMIT,
    GET_ORDERS,
    MARKETPLACE_CLOSED_ON,
    NOT_EDITABLE,
    RAKUTEN_BASE_URL,
    SET_ORDER_SHIPPED,
    RakutenAnswer,
    after_not_editable,
    check_shipment,
    is_auth_error,
    order_lookup,
    parse_answer,
    parse_order_status,
    result_for,
    to_params,
)
from connectors.results import ended, for_error
from connectors.retry import log_retries, retried
from core.accounts import AccountOptions
from core.carriers.numbers import tracking_url
from core.domain import ConfirmationStatus, Portal

logger = logging.getLogger(__name__)

CLOSED_TEXT = (
    f"the Rakuten.de marketplace closed on {MARKETPLACE_CLOSED_ON:%d.%m.%Y} "
    f"({MARKETPLACE_CLOSED_ON.isoformat()})"
)


def _tracking_link(shipment: ParcelShipment) -> str | None:
    """The carrier's tracking page, for carriers Rakuten has no code for."""
    return tracking_url(shipment.carrier, shipment.number, "de") if shipment.number else None


RAKUTEN_CALLS = CallOptions(
    # a quota per shop and day, not a pace: a day's calls may go at once
    rate_per_second=DAILY_CALL_LIMIT / 86_400,
    burst=DAILY_CALL_LIMIT,
    attempts=4,
    base_delay=1.0,
)


class RakutenConnector:
    portal: str = Portal.RAKUTEN.value
    # the marketplace closed on 15 October 2020 (see the package docstring): off by default
    switched_off: ClassVar[str] = (
        "Rakuten.de closed in October 2020; switch on with confirm = true if needed"
    )
    # setOrderShipped carries one tracking code per order (mapping.py)
    one_tracking_number: ClassVar[str] = (
        "Rakuten takes one tracking number per order; the order was confirmed with its first parcel"
    )

    def __init__(
        self,
        credentials: RakutenCredentials,
        *,
        enabled: bool = False,
        base_url: str = RAKUTEN_BASE_URL,
        tracking_url: Callable[[ParcelShipment], str | None] | None = None,
        **calls: Unpack[CallSettings],
    ) -> None:
        self.enabled = enabled
        self._credentials = credentials
        self._tracking_url = tracking_url
        self.calls = RAKUTEN_CALLS.with_settings(calls)
        self._client = RakutenClient(
            base_url,
            credentials,
            bucket=self.calls.bucket(base_url, credentials.account),
            timeout=self.calls.timeout_seconds,
            transport=calls.get("transport"),
        )
        if enabled:
            logger.warning(
                "Rakuten connector enabled for account %s although %s; calls go to %s",
                credentials.account,
                CLOSED_TEXT,
                self._client.base_url,
            )

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> RakutenConnector:
        """Options from accounts.toml [base_url; confirm = true to enable], the credential
        key from the environment or Secret blocks."""
        return cls(
            RakutenCredentials(options.account, secret(options.portal, options.account, "key")),
            enabled=options.confirm,
            base_url=options.base_url or RAKUTEN_BASE_URL,
            tracking_url=_tracking_link,
            rate_per_second=100.0 if simulator else DAILY_CALL_LIMIT / 86_400,
            timeout=call_timeout(options),
            transport=transport,
        )

    def _link(self, shipment: ParcelShipment) -> str | None:
        return self._tracking_url(shipment) if self._tracking_url else None

    def check(self, shipment: ParcelShipment) -> ConfirmationResult | None:
        cid = shipment.confirmation_id
        if not self.enabled:
            return ended(
                cid,
                ConfirmationStatus.REJECTED,
                "portal_disabled",
                f"Rakuten connector is disabled: {CLOSED_TEXT}",
            )
        if shipment.account != self._credentials.account:
            return ended(
                cid,
                ConfirmationStatus.REJECTED,
                "wrong_account",
                f"row belongs to account {shipment.account!r}, this Rakuten connector serves "
                f"{self._credentials.account!r}",
            )
        return check_shipment(shipment, self._link(shipment))

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        results: list[ConfirmationResult] = []
        answered_any = False
        auth_failure: AuthError | None = None
        for shipment in shipments:
            cid = shipment.confirmation_id
            refused = self.check(shipment)
            if refused is not None:
                results.append(refused)
                continue
            if auth_failure is not None:
                results.append(
                    ended(cid, ConfirmationStatus.FAILED, auth_failure.code, auth_failure.message)
                )
                continue
            try:
                results.append(await self._confirm(shipment))
            except AuthError as error:
                if not answered_any:
                    raise
                auth_failure = error  # keep earlier results, leave the rest retryable
                results.append(ended(cid, ConfirmationStatus.FAILED, error.code, error.message))
            except ConnectorError as error:
                results.append(for_error(cid, error))
            else:
                answered_any = True
        return results

    async def _confirm(self, shipment: ParcelShipment) -> ConfirmationResult:
        answer, answer_lost = await self._send(shipment)
        if answer.success or [e.code for e in answer.errors] != [NOT_EDITABLE]:
            return result_for(shipment.confirmation_id, answer)
        # "not in edit mode": shipped already (by a call of ours whose answer was lost?), or
        # cancelled, or not released yet; only the order's status tells which
        status = await self._order_status(shipment.portal_order_id)
        logger.info(
            "Rakuten order %s: 3710 to setOrderShipped, getOrders says %s",
            shipment.portal_order_id,
            status or "nothing",
        )
        ours = shipment.sent_before or answer_lost
        return after_not_editable(shipment, status, ours_may_have_gone_through=ours)

    async def _send(self, shipment: ParcelShipment) -> tuple[RakutenAnswer, bool]:
        """setOrderShipped with retries; the answer and whether a try's answer got lost
        (timeout, 5xx, cut-off answer: that try may have shipped the order)."""
        fields = to_params(shipment, self._link(shipment)).form()
        answer_lost = False

        async def attempt() -> RakutenAnswer:
            return self._checked(parse_answer(await self._client.call(SET_ORDER_SHIPPED, fields)))

        log_retry = log_retries(logger, f"Rakuten order {shipment.portal_order_id}")

        def on_retry(error: Exception, attempt_no: int, delay: float) -> None:
            nonlocal answer_lost
            answer_lost = answer_lost or isinstance(error, TransientError)
            log_retry(error, attempt_no, delay)

        answer = await retried(attempt, self.calls, on_retry)
        return answer, answer_lost

    async def _order_status(self, order_no: str) -> str | None:
        """The order's status as getOrders lists it (None: not listed), with retries."""

        async def attempt() -> str | None:
            body = await self._client.call(GET_ORDERS, order_lookup(order_no))
            answer, status = parse_order_status(body, order_no)
            self._checked(answer)
            if not answer.success:
                first = answer.errors[0] if answer.errors else None
                raise TransientError(
                    f"Rakuten's getOrders for {order_no} failed: "
                    f"{first.message if first else 'no error given'}",
                    code=first.code if first else None,
                )
            return status

        return await retried(attempt, self.calls)

    @staticmethod
    def _checked(answer: RakutenAnswer) -> RakutenAnswer:
        if is_auth_error(answer):
            refusal = next(e for e in answer.errors if e.code in ASSUMED_AUTH_ERROR_CODES)
            raise AuthError(refusal.message or "Rakuten refused the key", code=refusal.code)
        return answer

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        return []

    async def aclose(self) -> None:
        await self._client.aclose()
