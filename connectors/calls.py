"""One HTTP exchange with a service, network trouble turned into the error tree.

Clients only do I/O: they send through `send`, turn a non-success answer into an error with
`connectors.errors.error_for_status`, and read JSON answers with `json_object`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connectors.errors import TransientError, error_for_status, retry_after
from connectors.ratelimit import TokenBucket

EventHooks = Mapping[str, list[Any]]  # httpx-style request/response hooks (tests, benchmarks)


def _where(url: str | httpx.URL) -> str:
    # never the query string: some services take keys there
    target = httpx.URL(str(url))
    return f"{target.scheme}://{target.host}{target.path}" if target.host else target.path


async def send(
    http: httpx.AsyncClient, method: str, url: str, *, service: str, **kwargs: Any
) -> httpx.Response:
    """The answer, whatever its status; a timeout or a network error is a TransientError.

    The exception texts of httpx are left out (`from None`): they may quote request bodies."""
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise TransientError(f"{service} did not answer {method} {_where(url)} in time") from None
    except httpx.TransportError as error:
        raise TransientError(
            f"{service} is unreachable ({type(error).__name__}) for {method} {_where(url)}"
        ) from None


async def paced(
    http: httpx.AsyncClient,
    bucket: TokenBucket,
    method: str,
    url: str,
    *,
    service: str,
    error: Callable[[httpx.Response], Exception],
    **kwargs: Any,
) -> httpx.Response:
    """Wait for the account's bucket, send, and return a success answer; anything else raises
    `error(answer)`. A 429 slows the bucket down by the wait it asks for, or by one call's
    share of the rate when it names none: every other call of the account waits too."""
    await bucket.acquire()
    response = await send(http, method, url, service=service, **kwargs)
    if response.is_success:
        return response
    if response.status_code == 429:
        bucket.penalise(retry_after(response.headers) or 1 / bucket.rate)
    raise error(response)


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; anything else is a malformed (transient) answer."""
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{what}: the answer is no JSON") from None
    if not isinstance(body, dict):
        raise TransientError(f"{what}: the answer is no JSON object")
    return body


def json_or_none(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it has none (error bodies are often HTML or empty)."""
    try:
        return response.json()
    except ValueError:
        return None


def plain_status_errors(service: str, auth_text: str) -> Callable[[httpx.Response], Exception]:
    """The errors of a service whose error answers carry nothing but the HTTP status."""

    def error(response: httpx.Response) -> Exception:
        status = response.status_code
        return error_for_status(
            status,
            f"{service} answered HTTP {status}",
            code=str(status),
            wait=retry_after(response.headers),
            auth_text=f"{auth_text} (HTTP {status})",
        )

    return error


class PacedJsonClient:
    """The I/O half every JSON portal client shares: one HTTP client, one token bucket, every
    answer that is not a success turned into an error by the vendor's `_error`."""

    service = ""

    def __init__(self, http: httpx.AsyncClient, bucket: TokenBucket) -> None:
        self._http = http
        self.bucket = bucket

    async def _send(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await paced(
            self._http,
            self.bucket,
            method,
            path,
            service=self.service,
            error=self._error,
            json=json,
        )

    def _error(self, response: httpx.Response) -> Exception:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._http.aclose()
