"""mail bounces: the bounce class of a refused shipping mail, and when a late bounce came

`bounce_class` (core/bounces.py) is set from the server's reply when a mail is refused or
deferred, and from an inbound delivery status notification when it bounces after it was sent
(`bounced_at`). Message-IDs get an index: a bounce finds its mail by the original Message-ID.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipping_mails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounce_class", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_shipping_mails_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS _alembic_tmp_shipping_mails")
    with op.batch_alter_table("shipping_mails", schema=None) as batch_op:
        batch_op.drop_index("ix_shipping_mails_message_id")
        batch_op.drop_column("bounced_at")
        batch_op.drop_column("bounce_class")
