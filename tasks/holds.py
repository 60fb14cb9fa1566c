"""Held confirmations: letting them go once their order's mail is sent, or by an operator.

A confirmation is opened `held` when the account's `confirm_after` wants the shipping mail
first and the mail failed or is not sent yet (core/confirmation_gate.py). Every deliver run
(when it opens confirmations) and every poll looks at the held rows again against the mails
and accounts.toml as they are now: a row whose mail has been sent since, whose account now
says otherwise, or whose order an operator released turns `pending`, and that same run or poll
submits it. The others keep their reason, brought up to date (a pending mail that failed for
good now says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.accounts import Accounts
from core.confirmation_gate import MailState, hold_for
from db.queries.confirmations import confirmations_of_order, record_results
from db.queries.holds import add_release, held_rows, released_pairs, shipping_mails_of
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow


def release_settled(
    session: Session, *, accounts: Accounts, order_ids: Sequence[int] | None = None
) -> int:
    """Held rows (all, or of `order_ids`) the gate lets through now turn pending; the count."""
    rows = held_rows(session, order_ids=order_ids)
    if not rows:
        return 0
    ids = sorted({r.order_id for r in rows})
    mails = shipping_mails_of(session, order_ids=ids)
    released = released_pairs(session, order_ids=ids)
    changes: list[dict[str, Any]] = []
    let_go = 0
    for row in rows:
        options = accounts.options(row.portal, row.account)
        mail = mails.get(row.order_id)
        hold = hold_for(
            options,
            order_no=row.order_no,
            mail=MailState(mail.status, mail.reason) if mail else MailState(None),
            released=(row.order_id, row.portal) in released or not options.confirm,
        )
        if hold is None:  # a switched-off account's row is skipped by the next pass
            changes.append(
                {"id": row.id, "status": "pending", "error_code": None, "error_text": None}
            )
            let_go += 1
        elif (hold.code, hold.text[:1000]) != (row.error_code, row.error_text):
            changes.append({"id": row.id, "error_code": hold.code, "error_text": hold.text[:1000]})
    record_results(session, results=changes)
    return let_go


def release_held(db_url: str, *, accounts: Accounts) -> int:
    """`release_settled` over every held row, in its own transaction (the poll's first step)."""
    with session_scope(db_url) as session:
        return release_settled(session, accounts=accounts)


@dataclass
class ReleaseReport:
    released: list[dict[str, Any]] = field(default_factory=list)  # order_no, portal, rows
    problems: list[dict[str, str]] = field(default_factory=list)  # order_no, reason


def release_orders(
    db_url: str,
    *,
    order_nos: Sequence[str],
    by: str,
    reason: str,
    accounts: Accounts,
    portal: str | None = None,
) -> ReleaseReport:
    """An operator lets the held confirmations of these orders go (`liefern portals release`).

    One ledger entry per (order, portal): who, when, why. The rows turn pending at once, so
    the next deliver run or poll confirms them. Order numbers that are unknown or hold
    nothing are named; the others are released all the same."""
    report = ReleaseReport()
    for order_no in order_nos:
        with session_scope(db_url) as session:
            order = get_order(session, order_no=order_no)
            if order is None:
                report.problems.append({"order_no": order_no, "reason": "no such order"})
                continue
            held = [
                r for r in held_rows(session, order_ids=[order.id]) if portal in (None, r.portal)
            ]
            if not held:
                report.problems.append(
                    {
                        "order_no": order.order_no,
                        "reason": "nothing held" + _state(session, order.id),
                    }
                )
                continue
            now = utcnow()
            for name in sorted({r.portal for r in held}):
                add_release(session, order_id=order.id, portal=name, by=by, reason=reason, at=now)
            release_settled(session, accounts=accounts, order_ids=[order.id])
            for name in sorted({r.portal for r in held}):
                rows = sum(1 for r in held if r.portal == name)
                report.released.append({"order_no": order.order_no, "portal": name, "rows": rows})
    return report


def _state(session: Session, order_id: int) -> str:
    rows = confirmations_of_order(session, order_id=order_id)
    if not rows:
        return " (no confirmation opened yet: deliver the order first)"
    return " (" + ", ".join(sorted({f"{r.portal}: {r.status}" for r in rows})) + ")"
