"""Queries of the web app: the operator's order list, the buyer's arrival, imports, health.

Reads return small frozen views rather than ORM objects, so that templates never trigger lazy
loads after the session closed, and a page costs a fixed number of statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from db.models import Confirmation, Order, OrderItem, Parcel, ShippingMail, TrackingImport
from db.queries._keys import in_keys
from db.queries.order_filter import OrderFilter, conditions

ARRIVABLE_STATUSES = ("open", "shipped")


# --- the buyer's arrival page ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArrivalView:
    order_id: int
    order_no: str
    status: str
    language: str  # the shipping mail's language when there is one, else the order's
    arrived_at: datetime | None
    items: tuple[str, ...]


# Built once: the buyer's page is the hottest path (200 requests/s goal), and a prebuilt Core
# statement skips most of the ORM's per-call work (construction, cache key, entity loading).
_order_table = cast(Table, Order.__table__)
_mail_table = cast(Table, ShippingMail.__table__)
_orders = _order_table.c
_mails = _mail_table.c
_items = cast(Table, OrderItem.__table__).c
_ARRIVAL_ORDER = (
    select(
        _orders.id,
        _orders.order_no,
        _orders.status,
        _orders.language,
        _orders.arrived_at,
        _mails.language,
    )
    .select_from(
        _order_table.outerjoin(
            _mail_table, and_(_mails.order_id == _orders.id, _mails.kind == "shipped")
        )
    )
    .where(_orders.id == bindparam("order_id"))
    .limit(1)
)
_ARRIVAL_ITEMS = (
    select(_items.title).where(_items.order_id == bindparam("order_id")).order_by(_items.id)
)
_MARK_ARRIVED = (
    update(_order_table)
    .where(_orders.id == bindparam("order_id"), _orders.status.in_(ARRIVABLE_STATUSES))
    .values(
        status="arrived",
        arrived_at=bindparam("at"),
        arrived_source=bindparam("source"),
        updated_at=bindparam("at"),
    )
)


def arrival_view(session: Session, *, order_id: int) -> ArrivalView | None:
    row = session.execute(_ARRIVAL_ORDER, {"order_id": order_id}).first()
    if row is None:
        return None
    titles = session.execute(_ARRIVAL_ITEMS, {"order_id": order_id}).scalars()
    return ArrivalView(
        order_id=row[0],
        order_no=row[1],
        status=row[2],
        language=(row[5] or row[3] or "en").lower(),
        arrived_at=row[4],
        items=tuple(titles),
    )


def mark_arrived(session: Session, *, order_id: int, at: datetime, source: str) -> bool:
    """Set the order arrived unless it already is (or is cancelled); True when this call did.

    One conditional UPDATE, so two confirmations at the same moment cannot both win.
    """
    result = session.execute(_MARK_ARRIVED, {"order_id": order_id, "at": at, "source": source[:32]})
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- the operator's order list ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageIcon:
    """One confirmation ledger row, as the order list shows it."""

    portal: str
    account: str
    status: str
    tracking_number: str | None
    reference: str | None
    error_code: str | None
    error_text: str | None


@dataclass(frozen=True, slots=True)
class OrderLine:
    order_id: int
    order_no: str
    portal: str
    portal_account: str
    portal_order_id: str
    buyer_name: str
    country: str
    status: str
    created_at: datetime
    shipped_at: datetime | None
    arrived_at: datetime | None
    parcels: tuple[tuple[str, str | None], ...] = ()  # (carrier, tracking number or None)
    mail_status: str | None = None
    mail_reason: str | None = None
    confirmations: tuple[PackageIcon, ...] = field(default_factory=tuple)
    buyer_email: str = ""


def count_orders(session: Session, *, order_filter: OrderFilter) -> int:
    """How many orders the filter finds (the list shows it above its pages)."""
    statement = select(func.count()).select_from(Order).where(*conditions(order_filter))
    return int(session.scalar(statement) or 0)


def order_page(
    session: Session,
    *,
    order_filter: OrderFilter,
    page: int = 1,
    per_page: int = 50,
    below_id: int | None = None,
) -> tuple[list[OrderLine], bool]:
    """One page of orders, newest first (by id), with parcels, mail status and confirmations.

    Returns the lines and whether a further page exists. Four statements per page, whatever
    the page size. `below_id` (the last id of the previous page) pages by key instead of
    offset, for walking all pages (the CSV export)."""
    offset = max(page - 1, 0) * per_page if below_id is None else 0
    keyset = [] if below_id is None else [Order.id < below_id]
    statement = (
        select(Order)
        .where(*conditions(order_filter), *keyset)
        .order_by(Order.id.desc())  # ids grow with creation; the primary key needs no sort
        .offset(offset)
        .limit(per_page + 1)
    )
    orders = list(session.scalars(statement))
    has_next = len(orders) > per_page
    orders = orders[:per_page]
    ids = [o.id for o in orders]
    parcels: dict[int, list[tuple[str, str | None]]] = {}
    mails: dict[int, tuple[str, str | None]] = {}
    icons: dict[int, list[PackageIcon]] = {}
    if ids:
        for order_id, carrier, number in session.execute(
            select(Parcel.order_id, Parcel.carrier, Parcel.tracking_number)
            .where(in_keys(session, Parcel.order_id, ids))
            .order_by(Parcel.id)
        ):
            parcels.setdefault(order_id, []).append((carrier, number))
        for order_id, status, reason in session.execute(
            select(ShippingMail.order_id, ShippingMail.status, ShippingMail.reason).where(
                in_keys(session, ShippingMail.order_id, ids), ShippingMail.kind == "shipped"
            )
        ):
            mails[order_id] = (status, reason)
        for c, number in session.execute(
            select(Confirmation, Parcel.tracking_number)
            .join(Parcel, Parcel.id == Confirmation.parcel_id)
            .where(in_keys(session, Confirmation.order_id, ids))
            .order_by(Confirmation.id)
        ).tuples():
            icons.setdefault(c.order_id, []).append(
                PackageIcon(
                    portal=c.portal,
                    account=c.account,
                    status=c.status,
                    tracking_number=number,
                    reference=c.reference,
                    error_code=c.error_code,
                    error_text=c.error_text,
                )
            )
    lines = [
        OrderLine(
            order_id=o.id,
            order_no=o.order_no,
            portal=o.portal,
            portal_account=o.portal_account,
            portal_order_id=o.portal_order_id,
            buyer_name=o.buyer_name,
            country=o.country,
            status=o.status,
            created_at=o.created_at,
            shipped_at=o.shipped_at,
            arrived_at=o.arrived_at,
            parcels=tuple(parcels.get(o.id, ())),
            mail_status=mails.get(o.id, (None, None))[0],
            mail_reason=mails.get(o.id, (None, None))[1],
            confirmations=tuple(icons.get(o.id, ())),
            buyer_email=o.buyer_email,
        )
        for o in orders
    ]
    return lines, has_next


# --- an order's page: the flow runs that touched it -------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowRunRef:
    flow_run_id: str
    # what the run did to the order: ("import", "3"), ("mail", ""), ("confirmation", "amazon")
    parts: tuple[tuple[str, str], ...]

    @property
    def what(self) -> str:
        """In English, e.g. "tracking import 3, shipping mail, amazon confirmation"."""
        words = {
            "import": "tracking import {}",
            "mail": "shipping mail",
            "confirmation": "{} confirmation",
        }
        return ", ".join(words[kind].format(value) for kind, value in self.parts)


def flow_runs_of_order(session: Session, *, order_id: int) -> list[FlowRunRef]:
    """Every Prefect flow run recorded on the order's ledgers and on the imports of its parcels."""
    found: dict[str, list[tuple[str, str]]] = {}

    def note(run_id: str | None, kind: str, value: str = "") -> None:
        if run_id and (kind, value) not in found.setdefault(run_id, []):
            found[run_id].append((kind, value))

    for run_id, import_id in session.execute(
        select(TrackingImport.flow_run_id, TrackingImport.id)
        .join(Parcel, Parcel.import_id == TrackingImport.id)
        .where(Parcel.order_id == order_id)
        .distinct()
    ):
        note(run_id, "import", str(import_id))
    for run_id in session.scalars(
        select(ShippingMail.flow_run_id).where(ShippingMail.order_id == order_id)
    ):
        note(run_id, "mail")
    for run_id, portal in session.execute(
        select(Confirmation.flow_run_id, Confirmation.portal)
        .where(Confirmation.order_id == order_id)
        .order_by(Confirmation.id)
    ):
        note(run_id, "confirmation", portal)
    return [FlowRunRef(run_id, tuple(parts)) for run_id, parts in found.items()]


