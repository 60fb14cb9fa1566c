"""One Amazon order feed per seller account every 20 minutes (Amazon's Feeds API Best
Practices), against the Amazon simulator over real HTTP, with this process's clock moved on."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.accounts import Accounts
from core.carriers.numbers import normalise_tracking_number
from core.clock import BUSINESS_TZ, later
from core.crashpoints import ENV_VARIABLE
from core.settings import Settings, reset_settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, Order, Parcel
from db.queries.mails import insert_mail_rows, mark_shipped
from db.session import session_scope
from db.types import utcnow
from simulators.amazon import AmazonSimulator
from simulators.smtp import FaultySmtpServer
from simulators.stack import AMAZON_MERCHANT, PortalStack, portal_orders_from_store
from tasks.confirmations import open_confirmations, submit_pending
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders
from tests.test_confirmations import sent_mail

ROOT = Path(__file__).resolve().parents[1]
WAITING = re.compile(r"next Amazon feed at (\d\d:\d\d) — one feed per seller every 20 minutes")
runner = CliRunner()


def amazon_orders(
    db_url: str, carriers: dict[str, int], *, mailed: bool = True
) -> dict[str, list[Order]]:
    """Orders of one Amazon account, each with one parcel of the carrier it is listed under;
    `mailed`: marked shipped with the shipping mail sent, as a deliver run leaves them."""
    samples = [s.order for s in seed_orders(db_url, 120, seed=7) if s.order["portal"] == "amazon"]
    account = samples[0]["portal_account"]
    chosen = [s["order_no"] for s in samples if s["portal_account"] == account]
    assert len(chosen) >= sum(carriers.values()), "not enough sample orders of one account"
    by_carrier: dict[str, list[str]] = {}
    for carrier, count in carriers.items():
        by_carrier[carrier], chosen = chosen[:count], chosen[count:]
        for order_no, number in zip(by_carrier[carrier], numbers(carrier, count), strict=True):
            with session_scope(db_url) as session:
                attach_parcels(
                    session,
                    rows=[
                        ParcelRow(
                            1,
                            order_no,
                            carrier,
                            normalise_tracking_number(carrier, number),
                            date(2026, 11, 26),
                        )
                    ],
                    source="test",
                )
    with session_scope(db_url) as session:
        found = {o.order_no: o for o in session.scalars(select(Order))}
        if mailed:
            ids = [found[n].id for n in nos_of(by_carrier)]
            mark_shipped(session, order_ids=ids, at=utcnow())
            insert_mail_rows(session, rows=[sent_mail(found[n]) for n in nos_of(by_carrier)])
        session.expunge_all()
    return {c: [found[n] for n in nos] for c, nos in by_carrier.items()}


def nos_of(by_carrier: dict[str, list[str]]) -> list[str]:
    return [n for nos in by_carrier.values() for n in nos]


def configure(stack: PortalStack, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.seed(portal_orders_from_store(settings.db_url))
    settings.accounts_path.write_text(stack.accounts_toml())
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LIEFERN_AMAZON_FEED_INTERVAL_MINUTES", "20")
    reset_settings()


def rows_of(db_url: str, orders: list[Order]) -> list[Confirmation]:
    with session_scope(db_url) as session:
        statement = select(Confirmation).where(Confirmation.order_id.in_([o.id for o in orders]))
        rows = list(session.scalars(statement))
        session.expunge_all()
    return rows


def tracking_numbers(db_url: str, orders: list[Order]) -> set[str]:
    with session_scope(db_url) as session:
        statement = select(Parcel.tracking_number).where(
            Parcel.order_id.in_([o.id for o in orders])
        )
        return {n for n in session.scalars(statement) if n}


def sim(stack: PortalStack) -> AmazonSimulator:
    return stack.apps["amazon"].state.sim  # type: ignore[no-any-return]


def fed(stack: PortalStack, feed_index: int) -> bytes:
    return sim(stack).uploaded_feed(sim(stack).order_feeds(AMAZON_MERCHANT)[feed_index].feed_id)


def waiting_until(rows: list[Confirmation]) -> set[str]:
    """The times the rows' reasons name; every row pending and waiting for the next feed."""
    assert {(r.status, r.error_code) for r in rows} == {("pending", "feed_interval")}, rows
    return {m.group(1) for r in rows if (m := WAITING.fullmatch(r.error_text or ""))}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_dhl_and_deutsche_post_runs_minutes_apart_send_one_feed_and_the_rest_after_20_minutes(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.confirm import poll_portals
    from flows.deliver import deliver

    orders = amazon_orders(db_url, {"dhl": 2, "deutsche_post": 2}, mailed=False)
    configure(portals, settings, monkeypatch)

    asyncio.run(deliver(carriers=["dhl"]))
    [first] = {r.attempted_at for r in rows_of(db_url, orders["dhl"])}
    assert first is not None
    with later(timedelta(minutes=3)):
        summary = asyncio.run(deliver(carriers=["deutsche_post"]))

    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 1
    due = (first + timedelta(minutes=20)).astimezone(BUSINESS_TZ)
    due += timedelta(minutes=1) if due.second or due.microsecond else timedelta(0)
    assert waiting_until(rows_of(db_url, orders["deutsche_post"])) == {f"{due:%H:%M}"}
    assert summary.confirmations is not None
    assert summary.confirmations.problems == ()  # waiting is no problem of the run
    assert all(n.encode() in fed(portals, 0) for n in tracking_numbers(db_url, orders["dhl"]))

    with later(timedelta(minutes=15)):  # poll-portals inside the window sends nothing
        asyncio.run(poll_portals())
    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 1

    with later(timedelta(minutes=21)):
        asyncio.run(poll_portals())

    feeds = sim(portals).order_feeds(AMAZON_MERCHANT)
    assert len(feeds) == 2
    second = fed(portals, 1)
    assert all(n.encode() in second for n in tracking_numbers(db_url, orders["deutsche_post"]))
    assert not any(n.encode() in second for n in tracking_numbers(db_url, orders["dhl"]))
    assert {r.status for r in rows_of(db_url, orders["deutsche_post"])} <= {
        "submitted",
        "confirmed",
    }


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_one_run_over_two_carriers_sends_one_feed_with_the_orders_of_both(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the carrier groups' mails go out one after the other; a feed per group would leave the
    # later groups' Amazon orders waiting 20 minutes for the next feed
    from flows.deliver import deliver

    orders = amazon_orders(db_url, {"dhl": 2, "deutsche_post": 2}, mailed=False)
    configure(portals, settings, monkeypatch)

    asyncio.run(deliver(carriers=["dhl", "deutsche_post"]))

    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 1
    everyone = orders["dhl"] + orders["deutsche_post"]
    assert all(n.encode() in fed(portals, 0) for n in tracking_numbers(db_url, everyone))
    assert {r.status for r in rows_of(db_url, everyone)} <= {"submitted", "confirmed"}


def test_a_later_run_inside_the_window_waits_and_the_next_one_sends_everything_in_one_feed(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = amazon_orders(db_url, {"dhl": 3})["dhl"]
    configure(portals, settings, monkeypatch)
    accounts = Accounts.load(settings.accounts_path)

    def run(batch: list[Order]) -> None:
        open_confirmations(db_url, order_ids=[o.id for o in batch], accounts=accounts, run_id=None)
        report = asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
        assert report.errors == []

    run(orders[:1])
    with later(timedelta(minutes=5)):
        run(orders[1:2])
    with later(timedelta(minutes=12)):
        run(orders[2:])
    waiting = rows_of(db_url, orders[1:])
    assert len(waiting_until(waiting)) == 1
    assert all(r.attempts == 0 for r in waiting)  # waiting is no attempt
    with later(timedelta(minutes=20, seconds=1)):
        run([])

    feeds = sim(portals).order_feeds(AMAZON_MERCHANT)
    assert len(feeds) == 2
    assert fed(portals, 1).count(b"<Message>") == 2


def test_the_waiting_reason_shows_in_orders_show_and_on_the_order_page(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings
    from tests.test_web_app import OPERATOR, WebClient, web_settings
    from web.app import create_app

    first, second = amazon_orders(db_url, {"dhl": 2})["dhl"]
    configure(portals, settings, monkeypatch)
    accounts = Accounts.load(settings.accounts_path)
    for order in (first, second):
        open_confirmations(db_url, order_ids=[order.id], accounts=accounts, run_id=None)
        asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
    [row] = rows_of(db_url, [second])
    assert row.error_text and WAITING.fullmatch(row.error_text)

    shown = runner.invoke(app, ["orders", "show", second.order_no])
    assert shown.exit_code == 0, shown.output
    assert row.error_text in shown.stdout

    client = WebClient(create_app(web_settings(get_settings())))
    page = client.get(f"/orders/{second.order_no}", auth=OPERATOR)
    assert page.status_code == 200
    assert row.error_text in page.text


SUBMIT = """
import asyncio
from core.settings import get_settings
from tasks.confirmations import submit_pending
asyncio.run(submit_pending(get_settings().db_url, portal="amazon", run_id=None))
"""


@pytest.mark.slow
def test_a_feed_sent_but_not_recorded_is_not_sent_again_inside_the_window(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL right after createFeed answered, before the feed id reached the ledger."""
    [order] = amazon_orders(db_url, {"dhl": 1})["dhl"]
    configure(portals, settings, monkeypatch)
    open_confirmations(
        db_url,
        order_ids=[order.id],
        accounts=Accounts.load(settings.accounts_path),
        run_id=None,
    )
    crashed = subprocess.run(
        [sys.executable, "-c", SUBMIT],
        cwd=ROOT,
        env={**os.environ, ENV_VARIABLE: "confirm.submitted.amazon:1"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()
    [row] = rows_of(db_url, [order])
    assert (row.status, row.reference, row.attempts) == ("pending", None, 1)
    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 1

    asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
    with later(timedelta(minutes=19)):
        asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))

    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 1
    [row] = rows_of(db_url, [order])
    assert waiting_until([row])
    with later(timedelta(minutes=21)):
        asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
    assert len(sim(portals).order_feeds(AMAZON_MERCHANT)) == 2
    assert rows_of(db_url, [order])[0].status == "submitted"
