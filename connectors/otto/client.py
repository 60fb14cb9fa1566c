"""HTTP calls to OTTO Market's Shipments API v1; every answer mapped onto connectors.errors.

Only I/O lives here: payloads come from mapping.py, decisions from connector.py. A client-side
token bucket keeps the account's pace; a 429 slows it down by OTTO's Retry-After.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from connectors.calls import EventHooks, PacedJsonClient, json_object, json_or_none
from connectors.errors import ConnectorError, Rejected, error_for_status, retry_after
from connectors.http import portal_client
from connectors.otto.auth import OttoAuth
from connectors.otto.mapping import SHIPMENTS_PATH, parse_problems
from connectors.ratelimit import TokenBucket


class OttoClient(PacedJsonClient):
    service = "OTTO"

    def __init__(
        self,
        *,
        auth: OttoAuth,
        api_base: str,
        bucket: TokenBucket,
        account: str = "",
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        event_hooks: EventHooks | None = None,
    ) -> None:
        self.auth = auth
        self.account = account
        http = portal_client(
            base_url=api_base.rstrip("/"),
            auth=auth,
            timeout=timeout_seconds,
            transport=transport,
            event_hooks=dict(event_hooks) if event_hooks else None,
            headers={"Accept": "application/json"},
        )
        super().__init__(http, bucket)

    def __repr__(self) -> str:
        return f"OttoClient(base_url={str(self._http.base_url)!r}, auth={self.auth!r})"

    async def create_shipment(self, payload: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/shipments` (201 with `shipmentId`)."""
        return json_object(
            await self._send("POST", SHIPMENTS_PATH, json=payload), "OTTO's shipment answer"
        )

    async def shipment_by_tracking(self, carrier: str, number: str) -> dict[str, Any] | None:
        """`GET /v1/shipments/carriers/{carrier}/trackingnumbers/{trackingNumber}`; None when
        OTTO has no such shipment (404)."""
        path = (
            f"{SHIPMENTS_PATH}/carriers/{quote(carrier, safe='')}"
            f"/trackingnumbers/{quote(number, safe='')}"
        )
        try:
            response = await self._send("GET", path)
        except Rejected as error:
            if error.status == 404:
                return None
            raise
        return json_object(response, "OTTO's shipment")

    def _error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        problems = parse_problems(json_or_none(response), status=status)
        text = "; ".join(p.text() for p in problems)
        who = f" of account {self.account!r}" if self.account else ""
        return error_for_status(
            status,
            text,
            code=f"http-{status}",
            wait=retry_after(response.headers),
            auth_text=f"OTTO refused the access token{who} ({text}). Check that the API user "
            "has the shipments scope in OTTO Partner Connect; OTTO confirmations stay pending.",
        )
