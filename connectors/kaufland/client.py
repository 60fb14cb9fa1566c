"""HTTP calls to the Kaufland Seller API v2; every answer mapped onto connectors.errors.

Only I/O lives here: payloads come from mapping.py, decisions from connector.py. A client-side
token bucket keeps the account below Kaufland's per-seller request rate.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from connectors.calls import EventHooks, PacedJsonClient, json_object, json_or_none
from connectors.errors import ConnectorError, error_for_status, retry_after
from connectors.http import portal_client
from connectors.kaufland.auth import KauflandAuth
from connectors.kaufland.mapping import ACCOUNT_PROBLEMS, parse_problem
from connectors.ratelimit import TokenBucket


class KauflandClient(PacedJsonClient):
    service = "Kaufland"

    def __init__(
        self,
        *,
        auth: KauflandAuth,
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
        )
        super().__init__(http, bucket)

    def __repr__(self) -> str:
        return f"KauflandClient(base_url={str(self._http.base_url)!r}, auth={self.auth!r})"

    async def order(self, order_id: str) -> dict[str, Any]:
        """`GET /orders/{id_order}`: the `ApiResponse_OrderDetails_`, all units with status."""
        return await self._get_object(f"/orders/{quote(order_id, safe='')}", "the order")

    async def send_order_unit(self, unit_id: int, payload: dict[str, str]) -> None:
        """`PATCH /order-units/{id_order_unit}/send` (204)."""
        await self._send("PATCH", f"/order-units/{unit_id}/send", json=payload)

    async def add_shipment(self, payload: dict[str, Any]) -> None:
        """`POST /shipments` (204): one more parcel for a unit already marked sent."""
        await self._send("POST", "/shipments", json=payload)

    async def _get_object(self, path: str, what: str) -> dict[str, Any]:
        return json_object(await self._send("GET", path), f"Kaufland's answer with {what}")

    def _error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        problem = parse_problem(json_or_none(response), status=status)
        code = problem.code or f"http-{status}"
        text = problem.text()
        who = f" of account {self.account!r}" if self.account else ""
        return error_for_status(
            status,
            text,
            code=code,
            wait=retry_after(response.headers),
            refused_access=status == 401 or (status == 403 and problem.code in ACCOUNT_PROBLEMS),
            auth_text=f"Kaufland refused the API keys{who} ({code}: {text}). Check the client "
            "key, the secret key and the server clock; Kaufland confirmations stay pending.",
        )
