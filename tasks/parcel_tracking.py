"""Ask the carriers where the parcels are, within each API key's daily budget.

For each tracking source (accounts.toml `[tracking.<account>]`, `source = "dhl_tracking"` or
`source = "amazon"` with `account = "<Amazon portal account>"`): the due parcels (tracked, not
in a final status, of shipped orders; oldest ship date first, none asked within
`min_interval`) go out in calls of the source's batch size (DHL: 15 numbers; Amazon: one
order, all its parcels, per getOrder). Orders of an Amazon account with a tracking source of
its own are asked there only, never at the carrier as well. Every
call is counted in the database *before* it is made (db/queries/tracking.py reserve_call), so
no run, restart or crash ever makes more calls than the key's daily quota. A 429 stores DHL's
wait and ends the source's turn; the next run resumes after it. Each call's answer is stored in
one transaction: events (never doubled), the parcels' status, and orders whose parcels are all
delivered turn arrived ("carrier:<source>" in their protocol) unless the buyer confirmed first.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from connectors.errors import AuthError, ConnectorError, RateLimited
from core.accounts import AccountOptions, Accounts
from core.settings import get_settings
from core.tracking import FINAL, DeliveryStatus, ParcelReport
from db.queries.run_protocol import OrderOutcome
from db.queries.tracking import (
    Arrival,
    DueParcel,
    arrive_orders,
    calls_made,
    due_parcels,
    record_report,
    reserve_call,
    set_throttled,
    throttled_until,
)
from db.session import session_scope

DEFAULT_WAIT_AFTER_429 = timedelta(hours=1)  # DHL sends no Retry-After: try next hour
MIN_INTERVAL = timedelta(hours=2)  # a parcel is asked at most every two hours
# parcels read per order of a per-order source; an order with more has the rest asked next run
PARCELS_PER_ORDER = 10


class TrackingSource(Protocol):
    source: str
    account: str
    carriers: tuple[str, ...]  # empty: any carrier
    batch_size: int  # numbers per call, or orders per call when `per_order`
    daily_quota: int
    per_order: bool  # one call covers one order's parcels (Amazon's getOrder)
    portal: str | None  # only orders of this portal (and portal_account), None: any
    portal_account: str | None

    async def track(self, numbers: Sequence[str], *, order_ref: str = "") -> list[ParcelReport]: ...

    async def aclose(self) -> None: ...


@dataclass
class SourceRun:
    """What one source did in one run."""

    source: str
    account: str
    calls: int = 0
    parcels_asked: int = 0
    events: int = 0
    delivered: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    stopped: str = ""  # why the source stopped early: budget, throttled, error text
    failed: bool = False  # stopped by an error (credentials, the carrier's trouble)
    outcomes: list[OrderOutcome] = field(default_factory=list)


def tracking_accounts(accounts_path: Path) -> list[AccountOptions]:
    """`[tracking.<account>]` tables of the accounts file: no secrets, only where and how much."""
    if not accounts_path.exists():
        return []
    data = tomllib.loads(accounts_path.read_text(encoding="utf-8"))
    tables = data.get("tracking", {})
    out = []
    for account, table in sorted(tables.items()):
        if not isinstance(table, dict):
            continue
        known = {"source", "base_url"}
        extra = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in table.items()}
        out.append(
            AccountOptions(
                str(table.get("source", "dhl_tracking")),
                account,
                base_url=table.get("base_url"),
                extra={k: v for k, v in extra.items() if k not in known},
            )
        )
    return out


def open_source(options: AccountOptions, accounts_path: Path | None = None) -> TrackingSource:
    from connectors.amazon.tracking import AmazonTrackingClient
    from connectors.dhl_tracking.connector import DhlTrackingClient

    if options.portal == AmazonTrackingClient.source:
        portal_account = options.extra.get("account", "")
        if not portal_account:
            raise ValueError(
                f"tracking account {options.account!r}: source amazon needs `account`, the "
                "Amazon portal account whose orders it asks about"
            )
        portal = Accounts.load(accounts_path or get_settings().accounts_path)
        return AmazonTrackingClient.from_account(options, portal.options("amazon", portal_account))
    if options.portal != DhlTrackingClient.source:
        raise ValueError(f"tracking account {options.account!r}: unknown source {options.portal!r}")
    simulator = options.extra.get("simulator", "").lower() in ("true", "1", "yes")
    return DhlTrackingClient.from_account(options, simulator=simulator)


async def track_source(
    db_url: str,
    client: TrackingSource,
    *,
    now: datetime,
    max_calls: int | None = None,
    min_interval: timedelta = MIN_INTERVAL,
    not_of: Sequence[tuple[str, str]] = (),
) -> SourceRun:
    """Ask `client` about its due parcels, call by call, within the key's budget; the orders
    of the (portal, account) pairs in `not_of` are left to their own source."""
    run = SourceRun(client.source, client.account)
    key = f"{client.source}:{client.account}"[:64]
    day = now.astimezone(UTC).date()  # DHL's daily quota restarts at 24:00 GMT
    with session_scope(db_url) as session:
        wait = throttled_until(session, api_key=key, day=day)
        if wait is not None and wait > now:
            run.stopped = f"throttled by the carrier until {wait:%H:%M} UTC"
            return run
        left = max(0, client.daily_quota - calls_made(session, api_key=key, day=day))
        per_call = client.batch_size * (PARCELS_PER_ORDER if client.per_order else 1)
        due = due_parcels(
            session,
            carriers=client.carriers,
            limit=left * per_call + 1,  # one more: says whether parcels must wait
            asked_before=now - min_interval,
            portal=client.portal,
            portal_account=client.portal_account,
            not_of=not_of,
        )
    batches = _by_order(due) if client.per_order else _chunks(due, client.batch_size)
    for position, batch in enumerate(batches):
        if max_calls is not None and run.calls >= max_calls:
            run.stopped = f"--max-calls {max_calls} reached"
            break
        with session_scope(db_url) as session:
            allowed = reserve_call(session, api_key=key, day=day, quota=client.daily_quota)
        if not allowed:
            run.stopped = f"daily quota of {client.daily_quota} calls spent"
            break

        run.calls += 1
        try:
            reports = await client.track(
                [p.tracking_number for p in batch], order_ref=batch[0].portal_order_id
            )
        except RateLimited as error:
            until = now + (
                timedelta(seconds=error.retry_after)
                if error.retry_after
                else DEFAULT_WAIT_AFTER_429
            )
            with session_scope(db_url) as session:
                set_throttled(session, api_key=key, day=day, until=until)
            run.stopped = f"throttled by the carrier (HTTP 429) until {until:%H:%M} UTC"
            break
        except AuthError as error:
            run.stopped, run.failed = str(error), True
            _not_asked(run, [p for b in batches[position:] for p in b], str(error))
            break
        except ConnectorError as error:
            run.stopped, run.failed = str(error), True
            _not_asked(run, batch, str(error))
            break
        run.parcels_asked += len(batch)
        _store(db_url, run, batch, reports, now=now)
    return run


def _chunks(due: Sequence[DueParcel], size: int) -> list[list[DueParcel]]:
    return [list(due[start : start + size]) for start in range(0, len(due), size)]


def _by_order(due: Sequence[DueParcel]) -> list[list[DueParcel]]:
    """One batch per order, in the order of each order's oldest due parcel."""
    groups: dict[int, list[DueParcel]] = {}
    for parcel in due:
        groups.setdefault(parcel.order_id, []).append(parcel)
    return list(groups.values())


