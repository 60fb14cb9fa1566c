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
    confirm_after = "mail_settled"  # or "mail_sent", "always" (core/confirmation_gate.py)

    [portals.ebay]
    retention_days = 90         # buyer data anonymised 90 days after delivery (flows/retention.py)
    delay_mail = true           # tell the buyer when a parcel is late (tasks/delay_mails.py)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.domain import Portal
from core.setup_error import SetupError

# Amazon asks sellers not to send their own shipping notifications: Amazon mails the buyer.
AMAZON_SUPPRESS_REASON = "Amazon sends the buyer its own shipping notification"
# Kaufland (like OTTO) mails the buyer itself once a unit is marked sent. The Seller API spec
# (../shared/specs/kaufland, `SendOrderUnit` "Mark an order unit as sent") links its carrier
# codes to the order-files page of https://sellerapi.kaufland.com, which says of
# MARK_UNIT_SENT: "This starts a background process which sends an email to the customer";
# the OpenAPI file itself does not mention the mail. A mail of ours would be the buyer's second.
KAUFLAND_SUPPRESS_REASON = (
    "Kaufland mails the buyer itself when the unit is marked sent; "
    'mail = "send" in accounts.toml sends ours too'
)
# OTTO Market sends the buyer the shipping confirmation itself and its partners must not send
# one of their own (OTTO's terms of use, annex 9 section 10, as summarised for partners in
# https://dudes-partner.com/kundenkommunikation-auf-dem-otto-marktplatz; details and further
# sources in connectors/otto/README.md). A mail of ours would be the buyer's second.
OTTO_SUPPRESS_REASON = (
    "OTTO mails the buyer itself when the shipment is reported; "
    'mail = "send" in accounts.toml sends ours too'
)

# Amazon's Data Protection Policy (Amazon Services API, section "Data Retention and Recovery",
# referred to by https://developer-docs.amazon.com/sp-api/docs/security-compliance-overview):
# PII is kept only as long as needed to fulfil orders, "no longer than 30 days" (the current
# text counts from order delivery; an older one, quoted on epiusers.help/t/71496, from order
# shipment). A longer period for an Amazon account is refused.
AMAZON_RETENTION_DAYS = 30

# When a portal is told relative to the shipping mail (core/confirmation_gate.py):
# "mail_sent" only after our mail went out, "mail_settled" after it went out or was suppressed
# by policy, "always" whatever became of the mail.
CONFIRM_AFTER_CHOICES = ("mail_sent", "mail_settled", "always")


class AccountsError(SetupError, ValueError):
    """accounts.toml holds a value liefern cannot use; the message names the table and key.

    A set-up error: every command ends with that one line instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "fix it in accounts.toml (LIEFERN_ACCOUNTS_FILE) and run again")


@dataclass(frozen=True)
class AccountOptions:
    portal: str
    account: str
    mail: str = "send"  # send | suppress
    suppress_reason: str = ""
    confirm: bool = True
    # the original rule (real.de: "only when the Ware-unterwegs mail is sent"), where a mail
    # suppressed by policy counts as done: a bounced mail holds the portal's confirmation
    confirm_after: str = "mail_settled"
    language: str | None = None  # overrides the order's language for mails
    mode: str = ""  # amazon: feed | confirm_shipment
    base_url: str | None = None  # the portal's API (simulators in the demo and tests)
    extra: dict[str, str] = field(default_factory=dict)  # merchant_id, marketplace, ...
    # days after delivery until the buyer's data are anonymised; None: kept (flows/retention.py)
    retention_days: int | None = None
    # a mail to the buyer when a parcel is late (tasks/delay_mails.py); off unless switched on,
    # and never where the mail policy suppresses our mails (Amazon, Kaufland, OTTO by default)
    delay_mail: bool = False

    @property
    def sends_mail(self) -> bool:
        return self.mail == "send"

    @property
    def sends_delay_mail(self) -> bool:
        return self.delay_mail and self.sends_mail


PORTAL_DEFAULTS: dict[str, AccountOptions] = {
    Portal.AMAZON: AccountOptions(
        "amazon",
        "",
        mail="suppress",
        suppress_reason=AMAZON_SUPPRESS_REASON,
        mode="feed",
        retention_days=AMAZON_RETENTION_DAYS,
    ),
    Portal.EBAY: AccountOptions("ebay", ""),
    # DreamRobot's "gesendet setzen": Kaufland is only told when the seller wants it
    Portal.KAUFLAND: AccountOptions(
        "kaufland", "", mail="suppress", suppress_reason=KAUFLAND_SUPPRESS_REASON
    ),
    Portal.HOOD: AccountOptions("hood", ""),
    # the Rakuten.de marketplace closed in October 2020: off unless switched on
    Portal.RAKUTEN: AccountOptions("rakuten", "", confirm=False),
    Portal.OTTO: AccountOptions("otto", "", mail="suppress", suppress_reason=OTTO_SUPPRESS_REASON),
    Portal.SHOP: AccountOptions("shop", "", confirm=False),
}
_KNOWN_KEYS = {
    "portal",
    "mail",
    "suppress_reason",
    "confirm",
    "confirm_after",
    "language",
    "mode",
    "base_url",
    "retention_days",
    "delay_mail",
}
_CHOICES = {"mail": ("send", "suppress"), "confirm_after": CONFIRM_AFTER_CHOICES}


class Accounts:
    def __init__(self, portals: dict[str, dict[str, Any]], accounts: dict[str, dict[str, Any]]):
        self._portals = portals
        self._accounts = accounts

    @classmethod
    def load(cls, path: Path) -> Accounts:
        if not path.exists():
            return cls({}, {})
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise AccountsError(f"{path} is not valid TOML: {error}") from None
        portals, accounts = data.get("portals", {}), data.get("accounts", {})
        for kind, tables in (("portals", portals), ("accounts", accounts)):
            for name, table in tables.items():
                _check_choices(f"{path.name} [{kind}.{name}]", table)
                portal = name if kind == "portals" else str(table.get("portal", ""))
                _check_retention(f"{path.name} [{kind}.{name}]", table, portal)
                _check_switch(f"{path.name} [{kind}.{name}]", table, "delay_mail")
        return cls(portals, accounts)

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


def _check_choices(where: str, table: dict[str, Any]) -> None:
    """Refuse a misspelt choice at load: a run must not guess what `mail_send` meant."""
    for key, choices in _CHOICES.items():
        if key in table and table[key] not in choices:
            raise AccountsError(
                f"{where}: {key} = {table[key]!r} is not one of "
                + ", ".join(f'"{c}"' for c in choices)
            )


def _check_switch(where: str, table: dict[str, Any], key: str) -> None:
    """A switch is true or false: "yes" or 1 would read as on without saying so."""
    if key in table and not isinstance(table[key], bool):
        raise AccountsError(f"{where}: {key} = {table[key]!r} is not true or false")


def _check_retention(where: str, table: dict[str, Any], portal: str) -> None:
    """`retention_days` is a whole number of days, 0 or more; for Amazon at most 30."""
    if "retention_days" not in table:
        return
    days = table["retention_days"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise AccountsError(
            f"{where}: retention_days = {days!r} is not a number of days (0 or more)"
        )
    if portal == Portal.AMAZON and days > AMAZON_RETENTION_DAYS:
        raise AccountsError(
            f"{where}: retention_days = {days} is longer than Amazon's Data Protection Policy "
            f"allows ({AMAZON_RETENTION_DAYS} days after delivery)"
        )
