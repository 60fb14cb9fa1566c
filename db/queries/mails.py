"""Queries of the shipping-mail ledger and of the orders a deliver run picks up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Compiled, Engine
from sqlalchemy.orm import Session, selectinload

from core.bounces import classify
from core.mail_waits import WAITING
from db.models import Order, OrderItem, Parcel, ShippingMail
from db.queries._keys import in_keys
from db.types import utcnow

FINAL_MAIL_STATUSES = ("sent", "failed", "suppressed")


def orders_to_mail(
    session: Session,
    *,
    carriers: Sequence[str] | None,
    kind: str = "shipped",
    now: datetime | None = None,
) -> list[int]:
    """Orders with a parcel of one of `carriers` (all when None) and no final mail yet.

    Orders whose mail is still `pending` (a crashed or interrupted run, a lost answer) are
    picked up again; a mail waiting for the mail server only once its not-before time has come.
    """
    parcel_filter = [Parcel.order_id == Order.id]
    if carriers:
        parcel_filter.append(Parcel.carrier.in_(list(carriers)))
    finished = exists().where(
        and_(
            ShippingMail.order_id == Order.id,
            ShippingMail.kind == kind,
            or_(
                ShippingMail.status.in_(FINAL_MAIL_STATUSES),
                ShippingMail.not_before > (now or utcnow()),
            ),
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


class MailItem(NamedTuple):
    quantity: int
    title: str
    sku: str


class MailParcel(NamedTuple):
    carrier: str
    tracking_number: str | None  # None: sent without tracking


class MailOrder(NamedTuple):
    """What a shipping mail needs of an order: plain rows, no ORM identity map.

    Loading 5,000 ORM orders with items and parcels cost more than rendering their mails."""

    id: int
    order_no: str
    portal: str
    portal_account: str
    buyer_name: str
    buyer_email: str
    language: str
    items: list[MailItem]
    parcels: list[MailParcel]


def load_mail_orders(session: Session, *, order_ids: Sequence[int]) -> list[MailOrder]:
    """Orders with items and parcels (each in id order, as Order.items/.parcels), by id."""
    if not order_ids:
        return []
    items: dict[int, list[MailItem]] = {}
    item_rows = (
        select(OrderItem.order_id, OrderItem.quantity, OrderItem.title, OrderItem.sku)
        .where(in_keys(session, OrderItem.order_id, order_ids))
        .order_by(OrderItem.id)
    )
    for order_id, quantity, title, sku in session.execute(item_rows):
        items.setdefault(order_id, []).append(MailItem(quantity, title, sku))
    parcels: dict[int, list[MailParcel]] = {}
    parcel_rows = (
        select(Parcel.order_id, Parcel.carrier, Parcel.tracking_number)
        .where(in_keys(session, Parcel.order_id, order_ids))
        .order_by(Parcel.id)
    )
    for order_id, carrier, number in session.execute(parcel_rows):
        parcels.setdefault(order_id, []).append(MailParcel(carrier, number))
    order_rows = (
        select(
            Order.id,
            Order.order_no,
            Order.portal,
            Order.portal_account,
            Order.buyer_name,
            Order.buyer_email,
            Order.language,
        )
        .where(in_keys(session, Order.id, order_ids))
        .order_by(Order.id)
    )
    return [
        MailOrder(
            id_,
            no,
            portal,
            account,
            name,
            email,
            language,
            items.get(id_, []),
            parcels.get(id_, []),
        )
        for id_, no, portal, account, name, email, language in session.execute(order_rows)
    ]


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


class MailRowState(NamedTuple):
    id: int
    status: str
    attempts: int
    not_before: datetime | None
    message_id: str = ""  # the ledger's: a forced resend carries a new one


def mail_row_states(
    session: Session, *, order_ids: Sequence[int], kind: str = "shipped"
) -> dict[int, MailRowState]:
    """order id -> (ledger row id, status, attempts, not before): what a send needs, without
    ORM objects."""
    if not order_ids:
        return {}
    statement = select(
        ShippingMail.order_id,
        ShippingMail.id,
        ShippingMail.status,
        ShippingMail.attempts,
        ShippingMail.not_before,
        ShippingMail.message_id,
    ).where(in_keys(session, ShippingMail.order_id, order_ids), ShippingMail.kind == kind)
    return {
        order_id: MailRowState(id_, status, attempts, not_before, message_id)
        for order_id, id_, status, attempts, not_before, message_id in session.execute(statement)
    }


def insert_mail_rows(session: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Many new ledger rows in one executemany (dicts of ShippingMail columns)."""
    if rows:
        # on the connection: one executemany (the ORM session ran one INSERT per row here)
        session.connection().execute(insert(ShippingMail), list(rows))


def add_mail_rows(session: Session, *, rows: Iterable[ShippingMail]) -> None:
    session.add_all(list(rows))
    session.flush()


@dataclass(frozen=True, slots=True)
class MailOutcome:
    mail_id: int
    status: str  # sent | failed | pending (outcome unknown, or waiting for the mail server)
    reply: str
    reason: str | None = None
    not_before: datetime | None = None  # waiting: no run tries it again before then
    tried: int = 0  # an attempt to count although the mail was not marked attempted
    # the refusal's bounce class (core/bounces.py); None: read from `reply` when not sent
    bounce: str | None = None


