"""OTTO Market OAuth2: client credentials traded for short-lived bearer tokens.

`OttoAuth` is an `httpx.Auth`: it fetches a token at `POST /v1/token` (form-encoded,
`grant_type=client_credentials`, the API user's client id and secret, the scope), keeps it
until shortly before `expires_in` runs out (one fetch at a time, behind an asyncio lock) and
fetches a fresh one once when OTTO answers 401. A refused client (HTTP 400/401 from the token
endpoint, RFC 6749 `error` codes) is an AuthError the operator sees; nothing is sent then.
Secrets never appear in reprs, logs or error texts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.calls import json_or_none, send
from connectors.errors import (
    AuthError,
    ConnectorError,
    TransientError,
    error_for_status,
    retry_after,
)
from connectors.http import portal_client
from connectors.otto.mapping import API_BASE, SHIPMENTS_SCOPE, TOKEN_PATH


class OttoAuth(httpx.Auth):
    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        *,
        token_url: str = API_BASE + TOKEN_PATH,
        scope: str = SHIPMENTS_SCOPE,
        account: str = "",
        margin_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.scope = scope
        self.account = account
        self.margin_seconds = margin_seconds
        self._clock = clock
        self._http = portal_client(timeout=timeout_seconds, transport=transport)
        self._lock = asyncio.Lock()
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._refused: AuthError | None = None
        self.fetch_count = 0  # how often a token was fetched (protocol, tests)

    def __repr__(self) -> str:
        return f"OttoAuth(client_id={self.client_id!r}, account={self.account!r})"

    async def token(self) -> str:
        async with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._token is None or self._clock() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    def forget(self, token: str) -> None:
        """OTTO answered 401 with `token`: the next call fetches a fresh one."""
        if self._token is not None and self._token.get_secret_value() == token:
            self._token = None

    async def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "scope": self.scope,
        }
        response = await send(
            self._http,
            "POST",
            self.token_url,
            service="OTTO's token endpoint",
            data=form,
            headers={"Accept": "application/json"},
        )
        body = json_or_none(response)
        if response.status_code in (400, 401, 403):
            self._refused = self._refusal(response.status_code, body)
            raise self._refused
        if not response.is_success:
            raise self._failure(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise TransientError("OTTO's token answer has no access_token/expires_in")
        margin = min(self.margin_seconds, float(expires_in) / 2)
        self._token = SecretStr(token)
        self._expires_at = self._clock() + float(expires_in) - margin
        self.fetch_count += 1

    @staticmethod
    def _failure(response: httpx.Response) -> ConnectorError:
        status = response.status_code
        return error_for_status(
            status,
            f"OTTO's token endpoint answered HTTP {status}",
            code=f"http-{status}",
            wait=retry_after(response.headers),
        )

    def _refusal(self, status: int, body: Any) -> AuthError:
        error = str(body.get("error") or f"http-{status}") if isinstance(body, dict) else ""
        error = error or f"http-{status}"
        said = body.get("error_description") if isinstance(body, dict) else None
        who = f" of account {self.account!r}" if self.account else ""
        message = (
            f"OTTO refused the API user{who} ({error}{': ' + str(said) if said else ''}). "
            f"Check client_id and client_secret and that the API user has the scope "
            f"{self.scope!r} in OTTO Partner Connect; OTTO confirmations stay pending."
        )
        return AuthError(message, code=error, status=status)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # expired early or revoked: one fresh token, once
            self.forget(token)
            request.headers["Authorization"] = f"Bearer {await self.token()}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OttoAuth works with async clients only")
        yield request  # pragma: no cover - makes this a generator

    async def aclose(self) -> None:
        await self._http.aclose()
