"""DHL Parcel DE Tracking for the track-parcels flow: what DHL says about up to 15 parcels.

The daily quota is kept by the caller (counted in the database per key and day, see
flows/track_parcels.py), so this client makes exactly one call per `track` and never retries on
its own: a retry would be a call the budget did not count. A 429 comes as RateLimited and the
run stops asking; the next run resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.account import Transport, call_timeout
from connectors.credentials import secret
from connectors.dhl_tracking.auth import DhlTrackingAuth
from connectors.dhl_tracking.client import TrackingApi
from connectors.dhl_tracking.mapping import DEFAULT_DAILY_QUOTA, MAX_PIECES_PER_CALL, PRODUCTION
from connectors.http import ClosedOnExit
from core.accounts import AccountOptions
from core.tracking import ParcelReport

SOURCE = "dhl_tracking"


class DhlTrackingClient(ClosedOnExit):
    source = SOURCE
    carriers: tuple[str, ...] = ("dhl",)
    batch_size = MAX_PIECES_PER_CALL
    per_order = False
    portal: str | None = None  # the parcels of every portal's orders
    portal_account: str | None = None

    def __init__(
        self,
        account: str,
        api: TrackingApi,
        *,
        daily_quota: int = DEFAULT_DAILY_QUOTA,
    ) -> None:
        self.account = account
        self.api = api
        self.daily_quota = daily_quota

    @classmethod
    def from_account(
        cls, options: AccountOptions, *, simulator: bool = False, transport: Transport = None
    ) -> DhlTrackingClient:
        """Options from `[tracking.<account>]` in accounts.toml [base_url, daily_quota,
        language]; credentials api_key, api_secret, appname, password from the environment
        (LIEFERN_DHL_TRACKING_<ACCOUNT>_API_KEY, …) or Secret blocks."""
        account = options.account
        quota_text = options.extra.get("daily_quota", str(DEFAULT_DAILY_QUOTA))
        if not quota_text.isdigit() or int(quota_text) < 1:
            raise ValueError(
                f"tracking account {account!r}: daily_quota must be a whole number above 0, "
                f"not {quota_text!r}"
            )
        auth = DhlTrackingAuth(
            secret(SOURCE, account, "api_key"), secret(SOURCE, account, "api_secret")
        )
        api = TrackingApi(
            base_url=options.base_url or PRODUCTION,
            auth=auth,
            appname=secret(SOURCE, account, "appname").get_secret_value(),
            password=secret(SOURCE, account, "password").get_secret_value(),
            language=options.extra.get("language", "de"),
            transport=transport,
            timeout=call_timeout(options),
        )
        return cls(account, api, daily_quota=int(quota_text))

    def __repr__(self) -> str:
        return f"DhlTrackingClient(account={self.account!r})"

    async def aclose(self) -> None:
        await self.api.aclose()

    async def track(self, numbers: Sequence[str], *, order_ref: str = "") -> list[ParcelReport]:
        """Exactly one call for up to 15 numbers (`order_ref` is not needed: DHL asks by
        number)."""
        return await self.api.piece_detail(numbers)
