"""HTTP for Rakuten.de's Shop-API: one form POST per call, status codes turned into errors.

The merchant key travels in the POST body only; URLs, which HTTP libraries log, never hold it.
"""

from __future__ import annotations

import httpx

from connectors.errors import AuthError, RateLimited, Rejected, TransientError
from connectors.http import portal_client
from connectors.rakuten.auth import RakutenCredentials
from connectors.ratelimit import TokenBucket


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


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
        try:
            response = await self._http.post(url, data=data)
        except httpx.TimeoutException:
            raise TransientError(f"Rakuten did not answer in time ({url})") from None
        except httpx.HTTPError as error:
            raise TransientError(
                f"network error talking to Rakuten: {type(error).__name__}"
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"Rakuten refused the key (HTTP {status})", status=status)
        if status == 429:
            raise RateLimited(
                "Rakuten is throttling requests (HTTP 429)",
                retry_after=_retry_after(response),
                status=status,
            )
        if status >= 500:
            raise TransientError(f"Rakuten answered HTTP {status}", status=status)
        if status >= 400:
            raise Rejected(f"Rakuten refused the request (HTTP {status})", code=str(status))
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
