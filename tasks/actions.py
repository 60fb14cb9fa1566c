"""The operator's actions on single orders: send the shipping mail now, resend it, retry the
portal confirmations.

Plain functions (the CLI and, later, the web app's buttons call them): they take order
numbers and who acts, return a typed result and never print. Every action goes the deliver
run's way: the mail through the per-order claim and the mail ledger (tasks/mails.py), the
portals through the confirmation ledger (tasks/confirmations.py) under the portal's lock. So an
action run twice does one thing, and one that meets a deliver run mails nobody twice.

Each order acted on gets an `order_actions` row (who, when, what was there before), which the
order's protocol shows.

A resend reopens the order's one mail row (`pending` again): a failed mail keeps its
Message-ID (it never reached the buyer); a sent one (`force`) gets a new Message-ID, because it
is a deliberate second mail that mailbox providers must not fold into the first. The earlier
status, reason and Message-ID go into the action's row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from connectors.smtp.message import address_of, make_message_id
from core.accounts import Accounts
from core.settings import Settings, get_settings
from db.models import Order, ShippingMail
from db.queries.actions import (
    add_action,
    confirmations_to_retry,
    order_numbers,
    orders_with_failed_mail,
    reopen_confirmation,
    reopen_mail,
    send_waiting_now,
)
from db.queries.confirmations import accounts_with, confirmation_counts
from db.queries.mails import mail_rows
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow
from tasks.confirmations import (
    CONFIRM_LOCK_WAIT,
    confirm_lock,
    open_confirmations,
    submit_pending,
)
from tasks.guard import RunOverlap, waiting_run_guard
from tasks.mails import send_shipping_mails

UNKNOWN = "no such order (order number or portal order id)"


@dataclass
class OrderOutcome:
    """What an action did to one order: `status` is a word for scripts, `detail` for people."""

    order_no: str
    status: str
    detail: str
    failed: bool = False  # the order was asked for and did not get what was asked


@dataclass
class ActionResult:
    orders: list[OrderOutcome] = field(default_factory=list)
    # portal -> status -> rows, of the orders acted on (after the portals were told)
    confirmations: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a portal that could not be told

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(o.failed for o in self.orders)


# --- the shipping mail -----------------------------------------------------------------------


async def deliver_orders(
    db_url: str,
    *,
    order_nos: Sequence[str],
    by: str,
    resend: bool = False,
    settings: Settings | None = None,
) -> ActionResult:
    """Mark shipped and send these orders' shipping mails now, then tell their portals, as a
    deliver run would. An order whose mail went already is named and left alone, unless
    `resend` (a deliberate second mail, new Message-ID)."""
    settings = settings or get_settings()
    result = ActionResult()
    to_send: dict[int, str] = {}  # order id -> order number
    to_confirm: list[int] = []
    for order_no in order_nos:
        with session_scope(db_url) as session:
            order = get_order(session, order_no=order_no)
            refusal = _refusal(order, order_no)
            if refusal is not None or order is None:
                result.orders.append(refusal or OrderOutcome(order_no, "unknown", UNKNOWN, True))
                continue
            mail = mail_rows(session, order_ids=[order.id]).get(order.id)
            if mail is None or mail.status == "pending":
                if mail is not None:
                    send_waiting_now(session, mail_id=mail.id)
                to_send[order.id] = order.order_no
            elif resend and mail.status in ("sent", "failed"):
                _reopen(session, order, mail, by=by, settings=settings)
                to_send[order.id] = order.order_no
            else:
                result.orders.append(_already(order, mail))
                to_confirm.append(order.id)
    await _send(db_url, to_send, by=by, action="deliver", settings=settings, result=result)
    await _confirm(db_url, [*to_send, *to_confirm], settings=settings, result=result)
    return result


async def resend_mails(
    db_url: str,
    *,
    by: str,
    order_nos: Sequence[str] = (),
    failed: bool = False,
    carrier: str | None = None,
    force: bool = False,
    settings: Settings | None = None,
) -> ActionResult:
    """Send the shipping mail of these orders (or of every order whose mail `failed`, of the
    runs of `carrier`) once more, after the address or the mail server was fixed.

    A failed mail is sent again with its Message-ID; a sent one only with `force`, as a new
    mail. Confirmations held for the mail go out once it is sent (tasks/holds.py)."""
    settings = settings or get_settings()
    accounts = Accounts.load(settings.accounts_path)
    result = ActionResult()
    if failed:
        with session_scope(db_url) as session:
            order_nos = [*order_nos, *orders_with_failed_mail(session, carrier=carrier)]
    to_send: dict[int, str] = {}
    for order_no in dict.fromkeys(order_nos):
        with session_scope(db_url) as session:
            order = get_order(session, order_no=order_no)
            if order is None:
                result.orders.append(OrderOutcome(order_no, "unknown", UNKNOWN, True))
                continue
            mail = mail_rows(session, order_ids=[order.id]).get(order.id)
            if mail is None:
                result.orders.append(
                    OrderOutcome(
                        order.order_no,
                        "not_mailed",
                        "no shipping mail yet: `liefern deliver --order "
                        f"{order.order_no}` sends it",
                        True,
                    )
                )
                continue
            if mail.status == "pending":
                send_waiting_now(session, mail_id=mail.id)
            elif mail.status == "sent" and not force:
                result.orders.append(_already(order, mail, hint="--force sends a second mail"))
                continue
            elif mail.status in ("sent", "failed", "suppressed"):
                options = accounts.options(order.portal, order.portal_account)
                if not options.sends_mail:
                    result.orders.append(
                        OrderOutcome(
                            order.order_no,
                            "suppressed",
                            f"not resent: {options.suppress_reason}",
                            True,
                        )
                    )
                    continue
                _reopen(session, order, mail, by=by, settings=settings)
            to_send[order.id] = order.order_no
    await _send(db_url, to_send, by=by, action="mail_resend", settings=settings, result=result)
    await _confirm(db_url, list(to_send), settings=settings, result=result)
    return result


def _refusal(order: Order | None, order_no: str) -> OrderOutcome | None:
    if order is None:
        return OrderOutcome(order_no, "unknown", UNKNOWN, True)
    if order.status == "cancelled":
        return OrderOutcome(order.order_no, "cancelled", "the order is cancelled: no mail", True)
    if not order.parcels:
        return OrderOutcome(
            order.order_no,
            "no_parcel",
            "no parcel yet: add one first (`liefern tracking add "
            f"{order.order_no} CARRIER NUMBER`)",
            True,
        )
    return None


def _already(
    order: Order, mail: ShippingMail, *, hint: str = "--resend sends it again"
) -> OrderOutcome:
    if mail.status == "sent":
        at = f"{mail.finished_at:%Y-%m-%d %H:%M} UTC" if mail.finished_at else "earlier"
        detail = f"shipping mail already sent {at} (Message-ID {mail.message_id}); {hint}"
        return OrderOutcome(order.order_no, "already_sent", detail)
    if mail.status == "failed":
        detail = (
            f"shipping mail failed: {mail.reason}; fix the address or the mail server, then "
            f"`liefern mails resend {order.order_no}`"
        )
        return OrderOutcome(order.order_no, "failed", detail, True)
    return OrderOutcome(order.order_no, mail.status, f"shipping mail {mail.status}: {mail.reason}")


def _reopen(
    session: Session, order: Order, mail: ShippingMail, *, by: str, settings: Settings
) -> None:
    """The mail row `pending` again; what it was goes into the action log."""
    message_id = None
    if mail.status != "failed":  # a second mail the buyer gets: a Message-ID of its own
        domain = address_of(settings.mail_from).rsplit("@", 1)[1]
        message_id = make_message_id(f"{order.order_no}.shipped.{mail.attempts + 1}", domain)
    was = f"was {mail.status}" + (f": {mail.reason}" if mail.reason else "")
    was += f" (Message-ID {mail.message_id})"
    if reopen_mail(
        session,
        mail_id=mail.id,
        was=mail.status,
        reason=f"resend requested by {by}",
        message_id=message_id,
    ):
        add_action(
            session,
            order_id=order.id,
            action="mail_resend",
            by=by,
            detail=f"shipping mail reopened for a resend, {was}",
            at=utcnow(),
        )


async def _send(
    db_url: str,
    orders: dict[int, str],
    *,
    by: str,
    action: str,
    settings: Settings,
    result: ActionResult,
) -> None:
    """The orders' mails through the deliver run's path, one batch per carrier; then each
    order's outcome as the ledger has it, logged as the operator's action."""
    if not orders:
        return
    by_carrier: dict[str, list[int]] = defaultdict(list)
    with session_scope(db_url) as session:
        rows = mail_rows(session, order_ids=list(orders))
        for order_id in orders:
            order = session.get(Order, order_id)
            assert order is not None
            row = rows.get(order_id)
            carrier = row.carrier if row is not None else order.parcels[0].carrier
            by_carrier[carrier].append(order_id)
    for carrier, order_ids in by_carrier.items():
        await send_shipping_mails(db_url, order_ids=order_ids, carrier=carrier, settings=settings)
    now = utcnow()
    with session_scope(db_url) as session:
        rows = mail_rows(session, order_ids=list(orders))
        for order_id, order_no in orders.items():
            outcome = _mail_outcome(order_no, rows.get(order_id))
            result.orders.append(outcome)
            add_action(
                session, order_id=order_id, action=action, by=by, detail=outcome.detail, at=now
            )


def _mail_outcome(order_no: str, mail: ShippingMail | None) -> OrderOutcome:
    if mail is None:  # not possible after a send: the batch writes the row first
        return OrderOutcome(order_no, "not_mailed", "no shipping mail written", True)
    if mail.status == "sent":
        return OrderOutcome(
            order_no,
            "sent",
            f"shipping mail sent to {mail.recipient} (Message-ID {mail.message_id})",
        )
    if mail.status == "suppressed":
        return OrderOutcome(order_no, "suppressed", f"shipping mail suppressed: {mail.reason}")
    if mail.status == "failed":
        return OrderOutcome(order_no, "failed", f"shipping mail failed: {mail.reason}", True)
    if mail.claimed_by is not None:
        return OrderOutcome(
            order_no, "in_other_run", "a deliver run is sending this mail right now", True
        )
    return OrderOutcome(order_no, "waiting", f"shipping mail not sent yet: {mail.reason}", True)


# --- the portal confirmations ----------------------------------------------------------------


async def _confirm(
    db_url: str,
    order_ids: Sequence[int],
    *,
    settings: Settings,
    result: ActionResult,
    later: bool = False,
) -> None:
    """Open the orders' confirmation rows (held or skipped as the account says) and submit
    every pending row of their portals, each account under its own lock, as a deliver run does."""
    if not order_ids:
        return
    accounts = Accounts.load(settings.accounts_path)
    open_confirmations(db_url, order_ids=order_ids, accounts=accounts, run_id=None)
    if not later:
        await submit_portals(db_url, settings=settings, result=result)
    with session_scope(db_url) as session:
        result.confirmations = confirmation_counts(session, order_ids=list(order_ids))


async def submit_portals(db_url: str, *, settings: Settings, result: ActionResult) -> None:
    with session_scope(db_url) as session:
        pending = accounts_with(session, status="pending")
    for portal, account in pending:
        try:
            async with waiting_run_guard(
                db_url, [confirm_lock(portal, account)], wait_seconds=CONFIRM_LOCK_WAIT
            ):
                report = await submit_pending(
                    db_url, portal=portal, account=account, run_id=None, settings=settings
                )
        except RunOverlap as overlap:
            result.errors.append(
                f"{portal} account {account}: not told now, {overlap}; the next run tells it"
            )
            continue
        result.errors += report.errors


async def retry_confirmations(
    db_url: str,
    *,
    by: str,
    order_nos: Sequence[str] = (),
    failed: bool = False,
    rejected: bool = False,
    portal: str | None = None,
    later: bool = False,
    settings: Settings | None = None,
) -> ActionResult:
    """Failed portal confirmations (and rejected ones with `rejected`: those usually need a fix
    first) of these orders, or of all orders with `failed`, back to pending with who asked,
    then submitted now (or by the next deliver run or poll with `later`)."""
    settings = settings or get_settings()
    result = ActionResult()
    statuses = ["failed", *(["rejected"] if rejected else [])]
    order_ids: list[int] | None = None
    if not failed:
        order_ids = []
        for order_no in order_nos:
            with session_scope(db_url) as session:
                order = get_order(session, order_no=order_no)
            if order is None:
                result.orders.append(OrderOutcome(order_no, "unknown", UNKNOWN, True))
            else:
                order_ids.append(order.id)
    now = utcnow()
    retried: dict[int, str] = {}
    with session_scope(db_url) as session:
        rows = confirmations_to_retry(
            session, statuses=statuses, order_ids=order_ids, portal=portal
        )
        for row in rows:
            was = f"[{row.error_code}] {row.error_text}" if row.error_code else row.error_text
            reason = f"retry requested by {by} (was {row.status}: {was})"
            if reopen_confirmation(session, row_id=row.id, was=row.status, reason=reason):
                add_action(
                    session,
                    order_id=row.order_id,
                    action="confirmation_retry",
                    by=by,
                    detail=f"{row.portal} confirmation back to pending, was {row.status}: {was}",
                    at=now,
                )
                retried[row.order_id] = ""
        numbers = order_numbers(session, order_ids=[*retried, *(order_ids or [])])
    for order_id in order_ids or []:
        if order_id not in retried:
            result.orders.append(
                OrderOutcome(
                    numbers[order_id],
                    "nothing_to_retry",
                    "no "
                    + " or ".join(statuses)
                    + " confirmation"
                    + ("" if rejected else " (rejected ones only with --rejected)"),
                )
            )
    if retried and not later:
        await submit_portals(db_url, settings=settings, result=result)
    with session_scope(db_url) as session:
        for order_id in retried:
            states = confirmation_counts(session, order_ids=[order_id])
            now_failed = [
                f"{portal} {status}"
                for portal, counts in sorted(states.items())
                for status in counts
                if status in ("failed", "rejected")
            ]
            if now_failed:  # told again and refused again: the reason is in `orders show`
                detail = "retried, still " + ", ".join(now_failed)
                result.orders.append(OrderOutcome(numbers[order_id], "failed", detail, True))
            else:
                detail = "back to pending" if later else "retried"
                result.orders.append(OrderOutcome(numbers[order_id], "retried", detail))
        if retried:
            result.confirmations = confirmation_counts(session, order_ids=list(retried))
    return result
