"""confirmation releases: who let a held portal confirmation go, when and why

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "confirmation_releases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("portal", sa.String(length=16), nullable=False),
        sa.Column("released_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_confirmation_releases_order", "confirmation_releases", ["order_id", "portal"]
    )


def downgrade() -> None:
    op.drop_index("ix_confirmation_releases_order", table_name="confirmation_releases")
    op.drop_table("confirmation_releases")
