"""return tracking numbers: the number of the return label packed into a parcel

OTTO Market takes a shipment only with the return label's tracking number of every position
item (returnTrackingKey). NULL for every parcel that has none (all other portals).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("return_tracking_number", sa.String(length=64), nullable=True)
        )


def downgrade() -> None:
    # SQLite keeps DDL of a downgrade that a later step of the same command undid by an error
    # (0008 refuses while untracked parcels exist): the retry finds the column gone, or the
    # batch copy's table left behind
    op.execute("DROP TABLE IF EXISTS _alembic_tmp_parcels")
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("parcels")}
    if "return_tracking_number" in columns:
        with op.batch_alter_table("parcels", schema=None) as batch_op:
            batch_op.drop_column("return_tracking_number")
