"""The simulators' realistic profile: latency per call, the portals' documented limits per
seller account with their own 429, and connectors that keep to those limits."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from core.settings import Settings
from simulators import amazon
from simulators.profiles import LIMITS, CallRecord, Profile
from simulators.stack import PortalStack, portal_orders_from_store
from tests.test_confirmations import (
    configure,
    open_and_submit,
    orders_of,
    poll_until_done,
    statuses,
)

LATENCY = 0.15


@pytest.fixture
def realistic(settings: Settings) -> Iterator[PortalStack]:
    profile = Profile.named("realistic", latency_seconds=LATENCY)
    with PortalStack(amazon_processing_seconds=0.2, profile=profile) as stack:
        yield stack


async def _many(base: str, count: int, **request: object) -> list[tuple[httpx.Response, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def one() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await client.request(**request)  # type: ignore[arg-type]
            return response, time.perf_counter() - started

        return await asyncio.gather(*(one() for _ in range(count)))


def test_zero_profile_serves_the_simulators_untouched() -> None:
    app = amazon.create_app()
    assert Profile.named("zero").wrap("amazon", app, lambda h, b, q: "") is app


def test_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"zero.*realistic"):
        Profile.named("fast")


def test_realistic_profile_delays_every_call(realistic: PortalStack) -> None:
    answers = asyncio.run(
        _many(realistic.urls["ebay"], 3, method="GET", url="/sell/fulfillment/v1/order/1-1")
    )
    assert all(seconds >= LATENCY for _, seconds in answers)
    assert 429 not in {r.status_code for r, _ in answers}  # the simulator itself answers


def test_ebay_beyond_its_pace_answers_its_429_with_retry_after(realistic: PortalStack) -> None:
    limit = LIMITS["ebay"][0]
    started = time.perf_counter()
    answers = asyncio.run(
        _many(realistic.urls["ebay"], 25, method="GET", url="/sell/fulfillment/v1/order/1-1")
    )
    elapsed = time.perf_counter() - started
    passed = [r for r, _ in answers if r.status_code != 429]
    throttled = [r for r, _ in answers if r.status_code == 429]
    assert limit.burst <= len(passed) <= limit.burst + limit.rate * elapsed + 1
    assert throttled
    assert throttled[0].json()["errors"][0]["errorId"] == 2001
    assert int(throttled[0].headers["Retry-After"]) >= 1


def test_amazon_meters_create_feed_per_seller_account(realistic: PortalStack) -> None:
    sim = realistic.apps["amazon"].state.sim
    tokens = {}
    for seller in ("seller-a", "seller-b"):
        refresh = realistic.amazon_refresh_token(seller)
        sim.refresh_tokens.add(refresh)
        answer = httpx.post(
            realistic.urls["amazon"] + "/auth/o2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": amazon.DEFAULT_CLIENT_ID,
                "client_secret": amazon.DEFAULT_CLIENT_SECRET,
            },
        )
        tokens[seller] = answer.json()["access_token"]
    burst = next(x for x in LIMITS["amazon"] if x.operation == "createFeed").burst

    def create_feeds(seller: str, count: int) -> list[httpx.Response]:
        answers = asyncio.run(
            _many(
                realistic.urls["amazon"],
                count,
                method="POST",
                url="/feeds/2021-06-30/feeds",
                headers={"x-amz-access-token": tokens[seller]},
                json={},
            )
        )
        return [r for r, _ in answers]

    first = create_feeds("seller-a", burst + 1)
    refused = [r for r in first if r.status_code == 429]
    assert len(refused) == 1
    assert refused[0].json()["errors"][0]["code"] == "QuotaExceeded"
    assert refused[0].headers["x-amzn-RateLimit-Limit"] == "0.0083"
    # the other seller's bucket is its own
    assert [r.status_code for r in create_feeds("seller-b", 1)] != [429]


def _busiest_second(calls: list[CallRecord]) -> dict[tuple[str, str], int]:
    """The most calls per (account, operation) that reached the portal within one second."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in calls:
        times[(call.account, call.operation)].append(call.at)
    busiest = {}
    for key, moments in times.items():
        moments.sort()
        start, most = 0, 0
        for end, moment in enumerate(moments):
            while moment - moments[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        busiest[key] = most
    return busiest


@pytest.mark.parametrize(
    ("portal", "count"), [("ebay", 14), ("kaufland", 4), ("hood", 4), ("rakuten", 2)]
)
def test_connectors_finish_a_batch_within_the_documented_rate(
    db_url: str,
    settings: Settings,
    realistic: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
    portal: str,
    count: int,
) -> None:
    orders = orders_of(db_url, portal, count)
    realistic.seed(portal_orders_from_store(db_url))
    configure(realistic, settings, monkeypatch)
    assert "simulator = false" in settings.accounts_path.read_text()  # the portals' own pace
    open_and_submit(db_url, settings, orders, portal)

    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    calls = realistic.profile.calls_of(portal)
    assert calls and not [c for c in calls if c.status == 429]
    limits = {x.operation: x for x in LIMITS[portal]}
    for (_, operation), most in _busiest_second(calls).items():
        if operation in limits:
            assert most <= limits[operation].burst + limits[operation].rate


def test_amazon_feeds_confirm_within_the_documented_rate(
    db_url: str, settings: Settings, realistic: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = orders_of(db_url, "amazon", 3)
    realistic.seed(portal_orders_from_store(db_url))
    configure(realistic, settings, monkeypatch)
    open_and_submit(db_url, settings, orders, "amazon")
    poll_until_done(db_url)
    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    calls = realistic.profile.calls_of("amazon")
    assert not [c for c in calls if c.status == 429]
    # each seller account has its own buckets: the gate saw both accounts' tokens
    accounts = {o.portal_account for o in orders}
    metered = {c.account for c in calls if c.operation == "createFeed"}
    assert metered == {realistic.amazon_refresh_token(a) for a in accounts}


def test_the_next_pass_of_an_account_keeps_its_pace(
    db_url: str, settings: Settings, realistic: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each pass opens its own connector (on its own event loop); the portal's bucket does not
    # care: a pass right after another must not start with a fresh burst of its own
    # (eBay: one call per order, a burst of 10 at 5 calls a second)
    orders = orders_of(db_url, "ebay", 28, pool=200)
    realistic.seed(portal_orders_from_store(db_url))
    configure(realistic, settings, monkeypatch)
    open_and_submit(db_url, settings, orders[:14], "ebay")
    open_and_submit(db_url, settings, orders[14:], "ebay")

    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    assert not [c for c in realistic.profile.calls_of("ebay") if c.status == 429]
