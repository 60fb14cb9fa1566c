"""Queries of the confirmation ledger: what each portal was told, and what it answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, selectinload

from db.models import Confirmation, Order, Parcel
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
    if rows:
        from sqlalchemy import insert

        session.execute(insert(Confirmation), list(rows))


def confirmations_in_status(
    session: Session, *, portal: str, status: str, limit: int | None = None
) -> list[tuple[Confirmation, Order, Parcel]]:
    """Ledger rows of a portal in a status, with their order (items loaded) and parcel."""
    statement = (
        select(Confirmation, Order, Parcel)
        .join(Order, Order.id == Confirmation.order_id)
        .join(Parcel, Parcel.id == Confirmation.parcel_id)
        .where(and_(Confirmation.portal == portal, Confirmation.status == status))
        .options(selectinload(Order.items), selectinload(Order.parcels))
        .order_by(Confirmation.id)
    )
    if limit:
        statement = statement.limit(limit)
    return [(c, o, p) for c, o, p in session.execute(statement).tuples()]


def portals_with(session: Session, *, status: str) -> list[str]:
    statement = (
        select(Confirmation.portal)
        .where(Confirmation.status == status)
        .distinct()
        .order_by(Confirmation.portal)
    )
    return list(session.scalars(statement))


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


def record_results(session: Session, *, results: Sequence[dict[str, Any]]) -> None:
    """`results`: dicts with `id` and the columns to set (status, reference, error ...)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for result in results:
        by_columns.setdefault(tuple(sorted(result)), []).append(result)
    for group in by_columns.values():
        session.execute(update(Confirmation), group)


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
