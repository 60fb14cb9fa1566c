"""Authentication of DHL Parcel DE Tracking: every call carries the app's key in the
`DHL-API-Key` header and Basic auth with key and secret (developer.dhl.com, "DHL Parcel DE
Tracking (Post & Parcel Germany)", User Guide: Authentication). The business-customer user
(`appname`, `password`) travels inside the request XML (mapping.py)."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr

API_KEY_HEADER = "DHL-API-Key"


class DhlTrackingAuth(httpx.Auth):
    def __init__(self, api_key: SecretStr, api_secret: SecretStr) -> None:
        self._key = api_key
        self._basic = httpx.BasicAuth(api_key.get_secret_value(), api_secret.get_secret_value())

    def __repr__(self) -> str:
        return "DhlTrackingAuth(api_key=***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[API_KEY_HEADER] = self._key.get_secret_value()
        yield from self._basic.auth_flow(request)
