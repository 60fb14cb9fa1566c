"""Queries of the retention run: orders past their retention, what still needs their buyer
data, and the anonymisation of one order with its deletion-log row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, and_, case, func, insert, or_, select, update
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
from db.queries._keys import in_keys
from db.queries.protocol import MAIL_WORDS

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
    """Per order: the last ship date, and the latest delivery when every parcel has one."""
    every_delivered = func.count(Parcel.delivered_at) == func.count(Parcel.id)
    return (
        select(
            Parcel.order_id,
            func.max(Parcel.ship_date).label("last_ship"),
            case((every_delivered, func.max(Parcel.delivered_at)), else_=None).label("delivered"),
        )
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
            select(Order.id, Order.order_no, Order.arrived_at, last.c.last_ship, last.c.delivered)
            .outerjoin(last, last.c.order_id == Order.id)
            .where(
                Order.portal == portal,
                Order.portal_account == account,
                Order.anonymised_at.is_(None),
                Order.status.in_(DELIVERED),
                or_(
                    last.c.delivered <= cutoff,
                    Order.arrived_at <= cutoff,
                    and_(Order.arrived_at.is_(None), last.c.last_ship <= shipped_by),
                ),
            )
        ).all()
        for order_id, order_no, arrived_at, last_ship, delivered in rows:
            delivery = delivery_of(
                arrived_at=arrived_at,
                last_ship_date=last_ship,
                transit_days=transit_days,
                tracked_delivery=delivered,
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
            in_keys(session, ShippingMail.order_id, order_ids),
            ShippingMail.status == MailStatus.PENDING,
        )
    ).all()
    for order_id, kind in mails:
        what = f"{MAIL_WORDS.get(kind, 'shipping')} mail"
        reasons.setdefault(order_id, f"{what} not sent yet (pending)")
    told = session.execute(
        select(Confirmation.order_id, Confirmation.portal, Confirmation.status).where(
            in_keys(session, Confirmation.order_id, order_ids)
        )
    ).all()
    with_confirmation = {order_id for order_id, _, _ in told}
    for order_id, portal, status in told:
        if status in OPEN_CONFIRMATIONS:
            reasons.setdefault(order_id, f"{portal} confirmation {status}")
    orders = session.execute(
        select(Order.id, Order.portal, Order.portal_account, Order.status).where(
            in_keys(session, Order.id, order_ids)
        )
    ).all()
    for order_id, portal, account, status in orders:
        untold = order_id not in with_confirmation and confirms(portal, account)
        if status == OrderStatus.SHIPPED and untold:
            reasons.setdefault(order_id, f"{portal} not told yet (no confirmation)")
    return reasons


@dataclass(frozen=True, slots=True)
class Buyer:
    """An order of one batch, locked, with the buyer data to blank."""

    order_id: int
    name: str
    email: str
    own_fields: tuple[str, ...]  # the order's columns holding a value


@dataclass(slots=True)
class Plan:
    """What anonymising a batch changes: per order the fields (`table.column`), and the new
    values of the ledger rows by (model, column)."""

    fields: dict[int, list[str]]
    ledger: dict[tuple[Any, str], list[dict[str, Any]]]


def lock_buyers(session: Session, *, order_ids: Sequence[int]) -> list[Buyer]:
    """The orders of one batch not yet anonymised, locked until the batch commits
    (PostgreSQL; SQLite serialises writers anyway)."""
    rows = session.execute(
        select(Order.id, *(getattr(Order, c) for c in ORDER_FIELDS))
        .where(in_keys(session, Order.id, order_ids), Order.anonymised_at.is_(None))
        .order_by(Order.id)
        .with_for_update()
    ).all()
    return [
        Buyer(
            order_id=row[0],
            name=row[1],
            email=row[2],
            own_fields=tuple(
                f"orders.{c}" for c, v in zip(ORDER_FIELDS, row[1:], strict=True) if v
            ),
        )
        for row in rows
    ]


def plan_batch(session: Session, *, buyers: Sequence[Buyer]) -> Plan:
    """Which fields of these orders hold buyer data, and the ledger rows' blanked values:
    one query per ledger column for the whole batch."""
    by_id = {b.order_id: b for b in buyers}
    plan = Plan(fields={b.order_id: list(b.own_fields) for b in buyers}, ledger={})
    if not by_id:
        return plan
    for table, column, model, order_id in _TEXT_COLUMNS:
        rows = session.execute(
            select(model.id, order_id, getattr(model, column)).where(
                in_keys(session, order_id, list(by_id)), getattr(model, column).is_not(None)
            )
        ).all()
        changes: list[dict[str, Any]] = []
        for row_id, owner, value in rows:
            buyer = by_id[owner]
            blank = (
                "" if column == "recipient" else scrub(value, name=buyer.name, email=buyer.email)
            )
            if blank == value:
                continue
            changes.append({"id": row_id, column: blank})
            field = f"{table}.{column}"
            if field not in plan.fields[owner]:
                plan.fields[owner].append(field)
        if changes:
            plan.ledger[(model, column)] = changes
    return plan


def anonymise_batch(
    session: Session,
    *,
    plan: Plan,
    dues: Sequence[Due],
    run_id: str,
    now: datetime,
    reached: Callable[[str], None],
) -> None:
    """Blank the planned fields and write one deletion-log row per order, in the caller's
    transaction (statements for the whole batch); `reached` marks each step (crash points)."""
    for (model, _column), changes in plan.ledger.items():
        session.execute(update(model), changes)
    reached("retention.ledgers")
    blank = dict.fromkeys(ORDER_FIELDS, "")
    session.execute(
        update(Order),
        [{"id": d.order_id, **blank, "anonymised_at": now, "updated_at": now} for d in dues],
    )
    reached("retention.orders")
    session.execute(
        insert(BuyerDataDeletion),
        [
            {
                "order_id": d.order_id,
                "portal": d.portal,
                "account": d.account,
                "fields": ",".join(plan.fields[d.order_id])[:500],
                "retention_days": d.retention_days,
                "delivered_at": d.delivery.at,
                "delivered_from": d.delivery.source,
                "run_id": run_id,
                "deleted_at": now,
            }
            for d in dues
        ],
    )
    for _ in dues:
        reached("retention.anonymised")


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
