"""Queries behind held confirmations: the mails they wait for and the operators' releases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import Confirmation, ConfirmationRelease, Order, ShippingMail
from db.queries._keys import in_keys


class MailRow(NamedTuple):
    status: str
    reason: str | None


def shipping_mails_of(session: Session, *, order_ids: Sequence[int]) -> dict[int, MailRow]:
    """order id -> its shipping mail's status and reason (orders without a mail are absent)."""
    if not order_ids:
        return {}
    statement = select(ShippingMail.order_id, ShippingMail.status, ShippingMail.reason).where(
        in_keys(session, ShippingMail.order_id, order_ids), ShippingMail.kind == "shipped"
    )
    return {
        order_id: MailRow(status, reason) for order_id, status, reason in session.execute(statement)
    }


def released_pairs(session: Session, *, order_ids: Sequence[int]) -> set[tuple[int, str]]:
    """(order id, portal) an operator released: their confirmations no longer wait."""
    if not order_ids:
        return set()
    statement = select(ConfirmationRelease.order_id, ConfirmationRelease.portal).where(
        in_keys(session, ConfirmationRelease.order_id, order_ids)
    )
    return {(o, p) for o, p in session.execute(statement)}


class HeldRow(NamedTuple):
    id: int
    order_id: int
    order_no: str
    portal: str
    account: str
    error_code: str | None
    error_text: str | None


def held_rows(session: Session, *, order_ids: Sequence[int] | None = None) -> list[HeldRow]:
    """Confirmations waiting for their order's mail (all, or those of `order_ids`)."""
    statement = (
        select(
            Confirmation.id,
            Confirmation.order_id,
            Order.order_no,
            Confirmation.portal,
            Confirmation.account,
            Confirmation.error_code,
            Confirmation.error_text,
        )
        .join(Order, Order.id == Confirmation.order_id)
        .where(Confirmation.status == "held")
        .order_by(Confirmation.id)
    )
    if order_ids is not None:
        if not order_ids:
            return []
        statement = statement.where(in_keys(session, Confirmation.order_id, order_ids))
    return [HeldRow(*row) for row in session.execute(statement)]


def add_release(
    session: Session, *, order_id: int, portal: str, by: str, reason: str, at: datetime
) -> None:
    session.execute(
        insert(ConfirmationRelease).values(
            order_id=order_id,
            portal=portal,
            released_by=by[:64],
            reason=reason[:500],
            released_at=at,
        )
    )


def releases_of_order(session: Session, *, order_id: int) -> list[ConfirmationRelease]:
    statement = (
        select(ConfirmationRelease)
        .where(ConfirmationRelease.order_id == order_id)
        .order_by(ConfirmationRelease.id)
    )
    return list(session.scalars(statement))
