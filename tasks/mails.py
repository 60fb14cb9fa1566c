"""Shipping mails for a batch of orders: mark shipped, write the ledger, render, send.

The deliver flow marks a carrier group shipped in a task of its own (tasks/ledger.py
`mark-shipped`) and has the mail task skip that step; other callers (an operator's re-send,
the benchmarks) get the whole step from `send_shipping_mails`.

Ledger rule (nothing lost, nothing twice): each connection's worker commits its mail's row as
attempted before the mail goes out, and its outcome right after the server answered, and starts
its next mail only once that outcome is committed. The commits of all connections go through
one group-commit writer: one transaction for whatever attempts and outcomes are waiting. So a
killed run leaves at most one mail per open SMTP connection that the server may hold without a
committed outcome. A row that is still `pending` after an attempt with no recorded outcome
(crash, kill, lost connection after DATA): the next run sends it again with the same Message-ID,
so the repeat is recognisable and mailbox providers that deduplicate by Message-ID show it once.
That is the only case in which a buyer can get a mail twice.

A mail the server did not take for a reason the mail is not to blame for (the relay down, the
login refused, 4xx past the retries) stays `pending`, "waiting for the mail server" with a
not-before time (core/mail_waits.py); a later run sends it. Only a permanent refusal of the mail
itself (5xx to RCPT or DATA, an unusable address) is `failed`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from connectors.smtp.message import address_of, build_message, check_address, make_message_id
from connectors.smtp.sender import OutgoingMail, SendResult, SmtpSender
from core.accounts import AccountOptions, Accounts
from core.bounces import UNKNOWN_RECIPIENT
from core.carriers.numbers import tracking_url
from core.carriers.table import CARRIERS
from core.crashpoints import crash_point
from core.links import arrival_url
from core.mail_render import PORTAL_LABELS, MailRenderer, RenderedMail
from core.mail_waits import minute, next_try, waiting_lines, waiting_reason
from core.settings import Settings, get_settings
from db.models import Order
from db.queries.claims import insert_missing_mail_rows
from db.queries.mails import (
    LedgerWriter,
    MailOrder,
    MailOutcome,
    load_mail_orders,
    load_orders,
    mail_row_states,
    mail_rows,
    mark_shipped,
)
from db.session import get_engine, session_scope
from db.types import utcnow
from flows.results import MailPreview
from tasks.guard import claim_orders, owned, release_orders
from tasks.own_loop import on_own_loop
from tasks.retry_rule import retry_if_it_helps

# a mail is composed from an ORM order (previews, the CLI) or from plain rows (bulk runs)
AnyOrder = Order | MailOrder

ORDER_NUMBERS_PER_LOG_LINE = 200


@dataclass
class MailBatchReport:
    carrier: str
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)  # order_no, status, reason
    sent_orders: list[str] = field(default_factory=list)
    preview: list[MailPreview] = field(default_factory=list)  # dry run: what would go out
    order_ids: list[int] = field(default_factory=list)


class Fields(dict[str, Any]):
    """A dict whose keys a template may also read as attributes (`item.title`).

    Jinja tries the attribute first and falls back to the key; on a plain dict every such
    lookup raised and caught an AttributeError, a tenth of a bulk run's rendering time.
    Keys that are dict methods (`items`, `keys`) still give the method, as before."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def mail_context(order: AnyOrder, settings: Settings, language: str) -> dict[str, Any]:
    return {
        "language": language,
        "buyer_name": order.buyer_name,
        "order_no": order.order_no,
        "portal": order.portal,
        "portal_label": PORTAL_LABELS.get(order.portal, order.portal),
        "items": [Fields(quantity=i.quantity, title=i.title, sku=i.sku) for i in order.items],
        "parcels": [
            Fields(
                carrier=p.carrier,
                carrier_name=CARRIERS[p.carrier].name if p.carrier in CARRIERS else p.carrier,
                tracking_number=p.tracking_number or "",  # "": sent without tracking
                tracking_url=(
                    tracking_url(p.carrier, p.tracking_number, language)
                    if p.tracking_number
                    else ""
                ),
            )
            for p in order.parcels
        ],
        "arrival_url": arrival_url(
            settings.public_url, settings.secret_key.get_secret_value(), order.id
        ),
        "shop_name": settings.shop_name,
        "shop_contact": settings.shop_contact,
    }


