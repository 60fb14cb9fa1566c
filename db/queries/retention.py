"""Queries of the retention run: orders past their retention, what still needs their buyer
data, and the anonymisation of one order with its deletion-log row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, and_, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.clock import BUSINESS_TZ
from core.domain import ConfirmationStatus, MailStatus, OrderStatus
from core.retention import Delivery, delivery_of, due_at, scrub
from db.models import (
    BuyerDataDeletion,
    Confirmation,
    ConfirmationRelease,
    Order,
    OrderAction,
    Parcel,
    ShippingMail,
)

# a confirmation in one of these still works with the order: the run leaves it for later
OPEN_CONFIRMATIONS = (
    ConfirmationStatus.PENDING,
    ConfirmationStatus.SUBMITTED,
    ConfirmationStatus.HELD,
)
DELIVERED = (OrderStatus.SHIPPED, OrderStatus.ARRIVED)
# the order's own columns that hold the buyer's data; the country stays (VAT, the books)
ORDER_FIELDS = ("buyer_name", "buyer_email", "postal_code", "city")


@dataclass(frozen=True, slots=True)
class Due:
    """An order whose retention has passed."""

    order_id: int
    order_no: str
    portal: str
    account: str
    retention_days: int
    delivery: Delivery

    @property
    def due_at(self) -> datetime:
        return due_at(self.delivery, self.retention_days)


def _last_ship_dates() -> Subquery:
    return (
        select(Parcel.order_id, func.max(Parcel.ship_date).label("last_ship"))
        .group_by(Parcel.order_id)
        .subquery()
    )


def due_orders(
    session: Session,
    *,
    retention: Callable[[str, str], int | None],
    now: datetime,
    transit_days: int,
) -> list[Due]:
    """Orders not yet anonymised whose portal account's period (`retention(portal, account)`,
    None: kept) has passed since delivery, oldest first."""
    accounts = session.execute(
        select(Order.portal, Order.portal_account)
        .where(Order.anonymised_at.is_(None), Order.status.in_(DELIVERED))
        .distinct()
    ).all()
    last = _last_ship_dates()
    due: list[Due] = []
    for portal, account in accounts:
        days = retention(portal, account)
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        shipped_by = (cutoff - timedelta(days=transit_days)).astimezone(BUSINESS_TZ).date()
        rows = session.execute(
            select(Order.id, Order.order_no, Order.arrived_at, last.c.last_ship)
            .outerjoin(last, last.c.order_id == Order.id)
            .where(
                Order.portal == portal,
                Order.portal_account == account,
                Order.anonymised_at.is_(None),
                Order.status.in_(DELIVERED),
                or_(
                    Order.arrived_at <= cutoff,
                    and_(Order.arrived_at.is_(None), last.c.last_ship <= shipped_by),
                ),
            )
        ).all()
        for order_id, order_no, arrived_at, last_ship in rows:
            delivery = delivery_of(
                arrived_at=arrived_at, last_ship_date=last_ship, transit_days=transit_days
            )
            if delivery is not None and due_at(delivery, days) <= now:
                due.append(Due(order_id, order_no, portal, account, days, delivery))
    due.sort(key=lambda d: (d.delivery.at, d.order_id))
    return due


def still_needed(
    session: Session, *, order_ids: Sequence[int], confirms: Callable[[str, str], bool]
) -> dict[int, str]:
    """Why an order's buyer data are still needed, by order id: a shipping mail not sent yet,
    a portal confirmation not finished (or not even begun on an account that confirms)."""
    reasons: dict[int, str] = {}
    if not order_ids:
        return reasons
    mails = session.execute(
        select(ShippingMail.order_id, ShippingMail.kind).where(
            ShippingMail.order_id.in_(order_ids), ShippingMail.status == MailStatus.PENDING
        )
    ).all()
    for order_id, kind in mails:
        what = "correction mail" if kind == "corrected" else "shipping mail"
        reasons.setdefault(order_id, f"{what} not sent yet (pending)")
    told = session.execute(
        select(Confirmation.order_id, Confirmation.portal, Confirmation.status).where(
            Confirmation.order_id.in_(order_ids)
        )
    ).all()
    with_confirmation = {order_id for order_id, _, _ in told}
    for order_id, portal, status in told:
        if status in OPEN_CONFIRMATIONS:
            reasons.setdefault(order_id, f"{portal} confirmation {status}")
    orders = session.execute(
        select(Order.id, Order.portal, Order.portal_account, Order.status).where(
            Order.id.in_(order_ids)
        )
    ).all()
    for order_id, portal, account, status in orders:
        untold = order_id not in with_confirmation and confirms(portal, account)
        if status == OrderStatus.SHIPPED and untold:
            reasons.setdefault(order_id, f"{portal} not told yet (no confirmation)")
    return reasons


def lock_orders(session: Session, *, order_ids: Sequence[int]) -> list[Order]:
    """The orders of one batch, not yet anonymised, locked until the batch commits
    (PostgreSQL; SQLite serialises writers anyway)."""
    statement = (
        select(Order)
        .where(Order.id.in_(order_ids), Order.anonymised_at.is_(None))
        .order_by(Order.id)
        .with_for_update()
    )
    return list(session.scalars(statement))


def fields_to_blank(session: Session, *, order: Order) -> list[str]:
    """The columns holding this buyer's data (a value to blank), as `table.column`."""
    fields = [f"orders.{name}" for name in ORDER_FIELDS if getattr(order, name)]
    for table, column, model, order_id in _TEXT_COLUMNS:
        value = getattr(model, column)
        values = session.scalars(select(value).where(order_id == order.id))
        if any(_blanked(column, v, order) != v for v in values):
            fields.append(f"{table}.{column}")
    return fields


