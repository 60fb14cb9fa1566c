"""A tracking file that cannot be read: one clear message, an import marked failed, never a
traceback and never an import left `running`."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.settings import Settings
from core.tracking_csv import read_tracking_file
from core.tracking_rows import RowValidator
from db.models import TrackingImport
from db.queries.imports import create_import, import_summary
from db.session import session_scope
from simulators.samples import tracking_csv
from tests.helpers import numbers, seed_orders

TODAY = date(2026, 11, 26)
ROOT = Path(__file__).resolve().parents[1]
HEADER = b"order_no;carrier;tracking_number\n"


def imports(db_url: str) -> list[tuple[str, str | None]]:
    with session_scope(db_url) as session:
        rows = session.execute(
            select(TrackingImport.status, TrackingImport.error).order_by(TrackingImport.id)
        )
        return [(status, error) for status, error in rows]


def run_flow(**parameters: Any) -> Any:
    from flows.tracking_import import tracking_import

    return asyncio.run(tracking_import(**parameters, return_state=True))  # type: ignore[call-overload]


@pytest.mark.parametrize("where", ["order_ref", "tracking_number"])
def test_a_field_over_128_kib_is_read_whole_and_the_next_row_reads(where: str) -> None:
    number = numbers("dhl", 1)[0]
    big = "x" * 200_000
    line = f"AU1;dhl;{big}\n" if where == "tracking_number" else f"{big};dhl;{number}\n"
    # the blank line sends the file through the line-by-line reader (the csv module)
    data = HEADER + line.encode() + f"\nAU2;dhl;{number}\n".encode()
    table = read_tracking_file(data)
    assert [int(r) for r in table.frame["row"]] == [2, 4]
    assert table.frame[where].iloc[0] == big
    assert table.frame["order_ref"].iloc[1] == "AU2"


def test_a_tracking_number_over_128_kib_is_a_rejected_row() -> None:
    number = numbers("dhl", 1)[0]
    data = HEADER + b'AU1;dhl;"' + b"9" * 200_000 + f'"\n\nAU2;dhl;{number}\n'.encode()
    table = read_tracking_file(data)
    validator = RowValidator(headers=table.headers, default_carrier=None, today=TODAY)
    good, bad = validator.validate(table.frame)
    assert [g.order_ref for g in good] == ["AU2"]
    assert [(b.row, b.column) for b in bad] == [(2, "tracking_number")]


def test_a_header_over_128_kib_is_unreadable_with_a_message() -> None:
    from core.problems import UnreadableInput

    with pytest.raises(UnreadableInput, match="cannot find"):
        read_tracking_file(b"x" * 200_000 + b";y\nAU1;1\n")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_an_unreadable_file_fails_the_import_with_the_message_only(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"Datum;Betrag\n01.12.2026;12,50\n")
    with caplog.at_level(logging.INFO):
        state = run_flow(file=str(path), source="cli", file_name="t.csv")
    assert state.is_failed()
    assert "cannot find an order column" in state.message
    [(status, error)] = imports(settings.db_url)
    assert status == "failed" and error and "cannot find an order column" in error
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Encountered exception" not in caplog.text


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_an_import_whose_file_cannot_be_opened_ends_failed_not_running(
    settings: Settings, tmp_path: Path
) -> None:
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session,
            file_name="gone.csv",
            sha256="0" * 64,
            archive_path=str(tmp_path / "gone.csv"),
            file_format=None,
            carrier=None,
            source="upload",
            status="queued",
        )
    state = run_flow(file=str(tmp_path / "gone.csv"), source="upload", import_id=import_id)
    assert state.is_failed()
    [(status, error)] = imports(settings.db_url)
    assert status == "failed" and error and "gone.csv" in error


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_readable_file_still_completes_the_run_with_its_summary(
    settings: Settings, tmp_path: Path
) -> None:
    samples = seed_orders(settings.db_url, 2)
    path = tmp_path / "t.csv"
    path.write_bytes(tracking_csv(samples))
    state = run_flow(file=str(path), source="cli", file_name="t.csv")
    assert state.is_completed()
    with session_scope(settings.db_url) as session:
        summary = import_summary(session, import_id=1)
    assert summary is not None and summary["status"] == "done" and summary["imported"] == 2


def cli(*args: str, home: Path, db_url: str) -> subprocess.CompletedProcess[str]:
    """`liefern …` in a process of its own, on the test session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIEFERN_", "PREFECT_"))} | {
        "LIEFERN_HOME": str(home),
        "LIEFERN_DATABASE_URL": db_url,
        "LIEFERN_DEMO": "true",
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    "content",
    [b"Datum;Betrag\n01.12.2026;12,50\n", HEADER + b"\nAU1;dhl;" + b"9" * 200_000 + b"\n"],
    ids=["no_order_column", "field_over_128_kib"],
)
def test_the_cli_answers_a_bad_tracking_file_without_a_traceback(
    tmp_path: Path, content: bytes
) -> None:
    """A real process (SQLite is enough: the terminal output is the point)."""
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    db_url = f"sqlite:///{tmp_path / 'liefern.db'}"
    done = cli("tracking", "import", str(path), home=tmp_path / "home", db_url=db_url)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr and "Encountered exception" not in done.stderr
    if done.returncode == 2:
        assert done.stderr.strip().splitlines()[-1].startswith("error: cannot read")
    assert all(status != "running" for status, _ in imports(db_url))
