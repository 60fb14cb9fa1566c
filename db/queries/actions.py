"""Queries of the operator's actions on single orders: the action log, reopening ledger rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Confirmation, Order, OrderAction, ShippingMail
from db.queries._keys import in_keys


def add_action(
    session: Session, *, order_id: int, action: str, by: str, detail: str, at: datetime
) -> None:
    session.add(
        OrderAction(order_id=order_id, action=action, by=by[:64], detail=detail[:1000], at=at)
    )
    session.flush()


def actions_of_order(session: Session, *, order_id: int) -> list[OrderAction]:
    statement = select(OrderAction).where(OrderAction.order_id == order_id).order_by(OrderAction.id)
    return list(session.scalars(statement))


def reopen_mail(
    session: Session,
    *,
    mail_id: int,
    was: str,
    reason: str,
    message_id: str | None = None,
) -> bool:
    """The mail's row back to `pending` for one more send, only while it still has status `was`
    (two operators at once: one wins); True when this call reopened it."""
    values: dict[str, object] = {
        "status": "pending",
        "reason": reason[:500],
        "finished_at": None,
        "not_before": None,
    }
    if message_id:
        values["message_id"] = message_id
    result = session.execute(
        update(ShippingMail)
        .where(ShippingMail.id == mail_id, ShippingMail.status == was)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def send_waiting_now(session: Session, *, mail_id: int) -> None:
    """A pending mail waiting for the mail server may go now (the operator asked for it)."""
    session.execute(
        update(ShippingMail)
        .where(ShippingMail.id == mail_id, ShippingMail.status == "pending")
        .values(not_before=None)
        .execution_options(synchronize_session=False)
    )


def orders_with_failed_mail(session: Session, *, carrier: str | None = None) -> list[str]:
    """Order numbers whose shipping mail failed (of the runs of `carrier`, when given)."""
    statement = (
        select(Order.order_no)
        .join(ShippingMail, ShippingMail.order_id == Order.id)
        .where(ShippingMail.kind == "shipped", ShippingMail.status == "failed")
        .order_by(Order.id)
    )
    if carrier:
        statement = statement.where(ShippingMail.carrier == carrier)
    return list(session.scalars(statement))


def confirmations_to_retry(
    session: Session,
    *,
    statuses: Sequence[str],
    order_ids: Sequence[int] | None = None,
    portal: str | None = None,
) -> list[Confirmation]:
    statement = (
        select(Confirmation)
        .where(Confirmation.status.in_(list(statuses)))
        .order_by(Confirmation.order_id, Confirmation.id)
    )
    if order_ids is not None:
        statement = statement.where(in_keys(session, Confirmation.order_id, order_ids))
    if portal:
        statement = statement.where(Confirmation.portal == portal)
    return list(session.scalars(statement))


def reopen_confirmation(session: Session, *, row_id: int, was: str, reason: str) -> bool:
    """A failed or rejected confirmation back to `pending`, with why; the next pass submits it.

    Its attempts stay counted: the connector reads back what the portal has before telling it
    again, and a retry that fails once more is `failed` again at once rather than after a new
    round of tries."""
    result = session.execute(
        update(Confirmation)
        .where(Confirmation.id == row_id, Confirmation.status == was)
        .values(status="pending", error_code=None, error_text=reason[:1000], finished_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def order_numbers(session: Session, *, order_ids: Sequence[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    statement = select(Order.id, Order.order_no).where(
        in_keys(session, Order.id, sorted(set(order_ids)))
    )
    return dict(session.execute(statement).tuples().all())
