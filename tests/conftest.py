"""Test set-up: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from LIEFERN_TEST_POSTGRES_URL (default: the local server, trust auth); each
test session creates its own database there, so parallel runs never meet. Without a reachable
server the PostgreSQL variants skip with the reason, unless LIEFERN_REQUIRE_POSTGRES=1 (CI).

Fast set and slow set: `uv run pytest` runs the fast set (pyproject's addopts say
`-m "not slow"`), `uv run pytest -m slow` the rest; CI (.ci/run) runs both. A test is `slow`
when it takes more than ~2 s on its own, starts subprocesses or servers (Prefect server, CLI in
a child process, workers, SIGKILL runs), drives a browser, or works through big data. Mark it
with `@pytest.mark.slow`, or a whole module with `pytestmark = pytest.mark.slow`. Tests marked
`browser` or `prefect_server`, and everything under tests/stress, are slow without saying so
(SLOW_BY_NATURE below).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Prefect reads its settings at import: point it at a private home before anything imports it.
_PREFECT_HOME = tempfile.mkdtemp(prefix="liefern-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
os.environ["PREFECT_LOGGING_TO_API_BATCH_INTERVAL"] = "0.3"
os.environ.pop("PREFECT_API_URL", None)
# switches of the test run itself, not settings: keep them
_RUN_KNOBS = ("LIEFERN_REQUIRE_POSTGRES", "LIEFERN_STRESS_SCALE", "LIEFERN_FUZZ_EXAMPLES")
for _name in list(os.environ):
    if (
        _name.startswith("LIEFERN_")
        and not _name.startswith("LIEFERN_TEST_")
        and _name not in _RUN_KNOBS
    ):
        del os.environ[_name]

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from core.settings import Settings, reset_settings  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import dispose_engines, get_engine  # noqa: E402
from simulators.smtp import FaultySmtpServer  # noqa: E402
from simulators.stack import PortalStack  # noqa: E402

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
POSTGRES_URL = os.environ.get(
    "LIEFERN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("LIEFERN_REQUIRE_POSTGRES") == "1"


# markers that always mean slow, and the folder of the stress suites
SLOW_BY_NATURE = ("browser", "prefect_server")
STRESS_DIR = Path(__file__).resolve().parent / "stress"


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_stress = STRESS_DIR in item.path.parents
        if in_stress or any(item.get_closest_marker(name) for name in SLOW_BY_NATURE):
            item.add_marker(pytest.mark.slow)
        # pytest-xdist (`--dist loadgroup`): the Prefect test server takes ~15 s of CPU to
        # start, so the tests that need it share one worker instead of each worker starting one
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("prefect_harness"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "liefern.db"
    upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    name = f"liefern_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error.orig}")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_EMPTYING: dict[str, str] = {}


def _emptying_statement(connection: sa.Connection) -> str:
    """DELETE from every table, children first, and restart every sequence: one round trip.

    Not TRUNCATE: PostgreSQL gives each truncated table, index and sequence a new file, which
    took 0.25-0.5 s per test on a loaded CI machine; deleting the few rows a test leaves takes
    under 10 ms and leaves the same empty tables and fresh identities."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    tables = [t for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"]
    sequences = connection.execute(
        sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
    ).scalars()
    quote = connection.dialect.identifier_preparer.quote
    deletes = [str(table.delete().compile(connection)) for table in tables]
    restarts = [f"ALTER SEQUENCE {quote(name)} RESTART" for name in sequences]
    return "; ".join(deletes + restarts)


def _truncate(url: str) -> None:
    """Empty the PostgreSQL test database between tests (the schema stays)."""
    engine = get_engine(url)
    with engine.begin() as connection:
        statement = _EMPTYING.get(url)
        if statement is None:
            statement = _EMPTYING[url] = _emptying_statement(connection)
        connection.exec_driver_sql(statement)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL test db."""
    if request.param == "sqlite":
        path = tmp_path / "liefern.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate(url)
    yield url
    if request.param == "sqlite":
        get_engine(url).dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at the test database and a private LIEFERN_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LIEFERN_HOME", str(home))
    monkeypatch.setenv("LIEFERN_DATABASE_URL", db_url)
    monkeypatch.setenv("LIEFERN_DEMO", "true")
    monkeypatch.setenv("LIEFERN_SECRET_KEY", "test-secret-key-0123456789abcdef")
    # tests send several Amazon feeds in a row; tests/test_amazon_feed_interval.py sets it
    monkeypatch.setenv("LIEFERN_AMAZON_FEED_INTERVAL_MINUTES", "0")
    reset_settings()
    from core.settings import get_settings

    yield get_settings()
    reset_settings()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes ~15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def specs() -> Path:
    if not SPECS.is_dir():
        pytest.skip(f"official specs not present at {SPECS}")
    return SPECS


@pytest.fixture
def smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultySmtpServer]:
    """A real SMTP server (aiosmtpd) that captures, or refuses chosen buyers; a test module may
    define its own `smtp` with other settings."""
    with FaultySmtpServer() as server:
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
        monkeypatch.setenv("LIEFERN_SMTP_TIMEOUT_SECONDS", "3")
        reset_settings()
        yield server


@pytest.fixture
def portals(settings: Settings) -> Iterator[PortalStack]:
    """Every portal simulator on loopback, Amazon processing feeds in 0.2 s."""
    with PortalStack(amazon_processing_seconds=0.2) as stack:
        yield stack
