"""Signed buyer links: the token in `/arrived/{token}` names one order and nothing else.

An HMAC signature over the order id (itsdangerous, salted per purpose) makes tokens neither
guessable nor enumerable, and a token for one order cannot be turned into one for another.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "liefern.arrived.v1"


def arrival_token(secret: str, order_id: int) -> str:
    return str(URLSafeSerializer(secret, salt=_SALT).dumps(order_id))


def order_from_token(secret: str, token: str) -> int | None:
    """The order id a token names, or None for anything forged, tampered or malformed."""
    if len(token) > 200:
        return None
    try:
        value = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def arrival_url(public_url: str, secret: str, order_id: int) -> str:
    return f"{public_url.rstrip('/')}/arrived/{arrival_token(secret, order_id)}"
