"""HTTP for Rakuten.de's Shop-API: one form POST per call, status codes turned into errors.

The merchant key travels in the POST body only; URLs, which HTTP libraries log, never hold it.
"""

from __future__ import annotations

import httpx

from connectors.calls import plain_status_error, send
from connectors.http import portal_client
from connectors.rakuten.auth import RakutenCredentials
from connectors.ratelimit import TokenBucket


class RakutenClient:
    def __init__(
        self,
        base_url: str,
        credentials: RakutenCredentials,
        *,
        bucket: TokenBucket,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._credentials = credentials
        self._bucket = bucket
        self._http = portal_client(timeout=timeout, transport=transport)

    async def call(self, method: str, fields: dict[str, str]) -> bytes:
        """POST `fields` plus the key to `<base>/<method>`; the answer's bytes for 2xx."""
        url = self.base_url + method
        data = {"key": self._credentials.key.get_secret_value(), **fields}
        await self._bucket.acquire()
        response = await send(self._http, "POST", url, service="Rakuten", data=data)
        if not response.is_success:
            raise plain_status_error(response, "Rakuten", "Rakuten refused the key")
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
