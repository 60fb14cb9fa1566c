"""Rakuten credentials: the merchant key (Händler-Schlüssel) sent as parameter `key`.

The key is a bearer secret: kept in a SecretStr, sent only in POST bodies (never in a URL,
which HTTP libraries log), never in a repr, log line or error text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class RakutenCredentials:
    account: str  # liefern's name for the portal account (ParcelShipment.account)
    key: SecretStr = field(repr=False)
