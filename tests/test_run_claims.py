"""Runs of different carriers at the same time: an order with a DHL and a DPD parcel is picked by
both the DHL and the DPD run, and its buyer still gets exactly one shipping mail."""

from __future__ import annotations

import asyncio
import email
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.policy import default
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.accounts import Accounts
from core.settings import Settings, reset_settings
from db.models import ShippingMail
from db.queries.locks import OwnerInfo, register_owner
from db.queries.mails import orders_to_mail
from db.session import session_scope
from flows.results import DeliverResult
from simulators.smtp import FaultySmtpServer
from tasks.guard import claim_orders
from tasks.mails import MailComposer, prepare_batch, send_shipping_mails
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, shop_orders

ORDERS = 40


@pytest.fixture
def smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as server:
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("LIEFERN_SMTP_CONNECTIONS", "2")
        monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
        reset_settings()
        yield server


def dhl_and_dpd_orders(db_url: str, count: int) -> list[str]:
    """Shop orders, each with one DHL and one DPD parcel."""
    order_nos = shop_orders(db_url, count)
    for order_no, dhl, dpd in zip(
        order_nos, numbers("dhl", count), numbers("dpd", count), strict=True
    ):
        add_parcel(db_url, order_no, "dhl", dhl)
        add_parcel(db_url, order_no, "dpd", dpd)
    return order_nos


def mails_per_order(server: FaultySmtpServer) -> Counter[str]:
    return Counter(
        str(email.message_from_bytes(data, policy=default)["X-Liefern-Order"])
        for _, _, data in server.messages
    )


def ledger_statuses(db_url: str) -> Counter[str]:
    with session_scope(db_url) as session:
        return Counter(session.scalars(select(ShippingMail.status)))


def side_by_side(*runs: Callable[[], Any]) -> list[Any]:
    """Start the runs together, each in a thread of its own; their results (or errors)."""
    start = threading.Barrier(len(runs))
    results: list[Any] = [None] * len(runs)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = runs[index]()
        except Exception as error:  # shown by the assertion that reads it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def carrier_batch(db_url: str, carrier: str) -> Callable[[], dict[str, int]]:
    """One carrier's deliver run as the flow does it: pick the orders, send their batch, and
    try again after an error as the mail task does (retries=2)."""

    def run() -> dict[str, int]:
        with session_scope(db_url) as session:
            ids = orders_to_mail(session, carriers=[carrier])
        for attempt in range(3):
            try:
                report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier=carrier))
                return dict(report.counts)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    return run


@pytest.mark.slow
def test_dhl_and_dpd_runs_at_once_mail_every_buyer_exactly_once(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    order_nos = dhl_and_dpd_orders(db_url, ORDERS)
    smtp.delay_next(ORDERS, 0.01, stage="data")  # both runs are still sending when they meet

    dpd, dhl = side_by_side(carrier_batch(db_url, "dpd"), carrier_batch(db_url, "dhl"))

    assert isinstance(dpd, dict) and isinstance(dhl, dict), (dpd, dhl)
    assert mails_per_order(smtp) == Counter(dict.fromkeys(order_nos, 1))
    assert ledger_statuses(db_url) == {"sent": ORDERS}
    assert dpd.get("sent", 0) + dhl.get("sent", 0) == ORDERS
    assert dpd.get("in_other_run", 0) + dpd.get("done_before", 0) == dhl.get("sent", 0)


def test_claims_are_released_when_the_batch_ends_and_a_later_run_finds_nothing(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    order_nos = dhl_and_dpd_orders(db_url, 6)

    first = carrier_batch(db_url, "dpd")()
    second = carrier_batch(db_url, "dhl")()

    assert first == {"sent": 6} and second == {}
    assert mails_per_order(smtp) == Counter(dict.fromkeys(order_nos, 1))
    with session_scope(db_url) as session:
        assert set(session.scalars(select(ShippingMail.claimed_by))) == {None}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_deliver_flows_of_dhl_and_dpd_at_once_mail_every_buyer_exactly_once(
    db_url: str, smtp: FaultySmtpServer
) -> None:
    from flows.deliver import deliver

    order_nos = dhl_and_dpd_orders(db_url, ORDERS)
    # 6 s of sending: longer than the mail task's retry delay (5 s), as on a real relay
    smtp.delay_next(ORDERS, 0.3, stage="data")

    dpd, dhl = side_by_side(
        lambda: asyncio.run(deliver(carriers=["dpd"], confirm_portals=False)),
        lambda: asyncio.run(deliver(carriers=["dhl"], confirm_portals=False)),
    )

    assert isinstance(dpd, DeliverResult) and isinstance(dhl, DeliverResult), (dpd, dhl)
    assert mails_per_order(smtp) == Counter(dict.fromkeys(order_nos, 1))
    assert ledger_statuses(db_url) == {"sent": ORDERS}
    assert dpd.totals.get("sent", 0) + dhl.totals.get("sent", 0) == ORDERS


def test_claims_of_a_dead_owner_are_taken_over_and_those_of_a_live_one_are_not(
    db_url: str, settings: Settings
) -> None:
    dhl_and_dpd_orders(db_url, 4)
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=["dpd"])
    silent = OwnerInfo("silent@lager-2:17", "lager-2", 17)  # another host: only its heartbeat
    alive = OwnerInfo("alive@lager-2:18", "lager-2", 18)
    with session_scope(db_url) as session:
        register_owner(session, owner=silent, grace=timedelta(seconds=-1))
        register_owner(session, owner=alive, grace=timedelta(minutes=5))
    composer = MailComposer(settings, Accounts.load(settings.accounts_path), "dpd")
    prepare_batch(db_url, order_ids=ids, composer=composer, flow_run_id=None)  # pending rows
    with session_scope(db_url) as session:
        for order_id, owner in zip(ids, [silent, silent, alive, alive], strict=True):
            session.execute(
                update(ShippingMail)
                .where(ShippingMail.order_id == order_id)
                .values(claimed_by=owner.token)
            )

    won = claim_orders(db_url, order_ids=ids, token="new@lager-1:5", carrier="dpd")

    assert won == set(ids[:2])
