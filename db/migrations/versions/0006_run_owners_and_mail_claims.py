"""run owners and per-order mail claims

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:40:00.000000

Each run that holds locks or claims registers as an owner (host, pid, flow run, heartbeat);
a shipping-mail ledger row names the owner that is sending it, so that runs of different
carriers never both mail one order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_owners",
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("run_name", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("shipping_mails") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch.create_index("ix_shipping_mails_claimed_by", ["claimed_by"])


def downgrade() -> None:
    with op.batch_alter_table("shipping_mails") as batch:
        batch.drop_index("ix_shipping_mails_claimed_by")
        batch.drop_column("claimed_by")
    op.drop_table("run_owners")
