"""daily closings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 06:35:41.705088
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_closings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parcels", sa.Integer(), nullable=False),
        sa.Column("closed_parcels", sa.Integer(), nullable=False),
        sa.Column("list_sha256", sa.String(length=64), nullable=True),
        sa.Column("list_pdf_path", sa.String(length=1000), nullable=True),
        sa.Column("list_csv_path", sa.String(length=1000), nullable=True),
        sa.Column("carrier_pdf_path", sa.String(length=1000), nullable=True),
        sa.Column("carrier_reference", sa.String(length=500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("carrier", "day", name="uq_daily_closings_carrier_day"),
    )


def downgrade() -> None:
    op.drop_table("daily_closings")
