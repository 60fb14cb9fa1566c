"""Flow: the deliver run of one or more carriers ("DPD mails now, UPS after the pick-up").

The chain as the operator knows it, each step a Prefect task: per carrier group `mark-shipped`
(the orders with a parcel of that carrier and no shipping mail yet), then the shipping mails in
batches (`send-shipping-mails`); once a group's mails are done, `open-confirmations` and a
`confirm-<portal>-<account>` task per seller account with pending rows, side by side while the
next group's mails go out (flows/confirm.py AccountPasses). The flow body reads nothing from the
store itself (tasks/ledger.py). An order with parcels of several carriers gets one mail, in the
first group that reaches it; the order's claim (tasks/guard.py) makes that hold for runs of
different carriers at the same time too.

A run refused by the guard ends Failed with the guard's one line (who holds the lock, since
when, what to do), without a traceback. Otherwise the run ends by flows/outcome.py's rule
(Failed, "Completed with problems", Completed) and publishes its per-order protocol
(flows/protocol.py: the `deliver-orders` table and log lines naming the orders).
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import replace

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from core.run_verdict import deliver_verdict
from core.settings import get_settings
from db.types import utcnow
from flows.confirm import AccountPasses
from flows.labels import label_run
from flows.outcome import end_state
from flows.results import DeliverResult, MailPreview, MailProblem
from tasks.guard import RunOverlap, run_guard
from tasks.ledger import (
    carrier_groups,
    id_list,
    mark_group_shipped,
    orders_left_unconfirmed,
    protocol_of_orders,
)
from tasks.mails import MailBatchReport, mail_batch

MAIL_COLUMNS = ("sent", "suppressed", "failed", "waiting", "unknown", "resent_after_unknown")


def _run_name() -> str:
    params = flow_run.parameters
    carriers = params.get("carriers") or ["all"]
    suffix = "-dry-run" if params.get("dry_run") else ""
    return f"deliver-{'-'.join(carriers)}{suffix}"


def deliver_locks(groups: list[str]) -> list[str]:
    """The run guard's locks of a deliver run: one per carrier group."""
    return [f"deliver:{c}" for c in groups]


@flow(name="deliver", flow_run_name=_run_name)
async def deliver(
    carriers: list[str] | None = None,
    dry_run: bool = False,
    batch_size: int = 5000,
    confirm_portals: bool = True,
) -> DeliverResult:
    """Mark shipped, send the shipping mails grouped by carrier, then confirm to the portals."""
    logger = get_run_logger()
    db_url = get_settings().db_url
    run_id = str(flow_run.id) if flow_run.id else None
    started = utcnow()
    groups = await carrier_groups(db_url, carriers)
    await label_run(carriers=carriers or groups)
    locks = [] if dry_run else deliver_locks(groups)
    with ExitStack() as held:
        try:
            guard = held.enter_context(run_guard(db_url, locks))
        except RunOverlap as overlap:
            # the run's state carries the line (Prefect logs it); the caller gets the error
            return Failed(message=str(overlap), data=overlap)  # type: ignore[return-value]
        reports: list[MailBatchReport] = []
        seen: set[int] = set()
        passes = AccountPasses(db_url, run_id) if confirm_portals and not dry_run else None
        try:
            for carrier in groups:
                order_ids = await mark_group_shipped(
                    db_url, carrier, id_list(sorted(seen)), dry_run
                )
                seen.update(order_ids)
                for start in range(0, len(order_ids), batch_size):
                    batch = order_ids[start : start + batch_size]
                    reports.append(
                        await mail_batch(
                            db_url, id_list(batch), carrier, dry_run, run_id, guard.token
                        )
                    )
                    logger.info(
                        "%s: %d/%d orders done",
                        carrier,
                        min(start + batch_size, len(order_ids)),
                        len(order_ids),
                    )
                if passes is not None:
                    passes.mailed(order_ids)  # the carrier's mails are done: tell the portals
        finally:
            if passes is not None:
                await passes.settle()  # no portal pass outlives the run
        summary = _summarise(reports, dry_run)
        await _publish(summary)
        if passes is not None:
            left_behind = await orders_left_unconfirmed(db_url, started)  # a run that died
            if passes.orders or left_behind:
                summary = replace(summary, confirmations=await passes.finish(left_behind))
    if not dry_run:
        touched = seen | set(passes.orders if passes is not None else ())
        # the mail task has named sent and failed mails already; the rest is named here
        protocol = await protocol_of_orders(
            db_url,
            id_list(sorted(touched)),
            "deliver-orders",
            {"sent", "failed", "unknown", "waiting"},
        )
        summary = replace(summary, protocol=protocol)
    return end_state(deliver_verdict(summary), summary)  # type: ignore[return-value]


def _summarise(reports: list[MailBatchReport], dry_run: bool) -> DeliverResult:
    per_carrier: dict[str, Counter[str]] = {}
    problems: list[MailProblem] = []
    preview: list[MailPreview] = []
    for report in reports:
        per_carrier.setdefault(report.carrier, Counter()).update(report.counts)
        problems += [_mail_problem(p, report.carrier) for p in report.problems]
        preview += report.preview
    totals: Counter[str] = Counter()
    for counts in per_carrier.values():
        totals.update(counts)
    return DeliverResult(
        dry_run=dry_run,
        carriers={c: dict(v) for c, v in per_carrier.items()},
        totals=dict(totals),
        problems=tuple(problems),
        preview=tuple(preview) if dry_run else None,
    )


def _mail_problem(problem: dict[str, str], carrier: str) -> MailProblem:
    return MailProblem(
        order_no=problem["order_no"],
        status=problem["status"],
        reason=problem["reason"],
        reply=problem.get("reply"),
        not_before=problem.get("not_before"),
        carrier=carrier,
    )


async def _publish(summary: DeliverResult) -> None:
    dry_run = summary.dry_run
    columns = ("would_send", "suppressed", "failed") if dry_run else MAIL_COLUMNS
    table = [
        {
            "carrier": carrier,
            **{c: counts.get(c, 0) for c in columns},
            "reasons": "; ".join(
                sorted({p.reason for p in summary.problems if p.carrier == carrier})
            )[:500],
        }
        for carrier, counts in summary.carriers.items()
    ]
    if table:
        await acreate_table_artifact(
            key="deliver-dry-run" if dry_run else "deliver-mails",
            table=table,
            description="Shipping mails per carrier" + (" (dry run)" if dry_run else ""),
        )