class MailComposer:
    def __init__(self, settings: Settings, accounts: Accounts, carrier: str) -> None:
        self.settings = settings
        self.accounts = accounts
        self.carrier = carrier
        self.renderer = MailRenderer(settings.templates_dir or settings.home / "templates")
        self.sender = settings.mail_from
        self.envelope_from = address_of(settings.mail_from)
        self.domain = self.envelope_from.rsplit("@", 1)[1]
        self._options: dict[tuple[str, str], AccountOptions] = {}

    def options(self, order: AnyOrder) -> AccountOptions:
        """The order's account options, worked out once per account and batch."""
        key = (order.portal, order.portal_account)
        found = self._options.get(key)
        if found is None:
            found = self._options[key] = self.accounts.options(*key)
        return found

    def language(self, order: AnyOrder) -> str:
        return (self.options(order).language or order.language or "en").lower()

    def message_id(self, order: AnyOrder) -> str:
        return make_message_id(f"{order.order_no}.shipped", self.domain)

    def render(self, order: AnyOrder) -> RenderedMail:
        """Subject, text and HTML of the order's mail, in the buyer's language."""
        language = self.language(order)
        return self.renderer.render(
            mail_context(order, self.settings, language),
            portal=order.portal,
            carrier=self.carrier,
            language=language,
        )

    def build(
        self, order: AnyOrder, key: str, rendered: RenderedMail, message_id: str = ""
    ) -> OutgoingMail:
        """The mail's bytes; raises ValueError for unusable addresses. `message_id`: the
        ledger's, where it differs from the order's first (a forced resend)."""
        message_id = message_id or self.message_id(order)
        data = build_message(
            sender=self.sender,
            to_name=order.buyer_name,
            to_address=order.buyer_email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            headers={"X-Liefern-Order": order.order_no},
        )
        to = check_address(order.buyer_email, "to_address")  # the To header's form (IDN)
        return OutgoingMail(key, self.envelope_from, (to,), data, message_id)

    def compose(self, order: AnyOrder, key: str, message_id: str = "") -> tuple[OutgoingMail, str]:
        """The mail's bytes and its subject; raises ValueError for unusable addresses."""
        rendered = self.render(order)
        return self.build(order, key, rendered, message_id), rendered.subject


def prepare_batch(
    db_url: str,
    *,
    order_ids: Sequence[int],
    composer: MailComposer,
    flow_run_id: str | None,
    mark: bool = True,
) -> list[MailOrder]:
    """Mark the orders shipped (unless `mark` is off: done before) and give each one ledger
    row: pending, or suppressed by policy; hands back the orders it loaded (items and parcels
    included)."""
    now = utcnow()
    with session_scope(db_url) as session:
        orders = load_mail_orders(session, order_ids=order_ids)
        if mark:
            mark_shipped(session, order_ids=[o.id for o in orders], at=now)
        existing = mail_row_states(session, order_ids=order_ids)
        new_rows = []
        for order in orders:
            if order.id in existing:
                continue
            options = composer.options(order)
            suppressed = not options.sends_mail
            new_rows.append(
                {
                    "order_id": order.id,
                    "kind": "shipped",
                    "status": "suppressed" if suppressed else "pending",
                    "carrier": composer.carrier,
                    "message_id": composer.message_id(order),
                    "recipient": order.buyer_email,
                    "language": composer.language(order),
                    "reason": options.suppress_reason if suppressed else None,
                    "flow_run_id": flow_run_id,
                    "attempts": 0,
                    "created_at": now,
                    "finished_at": now if suppressed else None,
                }
            )
        insert_missing_mail_rows(session, rows=new_rows)  # a run of another carrier may too
    return orders


