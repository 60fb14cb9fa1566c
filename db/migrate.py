"""`liefern db upgrade`: Alembic migrations, run programmatically with the configured URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DatabaseError

from db.problems import unreachable_database
from db.session import get_engine, normalise_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the database to `revision`; returns the revision it is at afterwards.

    A database that cannot be opened raises `SetupError` (before any migration runs)."""
    if url.startswith("sqlite:///"):
        try:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise unreachable_database(url, error) from error
    current_revision(url)  # opens the database: a missing one is a set-up problem, said so
    command.upgrade(alembic_config(url), revision)
    return current_revision(url) or ""


def current_revision(url: str) -> str | None:
    """The schema revision of the database (None: no schema yet); `SetupError` when it cannot
    be opened (no such database, server down, not a SQLite file)."""
    try:
        with get_engine(url).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DatabaseError as error:  # OperationalError is one
        raise unreachable_database(url, error) from error


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_current_head())
