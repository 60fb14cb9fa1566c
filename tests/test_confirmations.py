"""Portal confirmations through the ledger, against the portal simulators over real HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest
from sqlalchemy import select

from connectors.base import OrderParcel
from connectors.registry import open_connector
from core.accounts import Accounts
from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings, reset_settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, Order
from db.queries.confirmations import confirmations_in_status, mark_attempted
from db.queries.mails import insert_mail_rows, mark_shipped
from db.session import session_scope
from db.types import utcnow
from simulators.kaufland import simulator as kaufland_simulator
from simulators.stack import PortalOrder, PortalStack, portal_orders_from_store
from tasks.confirmations import (
    open_confirmations,
    poll_submitted,
    submit_pending,
    to_shipment,
)
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders


def configure(
    stack: PortalStack, settings: Settings, monkeypatch: pytest.MonkeyPatch, extra: str = ""
) -> None:
    settings.accounts_path.write_text(stack.accounts_toml() + extra)
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    reset_settings()


def orders_of(
    db_url: str, portal: str, count: int, *, seed: int = 3, pool: int = 60
) -> list[Order]:
    """`count` stored orders moved to `portal`, each with one DHL parcel, marked shipped and
    its shipping mail sent (the portal is told after the mail: core/confirmation_gate.py);
    picked from `pool` seeded sample orders of all portals."""
    samples = [s for s in seed_orders(db_url, pool, seed=seed) if s.order["portal"] == portal]
    chosen = [s.order["order_no"] for s in samples[:count]]
    assert len(chosen) == count, f"not enough {portal} sample orders"
    for order_no, number in zip(chosen, numbers("dhl", count, seed=seed), strict=True):
        with session_scope(db_url) as session:
            attach_parcels(
                session,
                rows=[
                    ParcelRow(
                        1,
                        order_no,
                        "dhl",
                        normalise_tracking_number("dhl", number),
                        date(2026, 11, 26),
                    )
                ],
                source="test",
            )
    with session_scope(db_url) as session:
        found = list(session.scalars(select(Order).where(Order.order_no.in_(chosen))))
        mark_shipped(session, order_ids=[o.id for o in found], at=utcnow())
        insert_mail_rows(session, rows=[sent_mail(o) for o in found])
    return found


def sent_mail(order: Order) -> dict[str, object]:
    """The shipping-mail ledger row a deliver run leaves for a mail the server took."""
    return {
        "order_id": order.id,
        "status": "sent",
        "carrier": "dhl",
        "message_id": f"<{order.order_no}.shipped@test>",
        "recipient": order.buyer_email,
        "language": order.language,
        "attempts": 1,
        "finished_at": utcnow(),
    }


def statuses(db_url: str) -> dict[str, tuple[str, str | None, str | None]]:
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Order.order_no, Confirmation).join(
                Confirmation, Confirmation.order_id == Order.id
            )
        ).all()
    return {no: (c.status, c.error_code, c.error_text) for no, c in rows}


def open_and_submit(db_url: str, settings: Settings, orders: list[Order], portal: str) -> None:
    open_confirmations(
        db_url,
        order_ids=[o.id for o in orders],
        accounts=Accounts.load(settings.accounts_path),
        run_id=None,
    )
    report = asyncio.run(submit_pending(db_url, portal=portal, run_id=None))
    assert report.errors == []


def poll_until_done(db_url: str, portal: str = "amazon", rounds: int = 20) -> None:
    for _ in range(rounds):
        asyncio.run(poll_submitted(db_url, portal=portal))
        if not any(s == "submitted" for s, _, _ in statuses(db_url).values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"still submitted: {statuses(db_url)}")


def test_amazon_feed_turns_confirmed_and_unknown_order_rejected_with_amazons_words(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = orders_of(db_url, "amazon", 2)
    portals.seed(
        o for o in portal_orders_from_store(db_url) if o.portal_order_id != bad.portal_order_id
    )
    portals.accounts.setdefault(bad.portal_account, "amazon")
    configure(portals, settings, monkeypatch)
    open_and_submit(db_url, settings, [good, bad], "amazon")
    assert {s for s, _, _ in statuses(db_url).values()} == {"submitted"}
    poll_until_done(db_url)
    result = statuses(db_url)
    assert result[good.order_no] == ("confirmed", None, None)
    status, code, text = result[bad.order_no]
    assert status == "rejected" and code and bad.portal_order_id in (text or "")


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_feed_ending_fatal_or_cancelled_goes_back_to_pending_and_is_resubmitted(
    db_url: str,
    settings: Settings,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
    outcome: str,
) -> None:
    [order] = orders_of(db_url, "amazon", 1)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    portals.apps["amazon"].state.sim.force_next_feed(outcome)
    open_and_submit(db_url, settings, [order], "amazon")
    poll_until_done(db_url)
    status, _, text = statuses(db_url)[order.order_no]
    assert status == "pending" and outcome in (text or "")
    asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
    poll_until_done(db_url)
    assert statuses(db_url)[order.order_no][0] == "confirmed"


def test_stuck_feed_is_resubmitted_after_the_configured_age(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "amazon", 1)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    monkeypatch.setenv("LIEFERN_FEED_STUCK_MINUTES", "0")
    reset_settings()
    portals.apps["amazon"].state.sim.force_next_feed("IN_PROGRESS")
    open_and_submit(db_url, settings, [order], "amazon")
    asyncio.run(poll_submitted(db_url, portal="amazon"))
    status, code, _ = statuses(db_url)[order.order_no]
    assert (status, code) == ("pending", "stuck")


def test_crash_between_create_feed_and_storing_its_id_loses_nothing(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed reached Amazon, its id never reached the ledger: the row is still pending and
    goes out again in the next feed; Amazon accepts the same tracking number twice."""
    [order] = orders_of(db_url, "amazon", 1)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    accounts = Accounts.load(settings.accounts_path)
    open_confirmations(db_url, order_ids=[order.id], accounts=accounts, run_id=None)
    with session_scope(db_url) as session:
        [entry] = confirmations_in_status(session, portal="amazon", status="pending")
        shipment = to_shipment(*entry)

    async def submit_and_crash() -> None:  # the process dies before recording the answer
        connector = open_connector(accounts.options("amazon", order.portal_account), simulator=True)
        await connector.submit([shipment])
        await connector.aclose()

    asyncio.run(submit_and_crash())
    assert statuses(db_url)[order.order_no][0] == "pending"
    asyncio.run(submit_pending(db_url, portal="amazon", run_id=None))
    poll_until_done(db_url)
    assert statuses(db_url)[order.order_no][0] == "confirmed"
    assert portals.apps["amazon"].state.sim.count("createFeed") == 2


