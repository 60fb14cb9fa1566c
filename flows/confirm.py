"""Confirming shipments to the portals: part of the deliver run, and the polling flow.

Every seller account of a portal is confirmed by a task of its own (`confirm-<portal>-<account>`,
tasks/confirmations.py), side by side on the flow's event loop: the work waits on the portals'
network and rate limits, and each account has its own limit. Prefect is the engine; no process
pool of our own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from core.run_verdict import poll_verdict
from core.settings import get_settings
from db.types import utcnow
from flows.labels import label_run
from flows.outcome import end_state
from flows.results import ConfirmationProblem, Confirmations, PollResult
from tasks.confirmations import (
    PortalReport,
    confirm_account,
    open_ledger_rows,
    poll_account,
)
from tasks.ledger import (
    accounts_in_status,
    confirmation_standing,
    id_list,
    protocol_since,
    release_held_rows,
)

Account = tuple[str, str]  # (portal, account)


class AccountPasses:
    """A deliver run's confirmations, carrier group by carrier group: once a group's mails are
    done, its ledger rows are opened and every (portal, account) with pending rows gets a
    `confirm-<portal>-<account>` task, while the next group's mails go out.

    A pass of an account submits all of its pending rows, so an account never has two passes
    at once: rows opened while its pass runs get the next pass, which starts as soon as that
    one ends. Accounts, of one portal or of several, do not wait for each other.

    An account that confirms by order feed (Amazon: one feed per seller every 20 minutes) gets
    one pass, once the run's last group is mailed (`finish`): a feed per group would leave
    the later groups' orders waiting 20 minutes for the next one.
    """

    def __init__(self, db_url: str, run_id: str | None) -> None:
        self.db_url, self.run_id = db_url, run_id
        self.orders: list[int] = []
        self.opening: asyncio.Task[None] | None = None
        self.running: dict[Account, asyncio.Task[None]] = {}
        self.again: set[Account] = set()
        self.outcomes: list[tuple[str, object]] = []  # (portal, PortalReport or error)
        self.last_group_mailed = False  # set by finish: feed accounts may start their pass

    def mailed(self, order_ids: Sequence[int]) -> None:
        """These orders' mails are final: open their ledger rows, have the accounts submit.

        In the background, so the next group's mails start at once; openings keep their order,
        and an account starts its pass only once the rows are in."""
        self.orders += order_ids
        self.opening = asyncio.create_task(self._open(self.opening, list(order_ids)))

    async def _open(self, before: asyncio.Task[None] | None, order_ids: list[int]) -> None:
        if before is not None:
            await before  # an opening that failed fails this one: the run stops
        pending = await open_ledger_rows(self.db_url, id_list(order_ids), self.run_id)
        for waiting in pending:
            if waiting.order_feeds and not self.last_group_mailed:
                continue  # its pass comes with finish, all of the run's orders in one feed
            key = (waiting.portal, waiting.account)
            if key in self.running and not self.running[key].done():
                self.again.add(key)
            else:
                self.running[key] = asyncio.create_task(self._passes(key))

    async def _passes(self, key: Account) -> None:
        portal, account = key
        while True:
            self.again.discard(key)
            try:
                report = await confirm_account(self.db_url, portal, account, self.run_id)
                self.outcomes.append((portal, report))
            except Exception as error:
                self.outcomes.append((portal, error))
            if key not in self.again:
                return

    async def settle(self) -> None:
        """Wait until every opening is done and no account has a pass running."""
        opening, self.opening = self.opening, None
        try:
            if opening is not None:
                await opening
        finally:
            while running := [t for t in self.running.values() if not t.done()]:
                await asyncio.wait(running)

    async def finish(self, more_orders: Sequence[int] = ()) -> Confirmations:
        """Confirm `more_orders` too, wait for every pass, then the counts and the artifact."""
        self.last_group_mailed = True
        self.mailed(more_orders)
        await self.settle()
        passes = _combine([p for p, _ in self.outcomes], [o for _, o in self.outcomes])
        standing = await confirmation_standing(self.db_url, id_list(sorted(set(self.orders))))
        held = []
        for row in standing.held:  # named in the artifact and the log: one search finds the order
            reason = f"[{row.error_code}] {row.error_text}"
            held.append(ConfirmationProblem(row.order_no, row.portal, "held", reason))
            get_run_logger().warning(
                "%s confirmation held for order %s: %s", row.portal, row.order_no, reason
            )
        summary = Confirmations(
            totals=passes.totals,
            problems=passes.problems + tuple(held),
            errors=passes.errors,
            portals=standing.counts,
        )
        await _publish(standing.counts, summary.problems, key="deliver-confirmations")
        return summary


async def submit_all(db_url: str, run_id: str | None) -> Confirmations:
    """One task per (portal, account), side by side: one that is down holds up no other."""
    pending = await accounts_in_status(db_url, "pending")
    outcomes = await asyncio.gather(
        *(confirm_account(db_url, portal, account, run_id) for portal, account in pending),
        return_exceptions=True,
    )
    return _combine([portal for portal, _ in pending], outcomes)


def _combine(portals: Sequence[str], outcomes: Sequence[object]) -> Confirmations:
    errors: list[str] = []
    problems: list[ConfirmationProblem] = []
    totals: dict[str, int] = {}
    for portal, outcome in zip(portals, outcomes, strict=True):
        if isinstance(outcome, PortalReport):
            problems += [
                ConfirmationProblem(p["order_no"], portal, p["status"], p["reason"])
                for p in outcome.problems
            ]
            for status, count in outcome.counts.items():
                totals[status] = totals.get(status, 0) + count
        else:
            errors.append(f"{portal}: {outcome}")
    return Confirmations(totals=totals, problems=tuple(problems), errors=tuple(errors))


async def _publish(
    portals: Mapping[str, Mapping[str, int]],
    problems: Sequence[ConfirmationProblem],
    *,
    key: str,
) -> None:
    table = [
        {
            "portal": portal,
            **counts,
            "reasons": "; ".join(sorted({p.reason for p in problems if p.portal == portal}))[:500],
        }
        for portal, counts in portals.items()
    ]
    if table:
        await acreate_table_artifact(
            key=key, table=table, description="Portal confirmations per portal"
        )


@flow(name="poll-portals", flow_run_name="poll-portals")
async def poll_portals() -> PollResult:
    """Fetch Amazon's processing results, then resubmit what went back to pending."""
    db_url = get_settings().db_url
    started = utcnow()
    await label_run()
    submitted = await accounts_in_status(db_url, "submitted")
    outcomes = await asyncio.gather(
        *(poll_account(db_url, portal, account) for portal, account in submitted),
        return_exceptions=True,
    )
    polled = _combine([portal for portal, _ in submitted], outcomes)
    # confirmations held for a mail that has been sent since (or released) go out now
    await release_held_rows(db_url)
    resubmitted = await submit_all(db_url, None)
    standing = await confirmation_standing(db_url)
    problems = polled.problems + resubmitted.problems
    await _publish(standing.counts, problems, key="poll-portals")
    summary = PollResult(
        polled=polled,
        resubmitted=resubmitted,
        portals=standing.counts,
        problems=problems,
        errors=polled.errors + resubmitted.errors,
        protocol=await protocol_since(db_url, started, "poll-orders"),
    )
    return end_state(poll_verdict(summary), summary)  # type: ignore[return-value]