_MAILS = ShippingMail.__table__
_RECORD_OUTCOME = (
    update(_MAILS)  # type: ignore[arg-type]
    .where(_MAILS.c.id == bindparam("mail_id"))
    .values(
        status=bindparam("new_status"),
        last_reply=bindparam("reply"),
        reason=bindparam("why"),
        finished_at=bindparam("finished"),
        not_before=bindparam("wait_until"),
        attempts=_MAILS.c.attempts + bindparam("tried"),
        bounce_class=bindparam("bounce"),
    )
)


_RECORD_ATTEMPT = (
    update(_MAILS)  # type: ignore[arg-type]
    .where(_MAILS.c.id == bindparam("mail_id"))
    .values(attempts=_MAILS.c.attempts + 1, attempted_at=bindparam("at"))
)


def _driver_rows(compiled: Compiled, rows: list[dict[str, Any]]) -> list[Any]:
    """Parameters in the driver's style: tuples for `?` (SQLite), dicts for `%(name)s`."""
    constants = compiled.params  # literals of the statement (`attempts + 1`)
    full = [{**constants, **row} for row in rows]
    order = compiled.positiontup  # type: ignore[attr-defined]
    if order:
        return [tuple(row[name] for name in order) for row in full]
    return full


def _outcome_rows(outcomes: Sequence[MailOutcome], at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "mail_id": o.mail_id,
            "new_status": o.status,
            "reply": o.reply[:500],
            "why": (o.reason or None) and o.reason[:500],
            "finished": at if o.status != "pending" else None,
            "wait_until": o.not_before,
            "tried": o.tried,
            "bounce": o.bounce or (None if o.status == "sent" else classify(o.reply)),
        }
        for o in outcomes
    ]


class LedgerWriter:
    """Attempts and outcomes of the mails in flight, written in small groups while they go out.

    One DBAPI connection for the whole batch and the two UPDATEs compiled once for it: a group
    is a few rows, and SQLAlchemy's per-statement work (execution context, cache lookup,
    session) cost six times the SQLite statements themselves (0.7 vs 0.1 ms per group).
    Timestamps go through the column type's bind processor, so they are stored exactly as the
    ORM stores them (UTC; SQLite's text format)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self._time = _MAILS.c.attempted_at.type.bind_processor(dialect) or (lambda value: value)
        self._attempted = _RECORD_ATTEMPT.compile(dialect=dialect)
        self._outcome = _RECORD_OUTCOME.compile(dialect=dialect)
        self._connection = engine.raw_connection()

    def write(
        self, *, attempted: Sequence[int], outcomes: Sequence[MailOutcome], at: datetime
    ) -> None:
        """One transaction; on an error it is rolled back and the error raised."""
        now = self._time(at)
        cursor = self._connection.cursor()
        try:
            if attempted:
                rows = [{"mail_id": mail_id, "at": now} for mail_id in attempted]
                cursor.executemany(str(self._attempted), _driver_rows(self._attempted, rows))
            if outcomes:
                rows = _outcome_rows(outcomes, at)
                for row in rows:
                    row["finished"] = self._time(row["finished"])
                    row["wait_until"] = self._time(row["wait_until"])
                cursor.executemany(str(self._outcome), _driver_rows(self._outcome, rows))
            self._connection.commit()
        except BaseException:
            self._connection.rollback()
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        self._connection.close()


def _has_parcel_of(carriers: Sequence[str]) -> ColumnElement[bool]:
    """The mail's order has a parcel of one of `carriers`: the runs that pick it up."""
    return exists().where(
        Parcel.order_id == ShippingMail.order_id, Parcel.carrier.in_(list(carriers))
    )


class WaitingMails(NamedTuple):
    mails: int
    not_before: datetime | None  # the earliest
    reason: str | None  # the latest waiting row's


def waiting_mails(
    session: Session, *, carriers: Sequence[str] | None = None, now: datetime | None = None
) -> WaitingMails:
    """Mails waiting for the mail server whose not-before time has not come yet."""
    where = [
        ShippingMail.status == "pending",
        ShippingMail.reason.like(f"{WAITING}%"),
        ShippingMail.not_before > (now or utcnow()),
    ]
    if carriers:
        where.append(_has_parcel_of(carriers))
    count, earliest = session.execute(
        select(func.count(), func.min(ShippingMail.not_before)).where(*where)
    ).one()
    reason = session.scalar(
        select(ShippingMail.reason).where(*where).order_by(ShippingMail.id.desc()).limit(1)
    )
    return WaitingMails(int(count), earliest, reason)


def mail_counts(session: Session, *, order_ids: Sequence[int]) -> dict[str, int]:
    if not order_ids:
        return {}
    statement = (
        select(ShippingMail.status, func.count())
        .where(in_keys(session, ShippingMail.order_id, order_ids))
        .group_by(ShippingMail.status)
    )
    return {status: int(count) for status, count in session.execute(statement).tuples()}


def release_waiting_mails(
    session: Session, *, carriers: Sequence[str] | None = None, now: datetime | None = None
) -> int:
    """Make the mails waiting for the mail server due now (the operator fixed it); how many."""
    moment = now or utcnow()
    where = [
        ShippingMail.status == "pending",
        ShippingMail.reason.like(f"{WAITING}%"),
        ShippingMail.not_before > moment,
    ]
    if carriers:
        where.append(_has_parcel_of(carriers))
    result = session.execute(
        update(ShippingMail)
        .where(*where)
        .values(not_before=moment)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
