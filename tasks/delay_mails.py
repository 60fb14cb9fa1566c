"""The delay mail ("Ihre Sendung verzögert sich"): once per order, when a parcel is late.

Only for accounts with `delay_mail = true` in accounts.toml, and never where the account's mail
policy suppresses our mails (by default Amazon, Kaufland and OTTO, who mail the buyer
themselves: core/accounts.py names the sources). Only for a buyer who got our shipping mail,
and only for delays the carrier's data show: no first scan after a tracking source was asked
about the parcel, no progress for days, or past the carrier's expected date (core/watchlist.py).
An exception (damage, lost, refused) is the operator's to handle: it gets no automatic mail.

Why a delay notice is fine where our shipping mail is: it is about the buyer's own purchase, not
advertising. eBay's member-to-member contact policy forbids unsolicited commercial mail but not
messages that "help buyers and sellers complete a transaction"
(https://www.ebay.in/pages/help/policies/rfe-spam-ov.html), and eBay advises sellers "to be
upfront with their buyers and let them know if delivery delays are expected"
(https://sellercentre.ebay.co.uk/archive/2020-covid-november-december). For Hood.de and the own
shop no source on delay notices was found: they follow the account's mail policy (unsourced).

The ledger is the shipping-mail ledger (kind `delay`, unique per order): the row is committed
before the mail goes out, marked attempted before sending and given its outcome right after
the server answered. A row that is sent or failed is never sent again; a pending one (a run
that died while sending, the mail server away) goes again with the same Message-ID. One run at
a time holds the `delay-mails` lock (tasks/guard.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.smtp.message import address_of, make_message_id
from connectors.smtp.sender import OutgoingMail
from core.accounts import Accounts
from core.bounces import UNKNOWN_RECIPIENT
from core.mail_render import MailRenderer
from core.settings import Settings, get_settings
from core.watchlist import DELAYS, Problem
from db.models import ShippingMail
from db.queries.claims import insert_missing_mail_rows
from db.queries.mails import LedgerWriter, MailOutcome, load_orders, mail_rows
from db.queries.watchlist import ProblemParcel, problem_parcels
from db.session import get_engine, session_scope
from db.types import utcnow
from tasks.guard import run_guard
from tasks.ledgered_mail import LedgeredMail, send_through_ledger
from tasks.mails import MailComposer, mail_context

KIND = "delay"
LOCK = "delay-mails"


@dataclass
class DelayReport:
    counts: Counter[str] = field(default_factory=Counter)
    sent_orders: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)  # order_no, status, reason


def is_known_delay(parcel: ProblemParcel) -> bool:
    """A delay the carrier's data show: "no first scan" only once a source was asked."""
    if parcel.problem not in DELAYS:
        return False
    return parcel.problem is not Problem.NO_FIRST_SCAN or parcel.asked


async def send_delay_mails(
    db_url: str, *, now: datetime, settings: Settings | None = None
) -> DelayReport:
    """Write the ledger rows of the delay mails due at `now`, and send them."""
    settings = settings or get_settings()
    accounts = Accounts.load(settings.accounts_path)
    report = DelayReport()
    with run_guard(db_url, [LOCK]):
        with session_scope(db_url) as session:
            found = problem_parcels(
                session, now=now, thresholds=settings.watch_thresholds(), limit=None
            )
            by_order: dict[int, list[ProblemParcel]] = {}
            for parcel in found:
                if (
                    is_known_delay(parcel)
                    and accounts.options(parcel.portal, parcel.portal_account).sends_delay_mail
                ):
                    by_order.setdefault(parcel.order_id, []).append(parcel)
            domain = address_of(settings.mail_from).rsplit("@", 1)[1]
            due = _due_orders(session, by_order, report, domain)
            _drop_stale(session, keep=set(by_order), report=report, now=now)
        mails = _compose(db_url, due, by_order, settings, accounts, report) if due else []
        await _send(db_url, mails, settings, report)
    return report


