"""shipping mails wait for the mail server: not_before

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipping_mails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shipping_mails", schema=None) as batch_op:
        batch_op.drop_column("not_before")
