"""HTTP for Rakuten.de's Shop-API: one form POST per call, status codes turned into errors.

The merchant key travels in the POST body only; URLs, which HTTP libraries log, never hold it.
"""

from __future__ import annotations

import httpx

from connectors.calls import paced, plain_status_errors
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
        response = await paced(
            self._http,
            self._bucket,
            "POST",
            url,
            service="Rakuten",
            error=plain_status_errors("Rakuten", "Rakuten refused the key"),
            data=data,
        )
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
