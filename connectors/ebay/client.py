"""HTTP calls to the eBay Sell Fulfillment API; every answer mapped onto connectors.errors.

Only I/O lives here: the payloads come from mapping.py, the decisions from connector.py.
A client-side token bucket paces the calls so that eBay's 429s stay the exception.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from connectors.calls import EventHooks, PacedJsonClient, json_object, json_or_none
from connectors.ebay.auth import EbayAuth
from connectors.ebay.mapping import (
    FULFILLMENT_BASE_PATH,
    describe_errors,
    fulfillment_id_from_location,
    parse_errors,
)
from connectors.errors import ConnectorError, TransientError, error_for_status, retry_after
from connectors.http import portal_client
from connectors.ratelimit import TokenBucket


class EbayClient(PacedJsonClient):
    service = "eBay"

    def __init__(
        self,
        *,
        auth: EbayAuth,
        api_base: str,
        bucket: TokenBucket,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        event_hooks: EventHooks | None = None,
    ) -> None:
        self.auth = auth
        http = portal_client(
            base_url=api_base.rstrip("/") + FULFILLMENT_BASE_PATH,
            auth=auth,
            timeout=timeout_seconds,
            transport=transport,
            headers={"Accept": "application/json"},
            event_hooks=dict(event_hooks) if event_hooks else None,
        )
        super().__init__(http, bucket)

    def __repr__(self) -> str:
        return f"EbayClient(base_url={str(self._http.base_url)!r}, auth={self.auth!r})"

    async def authenticate(self) -> None:
        """Fetch an access token now, so that a refused refresh token stops a batch early."""
        await self.auth.access_token()

    async def shipping_fulfillments(self, order_id: str) -> dict[str, Any]:
        """`getShippingFulfillments`: the order's `ShippingFulfillmentPagedCollection`."""
        response = await self._send("GET", self._path(order_id))
        return json_object(response, "eBay's fulfillment list")

    async def create_shipping_fulfillment(self, order_id: str, payload: dict[str, Any]) -> str:
        """`createShippingFulfillment`: 201 + Location; returns the new fulfillment id."""
        response = await self._send("POST", self._path(order_id), json=payload)
        location = response.headers.get("Location")
        if not location:
            raise TransientError("eBay created the fulfillment but sent no Location header")
        try:
            return fulfillment_id_from_location(location)
        except ValueError as exc:
            raise TransientError(str(exc)) from exc

    @staticmethod
    def _path(order_id: str) -> str:
        return f"/order/{quote(order_id.strip(), safe='')}/shipping_fulfillment"

    def _error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        code, text = describe_errors(parse_errors(json_or_none(response)), status=status)
        request_id = response.headers.get("X-EBAY-C-REQUEST-ID") or response.headers.get("rlogid")
        return error_for_status(
            status,
            text,
            code=code,
            request_id=request_id,
            wait=retry_after(response.headers),
            auth_text=f"eBay refused the access token ({text}); the seller may have to grant "
            "access again. Confirmations stay pending.",
        )

    async def aclose(self) -> None:
        await super().aclose()
        await self.auth.aclose()
