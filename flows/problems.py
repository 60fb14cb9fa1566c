"""The problems list after a tracking run: the `parcel-problems` table and the delay mails.

The table is the watchlist at the run's end (core/watchlist.py): every parcel that needs a look,
with its order, portal, carrier, number, problem, since when and the carrier's last words; the
log says how many. Then the delay mails go out where accounts asked for them
(tasks/delay_mails.py); a second tracking run at the same time leaves them to the first.
"""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from core.settings import Settings, get_settings
from db.queries.watchlist import count_problem_parcels, problem_parcels
from db.session import session_scope
from flows.results import DelayMails, OrderProblem, WatchedParcel, Watchlist
from tasks.delay_mails import send_delay_mails
from tasks.guard import RunOverlap

ARTIFACT_KEY = "parcel-problems"
COLUMNS = (
    "order_no",
    "portal",
    "carrier",
    "tracking_number",
    "problem",
    "since",
    "status",
    "status_text",
)


async def publish_problems(settings: Settings, *, now: datetime) -> Watchlist:
    """Log the count and publish the table; the count and the listed lines, for the result."""
    logger = get_run_logger()
    thresholds = settings.watch_thresholds()
    with session_scope(settings.db_url) as session:
        lines = problem_parcels(session, now=now, thresholds=thresholds)
        count = count_problem_parcels(session, now=now, thresholds=thresholds)
    by_problem: dict[str, int] = {}
    for line in lines:
        by_problem[str(line.problem)] = by_problem.get(str(line.problem), 0) + 1
    logger.info(
        "problems list: %d parcels need a look%s",
        count,
        f" ({', '.join(f'{n} {p}' for p, n in sorted(by_problem.items()))})" if count else "",
    )
    parcels = tuple(
        WatchedParcel(
            order_no=line.order_no,
            portal=line.portal,
            account=line.portal_account,
            carrier=line.carrier,
            tracking_number=line.tracking_number,
            problem=str(line.problem),
            since=line.since.isoformat() if line.since else None,
            status=line.delivery_status,
            status_text=line.status_text,
        )
        for line in lines
    )
    rows = [parcel.as_json() for parcel in parcels]
    table = {column: [str(row[column] or "") for row in rows] for column in COLUMNS}
    shown = f", the first {len(rows)} shown" if len(rows) < count else ""
    await acreate_table_artifact(
        key=ARTIFACT_KEY,
        table=table,
        description=(
            f"{count} parcels on the problems list{shown} (no first scan "
            f"{thresholds.first_scan_hours} h after the mail, no event for "
            f"{thresholds.stalled_days} days, exceptions, past the expected delivery date)"
        ),
    )
    return Watchlist(count=count, parcels=parcels)


@task(name="send-delay-mails", cache_policy=NO_CACHE)
async def delay_mails(now: datetime) -> DelayMails:
    """The delay mails due now, once per order (tasks/delay_mails.py)."""
    logger = get_run_logger()
    settings = get_settings()
    try:
        report = await send_delay_mails(settings.db_url, now=now, settings=settings)
    except RunOverlap as overlap:
        logger.info("delay mails left to the run that sends them now: %s", overlap)
        return DelayMails(counts={}, sent=(), problems=())
    if report.sent_orders:
        logger.info("delay mail sent: %s", ", ".join(report.sent_orders))
    for problem in report.problems:
        logger.warning(
            "delay mail %s for order %s: %s",
            problem["status"],
            problem["order_no"],
            problem["reason"],
        )
    return DelayMails(
        counts=dict(sorted(report.counts.items())),
        sent=tuple(report.sent_orders),
        problems=tuple(
            OrderProblem(p["order_no"], p["status"], p["reason"]) for p in report.problems
        ),
    )
