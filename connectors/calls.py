"""One HTTP exchange with a service, network trouble turned into the error tree.

Clients only do I/O: they send through `send`, turn a non-success answer into an error with
`connectors.errors.error_for_status`, and read JSON answers with `json_object`.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.errors import TransientError, error_for_status, retry_after


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


def plain_status_error(response: httpx.Response, service: str, auth_text: str) -> Exception:
    """The error for a service whose error answers carry nothing but the HTTP status."""
    status = response.status_code
    return error_for_status(
        status,
        f"{service} answered HTTP {status}",
        code=str(status),
        wait=retry_after(response.headers),
        auth_text=f"{auth_text} (HTTP {status})",
    )