class _OutcomeWriter:
    """Group commit of the ledger while the connections send.

    A worker hands in its mail's attempt (before the mail goes out) or outcome (after the
    server answered) and waits until it is committed; whatever all workers handed in while the
    previous group was being written goes into the next transaction together. The writes run
    in a thread of their own, so the connections keep talking meanwhile."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._ledger: LedgerWriter | None = None  # the writer thread's, for the batch
        self._attempted: list[int] = []
        self._outcomes: list[MailOutcome] = []
        self._group: asyncio.Future[None] | None = None  # the group being gathered
        self._writing: asyncio.Task[None] | None = None
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="mail-ledger")

    def write(self, *, attempted: Sequence[int] = (), outcomes: Sequence[MailOutcome] = ()) -> None:
        """One transaction now (in the writer's thread, or before the sending starts)."""
        if not attempted and not outcomes:
            return
        crash_point("mails.flush")
        if self._ledger is None:
            self._ledger = LedgerWriter(get_engine(self.db_url))
        self._ledger.write(attempted=attempted, outcomes=outcomes, at=utcnow())
        crash_point("mails.flushed")

    async def attempted(self, mail_id: int) -> None:
        self._attempted.append(mail_id)
        await self._committed()

    async def outcome(self, outcome: MailOutcome) -> None:
        self._outcomes.append(outcome)
        await self._committed()

    async def _committed(self) -> None:
        if self._group is None:
            self._group = asyncio.get_running_loop().create_future()
        group = self._group
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_groups())
        await asyncio.shield(group)

    async def _write_groups(self) -> None:
        loop = asyncio.get_running_loop()
        while self._group is not None:
            group, self._group = self._group, None
            attempted, self._attempted = self._attempted, []
            outcomes, self._outcomes = self._outcomes, []
            try:
                await loop.run_in_executor(
                    self.thread, partial(self.write, attempted=attempted, outcomes=outcomes)
                )
            except BaseException as error:  # every waiting worker gets it; the batch stops
                for failed in (group, self._group):
                    if failed is not None:
                        failed.set_exception(error)
                self._group = None
                return
            group.set_result(None)

    def close(self) -> None:
        def release() -> None:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

        self.thread.submit(release).result()
        self.thread.shutdown(wait=True)


async def send_shipping_mails(
    db_url: str,
    *,
    order_ids: Sequence[int],
    carrier: str,
    dry_run: bool = False,
    flow_run_id: str | None = None,
    settings: Settings | None = None,
    claimant: str | None = None,
    mark: bool = True,
) -> MailBatchReport:
    """One batch of the deliver run; safe to run again after a crash or a retry.

    Only the orders this run claims are mailed (tasks/guard.py): `claimant` is the run's
    owner token, whose heartbeat keeps the claims; without one the batch is an owner itself."""
    if claimant is None and not dry_run:
        with owned(db_url) as guard:
            return await send_shipping_mails(
                db_url,
                order_ids=order_ids,
                carrier=carrier,
                flow_run_id=flow_run_id,
                settings=settings,
                claimant=guard.token,
                mark=mark,
            )
    try:
        return await _send_batch(
            db_url,
            order_ids=order_ids,
            carrier=carrier,
            dry_run=dry_run,
            flow_run_id=flow_run_id,
            settings=settings,
            claimant=claimant or "",
            mark=mark,
        )
    finally:
        if claimant:  # every outcome of the batch is committed by now
            release_orders(db_url, order_ids=order_ids, token=claimant)


