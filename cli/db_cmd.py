"""`liefern db upgrade`."""

from __future__ import annotations

import typer

from cli.output import JsonOption, emit
from core.settings import get_settings

app = typer.Typer(help="The database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(as_json: bool = JsonOption) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    from db.migrate import upgrade as run_upgrade

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    revision = run_upgrade(settings.db_url)
    emit(
        {"revision": revision},
        as_json=as_json,
        text=lambda: f"database is at revision {revision}",
    )
