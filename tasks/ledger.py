"""The flows' looks into the store, each a Prefect task: a flow body only orchestrates, and the
run's history shows what a run read and when (which carriers waited, which accounts had rows).

The queries themselves live in db/queries; these wrap them in a thread (the flow's loop keeps
the mails and the portals going meanwhile). Reads are retried where a second try can help: a
database restarting is an outage, not a bad row (tasks/retry_rule.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from core.accounts import Accounts
from core.settings import get_settings
from db.queries.confirmations import (
    accounts_with,
    confirmation_counts,
    orders_missing_confirmations,
)
from db.queries.holds import HeldRow, held_rows
from db.queries.mails import mark_shipped, orders_to_mail
from db.queries.parcels import carriers_with_unmailed_orders
from db.queries.run_protocol import confirmations_touched_since, outcomes_of_orders
from db.session import session_scope
from db.types import utcnow
from flows.protocol import publish_protocol
from flows.results import ProtocolCounts
from tasks.holds import release_held
from tasks.retry_rule import retry_if_it_helps

READ: dict[str, Any] = {  # every look: retried only where a second try can help
    "retries": 2,
    "retry_delay_seconds": 5,
    "retry_condition_fn": retry_if_it_helps,
    "cache_policy": NO_CACHE,
}


def id_list(order_ids: Iterable[int]) -> list[int]:
    """Order ids as a task's parameter, handed to the task as they are: Prefect would look
    through every element for futures and states to resolve, twice per call on the flow's own
    thread (some 33 ms per 10,000 ids each time; a deliver run of 10,000 orders passes its ids
    several times: the groups done, the mail batches, the openings, the counts, the protocol)."""
    return cast(list[int], quote(list(order_ids)))


def waiting_carriers(db_url: str, carriers: list[str] | None) -> list[str]:
    """The carriers with orders still to mail, in the order asked for (all when None)."""
    with session_scope(db_url) as session:
        waiting = carriers_with_unmailed_orders(session)
    return [c for c in carriers if c in waiting] if carriers else waiting


@task(name="carrier-groups", **READ)
async def carrier_groups(db_url: str, carriers: list[str] | None) -> list[str]:
    """The deliver run's carrier groups: the carriers with orders still to mail."""
    return await asyncio.to_thread(waiting_carriers, db_url, carriers)


@task(name="mark-shipped", task_run_name="mark-shipped-{carrier}", **READ)
async def mark_group_shipped(
    db_url: str, carrier: str, done: list[int], dry_run: bool = False
) -> list[int]:
    """A carrier group's orders to deliver (not in `done`: mailed by an earlier group), marked
    shipped; a dry run only names them. Marking twice changes nothing (only open orders move)."""

    def mark() -> list[int]:
        skip = set(done)
        with session_scope(db_url) as session:
            order_ids = [i for i in orders_to_mail(session, carriers=[carrier]) if i not in skip]
            if not dry_run:
                mark_shipped(session, order_ids=order_ids, at=utcnow())
        return order_ids

    order_ids = await asyncio.to_thread(mark)
    get_run_logger().info("%s: %d orders to deliver", carrier, len(order_ids))
    return order_ids


@task(name="accounts-with-rows", task_run_name="accounts-{status}", **READ)
async def accounts_in_status(db_url: str, status: str) -> list[tuple[str, str]]:
    """(portal, account) pairs with confirmations in `status`."""

    def read() -> list[tuple[str, str]]:
        with session_scope(db_url) as session:
            return accounts_with(session, status=status)

    return await asyncio.to_thread(read)


@task(name="orders-left-unconfirmed", **READ)
async def orders_left_unconfirmed(db_url: str, mailed_before: datetime) -> list[int]:
    """Mailed orders without confirmation rows: left behind by a run that died in between."""

    def read() -> list[int]:
        with session_scope(db_url) as session:
            return orders_missing_confirmations(session, mailed_before=mailed_before)

    return await asyncio.to_thread(read)


@dataclass(frozen=True)
class ConfirmationStanding:
    """Where a run's confirmations stand: counts per portal and status, and the held rows."""

    counts: dict[str, dict[str, int]]
    held: list[HeldRow]


@task(name="confirmation-counts", **READ)
async def confirmation_standing(
    db_url: str, order_ids: list[int] | None = None
) -> ConfirmationStanding:
    """Counts per portal and status (of these orders, or all) and their held rows."""

    def read() -> ConfirmationStanding:
        with session_scope(db_url) as session:
            counts = confirmation_counts(session, order_ids=order_ids)
            held = held_rows(session, order_ids=order_ids) if order_ids is not None else []
        return ConfirmationStanding(counts, held)

    return await asyncio.to_thread(read)


@task(name="release-held", **READ)
async def release_held_rows(db_url: str) -> int:
    """Confirmations held for a mail that has been sent since (or released) turn pending."""
    accounts = Accounts.load(get_settings().accounts_path)
    released = await asyncio.to_thread(release_held, db_url, accounts=accounts)
    if released:
        get_run_logger().info("%d held confirmations released", released)
    return released


@task(name="run-protocol", **READ)
async def protocol_of_orders(
    db_url: str, order_ids: Sequence[int], key: str, skip_mail: set[str] | None = None
) -> ProtocolCounts:
    """The per-order protocol of the orders a run touched (flows/protocol.py)."""

    def read() -> Any:
        with session_scope(db_url) as session:
            return outcomes_of_orders(session, order_ids=sorted(order_ids))

    outcomes = await asyncio.to_thread(read)
    return await publish_protocol(outcomes, key=key, skip_mail=skip_mail)


@task(name="run-protocol", **READ)
async def protocol_since(db_url: str, since: datetime, key: str) -> ProtocolCounts:
    """The per-order protocol of the confirmations touched since `since` (a poll run)."""

    def read() -> Any:
        with session_scope(db_url) as session:
            return confirmations_touched_since(session, since=since)

    outcomes = await asyncio.to_thread(read)
    return await publish_protocol(outcomes, key=key)