async def _send_batch(
    db_url: str,
    *,
    order_ids: Sequence[int],
    carrier: str,
    dry_run: bool,
    flow_run_id: str | None,
    settings: Settings | None,
    claimant: str,
    mark: bool,
) -> MailBatchReport:
    settings = settings or get_settings()
    composer = MailComposer(settings, Accounts.load(settings.accounts_path), carrier)
    report = MailBatchReport(carrier, order_ids=list(order_ids))
    if dry_run:
        return _preview(db_url, order_ids=order_ids, composer=composer, report=report)
    loaded = prepare_batch(
        db_url, order_ids=order_ids, composer=composer, flow_run_id=flow_run_id, mark=mark
    )
    ours = claim_orders(db_url, order_ids=order_ids, token=claimant, carrier=carrier)
    crash_point("mails.prepared")

    outgoing: list[OutgoingMail] = []
    by_key: dict[str, _Entry] = {}
    writer = _OutcomeWriter(db_url)
    orders = {o.id: o for o in loaded}  # loaded once: the ledger rows are read fresh below
    unsendable: list[MailOutcome] = []
    now = utcnow()
    with session_scope(db_url) as session:
        rows = mail_row_states(session, order_ids=order_ids)
    for order_id, row in rows.items():
        order = orders[order_id]
        if row.status != "pending":
            report.counts["suppressed" if row.status == "suppressed" else "done_before"] += 1
            continue
        if order_id not in ours:  # a live run of another carrier is mailing it
            report.counts["in_other_run"] += 1
            continue
        if row.not_before is not None and row.not_before > now:
            report.counts["not_due"] += 1  # waiting for the mail server; a later run sends it
            continue
        if row.attempts and row.not_before is None:
            report.counts["resent_after_unknown"] += 1
        try:
            mail, _subject = composer.compose(order, str(row.id), row.message_id)
        except ValueError as error:
            reason = f"not sendable: {error}"
            unsendable.append(MailOutcome(row.id, "failed", "", reason, bounce=UNKNOWN_RECIPIENT))
            report.counts["failed"] += 1
            report.problems.append(
                {"order_no": order.order_no, "status": "failed", "reason": f"not sendable: {error}"}
            )
            continue
        outgoing.append(mail)
        by_key[mail.key] = _Entry(row.id, order.order_no, row.attempts)
    if unsendable:
        await asyncio.get_running_loop().run_in_executor(
            writer.thread, partial(writer.write, outcomes=unsendable)
        )
    announced: set[str] = set()  # mails marked attempted in this run

    async def before_send(mail: OutgoingMail) -> None:
        crash_point("mails.before_attempted")
        await writer.attempted(by_key[mail.key].mail_id)
        announced.add(mail.key)
        crash_point("mails.attempted")  # committed as attempted, nothing sent yet

    async def on_result(result: SendResult) -> None:
        crash_point("mails.result")  # the server answered; nothing of it is committed yet
        entry = by_key[result.key]
        tried = result.key in announced
        await writer.outcome(_outcome(result, entry, report, settings, tried=tried))

    async def send() -> None:
        async with SmtpSender(
            settings.smtp(),
            connections=settings.smtp_connections,
            timeout=settings.smtp_timeout_seconds,
            backoff=settings.smtp_backoff_seconds,
        ) as sender:
            try:
                await sender.send_many(outgoing, before_send=before_send, on_result=on_result)
            finally:
                crash_point("mails.sent_all")

    try:
        if outgoing:
            await on_own_loop(send)
    finally:
        writer.close()
    return report


@dataclass(frozen=True, slots=True)
class _Entry:
    """A mail of the batch: its ledger row and order, and the attempts before this run."""

    mail_id: int
    order_no: str
    attempts: int


