"""Who may use the operator pages and the upload API, and how that is checked.

Both secrets are compared in constant time. Outside demo mode an unset secret does not mean
"open to all": the pages answer 503 and say which variable to set. In demo mode a missing
secret is generated at start and printed by `liefern serve` (nothing is ever logged).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, status
from pydantic import SecretStr

from core.settings import Settings

BASIC_CHALLENGE = 'Basic realm="liefern operator", charset="UTF-8"'
BEARER_CHALLENGE = 'Bearer realm="liefern api"'


@dataclass(frozen=True)
class WebCredentials:
    operator_user: str
    operator_password: SecretStr | None
    api_token: SecretStr | None
    generated: tuple[str, ...] = ()  # demo mode: made up at start, shown once to the operator

    def __repr__(self) -> str:  # never show the secrets, not even as SecretStr('**')
        return f"WebCredentials(operator_user={self.operator_user!r}, generated={self.generated})"


def resolve_credentials(settings: Settings) -> WebCredentials:
    """The configured secrets; in demo mode, fresh random ones for those left unset."""
    password, token = settings.operator_password, settings.api_token
    generated: list[str] = []
    if settings.demo:
        if password is None:
            password = SecretStr(secrets.token_urlsafe(12))
            generated.append("operator_password")
        if token is None:
            token = SecretStr(secrets.token_urlsafe(24))
            generated.append("api_token")
    return WebCredentials(settings.operator_user, password, token, tuple(generated))


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_operator(credentials: WebCredentials, authorization: str | None) -> str:
    """The operator's user name, or an HTTP error (401 with a Basic challenge, 503 unset)."""
    if credentials.operator_password is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The operator pages are switched off: set LIEFERN_OPERATOR_PASSWORD "
            "(and LIEFERN_OPERATOR_USER, default 'operator') and restart.",
        )
    user, password = _basic(authorization)
    if not password:  # never a login, whatever was configured
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Login required.",
            headers={"WWW-Authenticate": BASIC_CHALLENGE},
        )
    user_ok = _same(user, credentials.operator_user)
    password_ok = _same(password, credentials.operator_password.get_secret_value())
    if not (user_ok and password_ok):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Login required.",
            headers={"WWW-Authenticate": BASIC_CHALLENGE},
        )
    return user


def check_api_token(credentials: WebCredentials, authorization: str | None) -> None:
    if credentials.api_token is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The upload API is switched off: set LIEFERN_API_TOKEN and restart.",
        )
    scheme, _, token = (authorization or "").partition(" ")
    valid = (
        scheme.lower() == "bearer"
        and bool(token.strip())
        and _same(token.strip(), credentials.api_token.get_secret_value())
    )
    if not valid:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "A valid API token is required: Authorization: Bearer <LIEFERN_API_TOKEN>.",
            headers={"WWW-Authenticate": BEARER_CHALLENGE},
        )


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password
