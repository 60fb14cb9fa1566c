"""Rakuten credentials: the merchant key (Händler-Schlüssel) sent as parameter `key`.

The key is a bearer secret: kept in a SecretStr, sent only in POST bodies (never in a URL,
which HTTP libraries log), never in a repr, log line or error text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

ENV_PREFIX = "LIEFERN_RAKUTEN_"


@dataclass(frozen=True, slots=True)
class RakutenCredentials:
    account: str  # liefern's name for the portal account (ParcelShipment.account)
    key: SecretStr = field(repr=False)

    @classmethod
    def from_env(cls, account: str, environ: Mapping[str, str] | None = None) -> RakutenCredentials:
        """Read `LIEFERN_RAKUTEN_<ACCOUNT>_KEY`."""
        env = os.environ if environ is None else environ
        name = f"{ENV_PREFIX}{account.upper().replace('-', '_')}_KEY"
        if name not in env:
            raise LookupError(f"Rakuten key of account {account!r}: {name} unset")
        return cls(account=account, key=SecretStr(env[name]))
