"""What one run did to each order it touched: a row per shipping mail and per confirmation.

The deliver and poll runs publish these as their per-order artifact and name the orders in
their logs (flows/protocol.py), so "what happened to AU100001" is answered in the run history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import Confirmation, Order, ShippingMail

CHUNK = 5000  # ids per IN list: far below the bind-parameter limits of SQLite and PostgreSQL

# outcomes that need someone to look (the rest is done, or the accounts' policy)
PROBLEMS = {
    "mail": {"failed", "unknown", "waiting", "pending"},
    "confirmation": {"rejected", "failed", "held", "pending", "waiting"},
    # track-parcels: a parcel in trouble, or a source that could not be asked
    "tracking": {"exception", "undeliverable", "lost", "returned", "not_asked"},
}


@dataclass(frozen=True)
class OrderOutcome:
    order_no: str
    portal: str
    step: str  # "mail", "confirmation" or "tracking"
    outcome: str  # the row's status; "waiting" for a pending row that says why
    reason: str

    @property
    def problem(self) -> bool:
        return self.outcome in PROBLEMS[self.step]


def _outcome(status: str, reason: str | None) -> str:
    return "waiting" if status == "pending" and reason else status


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def outcomes_of_orders(session: Session, *, order_ids: Sequence[int]) -> list[OrderOutcome]:
    """The shipping mails and confirmations of these orders, as they stand now."""
    found: list[OrderOutcome] = []
    ids = sorted(set(order_ids))
    for chunk in _chunks(ids):
        mails = select(Order.order_no, Order.portal, ShippingMail.status, ShippingMail.reason).join(
            ShippingMail, ShippingMail.order_id == Order.id
        )
        for order_no, portal, status, reason in session.execute(
            mails.where(Order.id.in_(chunk), ShippingMail.kind == "shipped")
        ):
            found.append(
                OrderOutcome(order_no, portal, "mail", _outcome(status, reason), reason or "")
            )
        found += _confirmations(session, Confirmation.order_id.in_(chunk))
    return found


def confirmations_touched_since(session: Session, *, since: datetime) -> list[OrderOutcome]:
    """Confirmations attempted, submitted or finished since `since` (a poll run's start)."""
    return _confirmations(
        session,
        or_(
            Confirmation.attempted_at >= since,
            Confirmation.submitted_at >= since,
            Confirmation.finished_at >= since,
        ),
    )


def _confirmations(session: Session, where: object) -> list[OrderOutcome]:
    rows = select(
        Order.order_no,
        Confirmation.portal,
        Confirmation.status,
        Confirmation.error_code,
        Confirmation.error_text,
    ).join(Order, Order.id == Confirmation.order_id)
    found = []
    for order_no, portal, status, code, text in session.execute(
        rows.where(where).order_by(Order.order_no, Confirmation.id)  # type: ignore[arg-type]
    ):
        reason = f"[{code}] {text}" if code else text or ""
        found.append(OrderOutcome(order_no, portal, "confirmation", _outcome(status, text), reason))
    return found
