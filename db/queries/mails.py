"""Queries of the shipping-mail ledger and of the orders a deliver run picks up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session, selectinload

from db.models import Order, Parcel, ShippingMail
from db.queries._keys import in_keys

FINAL_MAIL_STATUSES = ("sent", "failed", "suppressed")


def orders_to_mail(
    session: Session, *, carriers: Sequence[str] | None, kind: str = "shipped"
) -> list[int]:
    """Orders with a parcel of one of `carriers` (all when None) and no final mail yet.

    Orders whose mail is still `pending` (a crashed or interrupted run) are picked up again.
    """
    parcel_filter = [Parcel.order_id == Order.id]
    if carriers:
        parcel_filter.append(Parcel.carrier.in_(list(carriers)))
    finished = exists().where(
        and_(
            ShippingMail.order_id == Order.id,
            ShippingMail.kind == kind,
            ShippingMail.status.in_(FINAL_MAIL_STATUSES),
        )
    )
    statement = (
        select(Order.id)
        .where(
            Order.status.in_(("open", "shipped")), exists().where(and_(*parcel_filter)), ~finished
        )
        .order_by(Order.id)
    )
    return list(session.scalars(statement))


def load_orders(session: Session, *, order_ids: Sequence[int]) -> list[Order]:
    """Orders with items and parcels, for rendering and confirming."""
    if not order_ids:
        return []
    statement = (
        select(Order)
        .where(in_keys(session, Order.id, order_ids))
        .options(selectinload(Order.items), selectinload(Order.parcels))
        .order_by(Order.id)
    )
    return list(session.scalars(statement))


def mark_shipped(session: Session, *, order_ids: Sequence[int], at: datetime) -> int:
    if not order_ids:
        return 0
    result = session.execute(
        update(Order)
        .where(in_keys(session, Order.id, order_ids), Order.status == "open")
        .values(status="shipped", shipped_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mail_rows(
    session: Session, *, order_ids: Sequence[int], kind: str = "shipped"
) -> dict[int, ShippingMail]:
    if not order_ids:
        return {}
    statement = select(ShippingMail).where(
        in_keys(session, ShippingMail.order_id, order_ids), ShippingMail.kind == kind
    )
    return {row.order_id: row for row in session.scalars(statement)}


def add_mail_rows(session: Session, *, rows: Iterable[ShippingMail]) -> None:
    session.add_all(list(rows))
    session.flush()


def mark_attempted(session: Session, *, mail_ids: Sequence[int], at: datetime) -> None:
    """Committed before the mails go out: an attempt with no result afterwards is 'unknown'."""
    if not mail_ids:
        return
    session.execute(
        update(ShippingMail)
        .where(in_keys(session, ShippingMail.id, mail_ids))
        .values(attempts=ShippingMail.attempts + 1, attempted_at=at)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class MailOutcome:
    mail_id: int
    status: str  # sent | failed | pending (outcome unknown)
    reply: str
    reason: str | None = None


def record_outcomes(session: Session, *, outcomes: Sequence[MailOutcome], at: datetime) -> None:
    for status in {o.status for o in outcomes}:
        group = [o for o in outcomes if o.status == status]
        finished_at = at if status != "pending" else None
        session.execute(
            update(ShippingMail),
            [
                {
                    "id": o.mail_id,
                    "status": status,
                    "last_reply": o.reply[:500],
                    "reason": (o.reason or None) and o.reason[:500],
                    "finished_at": finished_at,
                }
                for o in group
            ],
        )


def mail_counts(session: Session, *, order_ids: Sequence[int]) -> dict[str, int]:
    if not order_ids:
        return {}
    statement = (
        select(ShippingMail.status, func.count())
        .where(in_keys(session, ShippingMail.order_id, order_ids))
        .group_by(ShippingMail.status)
    )
    return {status: int(count) for status, count in session.execute(statement).tuples()}
