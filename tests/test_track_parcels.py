"""track-parcels against the DHL Parcel DE Tracking simulator over real HTTP: statuses, events,
the daily budget, 429, crashes, orders turning arrived (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.dhl_tracking.connector import DhlTrackingClient
from core.accounts import AccountOptions
from core.settings import Settings
from db.models import Order, Parcel, ParcelEvent, TrackingCalls
from db.queries.web import mark_arrived
from db.session import session_scope
from simulators import dhl_tracking
from simulators.server import serve_in_thread
from tasks.parcel_tracking import track_source, tracking_accounts
from tests.helpers import numbers, order_of, parcel, seed_orders

SIM = dict(api_key="k-1", api_secret="s-1", appname="zt001", password="pw-1")


@pytest.fixture
def dhl(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, object]]:
    app = dhl_tracking.create_app(**SIM, daily_quota=5)
    with serve_in_thread(app) as url:
        for field, value in (
            ("API_KEY", "k-1"),
            ("API_SECRET", "s-1"),
            ("APPNAME", "zt001"),
            ("PASSWORD", "pw-1"),
        ):
            monkeypatch.setenv(f"LIEFERN_DHL_TRACKING_MAIN_{field}", value)
        yield url, dhl_tracking.state_of(app)


def client(url: str, quota: int = 5) -> DhlTrackingClient:
    options = AccountOptions(
        "dhl_tracking",
        "main",
        base_url=f"{url}{dhl_tracking.TRACKING_PATH}",
        extra={"daily_quota": str(quota), "simulator": "true"},
    )
    return DhlTrackingClient.from_account(options, simulator=True)


def shipped(db_url: str, parcels_per_order: list[int], *, carrier: str = "dhl") -> list[list[str]]:
    """Orders shipped with the given number of parcels each; their tracking numbers."""
    orders = seed_orders(db_url, len(parcels_per_order))
    pool = iter(numbers(carrier, sum(parcels_per_order)))
    out: list[list[str]] = []
    with session_scope(db_url) as session:
        for sample, count in zip(orders, parcels_per_order, strict=True):
            order = session.scalars(
                select(Order).where(Order.order_no == sample.order["order_no"])
            ).one()
            order.status = "shipped"
            mine = [next(pool) for _ in range(count)]
            for n, number in enumerate(mine):
                session.add(
                    Parcel(
                        order_id=order.id,
                        carrier=carrier,
                        tracking_number=number,
                        ship_date=date(2026, 12, 1) + timedelta(days=len(out) + n),
                        source="cli",
                    )
                )
            out.append(mine)
    return out


def run(url: str, db_url: str, *, quota: int = 5, now: datetime | None = None, **kw: object):
    async def go():
        async with client(url, quota) as c:
            return await track_source(db_url, c, now=now or datetime.now(UTC), **kw)

    return asyncio.run(go())


def event_count(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count()).select_from(ParcelEvent)) or 0)


def test_delivered_parcel_sets_its_order_arrived_with_the_source(settings, dhl):
    url, sim = dhl
    (number,), (other,) = shipped(settings.db_url, [1, 1])
    sim.deliver(number)
    sim.on_the_way(other)
    result = run(url, settings.db_url)
    assert result.calls == 1 and result.parcels_asked == 2 and result.delivered == 1
    delivered = parcel(settings.db_url, number)
    assert delivered.delivery_status == "delivered"
    assert delivered.status_source == "dhl_tracking"
    assert delivered.delivered_at is not None and delivered.first_scan_at is not None
    assert delivered.first_scan_at < delivered.delivered_at == delivered.last_event_at
    order = order_of(settings.db_url, number)
    assert order.status == "arrived" and order.arrived_source == "carrier:dhl_tracking"
    assert parcel(settings.db_url, other).delivery_status == "in_transit"
    assert order_of(settings.db_url, other).status == "shipped"
    assert [o.outcome for o in result.outcomes] == ["arrived"]


def test_delivered_parcels_are_not_asked_again_and_events_not_doubled(settings, dhl):
    url, sim = dhl
    (number,), (other,) = shipped(settings.db_url, [1, 1])
    sim.deliver(number)
    sim.on_the_way(other)
    run(url, settings.db_url)
    events = event_count(settings.db_url)
    assert events == 5 + 3
    again = run(url, settings.db_url, min_interval=timedelta(0))
    assert sim.pieces_asked[-1] == [other]
    assert again.events == 0 and event_count(settings.db_url) == events


def test_fifteen_numbers_per_call_oldest_first_within_the_daily_quota(settings, dhl):
    url, sim = dhl
    tracked = [n for ns in shipped(settings.db_url, [1] * 40) for n in ns]
    first = run(url, settings.db_url, quota=2)
    assert first.calls == 2 and "quota" in first.stopped
    assert [len(c) for c in sim.pieces_asked] == [15, 15]
    assert sim.pieces_asked[0] == tracked[:15]  # oldest ship date first
    # a new run (a restart) the same day: the database still knows both calls were made
    second = run(url, settings.db_url, quota=2, min_interval=timedelta(0))
    assert second.calls == 0 and sim.calls == 2
    with session_scope(settings.db_url) as session:
        assert session.scalars(select(TrackingCalls.calls)).one() == 2


def test_the_simulators_quota_is_never_hit(settings, dhl):
    url, sim = dhl
    shipped(settings.db_url, [1] * 100)
    for _ in range(4):  # four runs the same day, each asking again at once
        run(url, settings.db_url, quota=5, min_interval=timedelta(0))
    assert sim.calls == 5 == sim.calls_today()


def test_429_stops_the_run_and_the_next_run_resumes_after_the_wait(settings, dhl):
    url, sim = dhl
    tracked = [n for ns in shipped(settings.db_url, [1] * 20) for n in ns]
    for number in tracked:
        sim.deliver(number)
    sim.fail_next(1, 429, retry_after=600)
    now = datetime.now(UTC)
    throttled = run(url, settings.db_url, now=now)
    assert throttled.calls == 1 and "429" in throttled.stopped and throttled.parcels_asked == 0
    too_soon = run(url, settings.db_url, now=now + timedelta(minutes=5))
    assert too_soon.calls == 0 and "throttled" in too_soon.stopped and sim.calls == 1
    resumed = run(url, settings.db_url, now=now + timedelta(minutes=11))
    assert resumed.calls == 2 and resumed.delivered == 20


def test_the_buyers_confirmation_wins_and_stays(settings, dhl):
    url, sim = dhl
    (number,) = shipped(settings.db_url, [1])[0]
    order = order_of(settings.db_url, number)
    clicked = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with session_scope(settings.db_url) as session:
        assert mark_arrived(session, order_id=order.id, at=clicked, source="buyer-link")
    sim.deliver(number)
    result = run(url, settings.db_url)
    after = order_of(settings.db_url, number)
    assert after.arrived_source == "buyer-link" and after.arrived_at == clicked
    assert parcel(settings.db_url, number).delivery_status == "delivered"
    assert [o.outcome for o in result.outcomes] == ["buyer_confirmed"]


def test_an_order_with_several_parcels_arrives_when_all_are_delivered(settings, dhl):
    url, sim = dhl
    first, second = shipped(settings.db_url, [2])[0]
    sim.deliver(first)
    sim.on_the_way(second)
    run(url, settings.db_url)
    assert order_of(settings.db_url, first).status == "shipped"
    sim.deliver(second)
    run(url, settings.db_url, min_interval=timedelta(0))
    order = order_of(settings.db_url, first)
    assert order.status == "arrived" and order.arrived_source == "carrier:dhl_tracking"


def test_a_crash_after_storing_a_batch_never_doubles_its_events(settings, dhl):
    url, sim = dhl
    tracked = [n for ns in shipped(settings.db_url, [1] * 3) for n in ns]
    for number in tracked:
        sim.deliver(number)
    run(url, settings.db_url)
    stored = event_count(settings.db_url)
    # as if the run died after its commit but before the parcels counted as done: ask again
    with session_scope(settings.db_url) as session:
        for row in session.scalars(select(Parcel)):
            row.delivery_status = None
            row.tracked_at = None
    again = run(url, settings.db_url)
    assert again.events == 0 and event_count(settings.db_url) == stored


def test_unknown_numbers_stay_due_and_wrong_credentials_stop_the_source(settings, dhl, monkeypatch):
    url, _ = dhl
    (number,) = shipped(settings.db_url, [1])[0]
    result = run(url, settings.db_url)
    assert result.statuses == {"unknown": 1}
    assert parcel(settings.db_url, number).delivery_status is None
    monkeypatch.setenv("LIEFERN_DHL_TRACKING_MAIN_API_SECRET", "wrong")
    refused = run(url, settings.db_url, min_interval=timedelta(0))
    assert "refused" in refused.stopped and refused.outcomes[0].outcome == "not_asked"
    assert "wrong" not in refused.stopped


def test_tracking_accounts_come_from_the_accounts_file(tmp_path: Path):
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[tracking.main]\nsource = "dhl_tracking"\ndaily_quota = 1000\nbase_url = "http://x"\n'
    )
    (options,) = tracking_accounts(path)
    assert (options.portal, options.account, options.base_url) == (
        "dhl_tracking",
        "main",
        "http://x",
    )
    assert options.extra == {"daily_quota": "1000"}


@pytest.mark.usefixtures("prefect_harness")
def test_liefern_track_runs_the_flow_and_reports_arrived_orders(settings, dhl):
    import json

    from typer.testing import CliRunner

    from cli.main import app

    url, sim = dhl
    (number,), (other,) = shipped(settings.db_url, [1, 1])
    sim.deliver(number)
    sim.on_the_way(other)
    settings.accounts_path.write_text(
        f'[tracking.main]\nsource = "dhl_tracking"\ndaily_quota = 5\nsimulator = true\n'
        f'base_url = "{url}{dhl_tracking.TRACKING_PATH}"\n'
    )
    result = CliRunner().invoke(app, ["track", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["calls"] == 1 and summary["delivered"] == 1
    assert summary["arrived"] == [order_of(settings.db_url, number).order_no]
    assert "pw-1" not in result.output and "s-1" not in result.output
    text = CliRunner().invoke(app, ["track"])
    assert text.exit_code == 0 and "dhl_tracking main: 0 calls" in text.stdout


def test_the_order_page_and_orders_show_tell_the_delivery_status(settings, dhl):
    from typer.testing import CliRunner

    from cli.main import app
    from tests.test_web_app import OPERATOR, WebClient, web_settings
    from web.app import create_app

    url, sim = dhl
    (number,) = shipped(settings.db_url, [1])[0]
    sim.deliver(number)
    run(url, settings.db_url)
    order_no = order_of(settings.db_url, number).order_no
    shown = CliRunner().invoke(app, ["orders", "show", order_no])
    assert shown.exit_code == 0, shown.output
    assert "delivery status: delivered (dhl_tracking)" in shown.stdout
    assert "Die Sendung wurde erfolgreich zugestellt." in shown.stdout
    assert "carrier reported every parcel delivered (carrier:dhl_tracking)" in shown.stdout
    web = WebClient(create_app(web_settings(settings)))
    for language, said in (("de", "zugestellt"), ("en", "delivered")):
        page = web.get(f"/orders/{order_no}", auth=OPERATOR, headers={"Accept-Language": language})
        assert page.status_code == 200
        assert said in page.text and "Die Sendung wurde im Start-Paketzentrum" in page.text
