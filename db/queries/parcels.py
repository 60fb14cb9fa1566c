"""Queries about parcels, including the bulk insert used by tracking imports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from db.models import Parcel
from db.queries._keys import in_keys
from db.queries.orders import driver_rows
from db.types import utcnow


class NewParcel(NamedTuple):
    order_id: int
    carrier: str
    tracking_number: str | None  # None: shipped without tracking
    ship_date: date


def find_parcel_owners(
    session: Session, *, numbers: Sequence[str], carrier: str | None = None
) -> dict[tuple[str, str], int]:
    """(carrier, tracking number) -> order id, for the parcels among `numbers` already known.

    With `carrier`, only that carrier's parcels: the lookup then uses the unique index on
    (carrier, tracking_number) instead of reading the whole table (an import asks per carrier).
    """
    if not numbers:
        return {}
    statement = select(Parcel.carrier, Parcel.tracking_number, Parcel.order_id).where(
        in_keys(session, Parcel.tracking_number, numbers)
    )
    if carrier is not None:
        statement = statement.where(Parcel.carrier == carrier)
    return {(c, n): o for c, n, o in driver_rows(session, statement, tuple)}


def find_untracked_parcels(
    session: Session, *, order_ids: Sequence[int]
) -> set[tuple[int, str, date]]:
    """(order id, carrier, ship date) of the parcels without tracking number of these orders."""
    statement = select(Parcel.order_id, Parcel.carrier, Parcel.ship_date).where(
        in_keys(session, Parcel.order_id, order_ids), Parcel.tracking_number.is_(None)
    )
    return {(o, c, d) for o, c, d in session.execute(statement)}


def insert_parcels(
    session: Session,
    *,
    parcels: Sequence[NewParcel],
    source: str,
    import_id: int | None = None,
) -> int:
    """Insert many parcels in the caller's transaction, by the fastest path the database has.

    PostgreSQL takes COPY; SQLite a plain executemany on the driver. Both skip the ORM, which
    costs several times the database's own work at a million rows.
    """
    if not parcels:
        return 0
    now = utcnow()
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        raw = connection.connection.dbapi_connection
        assert raw is not None
        columns = "order_id, carrier, tracking_number, ship_date, source, import_id, created_at"
        with raw.cursor() as cursor, cursor.copy(f"COPY parcels ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for p in parcels:
                copy.write_row(
                    (p.order_id, p.carrier, p.tracking_number, p.ship_date, source, import_id, now)
                )
    elif dialect == "sqlite":
        stamp = _sqlite_timestamp(now)
        days: dict[date, str] = {}  # a file has few distinct ship dates
        for p in parcels:
            if p.ship_date not in days:
                days[p.ship_date] = p.ship_date.isoformat()
        connection.exec_driver_sql(
            "INSERT INTO parcels (order_id, carrier, tracking_number, ship_date, source, "
            "import_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (order_id, carrier, number, days[day], source, import_id, stamp)
                for order_id, carrier, number, day in parcels
            ],
        )
    else:
        session.execute(
            insert(Parcel),
            [
                {
                    "order_id": p.order_id,
                    "carrier": p.carrier,
                    "tracking_number": p.tracking_number,
                    "ship_date": p.ship_date,
                    "source": source,
                    "import_id": import_id,
                    "created_at": now,
                }
                for p in parcels
            ],
        )
    return len(parcels)


def set_return_numbers(session: Session, *, numbers: Sequence[tuple[str, str, str]]) -> None:
    """Record return tracking numbers: (carrier, tracking number, return number) each. Only
    rows that name one get here, so an import without that column costs nothing more."""
    if not numbers:
        return
    statement = (
        update(Parcel)
        .where(Parcel.carrier == bindparam("c"), Parcel.tracking_number == bindparam("n"))
        .values(return_tracking_number=bindparam("r"))
    )
    rows = [{"c": carrier, "n": number, "r": back} for carrier, number, back in numbers]
    session.connection().execute(statement, rows)


def _sqlite_timestamp(value: datetime) -> str:
    # the text form SQLAlchemy's DateTime writes to SQLite (UTC, naive)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def carriers_with_unmailed_orders(session: Session) -> list[str]:
    """Carriers that have parcels on orders still waiting for their shipping mail."""
    from sqlalchemy import and_, exists

    from db.models import Order, ShippingMail
    from db.queries.mails import FINAL_MAIL_STATUSES

    finished = exists().where(
        and_(ShippingMail.order_id == Parcel.order_id, ShippingMail.status.in_(FINAL_MAIL_STATUSES))
    )
    statement = (
        select(Parcel.carrier)
        .join(Order, Order.id == Parcel.order_id)
        .where(Order.status.in_(("open", "shipped")), ~finished)
        .distinct()
        .order_by(Parcel.carrier)
    )
    return list(session.scalars(statement))
