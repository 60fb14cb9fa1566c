"""The problems list in the store: the parcels that core/watchlist.py calls problems.

The database picks them (one statement, its WHERE the rule's own conditions), so a shop with
a year of parcels never loads them into Python; the rule then names each one's problem and
since when. The statement starts at the shipped orders (ix_orders_status): an order that
arrived or was cancelled has no parcel to watch, so the list stays as short as the parcels
still on their way. Each order's shipping-mail row is found by its unique (order, kind) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from core.clock import BUSINESS_TZ
from core.watchlist import (
    DONE,
    TROUBLE,
    Finding,
    ParcelFacts,
    Problem,
    Thresholds,
    problem_of,
)
from db.models import Order, Parcel, ShippingMail
from db.types import UtcDateTime

_DONE = tuple(str(s) for s in DONE)
_TROUBLE = tuple(str(s) for s in TROUBLE)
PAGE_LIMIT = 1000  # rows a page or artifact shows; the count is always the full one
_RANK = {p: n for n, p in enumerate(Problem)}  # exception first, as the rule ranks them


@dataclass(frozen=True, slots=True)
class ProblemParcel:
    parcel_id: int
    order_id: int
    order_no: str
    portal: str
    portal_account: str
    carrier: str
    tracking_number: str
    problem: Problem
    since: datetime | None
    delivery_status: str | None
    status_text: str | None
    # a tracking source was asked about it or reported it: "no first scan" is then the
    # carrier's word, not only the absence of any news (tasks/delay_mails.py needs that)
    asked: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "order_no": self.order_no,
            "portal": self.portal,
            "account": self.portal_account,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "problem": str(self.problem),
            "since": self.since.isoformat() if self.since else None,
            "status": self.delivery_status,
            "status_text": self.status_text,
        }


def _mail() -> type[ShippingMail]:
    return aliased(ShippingMail, name="shipping_mail")


def _conditions(
    mail: type[ShippingMail], *, now: datetime, thresholds: Thresholds
) -> ColumnElement[bool]:
    """The rule of core/watchlist.py as SQL: true exactly for the parcels it calls problems."""
    mailed = func.coalesce(mail.finished_at, Order.shipped_at)
    first_scan_due = literal(now - thresholds.first_scan, UtcDateTime())
    stalled_due = literal(now - thresholds.stalled, UtcDateTime())
    today = now.astimezone(BUSINESS_TZ).date()
    return and_(
        Order.status == "shipped",
        Parcel.tracking_number.is_not(None),
        or_(Parcel.delivery_status.is_(None), Parcel.delivery_status.not_in(_DONE)),
        or_(
            Parcel.delivery_status.in_(_TROUBLE),
            and_(Parcel.first_scan_at.is_(None), mailed <= first_scan_due),
            Parcel.expected_delivery < today,
            and_(
                Parcel.first_scan_at.is_not(None),
                func.coalesce(Parcel.last_event_at, Parcel.first_scan_at) <= stalled_due,
            ),
        ),
    )


def problem_parcels(
    session: Session,
    *,
    now: datetime,
    thresholds: Thresholds,
    limit: int | None = PAGE_LIMIT,
) -> list[ProblemParcel]:
    """The problem parcels, the longest-standing first (exceptions before the rest)."""
    mail = _mail()
    statement = (
        select(
            Parcel.id.label("parcel_id"),
            Order.id.label("order_id"),
            Order.order_no,
            Order.portal,
            Order.portal_account,
            Parcel.carrier,
            Parcel.tracking_number,
            Parcel.delivery_status,
            Parcel.status_text,
            Parcel.first_scan_at,
            Parcel.last_event_at,
            Parcel.expected_delivery,
            func.coalesce(mail.finished_at, Order.shipped_at).label("mailed_at"),
            or_(Parcel.tracked_at.is_not(None), Parcel.status_source.is_not(None)).label("asked"),
        )
        .join(Parcel, Parcel.order_id == Order.id)
        .outerjoin(mail, and_(mail.order_id == Order.id, mail.kind == "shipped"))
        .where(_conditions(mail, now=now, thresholds=thresholds))
        .order_by(Parcel.ship_date, Parcel.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    out: list[ProblemParcel] = []
    for row in session.execute(statement):
        facts = ParcelFacts(
            row.delivery_status,
            row.first_scan_at,
            row.last_event_at,
            row.expected_delivery,
            row.mailed_at,
        )
        finding = problem_of(facts, now=now, thresholds=thresholds)
        if finding is None:  # the SQL and the rule disagree: trust the rule (tests keep them one)
            continue
        out.append(_line(row, finding))
    out.sort(key=lambda p: (_RANK[p.problem], p.since or now, p.order_no))
    return out


def count_problem_parcels(session: Session, *, now: datetime, thresholds: Thresholds) -> int:
    mail = _mail()
    statement = (
        select(func.count())
        .select_from(Order)
        .join(Parcel, Parcel.order_id == Order.id)
        .outerjoin(mail, and_(mail.order_id == Order.id, mail.kind == "shipped"))
        .where(_conditions(mail, now=now, thresholds=thresholds))
    )
    return int(session.execute(statement).scalar_one())


def _line(row: Any, finding: Finding) -> ProblemParcel:
    return ProblemParcel(
        parcel_id=row.parcel_id,
        order_id=row.order_id,
        order_no=row.order_no,
        portal=row.portal,
        portal_account=row.portal_account,
        carrier=row.carrier,
        tracking_number=row.tracking_number or "",
        problem=finding.problem,
        since=finding.since,
        delivery_status=row.delivery_status,
        status_text=row.status_text,
        asked=bool(row.asked),
    )
