"""One portal account -> its connector, with options from accounts.toml and credentials from
the environment or Prefect Secret blocks (connectors/credentials.py).

Credential fields per portal (options in accounts.toml in brackets):

- amazon: client_id, client_secret, refresh_token [merchant_id, marketplace, mode, token_url]
- ebay: client_id, client_secret, refresh_token [base_url, token_url]
- kaufland: client_key, secret_key [base_url]
- hood: account_name, api_password [base_url]
- rakuten: key [base_url; confirm = true to enable]

Every portal also takes `timeout_seconds` (default 30): how long one call may take before it
counts as timed out and is retried (or, for a change, read back first).
"""

from __future__ import annotations

import math
from dataclasses import replace

from connectors.base import PortalConnector
from connectors.credentials import secret
from core.accounts import AccountOptions


def open_connector(options: AccountOptions, *, simulator: bool = False) -> PortalConnector:
    """A connector for one account; raises MissingCredentials naming what to set.

    `simulator=True` relaxes client-side rate limits that only make sense against the real
    portals (Amazon allows one createFeed per two minutes)."""
    portal, account = options.portal, options.account
    timeout = call_timeout(options)
    if portal == "amazon":
        return _amazon(options, simulator=simulator, timeout=timeout)
    if portal == "ebay":
        from connectors.ebay.connector import EbayConnector, EbayOptions

        ebay = EbayOptions(timeout_seconds=timeout)
        if options.base_url:
            ebay = replace(ebay, api_base=options.base_url)
        if options.extra.get("token_url"):
            ebay = replace(ebay, token_url=options.extra["token_url"])
        if simulator:  # eBay's 5 requests per second (and the 4 at a time) are for production
            ebay = replace(ebay, rate_per_second=1000.0, burst=1000, concurrency=16)
        return EbayConnector.from_credentials(
            client_id=secret(portal, account, "client_id").get_secret_value(),
            client_secret=secret(portal, account, "client_secret"),
            refresh_token=secret(portal, account, "refresh_token"),
            account=account,
            options=ebay,
        )
    if portal == "kaufland":
        from connectors.kaufland.connector import KauflandConnector, KauflandOptions

        kaufland = KauflandOptions(timeout_seconds=timeout)
        if options.base_url:
            kaufland = replace(kaufland, api_base=options.base_url)
        if simulator:  # Kaufland's 111 requests per second are a production limit
            kaufland = replace(kaufland, rate_per_second=1000.0, burst=1000, concurrency=16)
        return KauflandConnector.from_credentials(
            client_key=secret(portal, account, "client_key").get_secret_value(),
            secret_key=secret(portal, account, "secret_key"),
            account=account,
            options=kaufland,
        )
    if portal == "hood":
        from connectors.hood.auth import HoodCredentials
        from connectors.hood.connector import HoodConnector
        from connectors.hood.mapping import HOOD_API_URL

        credentials = HoodCredentials(
            account,
            secret(portal, account, "account_name").get_secret_value(),
            secret(portal, account, "api_password"),
        )
        return HoodConnector(
            credentials,
            url=options.base_url or HOOD_API_URL,
            rate_per_second=100.0 if simulator else 1.0,
            burst=100 if simulator else 2,
            timeout=timeout,
        )
    if portal == "rakuten":
        from connectors.carriers import tracking_url
        from connectors.rakuten.auth import RakutenCredentials
        from connectors.rakuten.connector import RakutenConnector
        from connectors.rakuten.mapping import RAKUTEN_BASE_URL

        return RakutenConnector(
            RakutenCredentials(account, secret(portal, account, "key")),
            enabled=options.confirm,
            base_url=options.base_url or RAKUTEN_BASE_URL,
            tracking_url=lambda s: tracking_url(s.carrier, s.tracking_number, "de") or None,
            rate_per_second=100.0 if simulator else 10_000 / 86_400,
            timeout=timeout,
        )
    raise ValueError(f"no connector for portal {portal!r}")


def call_timeout(options: AccountOptions) -> float:
    """The account's `timeout_seconds`, checked: a wrong value names the account and the key."""
    raw = options.extra.get("timeout_seconds", "30")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= 600):
        raise ValueError(
            f"{options.portal} account {options.account!r}: timeout_seconds in accounts.toml "
            f"must be a number of seconds above 0 and at most 600, not {raw!r}"
        )
    return seconds


def _amazon(options: AccountOptions, *, simulator: bool, timeout: float) -> PortalConnector:
    from connectors.amazon.auth import LWA_TOKEN_URL, LwaAuth
    from connectors.amazon.client import RateLimits
    from connectors.amazon.connector import AmazonConnector
    from connectors.amazon.mapping import endpoint_for_marketplace, resolve_marketplace

    account = options.account
    marketplace = options.extra.get("marketplace", "DE")
    merchant_id = options.extra.get("merchant_id")
    if not merchant_id:
        raise ValueError(
            f"amazon account {account!r} needs merchant_id (the seller id) in accounts.toml"
        )
    auth = LwaAuth(
        secret("amazon", account, "client_id").get_secret_value(),
        secret("amazon", account, "client_secret"),
        secret("amazon", account, "refresh_token"),
        options.extra.get("token_url", LWA_TOKEN_URL),
        account=account,
    )
    return AmazonConnector(
        account,
        merchant_id,
        resolve_marketplace(marketplace).marketplace_id,
        auth,
        options.base_url or endpoint_for_marketplace(marketplace),
        "confirm_shipment" if options.mode == "confirm_shipment" else "feed",
        RateLimits.relaxed() if simulator else None,
        timeout=timeout,
    )
