"""eBay OAuth: the seller's long-lived refresh token traded for ~2 h access tokens.

`EbayAuth` is an `httpx.Auth`: it adds `Authorization: Bearer …` to every API request, refreshes
the token shortly before it expires (one refresh at a time, behind an asyncio lock) and once
more when eBay answers 401. When eBay refuses the refresh token itself (`invalid_grant`: the
seller revoked access, changed the password or the token ran out after 18 months) nothing can
be sent until the seller grants access again, so that becomes an AuthError the operator sees.
Secrets never appear in reprs, logs or error texts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.ebay.mapping import API_BASE, FULFILLMENT_SCOPE, TOKEN_PATH
from connectors.errors import AuthError, RateLimited, TransientError, retry_after
from connectors.http import portal_client

DEFAULT_TOKEN_URL = API_BASE + TOKEN_PATH


class EbayAuth(httpx.Auth):
    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        token_url: str = DEFAULT_TOKEN_URL,
        *,
        scopes: Sequence[str] = (FULFILLMENT_SCOPE,),
        account: str = "",
        margin_seconds: float = 300.0,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.token_url = token_url
        self.scopes = tuple(scopes)
        self.account = account
        self.margin_seconds = margin_seconds
        self._clock = clock
        self._http = portal_client(timeout=timeout_seconds, transport=transport)
        self._lock = asyncio.Lock()
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._refused: AuthError | None = None
        self.refresh_count = 0  # how often a token was fetched (protocol, tests)

    def __repr__(self) -> str:
        return f"EbayAuth(client_id={self.client_id!r}, account={self.account!r})"

    async def access_token(self) -> str:
        """A valid access token, fetched when none is cached or it is about to expire."""
        async with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._token is None or self._clock() >= self._expires_at:
                await self._refresh()
            assert self._token is not None
            return self._token.get_secret_value()

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (eBay answered 401); `token` guards against a newer one."""
        if self._token is not None and (token is None or self._token.get_secret_value() == token):
            self._token = None

    async def _refresh(self) -> None:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token.get_secret_value(),
            "scope": " ".join(self.scopes),
        }
        try:
            response = await self._http.post(
                self.token_url,
                data=data,
                auth=httpx.BasicAuth(self.client_id, self._client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise TransientError("eBay's token endpoint did not answer in time") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"eBay's token endpoint is unreachable ({exc.__class__.__name__})"
            ) from exc
        if response.status_code == 429:
            raise RateLimited(
                "eBay throttled the token request",
                retry_after=retry_after(response.headers),
                status=429,
            )
        if response.status_code >= 500:
            raise TransientError(
                f"eBay's token endpoint failed with HTTP {response.status_code}",
                status=response.status_code,
            )
        body = self._json(response)
        if response.status_code >= 400:
            self._refused = self._refusal(response.status_code, body)
            raise self._refused
        token = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise TransientError("eBay's token answer has no access_token/expires_in")
        margin = min(self.margin_seconds, float(expires_in) / 2)
        self._token = SecretStr(token)
        self._expires_at = self._clock() + float(expires_in) - margin
        self.refresh_count += 1

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _refusal(self, status: int, body: dict[str, Any]) -> AuthError:
        error = str(body.get("error") or f"http-{status}")
        description = str(body.get("error_description") or "").strip()
        who = f" for account {self.account!r}" if self.account else ""
        said = f" eBay says: {description}." if description else ""
        if error == "invalid_grant":
            message = (
                f"eBay refused the refresh token{who} (invalid_grant).{said} The seller must "
                "grant access again (re-consent in eBay, then store the new refresh token); "
                "until then eBay confirmations stay pending."
            )
        elif error == "invalid_client":
            message = (
                f"eBay refused the application credentials{who} (invalid_client).{said} "
                "Check the client id and client secret; eBay confirmations stay pending."
            )
        elif error == "invalid_scope":
            message = (
                f"eBay refused the scope sell.fulfillment{who} (invalid_scope).{said} The "
                "seller must grant access including sell.fulfillment; confirmations stay pending."
            )
        else:
            message = f"eBay refused the token request{who} ({error}).{said}"
        return AuthError(message, code=error, status=status)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # revoked or expired early: one fresh token, one more try
            self.invalidate(token)
            token = await self.access_token()
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("EbayAuth works with async clients only")
        yield request  # pragma: no cover - makes this a generator

    async def aclose(self) -> None:
        await self._http.aclose()
