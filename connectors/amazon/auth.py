"""Login with Amazon (LWA): trade the seller's refresh token for short-lived access tokens.

The SP-API wants the access token in the `x-amz-access-token` header (no AWS SigV4 since
2023). LWA tokens live about an hour; we keep one per account and fetch a new one a minute
before it runs out, once, however many requests are waiting for it. A refresh token that LWA
refuses means the seller revoked or never granted the app: only the operator can fix that,
so it raises AuthError instead of being retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator

import httpx
from pydantic import SecretStr

from connectors.errors import AuthError, TransientError

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret
ACCESS_TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 - a header name


class LwaAuth(httpx.Auth):
    """`httpx.Auth` that signs SP-API requests with a cached LWA access token.

    The token request itself goes through the same client (and transport) as the SP-API call.
    On a 401/403 with a cached token the token is renewed once and the request repeated, so a
    token revoked early by Amazon costs one retry, not a failed batch."""

    requires_request_body = True  # a request may be sent twice (after a token renewal)

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        token_url: str = LWA_TOKEN_URL,
        *,
        safety_margin_seconds: float = 60.0,
        account: str = "",
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.token_url = token_url
        self.safety_margin_seconds = safety_margin_seconds
        self.account = account
        self._access_token: str | None = None
        self._expires_at = 0.0  # time.monotonic() deadline, margin already taken off
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.refresh_count = 0  # how often a token was fetched (tests, metrics)

    def __repr__(self) -> str:
        return f"LwaAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    # -- token cache ---------------------------------------------------------------------------

    def _valid_token(self) -> str | None:
        if self._access_token and time.monotonic() < self._expires_at:
            return self._access_token
        return None

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._access_token = None
        self._expires_at = 0.0

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token.get_secret_value(),
                "client_id": self.client_id,
                "client_secret": self._client_secret.get_secret_value(),
            },
            headers={"Accept": "application/json"},
        )

    def _store(self, response: httpx.Response) -> str:
        """Keep the token from a 200 answer, or raise what the answer means."""
        who = f" for account {self.account!r}" if self.account else ""
        if response.status_code >= 500:
            raise TransientError(
                f"Login with Amazon answered HTTP {response.status_code}{who}",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200:
            error = str(body.get("error") or f"HTTP {response.status_code}")
            description = str(body.get("error_description") or "")
            if error in ("invalid_grant", "unauthorized_client") or response.status_code == 400:
                hint = (
                    "the refresh token was refused: re-authorise the app in Seller Central "
                    "(Apps and Services > Manage Your Apps) and store the new refresh token"
                )
            else:
                hint = (
                    "the app's LWA client id/secret were refused: check the app credentials "
                    "(rotated client secret?) or re-authorise the app in Seller Central"
                )
            text = f"Login with Amazon{who}: {hint}"
            if description:
                text += f" (Amazon: {description})"
            raise AuthError(text, code=error, status=response.status_code)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TransientError(f"Login with Amazon answered without an access token{who}")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._access_token = token
        self._expires_at = time.monotonic() + max(0.0, lifetime - self.safety_margin_seconds)
        self.refresh_count += 1
        return token

    # -- httpx.Auth ----------------------------------------------------------------------------

    def _get_lock(self) -> asyncio.Lock:
        # One lock per event loop: a connector may outlive the loop it was first used on.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("LwaAuth works with async clients only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid_token()
        fresh = False
        if token is None:
            async with self._get_lock():  # parallel requests wait here and share one refresh
                token = self._valid_token()
                if token is None:
                    token_response = yield self._token_request()
                    await token_response.aread()
                    token = self._store(token_response)
                    fresh = True
        request.headers[ACCESS_TOKEN_HEADER] = token
        response = yield request
        if response.status_code not in (401, 403) or fresh:
            return
        # Amazon may end a token before its time: renew once (unless someone already did).
        async with self._get_lock():
            current = self._valid_token()
            if current is None or current == token:
                token_response = yield self._token_request()
                await token_response.aread()
                current = self._store(token_response)
        request.headers[ACCESS_TOKEN_HEADER] = current
        yield request