def _not_asked(run: SourceRun, parcels: Sequence[DueParcel], reason: str) -> None:
    for order_no in sorted({p.order_no for p in parcels}):
        run.outcomes.append(OrderOutcome(order_no, "-", "tracking", "not_asked", reason))


def _store(
    db_url: str,
    run: SourceRun,
    batch: Sequence[DueParcel],
    reports: Sequence[ParcelReport],
    *,
    now: datetime,
) -> None:
    by_number = {r.tracking_number: r for r in reports}
    with session_scope(db_url) as session:
        touched: list[int] = []
        for parcel in batch:
            report = by_number.get(parcel.tracking_number)
            if report is None:
                continue
            run.events += record_report(
                session, parcel_id=parcel.parcel_id, source=run.source, report=report, now=now
            )
            status = str(report.status) if report.status else "unknown"
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if report.status is DeliveryStatus.DELIVERED:
                run.delivered += 1
                touched.append(parcel.order_id)
            elif report.status in FINAL or report.status is DeliveryStatus.EXCEPTION:
                run.outcomes.append(
                    OrderOutcome(parcel.order_no, "-", "tracking", status, report.text[:300])
                )
        arrivals = arrive_orders(session, order_ids=touched, source=run.source, now=now)
    run.outcomes.extend(_arrival_outcome(a) for a in arrivals)


def _arrival_outcome(arrival: Arrival) -> OrderOutcome:
    return OrderOutcome(arrival.order_no, "-", "tracking", arrival.outcome, arrival.reason)
