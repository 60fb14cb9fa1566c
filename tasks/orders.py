"""Bringing orders into the store (the CLI's `orders import` and the demo).

Each order is stored whole or not at all. What the file cannot show is checked against the
store first (a portal order already stored under another order number); whatever the database
still refuses costs only the order it refuses: the batch is then stored order by order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.orders_file import OrderRecord, OrdersFile, portal_key
from core.problems import RowProblem
from db.queries.orders import existing_order_numbers, insert_orders, order_numbers_by_portal_ids

BATCH = 5_000


def store_orders(session: Session, *, parsed: OrdersFile) -> dict[str, Any]:
    """Insert new orders; orders already in the store are left as they are."""
    imported = already_known = 0
    problems = list(parsed.problems)
    records = parsed.orders
    stored: list[OrderRecord] = []
    for start in range(0, len(records), BATCH):
        chunk = records[start : start + BATCH]
        known = existing_order_numbers(session, order_nos=[r.order["order_no"] for r in chunk])
        new = [r for r in chunk if r.order["order_no"] not in known]
        already_known += len(chunk) - len(new)
        new = _without_taken_portal_ids(session, new, problems)
        done = _insert(session, new, problems)
        imported += len(done)
        stored.extend(done)
    return {
        "rows": parsed.rows,
        "orders": len(records),
        "imported": imported,
        "already_known": already_known,
        "rejected": [p.as_dict() for p in sorted(problems, key=lambda p: p.row)],
        "warnings": [w.as_dict() for r in stored for w in r.warnings],
    }


def _without_taken_portal_ids(
    session: Session, records: list[OrderRecord], problems: list[RowProblem]
) -> list[OrderRecord]:
    """Orders whose portal order is not stored yet under another order number."""
    taken = order_numbers_by_portal_ids(session, keys=[portal_key(r.order) for r in records])
    kept: list[OrderRecord] = []
    for record in records:
        other = taken.get(portal_key(record.order))
        if other is None:
            kept.append(record)
            continue
        problems.append(
            RowProblem(
                record.row,
                "portal_order_id",
                record.order["portal_order_id"],
                "portal_order_id_taken",
                f"this {record.order['portal']} order is already stored as order {other}; "
                "import it under that order number",
            )
        )
    return kept


def _insert(
    session: Session, records: list[OrderRecord], problems: list[RowProblem]
) -> list[OrderRecord]:
    """The records stored: all in one statement, or, when refused, each one on its own."""
    if not records:
        return []
    try:
        with session.begin_nested():
            _insert_records(session, records)
        return records
    except DBAPIError:
        pass  # one of them is refused: find which
    stored: list[OrderRecord] = []
    for record in records:
        try:
            with session.begin_nested():
                _insert_records(session, [record])
        except DBAPIError as error:
            problems.append(_refused(record, error))
        else:
            stored.append(record)
    return stored


def _insert_records(session: Session, records: list[OrderRecord]) -> None:
    items = [{**item, "order_no": r.order["order_no"]} for r in records for item in r.items]
    insert_orders(session, orders=[r.order for r in records], items=items)


def _refused(record: OrderRecord, error: DBAPIError) -> RowProblem:
    reason = str(error.orig).strip().splitlines()[0][:200] if error.orig else type(error).__name__
    return RowProblem(
        record.row,
        "",
        record.order["order_no"],
        "not_stored",
        f"the database refused this order ({reason}); fix the row and import the file again",
    )
