"""HTTP for Hood.de: one POST of an XML body, status codes turned into the error tree.

Only I/O lives here; what goes into the body and what the answer means is `mapping`'s job.
The body carries the MD5 of the API password, so neither bodies nor exception texts that
could contain them are ever logged or put into errors.
"""

from __future__ import annotations

import httpx

from connectors.errors import AuthError, RateLimited, Rejected, TransientError
from connectors.hood.mapping import CONTENT_TYPE
from connectors.http import portal_client
from connectors.ratelimit import TokenBucket


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HoodClient:
    def __init__(
        self,
        url: str,
        *,
        bucket: TokenBucket,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._bucket = bucket
        self._http = portal_client(timeout=timeout, transport=transport)

    async def post_xml(self, body: bytes) -> bytes:
        """POST `body`; the answer's bytes for 2xx, else an error from connectors.errors."""
        await self._bucket.acquire()
        try:
            response = await self._http.post(
                self.url, content=body, headers={"Content-Type": CONTENT_TYPE}
            )
        except httpx.TimeoutException:
            raise TransientError(f"Hood did not answer in time ({self.url})") from None
        except httpx.HTTPError as error:
            raise TransientError(f"network error talking to Hood: {type(error).__name__}") from None
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"Hood refused the credentials (HTTP {status})", status=status)
        if status == 429:
            raise RateLimited(
                "Hood is throttling requests (HTTP 429)",
                retry_after=_retry_after(response),
                status=status,
            )
        if status >= 500:
            raise TransientError(f"Hood answered HTTP {status}", status=status)
        if status >= 400:
            raise Rejected(f"Hood refused the request (HTTP {status})", code=str(status))
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
