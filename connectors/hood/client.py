"""HTTP for Hood.de: one POST of an XML body, status codes turned into the error tree.

Only I/O lives here; what goes into the body and what the answer means is `mapping`'s job.
The body carries the MD5 of the API password, so neither bodies nor exception texts that
could contain them are ever logged or put into errors.
"""

from __future__ import annotations

import httpx

from connectors.calls import paced, plain_status_errors
from connectors.hood.mapping import CONTENT_TYPE
from connectors.http import portal_client
from connectors.ratelimit import TokenBucket


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
        response = await paced(
            self._http,
            self._bucket,
            "POST",
            self.url,
            service="Hood",
            error=plain_status_errors("Hood", "Hood refused the credentials"),
            content=body,
            headers={"Content-Type": CONTENT_TYPE},
        )
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
