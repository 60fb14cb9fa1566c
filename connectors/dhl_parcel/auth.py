"""Authentication for DHL Parcel DE: the API key header plus Basic or an OAuth2 Bearer token.

DHL's spec declares three schemes; in practice every call carries the app's API key
(`dhl-api-key`) together with the business-portal (GKP) user, either as HTTP Basic or as a
Bearer token from the password grant at `/parcel/de/account/auth/ropc/v1/token`
(client_id = API key, client_secret, username, password).

The token is fetched through the same client and transport as the API calls (so tests and
proxies see one path), cached until shortly before it expires, and fetched anew once when
DHL answers 401 to a cached token (revoked early). Secrets are `SecretStr` and never appear in
reprs, logs or exception texts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from connectors.credentials import optional_secret, secret
from connectors.dhl_parcel.mapping import API_KEY_HEADER, TOKEN_PATH
from connectors.errors import AuthError, RateLimited, TransientError

TOKEN_MARGIN_SECONDS = 60.0  # renew this long before DHL's expiry (clock skew, slow calls)


def _secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


class DhlBasicAuth(httpx.Auth):
    """API key header plus HTTP Basic with the business-portal user."""

    def __init__(self, api_key: str | SecretStr, username: str, password: str | SecretStr) -> None:
        self._api_key = _secret(api_key)
        self.username = username
        self._password = _secret(password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[API_KEY_HEADER] = self._api_key.get_secret_value()
        basic = httpx.BasicAuth(self.username, self._password.get_secret_value())
        yield from basic.auth_flow(request)

    def __repr__(self) -> str:
        return f"DhlBasicAuth(username={self.username!r})"


@dataclass(frozen=True, slots=True)
class _Token:
    value: SecretStr
    renew_at: float  # monotonic clock


class DhlPasswordGrantAuth(httpx.Auth):
    """API key header plus a Bearer token from DHL's OAuth2 password grant (cached)."""

    requires_response_body = True

    def __init__(
        self,
        api_key: str | SecretStr,
        client_secret: str | SecretStr,
        username: str,
        password: str | SecretStr,
        *,
        token_url: str | None = None,
        margin_seconds: float = TOKEN_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_key = _secret(api_key)
        self._client_secret = _secret(client_secret)
        self.username = username
        self._password = _secret(password)
        self.token_url = token_url  # None: same host as the API call, DHL's fixed token path
        self.margin_seconds = margin_seconds
        self._clock = clock
        self._token: _Token | None = None
        self._sync_lock = threading.Lock()
        self._async_lock = asyncio.Lock()
        self.tokens_fetched = 0  # how often a token was requested (operators' metrics, tests)

    def __repr__(self) -> str:
        return f"DhlPasswordGrantAuth(username={self.username!r})"

    # -- token handling --------------------------------------------------------------------------

    def _fresh_token(self) -> str | None:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token.value.get_secret_value()
        return None

    def _token_request(self, api_request: httpx.Request) -> httpx.Request:
        url = self.token_url or str(api_request.url.copy_with(path=TOKEN_PATH, query=None))
        form = {
            "grant_type": "password",
            "username": self.username,
            "password": self._password.get_secret_value(),
            "client_id": self._api_key.get_secret_value(),
            "client_secret": self._client_secret.get_secret_value(),
        }
        return httpx.Request("POST", url, data=form, headers={"Accept": "application/json"})

    def _store_token(self, response: httpx.Response) -> str:
        """Keep the token from a token answer, or raise the matching connector error."""
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"DHL refused the OAuth password grant for user {self.username!r}",
                code=_oauth_error(response),
                status=response.status_code,
            )
        if response.status_code == 429:
            raise RateLimited("DHL token endpoint throttled", status=429)
        if response.status_code != 200:
            raise TransientError(
                f"DHL token endpoint answered HTTP {response.status_code}",
                status=response.status_code,
            )
        try:
            payload = response.json()
            value = str(payload["access_token"])
            lifetime = float(payload.get("expires_in", 0) or 0)
        except (ValueError, KeyError, TypeError) as error:
            raise TransientError("DHL token endpoint answered without a token") from error
        margin = min(self.margin_seconds, lifetime / 2)
        self._token = _Token(SecretStr(value), self._clock() + lifetime - margin)
        self.tokens_fetched += 1
        return value

    def _sign(self, request: httpx.Request, token: str) -> httpx.Request:
        request.headers[API_KEY_HEADER] = self._api_key.get_secret_value()
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def _forget(self, token: str) -> None:
        current = self._token
        if current is not None and current.value.get_secret_value() == token:
            self._token = None

    # -- httpx flows -----------------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        for attempt in range(2):
            with self._sync_lock:
                token = self._fresh_token()
                if token is None:
                    token_response = yield self._token_request(request)
                    token_response.read()
                    token = self._store_token(token_response)
            response = yield self._sign(request, token)
            if response.status_code != 401 or attempt == 1:
                return
            response.read()
            self._forget(token)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(2):
            async with self._async_lock:
                token = self._fresh_token()
                if token is None:
                    token_response = yield self._token_request(request)
                    await token_response.aread()
                    token = self._store_token(token_response)
            response = yield self._sign(request, token)
            if response.status_code != 401 or attempt == 1:
                return
            await response.aread()
            self._forget(token)


def _oauth_error(response: httpx.Response) -> str | None:
    """The RFC 6749 `error` code (e.g. invalid_grant); never echoes the request."""
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, Mapping) else None
    return str(error) if error else None


def auth_for(account: str = "") -> httpx.Auth:
    """The credentials of the DHL account (connectors/credentials.py; account "" is the
    carrier's one account: `LIEFERN_DHL_API_KEY`, `_USERNAME`, `_PASSWORD`). A
    `client_secret` selects the OAuth password grant; without it, Basic."""
    api_key = secret("dhl", account, "api_key")
    username = secret("dhl", account, "username").get_secret_value()
    password = secret("dhl", account, "password")
    client_secret = optional_secret("dhl", account, "client_secret")
    if client_secret is not None:
        return DhlPasswordGrantAuth(api_key, client_secret, username, password)
    return DhlBasicAuth(api_key, username, password)
