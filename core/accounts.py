"""Per portal-account options: mail policy, whether and how the portal is confirmed.

They live in `accounts.toml` under LIEFERN_HOME (LIEFERN_ACCOUNTS_FILE elsewhere), because an
operator edits them like a table and they are no secrets. Credentials never go here: they come
from Prefect Secret blocks or environment variables (see connectors/credentials.py).

    [portals.amazon]            # defaults for every Amazon account
    mail = "suppress"

    [accounts.amazon-de]
    portal = "amazon"
    merchant_id = "A2EXAMPLE12345"
    marketplace = "DE"
    mode = "feed"               # or "confirm_shipment"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.domain import Portal

# Amazon asks sellers not to send their own shipping notifications: Amazon mails the buyer.
AMAZON_SUPPRESS_REASON = "Amazon sends the buyer its own shipping notification"


@dataclass(frozen=True)
class AccountOptions:
    portal: str
    account: str
    mail: str = "send"  # send | suppress
    suppress_reason: str = ""
    confirm: bool = True
    language: str | None = None  # overrides the order's language for mails
    mode: str = ""  # amazon: feed | confirm_shipment
    base_url: str | None = None  # the portal's API (simulators in the demo and tests)
    extra: dict[str, str] = field(default_factory=dict)  # merchant_id, marketplace, ...

    @property
    def sends_mail(self) -> bool:
        return self.mail == "send"


PORTAL_DEFAULTS: dict[str, AccountOptions] = {
    Portal.AMAZON: AccountOptions(
        "amazon", "", mail="suppress", suppress_reason=AMAZON_SUPPRESS_REASON, mode="feed"
    ),
    Portal.EBAY: AccountOptions("ebay", ""),
    # DreamRobot's "gesendet setzen": Kaufland is only told when the seller wants it
    Portal.KAUFLAND: AccountOptions("kaufland", ""),
    Portal.HOOD: AccountOptions("hood", ""),
    # the Rakuten.de marketplace closed in October 2020: off unless switched on
    Portal.RAKUTEN: AccountOptions("rakuten", "", confirm=False),
    Portal.SHOP: AccountOptions("shop", "", confirm=False),
}
_KNOWN_KEYS = {"portal", "mail", "suppress_reason", "confirm", "language", "mode", "base_url"}


class Accounts:
    def __init__(self, portals: dict[str, dict[str, Any]], accounts: dict[str, dict[str, Any]]):
        self._portals = portals
        self._accounts = accounts

    @classmethod
    def load(cls, path: Path) -> Accounts:
        if not path.exists():
            return cls({}, {})
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(data.get("portals", {}), data.get("accounts", {}))

    def options(self, portal: str, account: str) -> AccountOptions:
        base = replace(PORTAL_DEFAULTS.get(portal, AccountOptions(portal, "")), account=account)
        for layer in (self._portals.get(portal, {}), self._accounts.get(account, {})):
            if layer.get("portal", portal) != portal:
                continue
            known = {k: v for k, v in layer.items() if k in _KNOWN_KEYS and k != "portal"}
            extra = {**base.extra, **{k: str(v) for k, v in layer.items() if k not in _KNOWN_KEYS}}
            base = replace(base, **known, extra=extra)
        if base.mail == "suppress" and not base.suppress_reason:
            base = replace(base, suppress_reason="mails are switched off for this account")
        return base

    def configured(self) -> list[AccountOptions]:
        return [self.options(str(v.get("portal", "")), k) for k, v in self._accounts.items()]
