"""HTTP to DHL Parcel DE Shipping v2 (manifests only): I/O and error translation, no rules.

Every answer is mapped onto the connector error tree here, so the layer above only sees data
or `connectors.errors`:

    401 / 403            -> AuthError       (the operator must fix the credentials)
    429                  -> RateLimited     (Retry-After honoured)
    400 / 404 / 4xx      -> Rejected        (DHL's title as code, DHL's detail as message)
    5xx, timeout, network, non-JSON answer -> TransientError (retried with backoff)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from connectors.calls import json_or_none, send
from connectors.dhl_parcel.mapping import (
    ACCEPT_LANGUAGE,
    PRODUCTION,
    manifest_query,
    parse_problem,
)
from connectors.errors import ConnectorError, TransientError, error_for_status, retry_after
from connectors.http import portal_client

REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id")


def _request_id(response: httpx.Response) -> str | None:
    for header in REQUEST_ID_HEADERS:
        if header in response.headers:
            return response.headers[header]
    return None


def error_for(response: httpx.Response) -> ConnectorError:
    """The connector error matching a non-success DHL answer."""
    problem = parse_problem(json_or_none(response))
    status = response.status_code
    message = problem.message(f"HTTP {status}")
    if status == 429:
        text = f"DHL throttled the call: {message}"
    elif status >= 500:
        text = f"DHL answered HTTP {status}: {message}"
    else:
        text = message
    return error_for_status(
        status,
        text,
        code=problem.title or str(status),
        request_id=_request_id(response),
        wait=retry_after(response.headers),
        auth_text=f"DHL refused the credentials: {message}",
    )


class ShippingApi:
    """The two manifest calls of DHL's Shipping API, one try each (retries: connector.py)."""

    def __init__(
        self,
        *,
        base_url: str = PRODUCTION,
        auth: httpx.Auth,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,  # the manifest PDF can be large and slow, says DHL
        language: str = ACCEPT_LANGUAGE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = portal_client(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "Accept-Language": language},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await send(self._http, method, path, service="DHL", **kwargs)
        if response.status_code >= 300:
            raise error_for(response)
        try:
            return response.status_code, response.json()
        except ValueError as error:
            raise TransientError(
                "DHL answered without JSON",
                status=response.status_code,
                request_id=_request_id(response),
            ) from error

    async def post_manifests(self, body: Mapping[str, Any], *, close_all: bool = False) -> Any:
        """`POST /manifests`; returns the 207 body. Safe to retry: closing twice only warns."""
        params = {"all": "true"} if close_all else None
        _, answer = await self._send("POST", "/manifests", json=dict(body), params=params)
        return answer

    async def get_manifests(self, day: date, *, billing_number: str | None = None) -> Any:
        """`GET /manifests` for one day, documents inline as base64."""
        params = manifest_query(day, billing_number=billing_number)
        _, answer = await self._send("GET", "/manifests", params=params)
        return answer
