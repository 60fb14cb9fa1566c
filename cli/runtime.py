"""Process set-up shared by the commands: settings, database, and Prefect's environment.

Prefect reads its settings at import time, so they are set before the first `import prefect`;
only commands that run flows import it (it costs over a second).
"""

from __future__ import annotations

import os

from core.accounts import Accounts
from core.settings import Settings, get_settings
from core.setup_error import SetupError


def prepare_prefect(settings: Settings | None = None) -> None:
    """Prefect's environment for a command that runs flows; accounts.toml is read first, so a
    misspelt or broken file ends the command with one line before a flow run starts."""
    settings = settings or get_settings()
    Accounts.load(settings.accounts_path)
    home = settings.home.resolve()
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    api_file = home / "prefect-api-url"
    if "PREFECT_API_URL" not in os.environ and api_file.exists():
        # a running `liefern serve` records its Prefect API: runs then land in its history
        os.environ["PREFECT_API_URL"] = api_file.read_text().strip()


class DatabaseBehind(SetupError):
    """A server database whose schema is older than this version: `liefern db upgrade`."""


def ensure_database(settings: Settings | None = None) -> str:
    """The configured database at the newest schema revision.

    The embedded SQLite database is migrated on the fly; a server database (PostgreSQL) is
    only migrated by `liefern db upgrade`, so that an operator decides when its schema changes.
    """
    from db.migrate import current_revision, head_revision, upgrade

    settings = settings or get_settings()
    url = settings.db_url
    settings.home.mkdir(parents=True, exist_ok=True)
    current = current_revision(url)  # SetupError when it cannot be opened
    if current == head_revision():
        return url
    if url.startswith("sqlite"):
        upgrade(url)
        return url
    raise DatabaseBehind(
        f"the database is at schema revision {current or 'none'}, this version needs "
        f"{head_revision()}",
        "run `liefern db upgrade` (after a backup, if it holds data)",
    )
