"""Queries of the confirmation ledger: what each portal was told, and what it answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from db.models import Confirmation, Order, OrderItem, Parcel
from db.queries._keys import in_keys


def existing_confirmation_keys(
    session: Session, *, order_ids: Sequence[int]
) -> set[tuple[int, str, int]]:
    if not order_ids:
        return set()
    statement = select(Confirmation.order_id, Confirmation.portal, Confirmation.parcel_id).where(
        in_keys(session, Confirmation.order_id, order_ids)
    )
    return {(o, p, x) for o, p, x in session.execute(statement)}


def add_confirmations(session: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    if rows:  # on the connection: one executemany (the ORM session ran one INSERT per row)
        session.connection().execute(insert(Confirmation), list(rows))


class LedgerRow(NamedTuple):
    """A confirmation ledger row as submitting and polling need it."""

    id: int
    account: str
    attempts: int
    reference: str | None
    message_id: int | None
    submitted_at: datetime | None


class ItemRow(NamedTuple):
    item_id: str
    quantity: int
    sku: str


class OrderParcelRow(NamedTuple):
    id: int
    carrier: str
    tracking_number: str | None


class LedgerOrder(NamedTuple):
    """An order as the portals are told about it; items, tracking numbers, parcels in id order."""

    id: int
    order_no: str
    portal_order_id: str
    shipped_at: datetime | None
    items: list[ItemRow]
    tracking_numbers: list[str]
    parcels: tuple[OrderParcelRow, ...] = ()


class LedgerParcel(NamedTuple):
    id: int
    carrier: str
    tracking_number: str | None  # None: shipped without tracking
    ship_date: date
    return_tracking_number: str | None = None


LedgerEntry = tuple[LedgerRow, LedgerOrder, LedgerParcel]


def confirmations_in_status(
    session: Session,
    *,
    portal: str,
    status: str,
    account: str | None = None,
    limit: int | None = None,
) -> list[LedgerEntry]:
    """Ledger rows of a portal (one account of it, if given) in a status, with their order
    (items, all its tracking numbers) and parcel. Plain rows: ORM objects for 100,000 rows cost
    seconds more than the query."""
    statement = (
        select(
            Confirmation.id,
            Confirmation.account,
            Confirmation.attempts,
            Confirmation.reference,
            Confirmation.message_id,
            Confirmation.submitted_at,
            Confirmation.order_id,
            Parcel.id,
            Parcel.carrier,
            Parcel.tracking_number,
            Parcel.ship_date,
            Parcel.return_tracking_number,
        )
        .join(Parcel, Parcel.id == Confirmation.parcel_id)
        .where(and_(Confirmation.portal == portal, Confirmation.status == status))
        .order_by(Confirmation.id)
    )
    if account is not None:
        statement = statement.where(Confirmation.account == account)
    if limit:
        statement = statement.limit(limit)
    rows = session.execute(statement).all()
    orders = _orders(session, order_ids=sorted({row[6] for row in rows}))
    return [
        (LedgerRow(*row[:6]), orders[row[6]], LedgerParcel(*row[7:]))
        for row in rows
        if row[6] in orders
    ]


def _orders(session: Session, *, order_ids: Sequence[int]) -> dict[int, LedgerOrder]:
    if not order_ids:
        return {}
    items: dict[int, list[ItemRow]] = {}
    item_rows = (
        select(OrderItem.order_id, OrderItem.item_id, OrderItem.quantity, OrderItem.sku)
        .where(in_keys(session, OrderItem.order_id, order_ids))
        .order_by(OrderItem.id)
    )
    for order_id, item_id, quantity, sku in session.execute(item_rows):
        items.setdefault(order_id, []).append(ItemRow(item_id, quantity, sku))
    numbers: dict[int, list[str]] = {}
    parcels: dict[int, list[OrderParcelRow]] = {}
    parcel_rows = (
        select(Parcel.order_id, Parcel.id, Parcel.carrier, Parcel.tracking_number)
        .where(in_keys(session, Parcel.order_id, order_ids))
        .order_by(Parcel.id)
    )
    for order_id, parcel_id, carrier, number in session.execute(parcel_rows):
        if number:
            numbers.setdefault(order_id, []).append(number)
        parcels.setdefault(order_id, []).append(OrderParcelRow(parcel_id, carrier, number))
    order_rows = select(Order.id, Order.order_no, Order.portal_order_id, Order.shipped_at).where(
        in_keys(session, Order.id, order_ids)
    )
    return {
        id_: LedgerOrder(
            id_,
            no,
            portal_id,
            shipped,
            items.get(id_, []),
            numbers.get(id_, []),
            tuple(parcels.get(id_, [])),
        )
        for id_, no, portal_id, shipped in session.execute(order_rows)
    }


class OrderParcels(NamedTuple):
    order_id: int
    portal: str
    account: str
    parcel_ids: list[int]  # in id order: the first is the one a one-number portal gets
    # what the confirmation waits for (core/confirmation_gate.py): the shipping mail's status
    # and reason (None: no mail row yet), and the order number a held row's reason names
    order_no: str = ""
    mail_status: str | None = None
    mail_reason: str | None = None


def parcels_of_orders(session: Session, *, order_ids: Sequence[int]) -> list[OrderParcels]:
    """Per order (by id): its portal, account, parcels and shipping mail: what opening
    confirmations needs."""
    from db.models import ShippingMail

    if not order_ids:
        return []
    statement = (
        select(
            Order.id,
            Order.portal,
            Order.portal_account,
            Parcel.id,
            Order.order_no,
            ShippingMail.status,
            ShippingMail.reason,
        )
        .join(Parcel, Parcel.order_id == Order.id)
        .outerjoin(
            ShippingMail, and_(ShippingMail.order_id == Order.id, ShippingMail.kind == "shipped")
        )
        .where(in_keys(session, Order.id, order_ids))
        .order_by(Order.id, Parcel.id)
    )
    result: list[OrderParcels] = []
    for order_id, portal, account, parcel_id, order_no, mail, why in session.execute(statement):
        if not result or result[-1].order_id != order_id:
            result.append(OrderParcels(order_id, portal, account, [], order_no, mail, why))
        result[-1].parcel_ids.append(parcel_id)
    return result


def portals_with(session: Session, *, status: str) -> list[str]:
    statement = (
        select(Confirmation.portal)
        .where(Confirmation.status == status)
        .distinct()
        .order_by(Confirmation.portal)
    )
    return list(session.scalars(statement))


def accounts_with(session: Session, *, status: str) -> list[tuple[str, str]]:
    """(portal, account) pairs with rows in `status`: each is confirmed on its own."""
    statement = (
        select(Confirmation.portal, Confirmation.account)
        .where(Confirmation.status == status)
        .distinct()
        .order_by(Confirmation.portal, Confirmation.account)
    )
    return [(portal, account) for portal, account in session.execute(statement)]


def mark_attempted(
    session: Session, *, ids: Sequence[int], at: datetime, run_id: str | None
) -> None:
    """Committed before the portal is called: a later row still pending was attempted."""
    if ids:
        session.execute(
            update(Confirmation)
            .where(in_keys(session, Confirmation.id, ids))
            .values(attempts=Confirmation.attempts + 1, attempted_at=at, flow_run_id=run_id)
            .execution_options(synchronize_session=False)
        )


_CONFIRMATIONS = Confirmation.__table__


def record_results(session: Session, *, results: Sequence[dict[str, Any]]) -> None:
    """`results`: dicts with `id` and the columns to set (status, reference, error ...).

    One executemany of a Core UPDATE by id per set of columns (a fifth less CPU than the
    ORM's bulk UPDATE by primary key)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for result in results:
        by_columns.setdefault(tuple(sorted(result)), []).append(result)
    for columns, group in by_columns.items():
        # bind names differ from the column names: SQLAlchemy reserves those for SET
        statement = (
            update(_CONFIRMATIONS)  # type: ignore[arg-type]
            .where(_CONFIRMATIONS.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns if c != "id"})
        )
        session.execute(statement, [{f"b_{c}": v for c, v in r.items()} for r in group])


