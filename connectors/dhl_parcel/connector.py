"""Daily closing (Tagesabschluss) with DHL Parcel DE: close the day, fetch the manifest PDF.

`close_day` sends the day's shipment numbers in calls of at most 30 (DHL's limit) or asks DHL
to close everything open; its answer lists every shipment with `closed`, `already_closed`
(DHL's warning: closed earlier by us or by the automatic end-of-day closing, so it ships today
all the same) or `error` with DHL's own title and detail.

A chunk that DHL refuses as a whole (400) turns into error items for its numbers and the other
chunks still go out. Refused credentials (AuthError) and trouble that outlasts the retries stop
the run: closing again later is harmless, closed shipments merely come back as warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import partial
from typing import Any

import httpx

from connectors.account import CallOptions, Transport, call_timeout
from connectors.dhl_parcel.auth import auth_for
from connectors.dhl_parcel.client import ShippingApi
from connectors.dhl_parcel.mapping import (
    ACCEPT_LANGUAGE,
    DEFAULT_PROFILE,
    PRODUCTION,
    MalformedResponse,
    ManifestDocument,
    ManifestItem,
    ManifestResult,
    chunk_shipment_numbers,
    manifest_request_body,
    parse_manifest_document,
    parse_manifest_response,
    server_url,
)
from connectors.errors import Rejected, TransientError
from connectors.http import ClosedOnExit
from connectors.retry import retried
from core.accounts import AccountOptions

log = logging.getLogger(__name__)


class DhlParcelClient(ClosedOnExit):
    """The daily-closing side of DHL Parcel DE Shipping v2."""

    carrier = "dhl"

    def __init__(
        self,
        base_url: str = PRODUCTION,
        *,
        auth: httpx.Auth,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
        attempts: int = 4,
        base_delay: float = 0.5,
        language: str = ACCEPT_LANGUAGE,
    ) -> None:
        self.api = ShippingApi(
            base_url=base_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            language=language,
        )
        # closing twice only warns at DHL, so every call may be retried
        self.calls = CallOptions(attempts=attempts, base_delay=base_delay, timeout_seconds=timeout)

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> DhlParcelClient:
        """The client for a DHL account (portal "dhl"; account "" is the seller's one DHL
        account): `base_url` production, sandbox or a URL; credentials api_key, username,
        password and, for OAuth, client_secret from the environment or Secret blocks;
        `timeout_seconds` (default 60: the manifest PDF can be large and slow, says DHL).
        `simulator` changes nothing: DHL's closing has no client-side pace to relax."""
        timeout = call_timeout(options) if "timeout_seconds" in options.extra else 60.0
        return cls(
            server_url(options.base_url),
            auth=auth_for(options.account),
            transport=transport,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self.api.aclose()

    async def _retried(self, call: Callable[[], Awaitable[Any]]) -> Any:
        def note(error: Exception, attempt: int, delay: float) -> None:
            log.warning("DHL call failed (%s), try %d, again in %.1fs", error, attempt, delay)

        return await retried(call, self.calls, note)

    async def close_day(
        self,
        shipment_numbers: Sequence[str] | None,
        profile: str = DEFAULT_PROFILE,
        billing_number: str | None = None,
    ) -> ManifestResult:
        """Close the given shipments now (None: everything open, or all of `billing_number`).

        An empty list sends nothing and answers an empty result."""
        if shipment_numbers is None:
            body = manifest_request_body(None, profile=profile, billing_number=billing_number)
            close_all = billing_number is None
            answer = await self._retried(lambda: self.api.post_manifests(body, close_all=close_all))
            return _parsed(answer)
        items: list[ManifestItem] = []
        for chunk in chunk_shipment_numbers(shipment_numbers):
            body = manifest_request_body(chunk, profile=profile, billing_number=billing_number)
            try:
                answer = await self._retried(partial(self.api.post_manifests, body))
            except Rejected as error:
                items.extend(_refused(chunk, error))
                continue
            items.extend(_with_missing(chunk, _parsed(answer).items))
        return ManifestResult(items=items)

    async def fetch_manifest(
        self, day: date, billing_number: str | None = None
    ) -> ManifestDocument:
        """The manifest of `day` as PDF bytes plus DHL's sheet numbers; repeatable.

        DHL answers 400 for a future or too old date: that comes as `Rejected`."""
        answer = await self._retried(
            lambda: self.api.get_manifests(day, billing_number=billing_number)
        )
        try:
            return parse_manifest_document(answer, requested=day)
        except MalformedResponse as error:
            raise TransientError(f"DHL manifest answer unreadable: {error}") from error


def _parsed(answer: object) -> ManifestResult:
    try:
        return parse_manifest_response(answer)
    except MalformedResponse as error:
        raise TransientError(f"DHL manifest answer unreadable: {error}") from error


def _refused(chunk: Sequence[str], error: Rejected) -> list[ManifestItem]:
    return [
        ManifestItem(
            shipment_no=number,
            status="error",
            title=error.code or "",
            detail=error.message,
            status_code=error.status,
        )
        for number in chunk
    ]


def _with_missing(chunk: Sequence[str], items: list[ManifestItem]) -> list[ManifestItem]:
    """DHL's items plus an error item for each sent number it did not mention.

    Silence is not success: the shipment may still be open, so the operator must see it."""
    mentioned = {item.shipment_no for item in items}
    missing = [
        ManifestItem(
            shipment_no=number,
            status="error",
            title="no answer",
            detail="DHL's answer did not mention this shipment",
        )
        for number in chunk
        if number not in mentioned
    ]
    return items + missing
