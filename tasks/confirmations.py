"""Telling the portals: open ledger rows, submit per portal and account, poll what is async.

Each seller account of a portal runs in its own task (`confirm-<portal>-<account>`), so one
portal or account being down never holds up another, and accounts of one portal go side by side:
each has its own connector, so its own rate limit and connection pool. Every call
goes through the ledger: rows are committed as attempted before the portal is called, and the
answers are committed right after. A row still `pending` after an attempt is simply submitted
again: every connector is idempotent for the same parcel (eBay and Kaufland read back first,
Amazon accepts the same tracking number twice, Hood and Rakuten answer "already shipped").
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from connectors.base import (
    ConfirmationResult,
    OrderParcel,
    ParcelShipment,
    PortalConnector,
    ShipmentItem,
    SubmittedConfirmation,
)
from connectors.errors import AuthError, ConnectorError
from core.accounts import AccountOptions, Accounts
from core.clock import BUSINESS_TZ
from core.confirmation_gate import MailState, hold_for
from core.crashpoints import crash_point
from core.domain import ConfirmationStatus as S
from core.settings import Settings, get_settings
from db.queries.confirmations import (
    LedgerEntry,
    LedgerOrder,
    LedgerParcel,
    LedgerRow,
    accounts_with,
    add_confirmations,
    confirmations_in_status,
    existing_confirmation_keys,
    last_attempted_at,
    mark_attempted,
    parcels_of_orders,
    record_results,
)
from db.queries.holds import released_pairs
from db.session import session_scope
from db.types import utcnow
from tasks.guard import RunOverlap, waiting_run_guard
from tasks.holds import release_settled
from tasks.own_loop import on_own_loop
from tasks.retry_rule import retry_if_it_helps

# A run that finds another confirming the same portal waits this long, then leaves its rows
# to the next run or poll.
CONFIRM_LOCK_WAIT = 120.0


@dataclass
class PortalReport:
    portal: str
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    retryable: bool = False  # some error in `errors` may go away on another try


class PortalFailed(Exception):
    """A portal task's accounts failed: the errors in one line, and whether a retry helps
    (tasks/retry_rule.py). The rows stay pending for the next run either way."""

    def __init__(self, errors: Sequence[str], *, retryable: bool) -> None:
        super().__init__("; ".join(errors))
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:  # pickled intact (Prefect's result storage)
        return (_portal_failed, (str(self), self.retryable))


def _portal_failed(message: str, retryable: bool) -> PortalFailed:
    return PortalFailed([message], retryable=retryable)


def open_confirmations(
    db_url: str, *, order_ids: Sequence[int], accounts: Accounts, run_id: str | None
) -> int:
    """One ledger row per (order, portal, parcel); `skipped` where the account says so, `held`
    while the order's shipping mail holds it (core/confirmation_gate.py). Held rows of these
    orders whose mail has been sent since are released (tasks/holds.py). A portal that takes
    one tracking number per order is told of the first parcel only (its connector says so)."""
    from connectors.registry import one_tracking_number, skip_reason

    rows: list[dict[str, Any]] = []
    now = utcnow()
    with session_scope(db_url) as session:
        known = existing_confirmation_keys(session, order_ids=order_ids)
        # only orders with rows already can be held or released: a first run skips both looks
        earlier = sorted({order_id for order_id, _, _ in known})
        released = released_pairs(session, order_ids=earlier)
        for order in parcels_of_orders(session, order_ids=order_ids):
            if order.portal == "shop":
                continue
            options = accounts.options(order.portal, order.account)
            hold = hold_for(
                options,
                order_no=order.order_no,
                mail=MailState(order.mail_status, order.mail_reason),
                released=(order.order_id, order.portal) in released,
            )
            for position, parcel_id in enumerate(order.parcel_ids):
                if (order.order_id, order.portal, parcel_id) in known:
                    continue
                reason = skip_reason(options) if not options.confirm else None
                if reason is None and position > 0:
                    reason = one_tracking_number(order.portal)
                skipped = reason is not None
                status, code = ("skipped", None) if skipped else ("pending", None)
                if not skipped and hold is not None:
                    status, code, reason = "held", hold.code, hold.text[:1000]
                rows.append(
                    {
                        "order_id": order.order_id,
                        "parcel_id": parcel_id,
                        "portal": order.portal,
                        "account": order.account,
                        "status": status,
                        "error_code": code,
                        "error_text": reason,
                        "flow_run_id": run_id,
                        "created_at": now,
                        "finished_at": now if skipped else None,
                        "attempts": 0,
                    }
                )
        add_confirmations(session, rows=rows)
        if earlier:
            release_settled(session, accounts=accounts, order_ids=earlier)
        crash_point("confirm.opening")
    crash_point("confirm.opened")
    return len(rows)


def to_shipment(
    row: LedgerRow, order: LedgerOrder, parcel: LedgerParcel, *, now: datetime | None = None
) -> ParcelShipment:
    # the parcel's ship date at the time the order was marked shipped (German time)
    shipped = order.shipped_at.astimezone(BUSINESS_TZ) if order.shipped_at else None
    at = (
        shipped.timetz()
        if shipped and shipped.date() == parcel.ship_date
        else time(12, tzinfo=BUSINESS_TZ)
    )
    # never a time still to come: noon of today in the morning, or a future date stored
    # before dates were checked (eBay refuses it, Amazon would show it to the buyer)
    shipped_at = min(datetime.combine(parcel.ship_date, at), now or utcnow())
    return ParcelShipment(
        confirmation_id=row.id,
        order_no=order.order_no,
        portal_order_id=order.portal_order_id,
        account=row.account,
        carrier=parcel.carrier,
        tracking_number=parcel.tracking_number,
        shipped_at=shipped_at,
        items=tuple(ShipmentItem(i.item_id, i.quantity, i.sku) for i in order.items),
        order_tracking_numbers=tuple(order.tracking_numbers),
        order_parcels=tuple(OrderParcel(p.carrier, p.tracking_number) for p in order.parcels),
        parcel_index=next((n for n, p in enumerate(order.parcels) if p.id == parcel.id), 0),
        sent_before=row.attempts > 0,
        return_tracking_number=parcel.return_tracking_number,
    )


def result_columns(
    result: ConfirmationResult, *, attempts: int, max_attempts: int
) -> dict[str, Any]:
    now = utcnow()
    columns: dict[str, Any] = {
        "id": result.confirmation_id,
        "error_code": result.error_code,
        "error_text": (result.error_text or None) and result.error_text[:1000],
    }
    status = result.status
    if status in (S.FAILED, S.PENDING) and attempts < max_attempts:
        status = S.PENDING  # transient: the next run (or poll) submits it again
    elif status == S.PENDING:
        status = S.FAILED
    columns["status"] = str(status)
    if result.reference:
        columns["reference"] = result.reference[:128]
    if status == S.SUBMITTED:
        columns["submitted_at"] = now
        message_id = result.extra.get("message_id")
        columns["message_id"] = int(message_id) if message_id else None
    if status in (S.CONFIRMED, S.REJECTED, S.FAILED, S.SKIPPED):
        columns["finished_at"] = now
    return columns


def _is_simulator(options: AccountOptions) -> bool:
    return options.extra.get("simulator", "").lower() in ("true", "1", "yes")


async def submit_pending(
    db_url: str,
    *,
    portal: str,
    run_id: str | None,
    account: str | None = None,
    settings: Settings | None = None,
) -> PortalReport:
    """Submit every pending row of one portal (of one of its accounts, if given), account by
    account, batch by batch."""
    from connectors.registry import open_connector, skip_reason

    settings = settings or get_settings()
    accounts = Accounts.load(settings.accounts_path)
    report = PortalReport(portal)
    with session_scope(db_url) as session:
        rows = confirmations_in_status(session, portal=portal, status="pending", account=account)
    by_account: dict[str, list[LedgerEntry]] = defaultdict(list)
    for row in rows:
        by_account[row[0].account].append(row)
    for account, group in by_account.items():
        options = accounts.options(portal, account)
        if not options.confirm:
            _record(
                db_url,
                report,
                [ConfirmationResult(c.id, S.PENDING) for c, _, _ in group],
                group,
                settings,
                override={"status": "skipped", "error_text": skip_reason(options)},
            )
            continue
        try:
            connector = open_connector(options, simulator=_is_simulator(options))
        except (AuthError, ValueError) as error:
            report.errors.append(f"{portal} account {account}: {error}")
            continue
        try:
            if due := next_feed_due(db_url, connector, settings):
                _wait_for_feed(db_url, report, group, due, settings)
                continue
            await _submit_account(db_url, connector, group, report, run_id, settings)
        except AuthError as error:
            report.errors.append(
                f"{portal} account {account}: {error} — the confirmations stay pending"
            )
        finally:
            await connector.aclose()
    return report


async def _submit_account(
    db_url: str,
    connector: PortalConnector,
    group: list[LedgerEntry],
    report: PortalReport,
    run_id: str | None,
    settings: Settings,
) -> None:
    # Amazon: everything in one feed (the connector splits it only above 10 MiB)
    batch = len(group) if _feeds(connector) else settings.confirm_batch_size
    for start in range(0, len(group), batch):
        chunk = group[start : start + batch]
        shipments = [to_shipment(c, o, p) for c, o, p in chunk]
        refused: list[ConfirmationResult] = []
        to_send: list[ParcelShipment] = []
        for shipment in shipments:
            verdict = connector.check(shipment)
            (refused if verdict else to_send).append(verdict or shipment)  # type: ignore[arg-type]
        _record(db_url, report, refused, chunk, settings)
        with session_scope(db_url) as session:
            mark_attempted(
                session, ids=[s.confirmation_id for s in to_send], at=utcnow(), run_id=run_id
            )
        crash_point(f"confirm.attempted.{connector.portal}")
        if to_send:
            results = await connector.submit(to_send)
            crash_point(f"confirm.submitted.{connector.portal}")  # told, nothing recorded yet
            _record(db_url, report, results, chunk, settings, attempted=True)
            crash_point(f"confirm.recorded.{connector.portal}")


# -- Amazon: one order feed per seller account every 20 minutes ---------------------------------
# Amazon's "Feeds API Best Practices"
# (https://developer-docs.amazon.com/sp-api/docs/feeds-api-best-practices): "Upload one feed
# of the same type no more than once every 20 minutes", and "combine the data into less
# frequent larger feeds". Rows of an account whose last feed is younger stay pending with the
# time of the next one; the next deliver run or poll-portals (every 5 minutes) sends them all
# in one feed. The last feed's time is the ledger's `attempted_at`, committed before
# createFeed: a feed that went out but whose id never reached the ledger still counts.

FEED_WAIT = "feed_interval"


def _feeds(connector: PortalConnector) -> bool:
    return bool(getattr(connector, "sends_order_feeds", False))


def next_feed_due(db_url: str, connector: PortalConnector, settings: Settings) -> datetime | None:
    """When this Amazon account may get its next order feed, if that is not now."""
    minutes = settings.amazon_feed_interval_minutes
    if not _feeds(connector) or minutes <= 0:
        return None
    with session_scope(db_url) as session:
        last = last_attempted_at(
            session, portal=connector.portal, account=getattr(connector, "account", "")
        )
    due = last + timedelta(minutes=minutes) if last else None
    return due if due and due > utcnow() else None


def feed_wait_reason(due: datetime, minutes: int) -> str:
    at = due.astimezone(BUSINESS_TZ)
    if at.second or at.microsecond:  # never a minute too early
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"next Amazon feed at {at:%H:%M} — one feed per seller every {minutes} minutes"


def _wait_for_feed(
    db_url: str,
    report: PortalReport,
    group: Sequence[LedgerEntry],
    due: datetime,
    settings: Settings,
) -> None:
    """Pending with the reason, not a problem: the rows go out with the next feed."""
    reason = feed_wait_reason(due, settings.amazon_feed_interval_minutes)
    columns = [
        {"id": c.id, "status": "pending", "error_code": FEED_WAIT, "error_text": reason}
        for c, _, _ in group
    ]
    with session_scope(db_url) as session:
        record_results(session, results=columns)
    report.counts["waiting"] += len(columns)


def _record(
    db_url: str,
    report: PortalReport,
    results: Sequence[ConfirmationResult],
    rows: Sequence[LedgerEntry],
    settings: Settings,
    *,
    attempted: bool = False,
    override: dict[str, Any] | None = None,
) -> None:
    if not results:
        return
    by_id = {c.id: (c, o) for c, o, _ in rows}
    columns = []
    for result in results:
        row, order = by_id[result.confirmation_id]
        values = result_columns(
            result,
            attempts=row.attempts + (1 if attempted else 0),
            max_attempts=settings.confirm_max_attempts,
        )
        if override:
            values.update(override)
        columns.append(values)
        report.counts[values["status"]] += 1
        if values["status"] in ("rejected", "failed") or (
            values["status"] == "pending" and values.get("error_text")
        ):
            report.problems.append(
                {
                    "order_no": order.order_no,
                    "status": values["status"],
                    "reason": f"[{result.error_code}] {result.error_text}"
                    if result.error_code
                    else str(result.error_text),
                }
            )
    with session_scope(db_url) as session:
        record_results(session, results=columns)


async def poll_submitted(
    db_url: str, *, portal: str, account: str | None = None, settings: Settings | None = None
) -> PortalReport:
    """Ask the portal about `submitted` rows (of one account, if given); stuck ones go back to
    pending (resubmitted)."""
    from connectors.registry import open_connector

    settings = settings or get_settings()
    accounts = Accounts.load(settings.accounts_path)
    report = PortalReport(portal)
    with session_scope(db_url) as session:
        rows = confirmations_in_status(session, portal=portal, status="submitted", account=account)
    by_account: dict[str, list[LedgerEntry]] = defaultdict(list)
    for row in rows:
        by_account[row[0].account].append(row)
    stuck_before = utcnow() - timedelta(minutes=settings.feed_stuck_minutes)
    for account, group in by_account.items():
        options = accounts.options(portal, account)
        try:
            connector = open_connector(options, simulator=_is_simulator(options))
        except (AuthError, ValueError) as error:
            report.errors.append(f"{portal} account {account}: {error}")
            continue
        try:
            submitted = [
                SubmittedConfirmation(
                    c.id, c.account, c.reference or "", c.message_id, c.submitted_at
                )
                for c, _, _ in group
            ]
            results = await connector.poll(submitted)
            crash_point(f"confirm.polled.{portal}")
            answered = {r.confirmation_id for r in results}
            results += [
                ConfirmationResult(
                    c.id,
                    S.PENDING,
                    c.reference,
                    "stuck",
                    f"feed {c.reference} not processed after "
                    f"{settings.feed_stuck_minutes} min; will be resubmitted",
                )
                for c, _, _ in group
                if c.id not in answered and c.submitted_at and c.submitted_at < stuck_before
            ]
            _record(db_url, report, results, group, settings)
            crash_point(f"confirm.poll_recorded.{portal}")
            report.counts["still_processing"] += len(group) - len(results)
        except ConnectorError as error:
            report.errors.append(f"{portal} account {account}: {error}")
            report.retryable |= error.retryable
        finally:
            await connector.aclose()
    return report


@task(
    name="open-confirmations",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
)
async def open_ledger_rows(
    db_url: str, order_ids: list[int], run_id: str | None = None
) -> list[PendingAccount]:
    """Open the confirmation rows of these orders (safe to repeat: known rows stay as they
    are); the accounts that have pending rows now."""
    from connectors.registry import sends_order_feeds

    def open_rows() -> list[PendingAccount]:
        accounts = Accounts.load(get_settings().accounts_path)
        if order_ids:
            opened = open_confirmations(
                db_url, order_ids=order_ids, accounts=accounts, run_id=run_id
            )
            get_run_logger().info("%d confirmations opened", opened)
        with session_scope(db_url) as session:
            pending = accounts_with(session, status="pending")
        return [
            PendingAccount(portal, account, sends_order_feeds(accounts.options(portal, account)))
            for portal, account in pending
        ]

    return await asyncio.to_thread(open_rows)


@dataclass(frozen=True, slots=True)
class PendingAccount:
    portal: str
    account: str
    order_feeds: bool  # its confirmations go out as order feeds (connectors/registry.py)


def confirm_lock(portal: str, account: str) -> str:
    """The run guard's lock of one account's confirmations: never two passes of it at once
    (a deliver run, poll-portals, an operator's action)."""
    return f"confirm:{portal}:{account}"


# The pass's own work (protocol handling, ledger writes) runs on a uvloop loop in a thread of
# its own (tasks/own_loop.py): the flow's loop, which keeps the other accounts' tasks and the
# mails going, only waits meanwhile, and the blocking database calls never stall it.


@task(
    name="confirm-portal",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
    task_run_name="confirm-{portal}-{account}",
)
async def confirm_account(
    db_url: str, portal: str, account: str, run_id: str | None = None
) -> PortalReport:
    """Submit the pending confirmations of one portal account."""
    logger = get_run_logger()
    lock = confirm_lock(portal, account)
    try:
        async with waiting_run_guard(db_url, [lock], wait_seconds=CONFIRM_LOCK_WAIT):
            report = await on_own_loop(
                lambda: submit_pending(db_url, portal=portal, account=account, run_id=run_id)
            )
    except RunOverlap as overlap:
        logger.info("%s account %s: not submitted now, %s", portal, account, overlap)
        return PortalReport(portal)
    _log(logger, report)
    if report.errors:
        # the rows stay pending; the task fails loudly so the operator sees it in the UI
        raise PortalFailed(report.errors, retryable=report.retryable)
    return report


@task(
    name="poll-portal",
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
    task_run_name="poll-{portal}-{account}",
)
async def poll_account(db_url: str, portal: str, account: str) -> PortalReport:
    """Fetch one account's asynchronous results (Amazon processing reports) into the ledger."""
    logger = get_run_logger()
    lock = confirm_lock(portal, account)
    try:
        async with waiting_run_guard(db_url, [lock], wait_seconds=CONFIRM_LOCK_WAIT):
            report = await on_own_loop(
                lambda: poll_submitted(db_url, portal=portal, account=account)
            )
    except RunOverlap as overlap:
        logger.info("%s account %s: not polled now, %s", portal, account, overlap)
        return PortalReport(portal)
    _log(logger, report)
    if report.errors:
        raise PortalFailed(report.errors, retryable=report.retryable)
    return report


def _log(logger: Any, report: PortalReport) -> None:
    for problem in report.problems:
        logger.warning(
            "%s confirmation %s for order %s: %s",
            report.portal,
            problem["status"],
            problem["order_no"],
            problem["reason"],
        )
    for error in report.errors:
        logger.error("%s: %s", report.portal, error)
    logger.info("%s: %s", report.portal, dict(report.counts))
