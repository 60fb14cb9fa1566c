"""Set-up errors through the real CLI: one line naming the fix (`--json`: error + hint), exit 2.

PostgreSQL cases use databases of their own on the test server: one that is never created, and
one created empty (never migrated).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from core.settings import reset_settings
from db.session import dispose_engines
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("LIEFERN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIEFERN_SECRET_KEY", "a-real-secret-key-for-tests-0123456789")
    reset_settings()
    yield monkeypatch
    reset_settings()
    dispose_engines()


def _admin() -> sa.Engine:
    return sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database that exists and has no schema."""
    name = f"liefern_empty_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error.orig}")
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def one_error_line(result: object) -> str:
    """The whole of what a failed command printed: exactly one line, no traceback."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    assert lines[0].startswith("error: ")
    return lines[0]


def json_error(result: object) -> dict[str, str]:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    answer: dict[str, str] = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert set(answer) == {"error", "hint"}
    return answer


def test_an_unmigrated_postgresql_database_says_run_db_upgrade(
    env: pytest.MonkeyPatch, empty_postgres: str
) -> None:
    env.setenv("LIEFERN_DATABASE_URL", empty_postgres)
    line = one_error_line(runner.invoke(app, ["orders", "show", "A-1"]))
    assert "schema revision none" in line and "run `liefern db upgrade`" in line
    answer = json_error(runner.invoke(app, ["orders", "show", "A-1", "--json"]))
    assert "run `liefern db upgrade`" in answer["hint"]
    # and the fix it names works
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert "no order 'A-1'" in runner.invoke(app, ["orders", "show", "A-1"]).stderr


def test_db_upgrade_of_a_missing_postgresql_database_says_create_it(
    env: pytest.MonkeyPatch, empty_postgres: str
) -> None:
    name = f"liefern_missing_{uuid.uuid4().hex[:10]}"
    env.setenv("LIEFERN_DATABASE_URL", empty_postgres.rsplit("/", 1)[0] + f"/{name}")
    line = one_error_line(runner.invoke(app, ["db", "upgrade"]))
    assert f"the database '{name}' does not exist" in line
    assert f"create the database `{name}`" in line and "fix LIEFERN_DATABASE_URL" in line
    answer = json_error(runner.invoke(app, ["db", "upgrade", "--json"]))
    assert name in answer["error"] and "LIEFERN_DATABASE_URL" in answer["hint"]


def test_a_stopped_postgresql_server_says_start_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("LIEFERN_DATABASE_URL", "postgresql://liefern:pw-not-shown@127.0.0.1:1/liefern")
    line = one_error_line(runner.invoke(app, ["db", "upgrade"]))
    assert "cannot connect to the database 'liefern' on 127.0.0.1" in line
    assert "start the database server" in line and "pw-not-shown" not in line


def test_db_upgrade_of_a_sqlite_path_that_cannot_be_made_names_the_path(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env.setenv("LIEFERN_DATABASE_URL", f"sqlite:///{blocker}/liefern.db")
    line = one_error_line(runner.invoke(app, ["db", "upgrade"]))
    assert f"cannot open the SQLite database {blocker}/liefern.db" in line
    assert "fix LIEFERN_DATABASE_URL" in line
    assert (
        "LIEFERN_DATABASE_URL"
        in json_error(runner.invoke(app, ["db", "upgrade", "--json"]))["hint"]
    )


def test_a_file_that_is_no_sqlite_database_names_the_file(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    junk = tmp_path / "orders.csv"
    junk.write_text("order_no;sku\n" * 200)
    env.setenv("LIEFERN_DATABASE_URL", f"sqlite:///{junk}")
    line = one_error_line(runner.invoke(app, ["orders", "show", "A-1"]))
    assert f"{junk} is not a SQLite database" in line and "move that file away" in line


def _accounts_file(tmp_path: Path, text: str) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "accounts.toml").write_text(text, encoding="utf-8")


def test_a_misspelt_choice_in_accounts_toml_stops_the_poll_with_one_line(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _accounts_file(tmp_path, '[accounts.ebay-main]\nportal = "ebay"\nconfirm_after = "mail_send"\n')
    line = one_error_line(runner.invoke(app, ["portals", "poll"]))
    assert "[accounts.ebay-main]: confirm_after = 'mail_send'" in line
    assert "accounts.toml" in json_error(runner.invoke(app, ["portals", "poll", "--json"]))["hint"]


def test_an_accounts_toml_that_is_no_toml_names_the_file_and_the_line(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _accounts_file(tmp_path, '[accounts.ebay-main]\nportal = "ebay"\nmail = suppress\n')
    line = one_error_line(runner.invoke(app, ["portals", "poll"]))
    assert "accounts.toml is not valid TOML" in line and "line 3" in line
    line = one_error_line(runner.invoke(app, ["close-day", "--carrier", "dhl"]))
    assert "accounts.toml is not valid TOML" in line
