"""What every connector's `from_account` shares: the call options of one portal account.

`from_account(options, *, simulator=False, transport=None)` is the one way the deliver flow
opens a connector (connectors/registry.py): options from accounts.toml, credentials from the
environment or Prefect Secret blocks (connectors/credentials.py), never from parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Self, TypedDict

import httpx

from connectors.ratelimit import TokenBucket, account_bucket
from core.accounts import AccountOptions

# against the simulators nobody has to be protected from us: production pacing (Amazon's one
# createFeed per two minutes, eBay's 5 calls a second) would only slow down tests and the demo
SIMULATOR_RATE_PER_SECOND = 1000.0
SIMULATOR_BURST = 1000
SIMULATOR_CONCURRENCY = 16


Transport = httpx.AsyncBaseTransport | None  # tests hand in their own; None: the real network


class CallSettings(TypedDict, total=False):
    """Keyword arguments a connector takes to override its portal's CallOptions."""

    timeout: float
    rate_per_second: float
    burst: int
    attempts: int
    base_delay: float
    max_delay: float
    transport: Transport  # not an option: the seam tests hand their own transport through


@dataclass(frozen=True)
class CallOptions:
    """Pace, retries and timeout of one account's calls (no secrets here)."""

    rate_per_second: float = 1.0
    burst: int = 1
    concurrency: int = 1
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout_seconds: float = 30.0

    def bucket(self, base_url: str, account: str) -> TokenBucket:
        """The account's token bucket at this pace, shared by every connector of the account
        in this process (the portal's own bucket is per account too)."""
        return account_bucket((base_url, account), self.rate_per_second, self.burst)

    def with_settings(self, settings: CallSettings) -> Self:
        """These options with the given keyword overrides (`timeout` is `timeout_seconds`)."""
        changes: dict[str, object] = {k: v for k, v in settings.items() if k != "transport"}
        if "timeout" in changes:
            changes["timeout_seconds"] = changes.pop("timeout")
        return replace(self, **changes)  # type: ignore[arg-type]

    def paced_for(self, *, simulator: bool) -> Self:
        """These options, or for a simulator without the production pace."""
        if not simulator:
            return self
        return replace(
            self,
            rate_per_second=SIMULATOR_RATE_PER_SECOND,
            burst=SIMULATOR_BURST,
            concurrency=SIMULATOR_CONCURRENCY,
        )


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
