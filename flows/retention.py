"""Flow: anonymise the buyer data of orders past their retention (`anonymise-buyers`).

    liefern retention run [--dry-run] [--json]

Each portal account keeps its buyers' data for `retention_days` after delivery (accounts.toml;
Amazon 30 by default, the others keep them unless configured; core/retention.py says what
"delivery" is). Past that, the order's buyer name, email, postal code and city are blanked,
the shipping mail's recipient too, and the buyer's name and address are scrubbed from SMTP
replies, portal errors and operators' notes. Order number, portal order id, items, parcels,
tracking numbers, dates and the ledgers' statuses stay: the books need them.

Orders whose data are still needed (a mail not sent yet, a portal confirmation not finished)
are skipped with the reason, in the result and the run's artifact `anonymise-buyers`; a later
run takes them. Batches of LIEFERN_RETENTION_BATCH_SIZE orders are committed one by one, each
order together with its row in the deletion log (`buyer_data_deletions`, no personal data):
a run killed mid-way leaves every order either anonymised and logged or untouched, and the
next run goes on. A second run finds nothing to do.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, TypedDict

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run

from core.accounts import PORTAL_DEFAULTS, Accounts
from core.crashpoints import crash_point
from core.settings import get_settings
from db.queries.retention import Due, anonymise_batch, due_orders, lock_buyers, plan_batch
from db.queries.retention import still_needed as still_needed_reasons
from db.session import session_scope
from db.types import utcnow
from flows.results import AnonymisedOrder, RetentionCounts, RetentionResult, SkippedOrder
from tasks.guard import run_guard

ARTIFACT_KEY = "anonymise-buyers"
ARTIFACT_ROWS = 1000  # rows shown in the artifact; the CLI's --json has all
LOCK = "retention"


def run_retention(
    db_url: str,
    *,
    accounts: Accounts,
    now: datetime | None = None,
    transit_days: int = 14,
    batch_size: int = 500,
    dry_run: bool = False,
    run_id: str | None = None,
    log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> RetentionResult:
    """Anonymise every order past its retention (or, with `dry_run`, say which would be)."""
    log = log or logging.getLogger(__name__)
    now = now or utcnow()
    run_id = run_id or str(uuid.uuid4())

    def retention(portal: str, account: str) -> int | None:
        return accounts.options(portal, account).retention_days

    def confirms(portal: str, account: str) -> bool:
        return accounts.options(portal, account).confirm

    with session_scope(db_url) as session:
        due = due_orders(session, retention=retention, now=now, transit_days=transit_days)
    anonymised: list[AnonymisedOrder] = []
    skipped: list[SkippedOrder] = []
    step = max(1, batch_size)
    for start in range(0, len(due), step):
        batch = {d.order_id: d for d in due[start : start + step]}
        with session_scope(db_url) as session:
            buyers = lock_buyers(session, order_ids=list(batch))
            reasons = still_needed_reasons(session, order_ids=list(batch), confirms=confirms)
            for buyer in buyers:
                if buyer.order_id in reasons:
                    due_order = _due(batch[buyer.order_id])
                    skipped.append(SkippedOrder(**due_order, reason=reasons[buyer.order_id]))
            ready = [b for b in buyers if b.order_id not in reasons]
            plan = plan_batch(session, buyers=ready)
            dues = [batch[b.order_id] for b in ready]
            if dues and not dry_run:
                anonymise_batch(
                    session, plan=plan, dues=dues, run_id=run_id, now=now, reached=crash_point
                )
            anonymised += [
                AnonymisedOrder(**_due(d), fields=tuple(plan.fields[d.order_id])) for d in dues
            ]
        if not dry_run:
            crash_point("retention.committed")
    verb = "would anonymise" if dry_run else "anonymised"
    log.info("%s %d orders, %d skipped (data still needed)", verb, len(anonymised), len(skipped))
    for row in skipped[:ARTIFACT_ROWS]:
        log.info("order %s (%s) skipped: %s", row.order_no, row.portal, row.reason)
    return RetentionResult(
        run_id=run_id,
        dry_run=dry_run,
        at=now,
        counts=RetentionCounts(due=len(due), anonymised=len(anonymised), skipped=len(skipped)),
        rules=_rules(accounts),
        anonymised=tuple(anonymised),
        skipped=tuple(skipped),
    )


class _DueFields(TypedDict):
    order_no: str
    portal: str
    account: str
    retention_days: int
    delivered_at: datetime
    delivered_from: str
    due_at: datetime


def _due(due: Due) -> _DueFields:
    """The fields an anonymised and a skipped order share (flows/results.py DueOrder)."""
    return _DueFields(
        order_no=due.order_no,
        portal=due.portal,
        account=due.account,
        retention_days=due.retention_days,
        delivered_at=due.delivery.at,
        delivered_from=due.delivery.source,
        due_at=due.due_at,
    )


def _rules(accounts: Accounts) -> dict[str, int | None]:
    """The period of each portal's defaults and each configured account (None: kept)."""
    rules = {p: accounts.options(p, "").retention_days for p in PORTAL_DEFAULTS}
    for options in accounts.configured():
        rules[f"{options.portal}/{options.account}"] = options.retention_days
    return rules


@flow(name="anonymise-buyers", flow_run_name=lambda: "anonymise-buyers")
async def anonymise_buyers(dry_run: bool = False) -> RetentionResult:
    """Anonymise the buyer data of orders past their portal's retention period."""
    settings = get_settings()
    accounts = Accounts.load(settings.accounts_path)
    with run_guard(settings.db_url, [LOCK]):
        result = run_retention(
            settings.db_url,
            accounts=accounts,
            transit_days=settings.retention_transit_days,
            batch_size=settings.retention_batch_size,
            dry_run=dry_run,
            run_id=str(flow_run.id) if flow_run.id else None,
            log=get_run_logger(),
        )
    await _publish(result)
    return result


async def _publish(result: RetentionResult) -> None:
    rows = [
        {"order_no": r.order_no, "portal": r.portal, "outcome": "anonymised", "reason": ""}
        for r in result.anonymised
    ] + [
        {"order_no": r.order_no, "portal": r.portal, "outcome": "skipped", "reason": r.reason}
        for r in result.skipped
    ]
    counts = result.counts
    verb = "would be anonymised" if result.dry_run else "anonymised"
    description = (
        f"Buyer data retention: {counts.anonymised} orders {verb}, {counts.skipped} "
        f"skipped (data still needed), of {counts.due} past their retention"
    )
    if len(rows) > ARTIFACT_ROWS:
        description += f"; first {ARTIFACT_ROWS} of {len(rows)} rows"
    await acreate_table_artifact(
        key=ARTIFACT_KEY, table=rows[:ARTIFACT_ROWS], description=description
    )
