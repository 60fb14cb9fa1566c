"""Kaufland request signing: every request carries an HMAC over exactly what is sent.

Scheme (Kaufland Seller API docs, page "rest-api", and their PHP `signRequest` example):

    Shop-Client-Key   the account's client key (32 characters)
    Shop-Timestamp    current Unix time in seconds
    Shop-Signature    hex( HMAC-SHA256( secret_key,
                            METHOD + "\\n" + full URI incl. scheme, host and query
                            + "\\n" + body + "\\n" + timestamp ) )
    User-Agent        the name of the calling product
    Accept            application/json

The body is the exact byte string on the wire (empty for GET), so signing happens in an
`httpx.Auth` after httpx has encoded the request. The secret key never leaves this module.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

from connectors.kaufland.mapping import USER_AGENT


def sign(secret_key: bytes, method: str, uri: str, body: bytes, timestamp: int) -> str:
    """Hex HMAC-SHA256 over METHOD, URI, body and timestamp joined by newlines."""
    message = b"\n".join([method.upper().encode(), uri.encode(), body, str(timestamp).encode()])
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


class KauflandAuth(httpx.Auth):
    requires_request_body = True

    def __init__(
        self,
        client_key: str,
        secret_key: SecretStr,
        *,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_key = client_key
        self._secret_key = secret_key
        self.user_agent = user_agent
        self._clock = clock

    def __repr__(self) -> str:
        return f"KauflandAuth(client_key={self.client_key[:6]!r}…)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = int(self._clock())
        signature = sign(
            self._secret_key.get_secret_value().encode(),
            request.method,
            str(request.url),
            request.content,
            timestamp,
        )
        request.headers["Shop-Client-Key"] = self.client_key
        request.headers["Shop-Timestamp"] = str(timestamp)
        request.headers["Shop-Signature"] = signature
        request.headers["User-Agent"] = self.user_agent
        request.headers["Accept"] = "application/json"
        yield request
