"""Which orders a filter finds: one rule for the operator's list (`/orders`), its CSV export
(`/orders.csv`) and `liefern orders list`.

Conditions over the order and its ledgers: status, portal, a parcel's carrier, created and
shipped dates (German business dates), the shipping mail's state, confirmation states, and a
search in order numbers, buyers and tracking numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, exists, func, or_

from core.clock import BUSINESS_TZ
from core.domain import ConfirmationStatus, Portal
from db.models import Confirmation, Order, Parcel, ShippingMail

NO_MAIL = "none"  # the mail filter's value for orders without a shipping mail
RED = "red"  # the confirmation filter's value for the red icons: rejected or failed
RED_STATUSES = ("rejected", "failed")
SEARCH_MIN_CHARS = 3  # shorter searches match too much to be useful as a part-of search


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: str | None = None
    portal: str | None = None
    carrier: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    shipped_from: date | None = None
    shipped_to: date | None = None
    search: str | None = None
    mail: str | None = None  # a shipping mail status, or NO_MAIL
    bounce: str | None = None  # a bounce class of the shipping mail (core/bounces.py)
    # (portal or None for any, a confirmation status or RED): a confirmation row of each exists
    confirmations: tuple[tuple[str | None, str], ...] = ()


def confirmation_filters(values: Sequence[str]) -> tuple[tuple[str | None, str], ...]:
    """`red`, `failed` (any portal) or `ebay=failed` / `ebay=red`; ValueError naming the one
    that is none of those."""
    states = {*ConfirmationStatus, RED}
    pairs: list[tuple[str | None, str]] = []
    for value in values:
        portal, sep, status = (part.strip().lower() for part in value.rpartition("="))
        if (sep and portal not in set(Portal)) or status not in states:
            raise ValueError(
                f"--confirmation {value!r}: write STATUS or PORTAL=STATUS, e.g. red or "
                f"ebay=failed (portals: {', '.join(Portal)}; states: "
                f"{RED} (rejected or failed), {', '.join(ConfirmationStatus)})"
            )
        pairs.append((portal or None, status))
    return tuple(pairs)


def _day_start(day: date) -> datetime:
    """Dates in filters are German business dates."""
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(value: str) -> str:
    return _like_escaped(value) + "%"


def conditions(order_filter: OrderFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions on `Order` (all of them must hold)."""
    f = order_filter
    where: list[ColumnElement[bool]] = []
    if f.status:
        where.append(Order.status == f.status)
    if f.portal:
        where.append(Order.portal == f.portal)
    if f.carrier:
        where.append(exists().where(Parcel.order_id == Order.id, Parcel.carrier == f.carrier))
    if f.created_from:
        where.append(Order.created_at >= _day_start(f.created_from))
    if f.created_to:
        where.append(Order.created_at < _day_start(f.created_to + timedelta(days=1)))
    if f.shipped_from:
        where.append(Order.shipped_at >= _day_start(f.shipped_from))
    if f.shipped_to:
        where.append(Order.shipped_at < _day_start(f.shipped_to + timedelta(days=1)))
    if f.mail == NO_MAIL:
        where.append(~exists().where(_is_shipping_mail(), ShippingMail.order_id == Order.id))
    elif f.mail:
        where.append(
            exists().where(
                _is_shipping_mail(),
                ShippingMail.order_id == Order.id,
                ShippingMail.status == f.mail,
            )
        )
    if f.bounce:
        where.append(
            exists().where(
                _is_shipping_mail(),
                ShippingMail.order_id == Order.id,
                ShippingMail.bounce_class == f.bounce,
            )
        )
    for portal, state in f.confirmations:
        statuses = RED_STATUSES if state == RED else (state,)
        of_portal = [] if portal is None else [Confirmation.portal == portal]
        where.append(
            exists().where(
                Confirmation.order_id == Order.id, Confirmation.status.in_(statuses), *of_portal
            )
        )
    if f.search and f.search.strip():
        where.append(_search(f.search.strip()))
    return where


def _is_shipping_mail() -> ColumnElement[bool]:
    return ShippingMail.kind == "shipped"


def _search(q: str) -> ColumnElement[bool]:
    """Order number and portal order id by prefix; buyer name, buyer email and tracking number
    by any part (from SEARCH_MIN_CHARS characters on; shorter: the whole tracking number)."""
    number = "".join(q.split()).upper()
    prefixes = {_like_prefix(q), _like_prefix(q.upper())}  # `au1001` finds AU100123
    found: list[ColumnElement[bool]] = [
        *(Order.order_no.like(p, escape="\\") for p in prefixes),
        *(Order.portal_order_id.like(p, escape="\\") for p in prefixes),
    ]
    if len(q) < SEARCH_MIN_CHARS:
        found.append(exists().where(Parcel.order_id == Order.id, Parcel.tracking_number == number))
        return or_(*found)
    part = "%" + _like_escaped(q.lower()) + "%"
    found += [
        func.lower(Order.buyer_name).like(part, escape="\\"),
        func.lower(Order.buyer_email).like(part, escape="\\"),
        exists().where(
            Parcel.order_id == Order.id,
            Parcel.tracking_number.like("%" + _like_escaped(number) + "%", escape="\\"),
        ),
    ]
    return or_(*found)
