"""One portal account -> its connector: the portal's name picks the class, the class's
`from_account` reads the account's options (accounts.toml) and credentials (environment or
Prefect Secret blocks, connectors/credentials.py).

Credential fields per portal (options in accounts.toml in brackets):

- amazon: client_id, client_secret, refresh_token [merchant_id, marketplace, mode, token_url]
- ebay: client_id, client_secret, refresh_token [base_url, token_url]
- kaufland: client_key, secret_key [base_url]
- hood: account_name, api_password [base_url]
- rakuten: key [base_url; confirm = true to enable]
- otto: client_id, client_secret [ship_from_city, ship_from_zip, ship_from_country, base_url,
  token_url, scope]

Every portal also takes `timeout_seconds` (default 30): how long one call may take before it
counts as timed out and is retried (or, for a change, read back first).

What the ledger needs to know of a portal before any call (why a switched-off account's rows
are skipped, whether it takes one tracking number per order) is said by its connector class:
`switched_off` and `one_tracking_number`, read through `skip_reason` and `one_tracking_number`.
"""

from __future__ import annotations

from typing import Protocol

from connectors.account import Transport
from connectors.amazon.connector import AmazonConnector
from connectors.base import PortalConnector
from connectors.ebay.connector import EbayConnector
from connectors.hood.connector import HoodConnector
from connectors.kaufland.connector import KauflandConnector
from connectors.otto.connector import OttoConnector
from connectors.rakuten.connector import RakutenConnector
from core.accounts import AccountOptions


class OpensFromAccount(Protocol):
    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> PortalConnector: ...


CONNECTORS: dict[str, type[OpensFromAccount]] = {
    "amazon": AmazonConnector,
    "ebay": EbayConnector,
    "kaufland": KauflandConnector,
    "hood": HoodConnector,
    "rakuten": RakutenConnector,
    "otto": OttoConnector,
}


def open_connector(options: AccountOptions, *, simulator: bool = False) -> PortalConnector:
    """A connector for one account; raises MissingCredentials naming what to set.

    `simulator=True` relaxes client-side rate limits that only make sense against the real
    portals (Amazon allows one createFeed per two minutes)."""
    connector = CONNECTORS.get(options.portal)
    if connector is None:
        raise ValueError(f"no connector for portal {options.portal!r}")
    return connector.from_account(options, simulator=simulator)


# the words for a portal whose connector says nothing more specific
SWITCHED_OFF = (
    "confirmation is switched off for {portal} account {account} (accounts.toml: confirm = false)"
)


def skip_reason(options: AccountOptions) -> str:
    """Why the rows of an account with `confirm = false` are skipped, in its portal's words."""
    text = getattr(CONNECTORS.get(options.portal), "switched_off", SWITCHED_OFF)
    return str(text).format(portal=options.portal, account=options.account)


def one_tracking_number(portal: str) -> str | None:
    """For a portal that takes one tracking number per order (the order is confirmed with its
    first parcel): why its further parcels are skipped; None for every other portal."""
    reason = getattr(CONNECTORS.get(portal), "one_tracking_number", None)
    return str(reason) if reason else None


def sends_order_feeds(options: AccountOptions) -> bool:
    """The account's confirmations go out as order feeds, which its portal wants seldom and
    large (Amazon: one per seller every 20 minutes): a deliver run gives it one pass, after
    the run's last carrier group, not one per group."""
    feeds_for = getattr(CONNECTORS.get(options.portal), "feeds_for", None)
    return bool(feeds_for(options)) if feeds_for is not None else False
