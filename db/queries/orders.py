"""Queries about orders and their items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ClauseElement, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from db.models import Order, OrderItem
from db.queries._keys import in_keys

T = TypeVar("T", bound=tuple[Any, ...])


class OrderRef(NamedTuple):
    """An order as a tracking row is matched to it (a named tuple: cheap by the million)."""

    order_id: int
    order_no: str
    portal_order_id: str
    status: str


def driver_rows(session: Session, statement: ClauseElement, row_type: type[T]) -> list[T]:
    """All rows of a plain column select as `row_type` (a NamedTuple), straight from the driver.

    SQLAlchemy's Row objects cost more than the query itself when a tracking import matches
    50,000 rows per batch; columns without result processing need none of them.
    """
    compiled = statement.compile(dialect=session.get_bind().dialect)
    connection = session.connection()
    order = getattr(compiled, "positiontup", None)  # qmark drivers (sqlite3) bind by position
    params: Any = tuple(compiled.params[n] for n in order) if order else compiled.params
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        make = tuple.__new__
        return [make(row_type, row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def find_orders_by_refs(session: Session, *, refs: Sequence[str]) -> dict[str, list[OrderRef]]:
    """Orders whose order number or portal order id is one of `refs`, keyed by that ref."""
    found: dict[str, list[OrderRef]] = defaultdict(list)
    if not refs:
        return found
    statement = select(Order.id, Order.order_no, Order.portal_order_id, Order.status).where(
        or_(in_keys(session, Order.order_no, refs), in_keys(session, Order.portal_order_id, refs))
    )
    wanted = set(refs)
    for ref in driver_rows(session, statement, OrderRef):
        if ref.order_no in wanted:
            found[ref.order_no].append(ref)
        if ref.portal_order_id in wanted and ref.portal_order_id != ref.order_no:
            found[ref.portal_order_id].append(ref)
    return found


def existing_order_numbers(session: Session, *, order_nos: Sequence[str]) -> set[str]:
    if not order_nos:
        return set()
    statement = select(Order.order_no).where(in_keys(session, Order.order_no, order_nos))
    return set(session.scalars(statement))


def order_numbers_by_portal_ids(
    session: Session, *, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    """The stored order number of each (portal, account, portal order id) among `keys`."""
    if not keys:
        return {}
    statement = select(
        Order.portal, Order.portal_account, Order.portal_order_id, Order.order_no
    ).where(in_keys(session, Order.portal_order_id, sorted({k[2] for k in keys})))
    wanted = set(keys)
    return {
        (portal, account, portal_id): order_no
        for portal, account, portal_id, order_no in session.execute(statement)
        if (portal, account, portal_id) in wanted
    }


def insert_orders(
    session: Session, *, orders: Sequence[dict[str, Any]], items: Sequence[dict[str, Any]]
) -> int:
    """Bulk-insert orders and their items; items carry `order_no` instead of `order_id`."""
    if not orders:
        return 0
    session.execute(insert(Order), list(orders))
    statement = select(Order.order_no, Order.id).where(
        in_keys(session, Order.order_no, [o["order_no"] for o in orders])
    )
    ids: dict[str, int] = {no: id_ for no, id_ in session.execute(statement)}
    rows = [
        {**{k: v for k, v in i.items() if k != "order_no"}, "order_id": ids[i["order_no"]]}
        for i in items
    ]
    if rows:
        session.execute(insert(OrderItem), rows)
    return len(orders)


def get_order(session: Session, *, order_no: str) -> Order | None:
    """One order with items and parcels loaded, by order number or portal order id."""
    statement = (
        select(Order)
        .where(or_(Order.order_no == order_no, Order.portal_order_id == order_no))
        .options(selectinload(Order.items), selectinload(Order.parcels))
        .order_by(Order.order_no != order_no)
        .limit(1)
    )
    return session.scalars(statement).first()


def get_order_by_id(session: Session, *, order_id: int) -> Order | None:
    statement = (
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.items), selectinload(Order.parcels))
    )
    return session.scalars(statement).first()


def count_orders(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count(Order.id))) or 0)
