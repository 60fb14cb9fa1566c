"""Confirming shipments to the portals: part of the deliver run, and the polling flow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from core.accounts import Accounts
from core.run_verdict import poll_verdict
from core.settings import get_settings
from db.queries.confirmations import confirmation_counts, portals_with
from db.queries.holds import held_rows
from db.queries.run_protocol import confirmations_touched_since
from db.session import session_scope
from db.types import utcnow
from flows.labels import label_run
from flows.outcome import end_state
from flows.protocol import publish_protocol
from tasks import own_process
from tasks.confirmations import PortalReport, confirm_portal, open_confirmations, poll_portal
from tasks.holds import release_held


class PortalPasses:
    """A deliver run's confirmations, carrier group by carrier group: once a group's mails are
    done, its ledger rows are opened and every portal with pending rows submits them, in the
    background (worker processes) while the next group's mails go out.

    A pass of a portal submits all of its pending rows, so a portal never has two passes at
    once: rows opened while its pass runs get the next pass, which starts as soon as that one
    ends. The portals do not wait for each other.
    """

    def __init__(self, db_url: str, run_id: str | None) -> None:
        self.db_url, self.run_id = db_url, run_id
        self.orders: list[int] = []
        self.opening: asyncio.Task[None] | None = None
        self.running: dict[str, asyncio.Task[None]] = {}
        self.again: set[str] = set()
        self.outcomes: list[tuple[str, object]] = []  # (portal, PortalReport or error)

    def mailed(self, order_ids: Sequence[int]) -> None:
        """These orders' mails are final: open their ledger rows, have the portals submit.

        In the background, so the next group's mails start at once; openings keep their order,
        and a portal starts its pass only once the rows are in."""
        self.orders += order_ids
        self.opening = asyncio.create_task(self._open(self.opening, list(order_ids)))

    async def _open(self, before: asyncio.Task[None] | None, order_ids: list[int]) -> None:
        if before is not None:
            await before  # an opening that failed fails this one: the run stops
        if order_ids:
            opened = await asyncio.to_thread(
                open_confirmations,
                self.db_url,
                order_ids=order_ids,
                accounts=Accounts.load(get_settings().accounts_path),
                run_id=self.run_id,
            )
            get_run_logger().info("%d confirmations opened", opened)
        for portal in await asyncio.to_thread(self._pending_portals):
            if portal in self.running and not self.running[portal].done():
                self.again.add(portal)
            else:
                self.running[portal] = asyncio.create_task(self._passes(portal))

    def _pending_portals(self) -> list[str]:
        with session_scope(self.db_url) as session:
            return portals_with(session, status="pending")

    async def _passes(self, portal: str) -> None:
        while True:
            self.again.discard(portal)
            try:
                report = await confirm_portal(self.db_url, portal, self.run_id)
                self.outcomes.append((portal, report))
            except Exception as error:
                self.outcomes.append((portal, error))
            if portal not in self.again:
                return

    async def settle(self) -> None:
        """Wait until every opening is done and no portal has a pass running."""
        opening, self.opening = self.opening, None
        try:
            if opening is not None:
                await opening
        finally:
            while running := [t for t in self.running.values() if not t.done()]:
                await asyncio.wait(running)

    async def finish(self, more_orders: Sequence[int] = ()) -> dict[str, Any]:
        """Confirm `more_orders` too, wait for every pass, then the counts and the artifact."""
        self.mailed(more_orders)
        await self.settle()
        summary = _combine([p for p, _ in self.outcomes], [o for _, o in self.outcomes])
        with session_scope(self.db_url) as session:
            summary["portals"] = confirmation_counts(session, order_ids=sorted(set(self.orders)))
            held = held_rows(session, order_ids=sorted(set(self.orders)))
        for row in held:  # named in the artifact and the log: one search finds the order
            reason = f"[{row.error_code}] {row.error_text}"
            summary["problems"].append(
                {"order_no": row.order_no, "portal": row.portal, "status": "held", "reason": reason}
            )
            get_run_logger().warning(
                "%s confirmation held for order %s: %s", row.portal, row.order_no, reason
            )
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
    started = utcnow()
    await label_run()
    with session_scope(db_url) as session:
        portals = portals_with(session, status="submitted")
        if portals_with(session, status="pending"):
            # rows left pending by an earlier run are resubmitted below, in worker processes:
            # they load while the portals are polled (most polls have none and start nothing)
            own_process.warm_up()
    outcomes = await asyncio.gather(
        *(poll_portal(db_url, p) for p in portals), return_exceptions=True
    )
    polled = _combine(portals, outcomes)
    # confirmations held for a mail that has been sent since (or released) go out now
    released = await asyncio.to_thread(
        release_held, db_url, accounts=Accounts.load(get_settings().accounts_path)
    )
    if released:
        get_run_logger().info("%d held confirmations released", released)
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
    with session_scope(db_url) as session:
        touched = confirmations_touched_since(session, since=started)
    summary["protocol"] = await publish_protocol(touched, key="poll-orders")
    return end_state(poll_verdict(summary), summary)  # type: ignore[return-value]
