"""The order list of `liefern orders list`: the orders a filter finds (the web list's rule,
db/queries/order_filter.py), a limit, and the total the filter matches.

Three statements per list, whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Confirmation, Order, Parcel, ShippingMail
from db.queries._keys import in_keys
from db.queries.order_filter import OrderFilter, conditions


@dataclass(frozen=True, slots=True)
class ListedOrder:
    order_no: str
    portal: str
    portal_account: str
    portal_order_id: str
    buyer_name: str
    buyer_email: str
    status: str
    parcels: tuple[str, ...]  # "dhl 00340434…" or "dhl without tracking number"
    mail: str | None
    confirmations: dict[str, str] = field(default_factory=dict)  # portal -> worst status


# a portal's worst confirmation state first: what the operator has to look at
_SEVERITY = ("rejected", "failed", "held", "pending", "submitted", "confirmed", "skipped")


def list_orders(
    session: Session, *, order_filter: OrderFilter, limit: int
) -> tuple[list[ListedOrder], int]:
    """The newest `limit` orders the filter matches, and how many it matches in all."""
    where = conditions(order_filter)
    total = int(session.scalar(select(func.count(Order.id)).where(*where)) or 0)
    orders = list(
        session.scalars(select(Order).where(*where).order_by(Order.id.desc()).limit(limit))
    )
    ids = [o.id for o in orders]
    parcels: dict[int, list[str]] = {}
    mails: dict[int, str] = {}
    confirmations: dict[int, dict[str, str]] = {}
    if ids:
        for order_id, carrier, number in session.execute(
            select(Parcel.order_id, Parcel.carrier, Parcel.tracking_number)
            .where(in_keys(session, Parcel.order_id, ids))
            .order_by(Parcel.id)
        ):
            parcels.setdefault(order_id, []).append(
                f"{carrier} {number or 'without tracking number'}"
            )
        for order_id, status in session.execute(
            select(ShippingMail.order_id, ShippingMail.status).where(
                in_keys(session, ShippingMail.order_id, ids), ShippingMail.kind == "shipped"
            )
        ):
            mails[order_id] = status
        for order_id, portal, status in session.execute(
            select(Confirmation.order_id, Confirmation.portal, Confirmation.status).where(
                in_keys(session, Confirmation.order_id, ids)
            )
        ):
            known = confirmations.setdefault(order_id, {})
            known[portal] = _worse(known.get(portal), status)
    return [
        ListedOrder(
            order_no=o.order_no,
            portal=o.portal,
            portal_account=o.portal_account,
            portal_order_id=o.portal_order_id,
            buyer_name=o.buyer_name,
            buyer_email=o.buyer_email,
            status=o.status,
            parcels=tuple(parcels.get(o.id, ())),
            mail=mails.get(o.id),
            confirmations=confirmations.get(o.id, {}),
        )
        for o in orders
    ], total


def _worse(known: str | None, status: str) -> str:
    if known is None:
        return status
    rank = {s: n for n, s in enumerate(_SEVERITY)}
    return min(known, status, key=lambda s: rank.get(s, len(_SEVERITY)))
