"""Attaching parcels to orders: one batch of rows in one transaction.

Idempotent by design: a parcel already on the same order is "already known", so a Prefect retry
of a batch, or the same file imported twice, changes nothing. A parcel without tracking number
has nothing to be recognised by but its carrier and ship date: an order's untracked parcel of
the same carrier and day is the same parcel, and a row without a ship date (today was taken)
is the same parcel as any untracked one of that carrier, since it cannot tell a further letter
from the first one imported again on another day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from core.problems import RowProblem
from core.tracking_rows import ParcelRow
from db.queries.orders import OrderRef, find_orders_by_refs
from db.queries.parcels import (
    NewParcel,
    find_parcel_owners,
    find_untracked_parcels,
    insert_parcels,
    set_return_numbers,
)


@dataclass
class BatchOutcome:
    imported: int = 0
    already_known: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        self.imported += other.imported
        self.already_known += other.already_known
        self.problems.extend(other.problems)


def attach_parcels(
    session: Session,
    *,
    rows: Sequence[ParcelRow],
    source: str,
    import_id: int | None = None,
    order_column: str = "order_no",
    number_column: str = "tracking_number",
) -> BatchOutcome:
    """Match rows to orders, skip known parcels, reject conflicts, insert the rest."""
    outcome = BatchOutcome()
    refs = {r.order_ref for r in rows} | {r.fallback_ref for r in rows if r.fallback_ref}
    orders = find_orders_by_refs(session, refs=list(refs))
    numbers_by_carrier: dict[str, set[str]] = {}
    for r in rows:
        if r.tracking_number is not None:
            numbers_by_carrier.setdefault(r.carrier, set()).add(r.tracking_number)
    owners: dict[tuple[str, str], int] = {}
    for carrier, numbers in numbers_by_carrier.items():
        owners.update(find_parcel_owners(session, numbers=list(numbers), carrier=carrier))
    untracked = _untracked_known(session, rows, orders)
    untracked_carriers = {(order_id, carrier) for order_id, carrier, _ in untracked}
    new: list[NewParcel] = []
    returns: list[tuple[str, str, str]] = []  # (carrier, number, return number) to record
    for row in rows:
        candidates = orders.get(row.order_ref)
        if candidates and len(candidates) == 1 and candidates[0].status != "cancelled":
            order: OrderRef | None = candidates[0]  # the usual case, without the checks below
        else:
            order, problem = _match_order(row, orders, order_column)
            if problem:
                outcome.problems.append(problem)
                continue
        assert order is not None
        if row.tracking_number is None:
            same_day = (order.order_id, row.carrier, row.ship_date)
            same_carrier = (order.order_id, row.carrier)
            if same_day in untracked or (not row.dated and same_carrier in untracked_carriers):
                outcome.already_known += 1
            else:
                untracked.add(same_day)
                untracked_carriers.add(same_carrier)
                new.append(NewParcel(order.order_id, row.carrier, None, row.ship_date))
            continue
        key = (row.carrier, row.tracking_number)
        owner = owners.get(key)
        if row.return_number and owner in (None, order.order_id):
            returns.append((row.carrier, row.tracking_number, row.return_number))
        if owner == order.order_id:
            outcome.already_known += 1
        elif owner is not None:
            outcome.problems.append(
                RowProblem(
                    row.row,
                    number_column,
                    row.tracking_number,
                    "tracking_on_other_order",
                    "this tracking number already belongs to another order",
                )
            )
        else:
            owners[key] = order.order_id
            new.append(NewParcel(order.order_id, row.carrier, row.tracking_number, row.ship_date))
    outcome.imported = insert_parcels(session, parcels=new, source=source, import_id=import_id)
    set_return_numbers(session, numbers=returns)
    return outcome


def _untracked_known(
    session: Session, rows: Sequence[ParcelRow], orders: dict[str, list[OrderRef]]
) -> set[tuple[int, str, date]]:
    """(order id, carrier, ship date) of the untracked parcels the rows' orders have; no
    query when no row is untracked (the usual import)."""
    refs: set[str] = set()
    for r in rows:
        if r.tracking_number is None:
            refs.update((r.order_ref, r.fallback_ref) if r.fallback_ref else (r.order_ref,))
    order_ids = {o.order_id for ref in refs for o in orders.get(ref, [])}
    if not order_ids:
        return set()
    return find_untracked_parcels(session, order_ids=sorted(order_ids))


def _match_order(
    row: ParcelRow, orders: dict[str, list[OrderRef]], column: str
) -> tuple[OrderRef | None, RowProblem | None]:
    candidates = orders.get(row.order_ref) or (
        orders.get(row.fallback_ref, []) if row.fallback_ref else []
    )
    if not candidates:
        return None, RowProblem(
            row.row,
            column,
            row.order_ref,
            "order_not_found",
            "no order with this order number or portal order id",
        )
    if len(candidates) > 1:
        return None, RowProblem(
            row.row,
            column,
            row.order_ref,
            "order_ambiguous",
            "several orders (portals) have this id; use the order number",
        )
    order = candidates[0]
    if order.status == "cancelled":
        return None, RowProblem(
            row.row,
            column,
            row.order_ref,
            "order_cancelled",
            "the order is cancelled; no parcel can be added",
        )
    return order, None
