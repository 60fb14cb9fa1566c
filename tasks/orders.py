"""Bringing orders into the store (the CLI's `orders import` and the demo)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.orders_file import OrdersFile
from db.queries.orders import existing_order_numbers, insert_orders

BATCH = 5_000


def store_orders(session: Session, *, parsed: OrdersFile) -> dict[str, Any]:
    """Insert new orders; orders already in the store are left as they are."""
    imported = already_known = 0
    records = parsed.orders
    for start in range(0, len(records), BATCH):
        chunk = records[start : start + BATCH]
        known = existing_order_numbers(session, order_nos=[r.order["order_no"] for r in chunk])
        new = [r for r in chunk if r.order["order_no"] not in known]
        already_known += len(chunk) - len(new)
        items = [{**item, "order_no": r.order["order_no"]} for r in new for item in r.items]
        imported += insert_orders(session, orders=[r.order for r in new], items=items)
    return {
        "rows": parsed.rows,
        "orders": len(records),
        "imported": imported,
        "already_known": already_known,
        "rejected": [p.as_dict() for p in parsed.problems],
    }