def test_throttled_amazon_recovers_without_duplicates(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = orders_of(db_url, "amazon", 3)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    sim = portals.apps["amazon"].state.sim
    sim.fail_next("createFeed", 429, 2)
    open_and_submit(db_url, settings, orders, "amazon")
    poll_until_done(db_url)
    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    # one feed per seller account, none twice
    assert sim.count("createFeed", 202) == len({o.portal_account for o in orders})


@pytest.mark.parametrize("portal", ["ebay", "kaufland", "hood", "rakuten"])
def test_synchronous_portals_confirm_at_once(
    db_url: str,
    settings: Settings,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
    portal: str,
) -> None:
    orders = orders_of(db_url, portal, 1 if portal == "rakuten" else 2, seed=11)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    open_and_submit(db_url, settings, orders, portal)
    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    # a second run has nothing left to do and tells the portal nothing twice
    report = asyncio.run(submit_pending(db_url, portal=portal, run_id=None))
    assert sum(report.counts.values()) == 0


def test_portal_without_credentials_keeps_rows_pending_and_says_what_to_set(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "ebay", 1, seed=11)
    portals.seed(portal_orders_from_store(db_url))
    settings.accounts_path.write_text(portals.accounts_toml())
    reset_settings()
    open_confirmations(
        db_url, order_ids=[order.id], accounts=Accounts.load(settings.accounts_path), run_id=None
    )
    report = asyncio.run(submit_pending(db_url, portal="ebay", run_id=None))
    assert ("LIEFERN_EBAY_" in report.errors[0] and "refresh" not in report.errors[0].lower()) or (
        "CLIENT_ID" in report.errors[0]
    )
    assert statuses(db_url)[order.order_no][0] == "pending"


def test_revoked_ebay_grant_fails_loudly_and_loses_nothing(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "ebay", 1, seed=11)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    from simulators import ebay

    ebay.simulator(portals.apps["ebay"]).revoke_refresh_token()
    open_confirmations(
        db_url, order_ids=[order.id], accounts=Accounts.load(settings.accounts_path), run_id=None
    )
    report = asyncio.run(submit_pending(db_url, portal="ebay", run_id=None))
    assert "grant" in report.errors[0].lower()
    assert statuses(db_url)[order.order_no][0] == "pending"


def test_switched_off_account_is_skipped_with_the_reason(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "kaufland", 1, seed=11)
    portals.seed([PortalOrder("kaufland", order.portal_account, order.portal_order_id)])
    configure(portals, settings, monkeypatch)
    text = settings.accounts_path.read_text().replace(
        'portal = "kaufland"', 'portal = "kaufland"\nconfirm = false'
    )
    settings.accounts_path.write_text(text)
    open_confirmations(
        db_url, order_ids=[order.id], accounts=Accounts.load(settings.accounts_path), run_id=None
    )
    status, _, reason = statuses(db_url)[order.order_no]
    assert status == "skipped" and "mark-as-sent is off" in (reason or "")


def test_ledger_rows_carry_every_parcel_of_the_order_and_whether_it_was_attempted(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "ebay", 1)
    second = normalise_tracking_number("dhl", numbers("dhl", 1, seed=99)[0])
    with session_scope(db_url) as session:
        attach_parcels(
            session,
            rows=[ParcelRow(1, order.order_no, "dhl", second, date(2026, 11, 26))],
            source="test",
        )
    configure(portals, settings, monkeypatch)
    accounts = Accounts.load(settings.accounts_path)
    open_confirmations(db_url, order_ids=[order.id], accounts=accounts, run_id=None)
    with session_scope(db_url) as session:
        entries = confirmations_in_status(session, portal="ebay", status="pending")
        items = session.scalars(select(Order).where(Order.id == order.id)).one().items
        expected_items = [(i.item_id, i.quantity, i.sku) for i in items]
    shipments = [to_shipment(*entry) for entry in entries]
    assert [s.tracking_number for s in shipments][1] == second
    assert all(s.order_tracking_numbers == shipments[0].order_tracking_numbers for s in shipments)
    assert shipments[0].order_tracking_numbers[1] == second
    assert [(i.item_id, i.quantity, i.sku) for i in shipments[0].items] == expected_items
    assert [s.sent_before for s in shipments] == [False, False]
    with session_scope(db_url) as session:
        mark_attempted(session, ids=[entries[0][0].id], at=utcnow(), run_id=None)
    with session_scope(db_url) as session:
        again = confirmations_in_status(session, portal="ebay", status="pending")
    assert [to_shipment(*e).sent_before for e in again] == [True, False]


def test_every_parcel_of_an_amazon_order_is_opened_with_its_carrier_and_place(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "amazon", 1)
    dpd = normalise_tracking_number("dpd", numbers("dpd", 1, seed=98)[0])
    with session_scope(db_url) as session:
        attach_parcels(
            session,
            rows=[ParcelRow(1, order.order_no, "dpd", dpd, date(2026, 11, 26))],
            source="test",
        )
    configure(portals, settings, monkeypatch)
    accounts = Accounts.load(settings.accounts_path)
    open_confirmations(db_url, order_ids=[order.id], accounts=accounts, run_id=None)
    with session_scope(db_url) as session:
        entries = confirmations_in_status(session, portal="amazon", status="pending")
    shipments = [to_shipment(*entry) for entry in entries]
    assert len(shipments) == 2  # the second parcel is no longer skipped
    first = shipments[0].tracking_number
    assert [s.order_parcels for s in shipments] == [
        (OrderParcel("dhl", first), OrderParcel("dpd", dpd))
    ] * 2
    assert [s.parcel_index for s in shipments] == [0, 1]


def parcel_rows(db_url: str, order_id: int) -> list[tuple[str, str, str | None]]:
    """(carrier, status, error text) of each ledger row of an order, in parcel order."""
    from db.models import Parcel

    with session_scope(db_url) as session:
        rows = session.execute(
            select(Parcel.carrier, Confirmation.status, Confirmation.error_text)
            .join(Parcel, Parcel.id == Confirmation.parcel_id)
            .where(Confirmation.order_id == order_id)
            .order_by(Parcel.id)
        ).all()
    return [(c, s, t) for c, s, t in rows]


def add_parcel(db_url: str, order: Order, carrier: str, seed: int) -> str:
    number = normalise_tracking_number(carrier, numbers(carrier, 1, seed=seed)[0])
    with session_scope(db_url) as session:
        attach_parcels(
            session,
            rows=[ParcelRow(1, order.order_no, carrier, number, date(2026, 11, 26))],
            source="test",
        )
    return number


def test_two_parcel_amazon_orders_end_with_each_package_told_or_skipped_with_the_reason(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = orders_of(db_url, "amazon", 8, seed=5)
    with session_scope(db_url) as session:
        pieces = {o.id: sum(i.quantity for i in session.get(Order, o.id).items) for o in orders}  # type: ignore[union-attr]
    several = next(o for o in orders if pieces[o.id] >= 2)
    single = next(o for o in orders if pieces[o.id] == 1)
    for n, order in enumerate((several, single)):
        add_parcel(db_url, order, "dpd", seed=90 + n)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    open_and_submit(db_url, settings, [several, single], "amazon")
    for _ in range(20):
        asyncio.run(poll_submitted(db_url, portal="amazon"))
        told = parcel_rows(db_url, several.id) + parcel_rows(db_url, single.id)
        if "submitted" not in [s for _, s, _ in told]:
            break
        time.sleep(0.1)
    assert [s for _, s, _ in parcel_rows(db_url, several.id)] == ["confirmed", "confirmed"]
    [(_, first, _), (_, second, reason)] = parcel_rows(db_url, single.id)
    assert (first, second) == ("confirmed", "skipped")
    assert "1 piece(s) for 2 parcels" in (reason or "")


def test_a_kaufland_order_with_dhl_and_dpd_parcels_holds_each_under_its_carrier(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = orders_of(db_url, "kaufland", 1, seed=5)
    dpd = add_parcel(db_url, order, "dpd", seed=96)
    portals.seed(portal_orders_from_store(db_url))
    configure(portals, settings, monkeypatch)
    open_and_submit(db_url, settings, [order], "kaufland")
    assert [s for _, s, _ in parcel_rows(db_url, order.id)] == ["confirmed", "confirmed"]
    with session_scope(db_url) as session:
        unit_ids = [int(i.item_id) for i in session.get(Order, order.id).items]  # type: ignore[union-attr]
    for unit_id in unit_ids:
        held = kaufland_simulator(portals.apps["kaufland"]).unit(unit_id).carriers()
        assert held[dpd] == "DPD"
        assert set(held.values()) == {"DHL", "DPD"}
