"""The store: orders with items and parcels, tracking imports, and the per-order ledgers.

Ledgers (shipping mails, portal confirmations) hang off orders and parcels by foreign key, so
each side effect has exactly one row that says what was done, when, and with what result.
Statuses are plain strings holding the values of the enums in core.domain.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UtcDateTime, utcnow

# BigInteger primary keys that still autoincrement on SQLite (which only does so for INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("portal", "portal_account", "portal_order_id", name="uq_orders_portal_id"),
        Index("ix_orders_portal_order_id", "portal_order_id"),
        Index("ix_orders_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    portal: Mapped[str] = mapped_column(String(16))
    portal_account: Mapped[str] = mapped_column(String(64))
    portal_order_id: Mapped[str] = mapped_column(String(64))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    country: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    arrived_source: Mapped[str | None] = mapped_column(String(32))
    # the buyer's personal data were blanked after the retention period (flows/retention.py)
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )
    parcels: Mapped[list[Parcel]] = relationship(back_populates="order", order_by="Parcel.id")


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # The portal's own id of the line: Amazon OrderItemCode, eBay lineItemId,
    # Kaufland id_order_unit (one per piece), Hood/Rakuten item id.
    item_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer, default=1)

    order: Mapped[Order] = relationship(back_populates="items")


class TrackingImport(Base):
    __tablename__ = "tracking_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    archive_path: Mapped[str] = mapped_column(String(1000))
    file_format: Mapped[str | None] = mapped_column(String(32))
    carrier: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="cli")
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    already_known: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ImportRejection(Base):
    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("tracking_imports.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(500))
    code: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(String(500))


class Parcel(Base):
    __tablename__ = "parcels"
    __table_args__ = (
        UniqueConstraint("carrier", "tracking_number", name="uq_parcels_number"),
        Index("ix_parcels_tracking_due", "delivery_status", "ship_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(64))  # None: untracked
    # the return label's number packed into the parcel (OTTO Market requires it)
    return_tracking_number: Mapped[str | None] = mapped_column(String(64))
    ship_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))  # cli, import, upload, api
    import_id: Mapped[int | None] = mapped_column(ForeignKey("tracking_imports.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What the carrier last said (flows/track_parcels.py, POST /webhooks/tracking/{source}):
    # delivery_status is a core.tracking.DeliveryStatus value, None while nobody asked yet;
    # status_source names who said it (dhl_tracking, amazon, webhook:<source>); the times are
    # the carrier's own event times, tracked_at when we last asked. expected_delivery only when
    # the source gives one. A parcel whose status is final (delivered, returned, lost,
    # undeliverable) is not asked again.
    delivery_status: Mapped[str | None] = mapped_column(String(24))
    status_source: Mapped[str | None] = mapped_column(String(32))
    status_text: Mapped[str | None] = mapped_column(String(500))
    first_scan_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    tracked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    order: Mapped[Order] = relationship(back_populates="parcels")


class ParcelEvent(Base):
    """One carrier event of a parcel (a scan, a delivery attempt, the delivery), as the source
    said it: `code`/`text` raw, `status` mapped onto core.tracking.DeliveryStatus. Unique per
    (parcel, time, code), so asking again or a repeated push never doubles an event; a pushed
    event's own id (`event_id`) is unique per source."""

    __tablename__ = "parcel_events"
    __table_args__ = (
        UniqueConstraint("parcel_id", "at", "code", name="uq_parcel_events_parcel_at_code"),
        UniqueConstraint("source", "event_id", name="uq_parcel_events_source_event"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(500))
    location: Mapped[str | None] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TrackingCalls(Base):
    """Calls made to a tracking API per key (the account name, never the key itself) and UTC
    day: counted before each call, so a crash never loses one and the quota holds across runs;
    `throttled_until` keeps a 429's wait for the next run."""

    __tablename__ = "tracking_calls"

    api_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    throttled_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ShippingMail(Base):
    """The shipping-mail ledger: one row per (order, kind), committed before and after sending."""

    __tablename__ = "shipping_mails"
    __table_args__ = (
        UniqueConstraint("order_id", "kind", name="uq_shipping_mails_order_kind"),
        Index("ix_shipping_mails_status", "status"),
        Index("ix_shipping_mails_claimed_by", "claimed_by"),
        Index("ix_shipping_mails_message_id", "message_id"),  # a bounce finds its mail by it
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(16), default="shipped")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    carrier: Mapped[str] = mapped_column(String(32))  # the run (carrier group) that sent it
    message_id: Mapped[str] = mapped_column(String(255))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))  # suppressed/failed: why
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_reply: Mapped[str | None] = mapped_column(String(500))
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # the run owner (RunOwner.token) sending this mail now; a claim of a dead owner is free
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # a pending mail waiting for the mail server (outage, refused login, 4xx): no run tries it
    # again before this time; None: the next run may try it
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # what a refusal says about the mail (core/bounces.py), from the server's reply or a
    # bounce that came later (bounced_at: when that delivery status notification was applied)
    bounce_class: Mapped[str | None] = mapped_column(String(24))
    bounced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Confirmation(Base):
    """The confirmation ledger: one row per (order, portal, parcel) told to a portal."""

    __tablename__ = "confirmations"
    __table_args__ = (
        UniqueConstraint("order_id", "portal", "parcel_id", name="uq_confirmations_parcel"),
        Index("ix_confirmations_status_portal", "status", "portal"),
        Index("ix_confirmations_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    portal: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(128))  # feed id, fulfillment id, ...
    message_id: Mapped[int | None] = mapped_column(Integer)  # Amazon MessageID in the feed
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(String(1000))
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RunOwner(Base):
    """A run that holds locks or claims: who it is, where it runs, and its last heartbeat.

    A background heartbeat moves `expires_at` on while the run works; an owner is dead when
    `expires_at` has passed or, on its own host, when its process is gone (tasks/guard.py).
    """

    __tablename__ = "run_owners"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    run_name: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RunLock(Base):
    """A database guard: at most one run holds a name (e.g. `deliver:dhl`) at a time.

    The lock is held while its owner (RunOwner.token) lives; `expires_at` follows the
    owner's heartbeat, for people reading the table.
    """

    __tablename__ = "run_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DailyClosing(Base):
    """One daily closing (Tagesabschluss) per carrier and day: what was closed, where the
    printed documents are, and how the last run ended.

    The day's parcels are found by carrier and ship date (their `closed_at` says whether they
    are closed); paths are relative to LIEFERN_HOME, so the home can move.
    """

    __tablename__ = "daily_closings"
    __table_args__ = (UniqueConstraint("carrier", "day", name="uq_daily_closings_carrier_day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    carrier: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # closed, partial, failed
    parcels: Mapped[int] = mapped_column(Integer, default=0)  # on the shipping list
    closed_parcels: Mapped[int] = mapped_column(Integer, default=0)
    list_sha256: Mapped[str | None] = mapped_column(String(64))  # of the list's rows (CSV)
    list_pdf_path: Mapped[str | None] = mapped_column(String(1000))
    list_csv_path: Mapped[str | None] = mapped_column(String(1000))
    carrier_pdf_path: Mapped[str | None] = mapped_column(String(1000))  # DHL's manifest
    carrier_reference: Mapped[str | None] = mapped_column(String(500))  # DHL's sheet numbers
    error: Mapped[str | None] = mapped_column(Text)  # why the last run failed, if it did
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # first full closing
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ConfirmationRelease(Base):
    """An operator's release of an order's held confirmation (`liefern portals release`).

    A confirmation waits (status `held`) while the order's shipping mail is not sent, when the
    account's `confirm_after` asks for that; a release lets the portal be told anyway, and this
    row keeps who did it, when and why.
    """

    __tablename__ = "confirmation_releases"
    __table_args__ = (Index("ix_confirmation_releases_order", "order_id", "portal"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    portal: Mapped[str] = mapped_column(String(16))
    released_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    released_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class OrderAction(Base):
    """What an operator did to one order by hand (tasks/actions.py): the mail sent now or
    resent, portal confirmations retried. One row per order and action, with who and when;
    `detail` keeps what was there before (a resent mail's earlier status and Message-ID), so a
    reopened ledger row loses no history. Shown in the order's protocol."""

    __tablename__ = "order_actions"
    __table_args__ = (Index("ix_order_actions_order", "order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    action: Mapped[str] = mapped_column(String(32))  # deliver, mail_resend, confirmation_retry
    by: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class BuyerDataDeletion(Base):
    """The deletion log of the retention run (flows/retention.py): one row per anonymised
    order, saying which fields were blanked, when, by which run and under which rule. It holds
    no personal data itself: field names, never their values."""

    __tablename__ = "buyer_data_deletions"
    __table_args__ = (UniqueConstraint("order_id", name="uq_buyer_data_deletions_order"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    portal: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    fields: Mapped[str] = mapped_column(String(500))  # e.g. "orders.buyer_name,orders.city"
    retention_days: Mapped[int] = mapped_column(Integer)
    delivered_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the day the period began
    delivered_from: Mapped[str] = mapped_column(String(16))  # tracking | arrived | ship_date
    run_id: Mapped[str] = mapped_column(String(36))
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
