"""The order list of `liefern orders list`: filters over the order and its ledgers, a limit,
and the total the filters match.

Beside the web list (db/queries/web.py) rather than in it: the CLI filters by mail state and by
confirmation state per portal, and searches in buyer names and parts of tracking numbers.
Three statements per list, whatever its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from core.domain import ConfirmationStatus, Portal
from db.models import Confirmation, Order, Parcel, ShippingMail
from db.queries._keys import in_keys

NO_MAIL = "none"  # mail state filter: no shipping mail row yet


@dataclass(frozen=True, slots=True)
class ListFilter:
    status: str | None = None
    portal: str | None = None
    carrier: str | None = None
    mail: str | None = None  # pending, sent, failed, suppressed, or "none"
    confirmations: tuple[tuple[str, str], ...] = ()  # (portal, status): a row of each exists
    search: str | None = None


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


def _contains(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _conditions(f: ListFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.status:
        where.append(Order.status == f.status)
    if f.portal:
        where.append(Order.portal == f.portal)
    if f.carrier:
        where.append(exists().where(Parcel.order_id == Order.id, Parcel.carrier == f.carrier))
    if f.mail:
        mail = exists().where(ShippingMail.order_id == Order.id, ShippingMail.kind == "shipped")
        if f.mail == NO_MAIL:
            where.append(not_(mail))
        else:
            where.append(mail.where(ShippingMail.status == f.mail))
    for portal, status in f.confirmations:
        where.append(
            exists().where(
                Confirmation.order_id == Order.id,
                Confirmation.portal == portal,
                Confirmation.status == status,
            )
        )
    if f.search and f.search.strip():
        text = _contains(f.search.strip())
        number = _contains("".join(f.search.split()))
        where.append(
            or_(
                func.lower(Order.order_no).like(text, escape="\\"),
                func.lower(Order.portal_order_id).like(text, escape="\\"),
                func.lower(Order.buyer_name).like(text, escape="\\"),
                func.lower(Order.buyer_email).like(text, escape="\\"),
                exists().where(
                    Parcel.order_id == Order.id,
                    func.lower(Parcel.tracking_number).like(number, escape="\\"),
                ),
            )
        )
    return where


# a portal's worst confirmation state first: what the operator has to look at
_SEVERITY = ("rejected", "failed", "held", "pending", "submitted", "confirmed", "skipped")


def list_orders(
    session: Session, *, list_filter: ListFilter, limit: int
) -> tuple[list[ListedOrder], int]:
    """The newest `limit` orders the filter matches, and how many it matches in all."""
    where = _conditions(list_filter)
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


def confirmation_filters(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`ebay=failed` pairs; ValueError naming the one that is not of that form."""
    pairs = []
    for value in values:
        portal, sep, status = (part.strip().lower() for part in value.partition("="))
        if not sep or portal not in set(Portal) or status not in set(ConfirmationStatus):
            raise ValueError(
                f"--confirmation {value!r}: write PORTAL=STATUS, e.g. ebay=failed (portals: "
                f"{', '.join(Portal)}; states: {', '.join(ConfirmationStatus)})"
            )
        pairs.append((portal, status))
    return tuple(pairs)
