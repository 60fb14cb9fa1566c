"""HTTP to DHL Parcel DE Tracking: one call, its answer mapped onto the connector error tree.

    401 / 403            -> AuthError       (key, secret or business user refused)
    429                  -> RateLimited     (DHL's rate limit or the key's daily quota)
    other 4xx            -> Rejected
    5xx, timeout, network, an answer that is no piece-shipment-list -> TransientError

The request carries the business user's password in its query (DHL's design): no URL is ever
logged or put into an error text (connectors.calls keeps the query out).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from connectors.calls import send
from connectors.dhl_tracking.mapping import (
    PRODUCTION,
    SHIPMENTS_PATH,
    MalformedAnswer,
    parse_answer,
    request_xml,
)
from connectors.errors import TransientError, error_for_status, retry_after
from connectors.http import portal_client
from connectors.xml import UntrustedXmlError
from core.tracking import ParcelReport


class TrackingApi:
    def __init__(
        self,
        *,
        base_url: str = PRODUCTION,
        auth: httpx.Auth,
        appname: str,
        password: str,
        language: str = "de",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._appname = appname
        self._password = password
        self._language = language
        self._http = portal_client(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/xml"},
        )

    def __repr__(self) -> str:
        return f"TrackingApi(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def piece_detail(self, numbers: Sequence[str]) -> list[ParcelReport]:
        """`d-get-piece-detail` for up to 15 numbers: one call, no retry here."""
        xml = request_xml(
            numbers, appname=self._appname, password=self._password, language=self._language
        )
        response = await send(
            self._http, "GET", SHIPMENTS_PATH, service="DHL tracking", params={"xml": xml}
        )
        if response.status_code >= 300:
            raise error_for_status(
                response.status_code,
                f"DHL tracking answered HTTP {response.status_code}",
                code=str(response.status_code),
                wait=retry_after(response.headers),
                auth_text="DHL refused the tracking credentials (API key, secret or user)",
            )
        try:
            return parse_answer(response.content)
        except (MalformedAnswer, UntrustedXmlError) as error:
            raise TransientError(f"DHL tracking answer unreadable: {error}") from None
