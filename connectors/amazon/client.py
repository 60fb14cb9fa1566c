"""The few SP-API calls liefern needs, with Amazon's rate limits and error envelope.

Only I/O lives here: what to send and how to read reports is in mapping.py. Every call waits for
its operation's token bucket first (Amazon's usage plans, see `RateLimits`), then maps the
answer onto the connector error tree:

    429                      RateLimited (retry_after from Retry-After when given), retried
    5xx, timeouts, network   TransientError, retried with backoff
    401, 403                 AuthError (the operator must act)
    other 4xx                Rejected with Amazon's `errors[0].code` and message(s)

Feed documents travel through presigned storage URLs that carry their own signature: those
requests are sent without the LWA token and with exactly the Content-Type declared before.
"""

from __future__ import annotations

import logging
import sys
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from connectors.account import CallOptions
from connectors.calls import json_object, paced, send
from connectors.errors import (
    ConnectorError,
    Rejected,
    TransientError,
    error_for_status,
    retry_after,
)
from connectors.http import portal_client
from connectors.ratelimit import TokenBucket, account_bucket
from connectors.retry import log_retries, retried

log = logging.getLogger(__name__)
T = TypeVar("T")

FEEDS = "/feeds/2021-06-30"
ORDERS = "/orders/v0/orders"
ORDERS_2026 = "/orders/2026-01-01/orders"
USER_AGENT = f"liefern/0.1 (Language=Python/{sys.version_info.major}.{sys.version_info.minor})"
MAX_REPORT_BYTES = 256 * 1024 * 1024  # a gzip bomb stops here


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # requests per second
    burst: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Default usage plans of the models (feeds_2021-06-30, ordersV0, orders_2026-01-01; the
    "Usage Plan" table in each operation's description) per operation."""

    create_feed_document: Limit = Limit(0.5, 15)
    create_feed: Limit = Limit(0.0083, 15)
    get_feed: Limit = Limit(2.0, 15)
    get_feed_document: Limit = Limit(0.0222, 10)
    confirm_shipment: Limit = Limit(2.0, 10)
    get_order: Limit = Limit(0.5, 30)  # orders_2026-01-01 getOrder

    @classmethod
    def relaxed(cls, rate: float = 1000.0, burst: int = 1000) -> RateLimits:
        """Practically no client-side waiting: for simulators, tests and benchmarks."""
        limit = Limit(rate, burst)
        return cls(**{f.name: limit for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Feed:
    feed_id: str
    processing_status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    result_feed_document_id: str | None = None


def _sp_errors(response: httpx.Response) -> tuple[str | None, str]:
    """(first code, joined messages) from SP-API's `{"errors": [{code, message, details}]}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None, f"HTTP {response.status_code}"
    parts = []
    code = None
    for error in errors:
        if not isinstance(error, dict):
            continue
        code = code or (str(error["code"]) if error.get("code") else None)
        text = str(error.get("message") or "")
        if error.get("details"):
            text = f"{text} ({error['details']})" if text else str(error["details"])
        parts.append(text)
    return code, "; ".join(p for p in parts if p) or f"HTTP {response.status_code}"


def error_for(operation: str, response: httpx.Response) -> ConnectorError:
    """The branch of the error tree for a non-success SP-API answer."""
    status = response.status_code
    code, message = _sp_errors(response)
    return error_for_status(
        status,
        f"{operation}: {message}",
        code=code or ("QuotaExceeded" if status == 429 else None),
        request_id=response.headers.get("x-amzn-RequestId"),
        wait=retry_after(response.headers),
        auth_text=f"{operation}: Amazon refused access ({message}); check that the seller "
        "authorised the app and that it has the needed roles",
    )


def gunzip(data: bytes, *, limit: int = MAX_REPORT_BYTES) -> bytes:
    """Decompress a GZIP document; data that is not gzip (already decoded) passes unchanged."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as error:
        raise TransientError(f"feed document: broken GZIP data ({error})") from None
    if inflater.unconsumed_tail:
        raise TransientError(f"feed document: larger than {limit} bytes after decompression")
    return out


class SpApiClient:
    """Async SP-API client for one seller account (one LWA auth, one set of buckets)."""

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        account: str = "",
        limits: RateLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry_attempts: int = 5,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 30.0,
    ) -> None:
        self.limits = limits or RateLimits()
        self._buckets: dict[str, TokenBucket] = {}
        for each in fields(RateLimits):
            limit: Limit = getattr(self.limits, each.name)
            key = (base_url, account, each.name)  # Amazon meters each operation apart
            self._buckets[each.name] = account_bucket(key, limit.rate, limit.burst)
        self.calls = CallOptions(
            attempts=retry_attempts,
            base_delay=retry_base_delay,
            max_delay=retry_max_delay,
            timeout_seconds=timeout,
        )
        self._http = portal_client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ------------------------------------------------------------------------------

    async def _retrying(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        return await retried(attempt, self.calls, log_retries(log, f"amazon {operation}"))

    async def _send(self, operation: str, method: str, url: str, **kw: Any) -> httpx.Response:
        return await send(self._http, method, url, service=f"Amazon ({operation})", **kw)

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
    ) -> httpx.Response:
        async def attempt() -> httpx.Response:
            return await paced(
                self._http,
                self._buckets[operation],
                method,
                path,
                service=f"Amazon ({operation})",
                error=partial(error_for, operation),
                json=json,
                params=params,
            )

        return await self._retrying(operation, attempt)

    @staticmethod
    def _json(operation: str, response: httpx.Response) -> dict[str, Any]:
        return json_object(response, operation)

    # -- feeds ---------------------------------------------------------------------------------

    async def create_feed_document(self, content_type: str) -> tuple[str, str]:
        """(feedDocumentId, presigned upload url)."""
        op = "create_feed_document"
        response = await self._call(
            op, "POST", f"{FEEDS}/documents", json={"contentType": content_type}
        )
        body = self._json(op, response)
        try:
            return str(body["feedDocumentId"]), str(body["url"])
        except KeyError as missing:
            raise TransientError(f"{op}: answer lacks {missing}") from None

    async def upload_feed_document(self, url: str, content: bytes, content_type: str) -> None:
        """PUT to the presigned URL: no LWA token, exactly the declared Content-Type."""
        op = "upload_feed_document"

        async def attempt() -> None:
            response = await self._send(
                op, "PUT", url, content=content, headers={"Content-Type": content_type}, auth=None
            )
            if response.status_code >= 300:
                error = TransientError if response.status_code >= 500 else Rejected
                raise error(
                    f"{op}: storage answered HTTP {response.status_code}",
                    status=response.status_code,
                )

        await self._retrying(op, attempt)

    async def create_feed(
        self, feed_type: str, marketplace_ids: Sequence[str], document_id: str
    ) -> str:
        op = "create_feed"
        response = await self._call(
            op,
            "POST",
            f"{FEEDS}/feeds",
            json={
                "feedType": feed_type,
                "marketplaceIds": list(marketplace_ids),
                "inputFeedDocumentId": document_id,
            },
        )
        body = self._json(op, response)
        if "feedId" not in body:
            raise TransientError(f"{op}: answer lacks feedId")
        return str(body["feedId"])

    async def submit_feed(
        self,
        content: bytes,
        *,
        feed_type: str,
        marketplace_ids: Sequence[str],
        content_type: str,
    ) -> str:
        """createFeedDocument -> upload -> createFeed; returns the feed id."""
        document_id, url = await self.create_feed_document(content_type)
        await self.upload_feed_document(url, content, content_type)
        return await self.create_feed(feed_type, marketplace_ids, document_id)

    async def get_feed(self, feed_id: str) -> Feed:
        op = "get_feed"
        response = await self._call(op, "GET", f"{FEEDS}/feeds/{quote(feed_id, safe='')}")
        body = self._json(op, response)
        if "processingStatus" not in body:
            raise TransientError(f"{op}: answer lacks processingStatus")
        result = body.get("resultFeedDocumentId")
        return Feed(
            feed_id=str(body.get("feedId", feed_id)),
            processing_status=str(body["processingStatus"]),
            result_feed_document_id=str(result) if result else None,
        )

    async def get_feed_document(self, document_id: str) -> tuple[str, str | None]:
        """(download url, compressionAlgorithm or None)."""
        op = "get_feed_document"
        response = await self._call(op, "GET", f"{FEEDS}/documents/{quote(document_id, safe='')}")
        body = self._json(op, response)
        if "url" not in body:
            raise TransientError(f"{op}: answer lacks url")
        compression = body.get("compressionAlgorithm")
        return str(body["url"]), str(compression) if compression else None

    async def download_feed_document(self, url: str, compression: str | None) -> bytes:
        op = "download_feed_document"

        async def attempt() -> bytes:
            response = await self._send(op, "GET", url, auth=None)
            if response.status_code >= 300:
                raise TransientError(
                    f"{op}: storage answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            return response.content

        data = await self._retrying(op, attempt)
        if compression and compression.upper() == "GZIP":
            return gunzip(data)
        return data

    async def fetch_feed_document(self, document_id: str) -> bytes:
        """getFeedDocument, then download (and decompress) the document."""
        url, compression = await self.get_feed_document(document_id)
        return await self.download_feed_document(url, compression)

    # -- orders --------------------------------------------------------------------------------

    async def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None:
        """Orders v0 confirmShipment: 204 on success."""
        path = f"{ORDERS}/{quote(order_id, safe='')}/shipmentConfirmation"
        await self._call("confirm_shipment", "POST", path, json=body)

    async def get_order(self, order_id: str, included_data: Sequence[str]) -> dict[str, Any]:
        """Orders v2026-01-01 getOrder: the order with the `includedData` asked for."""
        op = "get_order"
        path = f"{ORDERS_2026}/{quote(order_id, safe='')}"
        # an array in the query, comma-separated (the model: style form, explode false)
        params = {"includedData": ",".join(included_data)}
        response = await self._call(op, "GET", path, params=params)
        return self._json(op, response)
