"""HTTP calls to the eBay Sell Fulfillment API; every answer mapped onto connectors.errors.

Only I/O lives here: the payloads come from mapping.py, the decisions from connector.py.
A client-side token bucket paces the calls so that eBay's 429s stay the exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.ebay.auth import EbayAuth
from connectors.ebay.mapping import (
    FULFILLMENT_BASE_PATH,
    describe_errors,
    fulfillment_id_from_location,
    parse_errors,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
)
from connectors.http import portal_client
from connectors.ratelimit import TokenBucket

EventHooks = Mapping[str, list[Any]]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class EbayClient:
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
        self.bucket = bucket
        self._http = portal_client(
            base_url=api_base.rstrip("/") + FULFILLMENT_BASE_PATH,
            auth=auth,
            timeout=timeout_seconds,
            transport=transport,
            headers={"Accept": "application/json"},
            event_hooks=dict(event_hooks) if event_hooks else None,
        )

    def __repr__(self) -> str:
        return f"EbayClient(base_url={str(self._http.base_url)!r}, auth={self.auth!r})"

    async def authenticate(self) -> None:
        """Fetch an access token now, so that a refused refresh token stops a batch early."""
        await self.auth.access_token()

    async def shipping_fulfillments(self, order_id: str) -> dict[str, Any]:
        """`getShippingFulfillments`: the order's `ShippingFulfillmentPagedCollection`."""
        response = await self._send("GET", self._path(order_id))
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError("eBay answered the fulfillment list with no JSON") from exc
        if not isinstance(body, dict):
            raise TransientError("eBay answered the fulfillment list with no JSON object")
        return body

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

    async def _send(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        await self.bucket.acquire()
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise TransientError(f"eBay did not answer {method} {path} in time") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"eBay is unreachable ({exc.__class__.__name__}) for {method} {path}"
            ) from exc
        if response.is_success:
            return response
        raise self._error(response)

    def _error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        code, text = describe_errors(parse_errors(body), status=status)
        request_id = response.headers.get("X-EBAY-C-REQUEST-ID") or response.headers.get("rlogid")
        if status in (401, 403):
            return AuthError(
                f"eBay refused the access token ({text}); the seller may have to grant "
                "access again. Confirmations stay pending.",
                code=code,
                status=status,
                request_id=request_id,
            )
        if status == 429:
            retry_after = _retry_after(response)
            if retry_after:
                self.bucket.penalise(retry_after)
            return RateLimited(
                text, retry_after=retry_after, code=code, status=status, request_id=request_id
            )
        if status >= 500 or status == 408:
            return TransientError(text, code=code, status=status, request_id=request_id)
        return Rejected(text, code=code, status=status, request_id=request_id)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.auth.aclose()