def _blanked(column: str, value: str | None, order: Order) -> str | None:
    if column == "recipient":
        return ""
    return scrub(value, name=order.buyer_name, email=order.buyer_email)


def anonymise(
    session: Session, *, order: Order, due: Due, fields: list[str], run_id: str, now: datetime
) -> None:
    """Blank `fields` of `order` and write its deletion-log row, in the caller's transaction."""
    for table, column, model, order_id in _TEXT_COLUMNS:
        if f"{table}.{column}" not in fields:
            continue
        rows = session.execute(
            select(model.id, getattr(model, column)).where(order_id == order.id)
        ).all()
        for row_id, value in rows:
            blank = _blanked(column, value, order)
            if blank != value:
                session.execute(update(model).where(model.id == row_id).values({column: blank}))
    for column in ORDER_FIELDS:
        setattr(order, column, "")
    order.anonymised_at = now
    session.add(
        BuyerDataDeletion(
            order_id=order.id,
            portal=order.portal,
            account=order.portal_account,
            fields=",".join(fields)[:500],
            retention_days=due.retention_days,
            delivered_at=due.delivery.at,
            delivered_from=due.delivery.source,
            run_id=run_id,
            deleted_at=now,
        )
    )
    session.flush()


# Free-text ledger columns that may quote the buyer: the mail's recipient (blanked), SMTP
# replies and reasons, portal errors, operators' notes (the name and address scrubbed out).
_TEXT_COLUMNS: tuple[tuple[str, str, Any, InstrumentedAttribute[int]], ...] = (
    ("shipping_mails", "recipient", ShippingMail, ShippingMail.order_id),
    ("shipping_mails", "reason", ShippingMail, ShippingMail.order_id),
    ("shipping_mails", "last_reply", ShippingMail, ShippingMail.order_id),
    ("confirmations", "error_text", Confirmation, Confirmation.order_id),
    ("confirmation_releases", "reason", ConfirmationRelease, ConfirmationRelease.order_id),
    ("order_actions", "detail", OrderAction, OrderAction.order_id),
)


def deletions(session: Session, *, order_id: int | None = None) -> list[BuyerDataDeletion]:
    statement = select(BuyerDataDeletion).order_by(BuyerDataDeletion.id)
    if order_id is not None:
        statement = statement.where(BuyerDataDeletion.order_id == order_id)
    return list(session.scalars(statement))