def confirmation_counts(
    session: Session, *, order_ids: Sequence[int] | None = None
) -> dict[str, dict[str, int]]:
    statement = select(Confirmation.portal, Confirmation.status, func.count()).group_by(
        Confirmation.portal, Confirmation.status
    )
    if order_ids is not None:
        statement = statement.where(in_keys(session, Confirmation.order_id, order_ids))
    counts: dict[str, dict[str, int]] = {}
    for portal, status, count in session.execute(statement).tuples():
        counts.setdefault(portal, {})[status] = int(count)
    return counts


def confirmations_of_order(session: Session, *, order_id: int) -> list[Confirmation]:
    statement = (
        select(Confirmation).where(Confirmation.order_id == order_id).order_by(Confirmation.id)
    )
    return list(session.scalars(statement))


def orders_missing_confirmations(session: Session, *, mailed_before: datetime) -> list[int]:
    """Shipped orders of a portal with a parcel the confirmation ledger has no row for.

    A deliver run that died after its mails went out but before it opened the confirmations
    leaves such orders behind: their mails are final, so no later run would pick them up.
    Only mails finished before `mailed_before` count, so a run still busy elsewhere between
    its mails and its confirmations is left to do its own.
    """
    from sqlalchemy import exists

    from db.models import ShippingMail

    no_row = ~exists().where(
        and_(Confirmation.order_id == Parcel.order_id, Confirmation.parcel_id == Parcel.id)
    )
    statement = (
        select(Parcel.order_id)
        .join(Order, Order.id == Parcel.order_id)
        .join(ShippingMail, ShippingMail.order_id == Order.id)
        .where(
            Order.status.in_(("shipped", "arrived")),
            Order.portal != "shop",
            ShippingMail.finished_at < mailed_before,
            no_row,
        )
        .distinct()
        .order_by(Parcel.order_id)
    )
    return list(session.scalars(statement))


def last_attempted_at(session: Session, *, portal: str, account: str) -> datetime | None:
    """When a portal account was last sent something: `attempted_at` is committed before the
    portal is called, so a call whose answer never reached the ledger counts too."""
    statement = select(func.max(Confirmation.attempted_at)).where(
        Confirmation.portal == portal, Confirmation.account == account
    )
    return session.scalar(statement)  # max() keeps the column's type: aware UTC
