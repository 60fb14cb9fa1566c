"""order actions: what an operator did to one order (mail sent now, resent, retried), by whom

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_actions_order", "order_actions", ["order_id"])


def downgrade() -> None:
    # IF EXISTS: SQLite keeps DDL of a downgrade that a later step of the same command undid
    # by an error (0008 refuses while untracked parcels exist), and the retry runs this again
    op.execute("DROP INDEX IF EXISTS ix_order_actions_order")
    op.execute("DROP TABLE IF EXISTS order_actions")
