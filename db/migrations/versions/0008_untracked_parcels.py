"""parcels without tracking number

A parcel shipped without tracking (a letter, untracked post) has no number: NULL. The unique
constraint on (carrier, tracking_number) stays: both databases treat NULLs as distinct, so
numbers stay unique and any number of untracked parcels is allowed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.alter_column("tracking_number", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # untracked parcels cannot keep a NOT NULL column: they are refused, not invented
    untracked = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM parcels WHERE tracking_number IS NULL")
    )
    if untracked:
        raise RuntimeError(
            f"{untracked} parcels have no tracking number; delete them or give them a "
            "number before downgrading below 0008"
        )
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.alter_column("tracking_number", existing_type=sa.String(length=64), nullable=False)