def _outcome(
    result: SendResult, entry: _Entry, report: MailBatchReport, settings: Settings, *, tried: bool
) -> MailOutcome:
    """The ledger's outcome of one mail, counted in the report."""
    if result.status == "sent":
        report.counts["sent"] += 1
        report.sent_orders.append(entry.order_no)
        return MailOutcome(entry.mail_id, "sent", result.reply)
    if result.status == "failed":
        report.counts["failed"] += 1
        report.problems.append(
            {"order_no": entry.order_no, "status": "failed", "reason": result.reply}
        )
        return MailOutcome(entry.mail_id, "failed", result.reply, result.reply)
    if result.status == "deferred":  # stays pending; a run after `not_before` tries again
        report.counts["waiting"] += 1
        until = next_try(
            utcnow(), tries=entry.attempts + 1, base_seconds=settings.smtp_retry_wait_seconds
        )
        report.problems.append(
            {
                "order_no": entry.order_no,
                "status": "waiting",
                "reason": waiting_reason(result.reply),
                "reply": result.reply,
                "not_before": minute(until),
            }
        )
        return MailOutcome(  # a run that never got to send it still counts as a try
            entry.mail_id,
            "pending",
            result.reply,
            waiting_reason(result.reply),
            until,
            int(not tried),
        )
    # no answer after DATA: stays pending, the next run re-sends (same Message-ID)
    report.counts["unknown"] += 1
    report.problems.append(
        {"order_no": entry.order_no, "status": "unknown", "reason": result.reply}
    )
    return MailOutcome(entry.mail_id, "pending", result.reply, "outcome unknown")


def _preview(
    db_url: str, *, order_ids: Sequence[int], composer: MailComposer, report: MailBatchReport
) -> MailBatchReport:
    with session_scope(db_url) as session:
        orders = load_orders(session, order_ids=order_ids)
        rows = mail_rows(session, order_ids=order_ids)
    for order in orders:
        options = composer.accounts.options(order.portal, order.portal_account)
        mail = partial(
            MailPreview,
            order_no=order.order_no,
            to=order.buyer_email,
            parcels=tuple(
                f"{p.carrier} {p.tracking_number or 'without tracking number'}"
                for p in order.parcels
            ),
        )
        if not options.sends_mail:
            entry = mail(action="suppress", reason=options.suppress_reason)
            report.counts["suppressed"] += 1
        else:
            try:
                _mail, subject = composer.compose(order, order.order_no)
                entry = mail(
                    action="send",
                    subject=subject,
                    resend=bool(order.id in rows and rows[order.id].attempts),
                )
                report.counts["would_send"] += 1
            except ValueError as error:
                entry = mail(action="fail", reason=str(error))
                report.counts["failed"] += 1
        report.preview.append(entry)
    return report


@task(
    name="send-shipping-mails",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
)
async def mail_batch(
    db_url: str,
    order_ids: list[int],
    carrier: str,
    dry_run: bool = False,
    flow_run_id: str | None = None,
    claimant: str | None = None,
) -> MailBatchReport:
    """Record and send the shipping mails of one batch of orders (marked shipped before)."""
    logger = get_run_logger()
    report = await send_shipping_mails(
        db_url,
        order_ids=order_ids,
        carrier=carrier,
        dry_run=dry_run,
        flow_run_id=flow_run_id,
        claimant=claimant,
        mark=False,
    )
    for start in range(0, len(report.sent_orders), ORDER_NUMBERS_PER_LOG_LINE):
        chunk = report.sent_orders[start : start + ORDER_NUMBERS_PER_LOG_LINE]
        logger.info("%s mail sent: %s", carrier, ", ".join(chunk))
    for problem in report.problems:
        if problem["status"] == "waiting":
            continue  # one line per server reply below, not thousands for one outage
        logger.warning(
            "%s mail %s for order %s: %s",
            carrier,
            problem["status"],
            problem["order_no"],
            problem["reason"],
        )
    waiting = [
        (p["order_no"], p.get("reply", p["reason"]), p.get("not_before", ""))
        for p in report.problems
        if p["status"] == "waiting"
    ]
    for line in waiting_lines(waiting, orders_per_line=ORDER_NUMBERS_PER_LOG_LINE):
        logger.warning("%s: %s", carrier, line)
    logger.info("%s batch of %d orders: %s", carrier, len(order_ids), dict(report.counts))
    return report
