"""Amazon as a tracking source for the track-parcels flow: one `getOrder` per order.

Amazon knows the status of every package of a merchant-fulfilled order it was told about
(Orders API v2026-01-01, `includedData=PACKAGES`), whatever the carrier, so an Amazon order's
parcels are asked here and not at the carrier. The seller's LWA credentials and endpoint are
the Amazon portal account's (`[accounts.<name>]`, named by `account = "<name>"` in the
`[tracking.<source account>]` table).

Like DHL's tracking client, this one makes exactly one attempt per `track`: the caller counts
every call against the daily budget before it is made, and a retry would be a call the budget
did not count. A 429 comes back as RateLimited and ends the source's turn. An order Amazon
refuses (404, 400) is not an outage: its parcels come back without a status and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from connectors.account import Transport, call_timeout
from connectors.amazon import mapping
from connectors.amazon.auth import LWA_TOKEN_URL, LwaAuth
from connectors.amazon.client import RateLimits, SpApiClient
from connectors.amazon.package_status import INCLUDED_DATA, MalformedOrder, package_reports
from connectors.credentials import secret
from connectors.errors import Rejected, TransientError
from connectors.http import ClosedOnExit
from core.accounts import AccountOptions
from core.tracking import ParcelReport
from db.types import utcnow

SOURCE = "amazon"
# Our own cap, not Amazon's: getOrder has a rate (0.5/s, burst 30), no daily quota. A shop
# asking every two hours about its undelivered Amazon orders stays far below it.
DEFAULT_DAILY_QUOTA = 2000


class AmazonTrackingClient(ClosedOnExit):
    source = SOURCE
    carriers: tuple[str, ...] = ()  # every carrier: Amazon reports all packages of its orders
    portal: str | None = "amazon"
    batch_size = 1  # one order per call
    per_order = True

    def __init__(
        self,
        account: str,
        portal_account: str,
        client: SpApiClient,
        *,
        daily_quota: int = DEFAULT_DAILY_QUOTA,
    ) -> None:
        self.account = account
        self.portal_account: str | None = portal_account
        self.client = client
        self.daily_quota = daily_quota

    @classmethod
    def from_account(
        cls,
        options: AccountOptions,
        portal: AccountOptions,
        *,
        transport: Transport = None,
    ) -> AmazonTrackingClient:
        """`options`: the `[tracking.<account>]` table [account, daily_quota]; `portal`: the
        Amazon portal account it names [marketplace, base_url, token_url, simulator];
        credentials client_id, client_secret, refresh_token as for confirmations."""
        quota_text = options.extra.get("daily_quota", str(DEFAULT_DAILY_QUOTA))
        if not quota_text.isdigit() or int(quota_text) < 1:
            raise ValueError(
                f"tracking account {options.account!r}: daily_quota must be a whole number "
                f"above 0, not {quota_text!r}"
            )
        name = portal.account
        auth: httpx.Auth = LwaAuth(
            secret("amazon", name, "client_id").get_secret_value(),
            secret("amazon", name, "client_secret"),
            secret("amazon", name, "refresh_token"),
            portal.extra.get("token_url", LWA_TOKEN_URL),
            account=name,
        )
        marketplace = portal.extra.get("marketplace", "DE")
        simulator = portal.extra.get("simulator", "").lower() in ("true", "1", "yes")
        client = SpApiClient(
            portal.base_url or mapping.endpoint_for_marketplace(marketplace),
            auth,
            account=name,
            limits=RateLimits.relaxed() if simulator else None,
            transport=transport,
            timeout=call_timeout(portal),
            retry_attempts=1,
        )
        return cls(options.account, name, client, daily_quota=int(quota_text))

    def __repr__(self) -> str:
        return f"AmazonTrackingClient(account={self.account!r}, portal={self.portal_account!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def track(self, numbers: Sequence[str], *, order_ref: str = "") -> list[ParcelReport]:
        """Exactly one getOrder for the order `order_ref`; reports for those of `numbers`
        that Amazon lists among the order's packages."""
        try:
            body = await self.client.get_order(order_ref, INCLUDED_DATA)
        except Rejected as error:
            return [ParcelReport(n, None, f"Amazon getOrder: {error.message}") for n in numbers]
        try:
            reports = package_reports(body, now=utcnow())
        except MalformedOrder as error:
            raise TransientError(f"Amazon getOrder: {error}") from None
        wanted = set(numbers)
        return [r for r in reports if r.tracking_number in wanted]
