"""Alembic environment: the URL comes from the caller (db.migrate), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from db.models import Base
from db.session import get_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "db.migrate passes the database URL"
    with get_engine(url).connect() as connection:
        if connection.dialect.name != "sqlite":
            _run(connection)
            connection.commit()
            return
        # SQLite changes a column by rebuilding its table (batch mode), and dropping the old
        # copy of a table others point at fails while foreign keys are enforced. SQLite's own
        # procedure: keys off for the migration (outside a transaction, or it is ignored),
        # every key checked before the commit, keys on again for the pooled connection.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _run(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"migration left rows pointing nowhere: {broken[:5]}")
            connection.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


run_migrations_online()
