"""parcel tracking: each parcel's delivery status, its carrier events, the daily call budget

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _parcel_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("delivery_status", sa.String(length=24), nullable=True),
        sa.Column("status_source", sa.String(length=32), nullable=True),
        sa.Column("status_text", sa.String(length=500), nullable=True),
        sa.Column("first_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_delivery", sa.Date(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tracked_at", sa.DateTime(timezone=True), nullable=True),
    )


def upgrade() -> None:
    for column in _parcel_columns():
        op.add_column("parcels", column)
    op.create_index("ix_parcels_tracking_due", "parcels", ["delivery_status", "ship_date"])
    op.create_table(
        "parcel_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("parcel_id", _ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parcel_id"], ["parcels.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parcel_id", "at", "code", name="uq_parcel_events_parcel_at_code"),
        sa.UniqueConstraint("source", "event_id", name="uq_parcel_events_source_event"),
    )
    op.create_table(
        "tracking_calls",
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("throttled_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("api_key", "day"),
    )


def downgrade() -> None:
    # IF EXISTS and the column check: SQLite keeps DDL of a downgrade that a later step of the
    # same command undid by an error (0008 refuses while untracked parcels exist); the retry
    # runs this again
    op.execute("DROP TABLE IF EXISTS tracking_calls")
    op.execute("DROP TABLE IF EXISTS parcel_events")
    op.execute("DROP INDEX IF EXISTS ix_parcels_tracking_due")
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("parcels")}
    for column in _parcel_columns():
        if column.name in present:
            op.drop_column("parcels", column.name)
