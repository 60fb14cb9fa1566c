"""buyer retention: when an order's buyer data were anonymised, and the deletion log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "buyer_data_deletions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("portal", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.String(length=500), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_from", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", name="uq_buyer_data_deletions_order"),
    )


def downgrade() -> None:
    # guarded: SQLite keeps DDL of a downgrade that a later step of the same command undid by
    # an error (0008 refuses while untracked parcels exist), and the retry runs this again;
    # a plain DROP COLUMN (SQLite 3.35+) keeps that simple, a batch copy of orders would not
    op.execute("DROP TABLE IF EXISTS buyer_data_deletions")
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("orders")}
    if "anonymised_at" in columns:
        op.execute("ALTER TABLE orders DROP COLUMN anonymised_at")
