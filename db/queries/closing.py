"""Queries of the daily closing: the day's parcels of a carrier, marking them closed, the
closing row itself, and the ledger facts the reconciliation compares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Confirmation, DailyClosing, Order, Parcel, ShippingMail
from db.queries._keys import in_keys


@dataclass(frozen=True, slots=True)
class DayParcel:
    """A parcel of the day with what the shipping list and the reconciliation need."""

    parcel_id: int
    order_id: int
    order_no: str
    portal: str
    carrier: str
    tracking_number: str | None  # None: shipped without tracking
    ship_date: date
    created_at: datetime
    closed_at: datetime | None
    recipient_name: str
    postal_code: str
    city: str


@dataclass(frozen=True, slots=True)
class MailFact:
    order_id: int
    status: str
    reason: str | None
    attempts: int
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConfirmationFact:
    order_id: int
    parcel_id: int
    portal: str
    status: str
    error_code: str | None
    error_text: str | None


def day_parcels(
    session: Session, *, carrier: str, day: date, after_id: int = 0, limit: int = 5000
) -> list[DayParcel]:
    """One batch of the day's parcels of `carrier`, in parcel id order after `after_id`.

    Cancelled orders are left out: nothing of theirs is handed to the driver."""
    statement = (
        select(
            Parcel.id.label("parcel_id"),
            Parcel.order_id,
            Order.order_no,
            Order.portal,
            Parcel.carrier,
            Parcel.tracking_number,
            Parcel.ship_date,
            Parcel.created_at,
            Parcel.closed_at,
            Order.buyer_name.label("recipient_name"),
            Order.postal_code,
            Order.city,
        )
        .join(Order, Order.id == Parcel.order_id)
        .where(
            Parcel.carrier == carrier,
            Parcel.ship_date == day,
            Parcel.id > after_id,
            Order.status != "cancelled",
        )
        .order_by(Parcel.id)
        .limit(limit)
    )
    return [DayParcel(**row._mapping) for row in session.execute(statement)]


def mark_parcels_closed(session: Session, *, parcel_ids: Sequence[int], at: datetime) -> int:
    """Set `closed_at` on those not closed yet; returns how many changed."""
    if not parcel_ids:
        return 0
    result = session.execute(
        update(Parcel)
        .where(in_keys(session, Parcel.id, list(parcel_ids)), Parcel.closed_at.is_(None))
        .values(closed_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mail_facts(
    session: Session, *, order_ids: Sequence[int], kind: str = "shipped"
) -> dict[int, MailFact]:
    if not order_ids:
        return {}
    statement = select(
        ShippingMail.order_id,
        ShippingMail.status,
        ShippingMail.reason,
        ShippingMail.attempts,
        ShippingMail.finished_at,
    ).where(in_keys(session, ShippingMail.order_id, list(order_ids)), ShippingMail.kind == kind)
    return {row.order_id: MailFact(**row._mapping) for row in session.execute(statement)}


def confirmation_facts(session: Session, *, order_ids: Sequence[int]) -> list[ConfirmationFact]:
    if not order_ids:
        return []
    statement = (
        select(
            Confirmation.order_id,
            Confirmation.parcel_id,
            Confirmation.portal,
            Confirmation.status,
            Confirmation.error_code,
            Confirmation.error_text,
        )
        .where(in_keys(session, Confirmation.order_id, list(order_ids)))
        .order_by(Confirmation.id)
    )
    return [ConfirmationFact(**row._mapping) for row in session.execute(statement)]


def get_closing(session: Session, *, carrier: str, day: date) -> DailyClosing | None:
    statement = select(DailyClosing).where(DailyClosing.carrier == carrier, DailyClosing.day == day)
    return session.scalars(statement).first()


def open_closing(session: Session, *, carrier: str, day: date) -> DailyClosing:
    """The closing row of (carrier, day), created on first use.

    Two runs starting at once both try the insert; the loser reads the winner's row."""
    existing = get_closing(session, carrier=carrier, day=day)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            row = DailyClosing(carrier=carrier, day=day, status="open", parcels=0, runs=0)
            session.add(row)
        return row
    except IntegrityError:
        found = get_closing(session, carrier=carrier, day=day)
        assert found is not None
        return found


def record_closing_run(session: Session, *, closing_id: int, values: dict[str, Any]) -> None:
    """What a run ended with (status, counts, files, error); counts the runs."""
    session.execute(
        update(DailyClosing)
        .where(DailyClosing.id == closing_id)
        .values(**values, runs=DailyClosing.runs + 1)
        .execution_options(synchronize_session=False)
    )