def _due_orders(
    session: Session, by_order: dict[int, list[ProblemParcel]], report: DelayReport, domain: str
) -> list[int]:
    """The orders whose delay mail is to go now, their pending ledger rows written."""
    ids = list(by_order)
    shipped = mail_rows(session, order_ids=ids)
    told = mail_rows(session, order_ids=ids, kind=KIND)
    due: list[int] = []
    new_rows: list[dict[str, object]] = []
    for order_id, parcels in by_order.items():
        row, first = told.get(order_id), shipped.get(order_id)
        if row is not None and row.status != "pending":
            report.counts["done_before"] += 1
            continue
        if first is None or first.status != "sent":
            report.counts["no_shipping_mail"] += 1  # the buyer never heard from us
            continue
        due.append(order_id)
        if row is None:
            late = parcels[0]
            new_rows.append(
                {
                    "order_id": order_id,
                    "kind": KIND,
                    "status": "pending",
                    "carrier": late.carrier,
                    "message_id": make_message_id(f"{late.order_no}.{KIND}", domain),
                    "recipient": first.recipient,
                    "language": first.language,
                    "reason": f"{late.problem} ({late.carrier} {late.tracking_number})",
                    "attempts": 0,
                    "created_at": utcnow(),
                }
            )
    insert_missing_mail_rows(session, rows=new_rows)
    return due


def _drop_stale(session: Session, *, keep: set[int], report: DelayReport, now: datetime) -> None:
    """A delay mail still pending (the mail server was away) whose parcel is no longer late,
    or whose account no longer asks for it, is not sent any more: suppressed, with the reason,
    so that no pending row waits for ever (the retention run waits for pending mails)."""
    stale = session.scalars(
        select(ShippingMail).where(ShippingMail.kind == KIND, ShippingMail.status == "pending")
    )
    for row in stale:
        if row.order_id in keep:
            continue
        row.status, row.finished_at = "suppressed", now
        row.reason = "no delay mail: the parcel is no longer late, or the account stopped them"
        report.counts["no_longer_late"] += 1


@dataclass(frozen=True, slots=True)
class _Mail:
    mail: OutgoingMail
    row_id: int
    order_no: str


def _compose(
    db_url: str,
    due: Sequence[int],
    by_order: dict[int, list[ProblemParcel]],
    settings: Settings,
    accounts: Accounts,
    report: DelayReport,
) -> list[_Mail]:
    """The mails to send; a mail that cannot be built (a bad address) is failed at once."""
    composer = MailComposer(settings, accounts, "")
    composer.renderer = MailRenderer(settings.templates_dir or settings.home / "templates", KIND)
    out: list[_Mail] = []
    unsendable: list[MailOutcome] = []
    with session_scope(db_url) as session:
        rows = mail_rows(session, order_ids=list(due), kind=KIND)
        for order in load_orders(session, order_ids=list(due)):
            row = rows[order.id]
            late = {p.tracking_number for p in by_order[order.id]}
            language = composer.language(order)
            context = mail_context(order, settings, language)
            context["delayed"] = [p for p in context["parcels"] if p.tracking_number in late]
            try:
                rendered = composer.renderer.render(
                    context, portal=order.portal, carrier=row.carrier, language=language
                )
                mail = composer.build(order, str(row.id), rendered, row.message_id)
            except ValueError as error:
                reason = f"not sendable: {error}"
                unsendable.append(
                    MailOutcome(row.id, "failed", "", reason, bounce=UNKNOWN_RECIPIENT)
                )
                report.counts["failed"] += 1
                report.problems.append(
                    {"order_no": order.order_no, "status": "failed", "reason": reason}
                )
                continue
            out.append(_Mail(mail, row.id, order.order_no))
    if unsendable:
        ledger = LedgerWriter(get_engine(db_url))
        try:
            ledger.write(attempted=[], outcomes=unsendable, at=utcnow())
        finally:
            ledger.close()
    return out


async def _send(
    db_url: str, mails: Sequence[_Mail], settings: Settings, report: DelayReport
) -> None:
    order_nos = {m.row_id: m.order_no for m in mails}
    ledgered = [LedgeredMail(m.mail, m.row_id) for m in mails]
    for sent in await send_through_ledger(db_url, ledgered, settings):
        order_no = order_nos[sent.row_id]
        report.counts[sent.status] += 1
        if sent.status == "sent":
            report.sent_orders.append(order_no)
        else:
            report.problems.append(
                {"order_no": order_no, "status": sent.status, "reason": sent.reply}
            )
