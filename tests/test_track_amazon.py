"""track-parcels with Amazon as the source of its orders' package status: one getOrder per
order against the Amazon simulator over real HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.amazon.tracking import AmazonTrackingClient
from connectors.dhl_tracking.connector import DhlTrackingClient
from core.accounts import AccountOptions
from core.settings import Settings
from db.models import Order, Parcel
from db.queries.web import mark_arrived
from db.session import session_scope
from simulators import amazon, dhl_tracking
from simulators.server import serve_in_thread
from tasks.parcel_tracking import SourceRun, open_source, track_source, tracking_accounts
from tests.helpers import numbers, order_of, parcel, seed_orders

DHL = dict(api_key="k-1", api_secret="s-1", appname="zt001", password="pw-1")


@pytest.fixture
def amazon_sim(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    app = amazon.create_app(throttle=False)
    with serve_in_thread(app) as url:
        monkeypatch.setenv("LIEFERN_AMAZON_MAIN_CLIENT_ID", amazon.DEFAULT_CLIENT_ID)
        monkeypatch.setenv("LIEFERN_AMAZON_MAIN_CLIENT_SECRET", amazon.DEFAULT_CLIENT_SECRET)
        monkeypatch.setenv("LIEFERN_AMAZON_MAIN_REFRESH_TOKEN", amazon.DEFAULT_REFRESH_TOKEN)
        yield url, app.state.sim


def accounts_file(settings: Settings, url: str, *, quota: int = 50) -> Path:
    path = settings.home / "accounts.toml"
    path.write_text(
        f'[accounts.main]\nportal = "amazon"\nsimulator = true\nmerchant_id = "A2EXAMPLE"\n'
        f'base_url = "{url}"\ntoken_url = "{url}/auth/o2/token"\n\n'
        f'[tracking.amazon_main]\nsource = "amazon"\naccount = "main"\ndaily_quota = {quota}\n',
        encoding="utf-8",
    )
    return path


def source(settings: Settings, url: str, *, quota: int = 50) -> Any:
    path = accounts_file(settings, url, quota=quota)
    (options,) = tracking_accounts(path)
    return open_source(options, path)


def amazon_orders(db_url: str, sim: Any, parcels_per_order: list[int]) -> list[list[str]]:
    """Amazon orders shipped with the given number of parcels each, each parcel confirmed to
    the simulator as a package; their tracking numbers."""
    samples = seed_orders(db_url, len(parcels_per_order), seed=11)
    pool = iter(numbers("dhl", sum(parcels_per_order), seed=7))
    out: list[list[str]] = []
    with session_scope(db_url) as session:
        for index, (sample, count) in enumerate(zip(samples, parcels_per_order, strict=True)):
            order = session.scalars(
                select(Order).where(Order.order_no == sample.order["order_no"])
            ).one()
            order.portal, order.portal_account, order.status = "amazon", "main", "shipped"
            order.portal_order_id = f"302-{index:07d}-1234567"
            mine = [next(pool) for _ in range(count)]
            for n, number in enumerate(mine):
                session.add(
                    Parcel(
                        order_id=order.id,
                        carrier="dhl",
                        tracking_number=number,
                        ship_date=date(2026, 12, 1) + timedelta(days=index),
                        source="cli",
                    )
                )
                item = {f"{10**13 + index * 10 + n}": 1}  # one item line per package
                sim.fulfil(order.portal_order_id, number, "DHL", item, "confirmShipment", str(n))
            out.append(mine)
    return out


def run(client: Any, db_url: str, **kw: Any) -> SourceRun:
    async def go() -> SourceRun:
        async with client as c:
            return await track_source(db_url, c, now=kw.pop("now", datetime.now(UTC)), **kw)

    return asyncio.run(go())


def test_the_amazon_source_is_built_from_the_portal_account(settings, amazon_sim):
    url, _ = amazon_sim
    client = source(settings, url)
    assert isinstance(client, AmazonTrackingClient)
    assert (client.account, client.portal_account, client.daily_quota) == (
        "amazon_main",
        "main",
        50,
    )


def test_a_tracking_account_without_its_portal_account_is_refused(settings):
    with pytest.raises(ValueError, match="needs `account`"):
        open_source(AccountOptions("amazon", "amazon_main"), settings.home / "none.toml")


def test_one_get_order_covers_all_packages_and_a_delivered_order_arrives(settings, amazon_sim):
    url, sim = amazon_sim
    (first, second), (third,) = amazon_orders(settings.db_url, sim, [2, 1])
    sim.set_package_status(first, "DELIVERED", "DELIVERED")
    sim.set_package_status(second, "DELIVERED", "DELIVERED")
    sim.set_package_status(third, "IN_TRANSIT", "OUT_FOR_DELIVERY")
    result = run(source(settings, url), settings.db_url)
    assert result.calls == 2 == sim.count("getOrder", 200)
    assert result.parcels_asked == 3 and result.delivered == 2
    order = order_of(settings.db_url, first)
    assert order.status == "arrived" and order.arrived_source == "carrier:amazon"
    delivered = parcel(settings.db_url, first)
    assert delivered.status_source == "amazon" and delivered.delivered_at is not None
    assert parcel(settings.db_url, third).delivery_status == "out_for_delivery"
    assert order_of(settings.db_url, third).status == "shipped"
    asked = [r.path for r in sim.requests if r.operation == "getOrder"]
    assert asked == ["/orders/2026-01-01/orders/302-0000000-1234567",
                     "/orders/2026-01-01/orders/302-0000001-1234567"]  # fmt: skip


def test_package_status_moves_on_as_time_passes(settings, amazon_sim):
    url, sim = amazon_sim
    sim.package_step_seconds = 0.2
    ((number,),) = amazon_orders(settings.db_url, sim, [1])
    first = run(source(settings, url), settings.db_url)
    assert first.statuses == {"announced": 1}
    time.sleep(1.0)
    later = run(source(settings, url), settings.db_url, min_interval=timedelta(0))
    assert later.delivered == 1 and order_of(settings.db_url, number).status == "arrived"


def test_the_daily_budget_holds_and_the_oldest_orders_go_first(settings, amazon_sim):
    url, sim = amazon_sim
    amazon_orders(settings.db_url, sim, [1] * 5)
    first = run(source(settings, url, quota=3), settings.db_url)
    assert first.calls == 3 and "quota" in first.stopped
    again = run(source(settings, url, quota=3), settings.db_url, min_interval=timedelta(0))
    assert again.calls == 0 and sim.count("getOrder") == 3
    asked = [r.path.rsplit("/", 1)[1] for r in sim.requests if r.operation == "getOrder"]
    assert asked == [f"302-{i:07d}-1234567" for i in range(3)]


def test_an_order_amazon_does_not_know_does_not_stop_the_others(settings, amazon_sim):
    url, sim = amazon_sim
    (lost,), (known,) = amazon_orders(settings.db_url, sim, [1, 1])
    sim.fulfillments.pop("302-0000000-1234567")
    sim.set_package_status(known, "DELIVERED", "DELIVERED")
    result = run(source(settings, url), settings.db_url)
    assert result.calls == 2 and not result.failed and result.delivered == 1
    assert sim.count("getOrder", 404) == 1
    assert parcel(settings.db_url, lost).delivery_status is None


def test_a_429_ends_the_turn_and_the_wait_is_kept(settings, amazon_sim):
    url, sim = amazon_sim
    amazon_orders(settings.db_url, sim, [1, 1])
    sim.fail_next("getOrder", 429, retry_after=600)
    now = datetime.now(UTC)
    result = run(source(settings, url), settings.db_url, now=now)
    assert result.calls == 1 and "429" in result.stopped and sim.count("getOrder") == 1
    soon = run(source(settings, url), settings.db_url, now=now + timedelta(minutes=5))
    assert soon.calls == 0 and "throttled" in soon.stopped


def test_the_buyers_confirmation_wins(settings, amazon_sim):
    url, sim = amazon_sim
    ((number,),) = amazon_orders(settings.db_url, sim, [1])
    clicked = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with session_scope(settings.db_url) as session:
        order_id = order_of(settings.db_url, number).id
        assert mark_arrived(session, order_id=order_id, at=clicked, source="buyer-link")
    sim.set_package_status(number, "DELIVERED", "DELIVERED")
    result = run(source(settings, url), settings.db_url)
    assert order_of(settings.db_url, number).arrived_source == "buyer-link"
    assert [o.outcome for o in result.outcomes] == ["buyer_confirmed"]


def test_amazon_orders_with_their_own_source_are_not_asked_at_dhl(
    settings, amazon_sim, monkeypatch
):
    _, sim = amazon_sim
    (amazon_parcel,) = amazon_orders(settings.db_url, sim, [1])[0]
    app = dhl_tracking.create_app(**DHL, daily_quota=5)
    for field, value in DHL.items():
        monkeypatch.setenv(f"LIEFERN_DHL_TRACKING_MAIN_{field.upper()}", value)
    with serve_in_thread(app) as url:
        options = AccountOptions(
            "dhl_tracking",
            "main",
            base_url=f"{url}{dhl_tracking.TRACKING_PATH}",
            extra={"simulator": "true"},
        )
        skipped = run(
            DhlTrackingClient.from_account(options, simulator=True),
            settings.db_url,
            not_of=[("amazon", "main")],
        )
        assert skipped.calls == 0
        assert parcel(settings.db_url, amazon_parcel).tracked_at is None
        # the same parcel without an Amazon source of its own: DHL is asked
        asked = run(DhlTrackingClient.from_account(options, simulator=True), settings.db_url)
        assert asked.calls == 1 and asked.parcels_asked == 1


def test_the_protocol_says_amazon_reported_the_delivery_in_both_languages(settings, amazon_sim):
    from typer.testing import CliRunner

    from cli.main import app
    from tests.test_web_app import OPERATOR, WebClient, web_settings
    from web.app import create_app

    url, sim = amazon_sim
    ((number,),) = amazon_orders(settings.db_url, sim, [1])
    sim.set_package_status(number, "DELIVERED", "DELIVERED")
    run(source(settings, url), settings.db_url)
    order_no = order_of(settings.db_url, number).order_no
    shown = CliRunner().invoke(app, ["orders", "show", order_no])
    assert "delivery status: delivered (amazon)" in shown.stdout, shown.output
    assert "Amazon reported every parcel delivered (carrier:amazon)" in shown.stdout
    web = WebClient(create_app(web_settings(settings)))
    for language, said in (
        ("de", "Amazon meldet alle Pakete zugestellt"),
        ("en", "Amazon reported every parcel delivered"),
    ):
        page = web.get(f"/orders/{order_no}", auth=OPERATOR, headers={"Accept-Language": language})
        assert page.status_code == 200 and said in page.text
