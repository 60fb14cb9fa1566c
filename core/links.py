"""Signed buyer links: the token in `/arrived/{token}` names one order and nothing else.

An HMAC signature over the order id (itsdangerous, salted per purpose) makes tokens neither
guessable nor enumerable, and a token for one order cannot be turned into one for another.
"""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "liefern.arrived.v1"


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeSerializer:
    # building one derives its key each time: a mail run makes one link per order
    return URLSafeSerializer(secret, salt=_SALT)


def arrival_token(secret: str, order_id: int) -> str:
    return str(_serializer(secret).dumps(order_id))


def order_from_token(secret: str, token: str) -> int | None:
    """The order id a token names, or None for anything forged, tampered or malformed."""
    if len(token) > 200:
        return None
    try:
        value = _serializer(secret).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def arrival_url(public_url: str, secret: str, order_id: int) -> str:
    return f"{public_url.rstrip('/')}/arrived/{arrival_token(secret, order_id)}"
