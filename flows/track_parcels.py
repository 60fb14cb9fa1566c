"""Flow `track-parcels`: ask the carriers where the parcels are (Zustellstatus).

Per tracking account in accounts.toml (`[tracking.<account>]`, e.g. DHL Parcel DE Tracking):
the oldest undelivered parcels first, in calls of 15, never more calls than the key's daily
quota (tasks/parcel_tracking.py). The orders of an Amazon account with a tracking source
(`source = "amazon"`, `account = "<portal account>"`) are asked at Amazon (`getOrder` of the
Orders API 2026-01-01, one call per order for all its packages) and not at the carrier.

A delivered parcel is stored with its events; an order whose parcels are all delivered turns
`arrived` with the source in its protocol, unless the buyer confirmed first. The run publishes
the `track-parcels-orders` table and log lines naming the orders (flows/protocol.py), then the
`parcel-problems` table of the watchlist and the delay mails (flows/problems.py); it ends
"Completed with problems" when a source could not be asked (refused credentials, errors).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from connectors.errors import ConnectorError
from core.run_verdict import Verdict
from core.settings import get_settings
from db.types import utcnow
from flows.labels import label_run
from flows.outcome import end_state
from flows.problems import delay_mails, publish_problems
from flows.protocol import publish_protocol
from flows.results import OrderProblem, SourceSummary, TrackResult
from tasks.parcel_tracking import SourceRun, open_source, track_source, tracking_accounts


@flow(name="track-parcels", flow_run_name="track-parcels")
async def track_parcels(max_calls: int | None = None) -> TrackResult:
    """Ask every tracking source about the due parcels, within each key's daily quota."""
    settings = get_settings()
    logger = get_run_logger()
    await label_run()
    now = utcnow()
    runs: list[SourceRun] = []
    errors: list[str] = []
    sources = tracking_accounts(settings.accounts_path)
    own_source = [
        ("amazon", o.extra["account"])
        for o in sources
        if o.portal == "amazon" and o.extra.get("account")
    ]
    for options in sources:
        try:
            client = open_source(options, settings.accounts_path)
        except (ValueError, ConnectorError) as error:  # missing credentials, a bad option
            errors.append(f"{options.account}: {error}")
            continue
        try:
            not_of = [] if client.portal else own_source
            run = await track_source(
                settings.db_url, client, now=now, max_calls=max_calls, not_of=not_of
            )
        finally:
            await client.aclose()
        runs.append(run)
        if run.failed:
            errors.append(f"{run.source} {run.account}: {run.stopped}")
        logger.info(
            "%s %s: %d calls, %d parcels asked, %d delivered%s",
            run.source,
            run.account,
            run.calls,
            run.parcels_asked,
            run.delivered,
            f" (stopped: {run.stopped})" if run.stopped else "",
        )
    outcomes = [o for r in runs for o in r.outcomes]
    summary = TrackResult(
        sources=tuple(_summary(r) for r in runs),
        calls=sum(r.calls for r in runs),
        parcels_asked=sum(r.parcels_asked for r in runs),
        delivered=sum(r.delivered for r in runs),
        arrived=tuple(sorted(o.order_no for o in outcomes if o.outcome == "arrived")),
        problems=tuple(
            OrderProblem(o.order_no, o.outcome, o.reason) for o in outcomes if o.problem
        ),
        errors=tuple(errors),
        protocol=await publish_protocol(outcomes, key="track-parcels-orders"),
        watchlist=await publish_problems(settings, now=utcnow()),
        delay_mails=await delay_mails(utcnow()),
    )
    problems = [f"{len(summary.problems)} parcels need a look"] if summary.problems else []
    if summary.delay_mails.problems:
        problems.append(f"{len(summary.delay_mails.problems)} delay mails not sent")
    return end_state(Verdict(errors=errors, problems=problems), summary)  # type: ignore[return-value]


def _summary(run: SourceRun) -> SourceSummary:
    return SourceSummary(
        source=run.source,
        account=run.account,
        calls=run.calls,
        parcels_asked=run.parcels_asked,
        events=run.events,
        delivered=run.delivered,
        statuses=dict(sorted(run.statuses.items())),
        stopped=run.stopped,
    )
