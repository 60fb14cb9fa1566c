"""Confirming shipments to the portals: part of the deliver run, and the polling flow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from core.accounts import Accounts
from core.settings import get_settings
from db.queries.confirmations import confirmation_counts, portals_with
from db.session import session_scope
from flows.labels import label_run
from tasks.confirmations import PortalReport, confirm_portal, open_confirmations, poll_portal


async def confirm_orders(
    db_url: str, order_ids: Sequence[int], run_id: str | None
) -> dict[str, Any]:
    """Open ledger rows for these orders, then submit every portal's pending rows."""
    settings = get_settings()
    opened = open_confirmations(
        db_url,
        order_ids=order_ids,
        accounts=Accounts.load(settings.accounts_path),
        run_id=run_id,
    )
    get_run_logger().info("%d confirmations opened", opened)
    summary = await submit_all(db_url, run_id)
    with session_scope(db_url) as session:
        summary["portals"] = confirmation_counts(session, order_ids=list(order_ids))
    await _publish(summary, key="deliver-confirmations")
    return summary


async def submit_all(db_url: str, run_id: str | None) -> dict[str, Any]:
    """One task per portal, side by side: a portal that is down holds up no other."""
    with session_scope(db_url) as session:
        portals = portals_with(session, status="pending")
    outcomes = await asyncio.gather(
        *(confirm_portal(db_url, portal, run_id) for portal in portals), return_exceptions=True
    )
    return _combine(portals, outcomes)


def _combine(portals: Sequence[str], outcomes: Sequence[object]) -> dict[str, Any]:
    errors: list[str] = []
    problems: list[dict[str, str]] = []
    totals: dict[str, int] = {}
    for portal, outcome in zip(portals, outcomes, strict=True):
        if isinstance(outcome, PortalReport):
            problems += [{**p, "portal": portal} for p in outcome.problems]
            for status, count in outcome.counts.items():
                totals[status] = totals.get(status, 0) + count
        else:
            errors.append(f"{portal}: {outcome}")
    return {"totals": totals, "problems": problems, "errors": errors}


async def _publish(summary: dict[str, Any], *, key: str) -> None:
    table = [
        {
            "portal": portal,
            **counts,
            "reasons": "; ".join(
                sorted({p["reason"] for p in summary["problems"] if p["portal"] == portal})
            )[:500],
        }
        for portal, counts in summary.get("portals", {}).items()
    ]
    if table:
        await acreate_table_artifact(
            key=key, table=table, description="Portal confirmations per portal"
        )


@flow(name="poll-portals", flow_run_name="poll-portals")
async def poll_portals() -> dict[str, Any]:
    """Fetch Amazon's processing results, then resubmit what went back to pending."""
    db_url = get_settings().db_url
    await label_run()
    with session_scope(db_url) as session:
        portals = portals_with(session, status="submitted")
    outcomes = await asyncio.gather(
        *(poll_portal(db_url, p) for p in portals), return_exceptions=True
    )
    polled = _combine(portals, outcomes)
    resubmitted = await submit_all(db_url, None)
    with session_scope(db_url) as session:
        counts = confirmation_counts(session)
    summary = {
        "polled": polled,
        "resubmitted": resubmitted,
        "portals": counts,
        "problems": polled["problems"] + resubmitted["problems"],
        "errors": polled["errors"] + resubmitted["errors"],
    }
    await _publish(summary, key="poll-portals")
    return summary