# --- imports ----------------------------------------------------------------------------------


def recent_imports(
    session: Session, *, page: int = 1, per_page: int = 50
) -> tuple[list[TrackingImport], bool]:
    statement = (
        select(TrackingImport)
        .order_by(TrackingImport.id.desc())
        .offset(max(page - 1, 0) * per_page)
        .limit(per_page + 1)
    )
    rows = list(session.scalars(statement))
    return rows[:per_page], len(rows) > per_page


def latest_upload_import(session: Session, *, sha256: str) -> TrackingImport | None:
    """The newest import of these exact bytes that came in through the upload API."""
    statement = (
        select(TrackingImport)
        .where(TrackingImport.sha256 == sha256, TrackingImport.source == "upload")
        .order_by(TrackingImport.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def queued_uploads(session: Session) -> list[TrackingImport]:
    """Uploads registered but never started (the process stopped before their run began)."""
    statement = (
        select(TrackingImport)
        .where(TrackingImport.status == "queued", TrackingImport.source == "upload")
        .order_by(TrackingImport.id)
    )
    return list(session.scalars(statement))


# --- health -----------------------------------------------------------------------------------


def database_answers(session: Session) -> bool:
    value: Any = session.scalar(text("SELECT 1"))
    return value == 1


def order_ids(session: Session, *, limit: int | None = None) -> list[int]:
    """Order ids, oldest first (benchmarks and tests that need many buyer links)."""
    statement = select(Order.id).order_by(Order.id)
    if limit:
        statement = statement.limit(limit)
    return list(session.scalars(statement))
