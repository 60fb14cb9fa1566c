"""Parcel tracking in the store: which parcels are due, the daily call budget per API key,
recording what a source said, and the orders whose parcels are all delivered.

Events go in with INSERT … ON CONFLICT DO NOTHING on (parcel, time, code) and (source, event
id), so asking twice, a repeated push or a run that crashed after its insert never doubles one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Insert, and_, insert, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.tracking import (
    FINAL,
    DeliveryStatus,
    ParcelReport,
    delivered_time,
    first_scan,
    latest,
)
from db.models import Order, Parcel, ParcelEvent, TrackingCalls
from db.queries._keys import in_keys
from db.queries.web import mark_arrived

_FINAL = tuple(str(s) for s in FINAL)


@dataclass(frozen=True, slots=True)
class DueParcel:
    parcel_id: int
    order_id: int
    order_no: str
    carrier: str
    tracking_number: str
    portal_order_id: str = ""


def due_parcels(
    session: Session,
    *,
    carriers: Sequence[str],
    limit: int,
    asked_before: datetime | None = None,
    portal: str | None = None,
    portal_account: str | None = None,
    not_of: Sequence[tuple[str, str]] = (),
) -> list[DueParcel]:
    """Tracked parcels of shipped orders whose status is not final, oldest ship date first;
    with `asked_before`, only those not asked since then. No `carriers`: any carrier.
    `portal`/`portal_account` keep the orders of one account, `not_of` leaves out the orders
    of those (portal, account) pairs (they have a source of their own)."""
    recent = (
        or_(Parcel.tracked_at.is_(None), Parcel.tracked_at < asked_before)
        if asked_before is not None
        else Parcel.id.is_not(None)
    )
    where: list[ColumnElement[bool]] = [Parcel.carrier.in_(list(carriers))] if carriers else []
    if portal is not None:
        where.append(Order.portal == portal)
    if portal_account is not None:
        where.append(Order.portal_account == portal_account)
    where += [
        not_(and_(Order.portal == p, Order.portal_account == a)) for p, a in sorted(set(not_of))
    ]
    rows = session.execute(
        select(
            Parcel.id,
            Order.id,
            Order.order_no,
            Parcel.carrier,
            Parcel.tracking_number,
            Order.portal_order_id,
        )
        .join(Order, Order.id == Parcel.order_id)
        .where(
            *where,
            Parcel.tracking_number.is_not(None),
            or_(Parcel.delivery_status.is_(None), Parcel.delivery_status.not_in(_FINAL)),
            Order.status.in_(("shipped", "arrived")),
            recent,
        )
        .order_by(Parcel.ship_date, Parcel.id)
        .limit(limit)
    ).all()
    return [DueParcel(r[0], r[1], r[2], r[3], r[4] or "", r[5] or "") for r in rows]


# --- the daily budget ----------------------------------------------------------------------------


def _insert_ignore(session: Session, model: type) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    return insert(model)


def reserve_call(session: Session, *, api_key: str, day: date, quota: int) -> bool:
    """Count one call of `api_key` on `day` if the quota allows it; False when spent.

    One conditional UPDATE: two runs at once cannot both take the last call. The caller commits
    before calling the API, so a crash during the call still counts it."""
    session.execute(
        _insert_ignore(session, TrackingCalls).values(api_key=api_key, day=day, calls=0)
    )
    result = session.execute(
        update(TrackingCalls)
        .where(
            TrackingCalls.api_key == api_key,
            TrackingCalls.day == day,
            TrackingCalls.calls < quota,
        )
        .values(calls=TrackingCalls.calls + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def calls_made(session: Session, *, api_key: str, day: date) -> int:
    row = session.get(TrackingCalls, (api_key, day))
    return row.calls if row else 0


def set_throttled(session: Session, *, api_key: str, day: date, until: datetime) -> None:
    session.execute(
        _insert_ignore(session, TrackingCalls).values(api_key=api_key, day=day, calls=0)
    )
    session.execute(
        update(TrackingCalls)
        .where(TrackingCalls.api_key == api_key, TrackingCalls.day == day)
        .values(throttled_until=until)
    )


def throttled_until(session: Session, *, api_key: str, day: date) -> datetime | None:
    row = session.get(TrackingCalls, (api_key, day))
    return row.throttled_until if row else None


# --- recording reports ---------------------------------------------------------------------------


def record_report(
    session: Session, *, parcel_id: int, source: str, report: ParcelReport, now: datetime
) -> int:
    """Store the report's new events and the parcel's status; the number of new events."""
    added = 0
    for event in report.events:
        values = {
            "parcel_id": parcel_id,
            "at": event.at,
            "status": str(event.status),
            "source": source[:32],
            "code": event.code[:64],
            "text": event.text[:500],
            "location": event.location[:200] if event.location else None,
            "event_id": event.event_id[:128] if event.event_id else None,
            "received_at": now,
        }
        # RETURNING, not rowcount: psycopg's rowcount of a skipped row is not 0 everywhere
        statement = _insert_ignore(session, ParcelEvent).values(**values)
        added += session.execute(statement.returning(ParcelEvent.id)).first() is not None
    parcel = session.get(Parcel, parcel_id)
    assert parcel is not None
    parcel.tracked_at = now
    newest = latest(report.events)
    if newest is not None and parcel.last_event_at is not None and newest.at < parcel.last_event_at:
        return added  # an older event arrived late: kept in the history, the status stays
    if report.status is not None:
        parcel.delivery_status = str(report.status)
        parcel.status_source = source[:32]
        parcel.status_text = (report.text or (newest.text if newest else ""))[:500] or None
    if newest is not None:
        parcel.last_event_at = newest.at
    scanned = first_scan(report.events)
    if scanned is not None and (parcel.first_scan_at is None or scanned < parcel.first_scan_at):
        parcel.first_scan_at = scanned
    if report.expected_delivery is not None:
        parcel.expected_delivery = report.expected_delivery
    if report.status is DeliveryStatus.DELIVERED:
        parcel.delivered_at = delivered_time(report) or parcel.delivered_at or now
    return added


@dataclass(frozen=True, slots=True)
class Arrival:
    order_no: str
    outcome: str  # arrived | buyer_confirmed | waiting (other parcels not delivered yet)
    reason: str = ""


def arrive_orders(
    session: Session, *, order_ids: Sequence[int], source: str, now: datetime
) -> list[Arrival]:
    """Set orders arrived whose parcels are all delivered; the buyer's own confirmation stays.

    An order with an untracked parcel or one not delivered yet waits."""
    if not order_ids:
        return []
    orders = session.execute(
        select(Order.id, Order.order_no, Order.status, Order.arrived_source).where(
            in_keys(session, Order.id, list(order_ids))
        )
    ).all()
    parcels = session.execute(
        select(Parcel.order_id, Parcel.delivery_status, Parcel.delivered_at).where(
            in_keys(session, Parcel.order_id, list(order_ids))
        )
    ).all()
    by_order: dict[int, list[tuple[str | None, datetime | None]]] = {}
    for order_id, status, delivered_at in parcels:
        by_order.setdefault(order_id, []).append((status, delivered_at))
    out: list[Arrival] = []
    for order_id, order_no, status, arrived_source in orders:
        states = by_order.get(order_id, [])
        done = sum(s == DeliveryStatus.DELIVERED for s, _ in states)
        if not states or done < len(states):
            continue
        if status == "arrived":
            if arrived_source and not arrived_source.startswith("carrier:"):
                out.append(Arrival(order_no, "buyer_confirmed", f"kept: {arrived_source}"))
            continue
        at = max(d for _, d in states if d is not None) if any(d for _, d in states) else now
        if mark_arrived(session, order_id=order_id, at=at, source=f"carrier:{source}"):
            out.append(Arrival(order_no, "arrived", f"{done} of {len(states)} parcels delivered"))
    return out


def waiting_orders(session: Session, *, order_ids: Sequence[int]) -> list[str]:
    """Order numbers among `order_ids` with a delivered parcel but not arrived yet."""
    if not order_ids:
        return []
    rows = session.execute(
        select(Order.order_no)
        .join(Parcel, Parcel.order_id == Order.id)
        .where(
            in_keys(session, Order.id, list(order_ids)),
            and_(Order.status == "shipped", Parcel.delivery_status == "delivered"),
        )
        .distinct()
    ).scalars()
    return sorted(rows)


def parcel_by_number(session: Session, *, tracking_number: str) -> Parcel | None:
    return session.scalars(
        select(Parcel).where(Parcel.tracking_number == tracking_number).order_by(Parcel.id)
    ).first()


def parcel_events(session: Session, *, parcel_ids: Sequence[int]) -> list[ParcelEvent]:
    if not parcel_ids:
        return []
    return list(
        session.scalars(
            select(ParcelEvent)
            .where(in_keys(session, ParcelEvent.parcel_id, list(parcel_ids)))
            .order_by(ParcelEvent.parcel_id, ParcelEvent.at, ParcelEvent.id)
        )
    )
