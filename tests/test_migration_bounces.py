"""Migration 0014 (bounce class, bounced-at, Message-ID index) down and up again, with mails
in the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from db.migrate import alembic_config, current_revision, upgrade
from db.session import dispose_engines, get_engine, session_scope
from tests.helpers import seed_orders


def mail_columns(url: str) -> set[str]:
    with get_engine(url).connect() as connection:
        return {c["name"] for c in sa.inspect(connection).get_columns("shipping_mails")}


def test_0014_goes_down_and_up_keeping_the_mails(db_url: str) -> None:
    seed_orders(db_url, 1)
    with session_scope(db_url) as session:
        session.execute(
            sa.text(
                "INSERT INTO shipping_mails (order_id, kind, status, carrier, message_id, "
                "recipient, language, attempts, created_at, bounce_class) SELECT id, 'shipped', "
                "'failed', 'dhl', '<a@b>', 'k@example.org', 'de', 1, created_at, 'auth' "
                "FROM orders"
            )
        )
    try:
        dispose_engines()
        command.downgrade(alembic_config(db_url), "0013")
        dispose_engines()
        assert current_revision(db_url) == "0013"
        assert not {"bounce_class", "bounced_at"} & mail_columns(db_url)
    finally:
        dispose_engines()
        upgrade(db_url)
    assert {"bounce_class", "bounced_at"} <= mail_columns(db_url)
    with get_engine(db_url).connect() as connection:
        rows = connection.execute(sa.text("SELECT status, bounce_class FROM shipping_mails"))
        assert rows.all() == [("failed", None)]
