"""Fuzzing the three ways files come in, end to end: `liefern orders import`, `liefern
tracking import` and `POST /api/tracking-imports`, with the store behind them.

Whatever the file: the command exits 0, 1 or 2 (the endpoint answers 2xx or 4xx), no
traceback reaches the operator, every order is stored whole or not at all, and no import is
left `running` or `queued`. The files are sample files damaged the ways fuzzing and real
exports did: cells replaced, columns dropped, fields over 128 KiB, quantities beyond the
integer column, deep JSON, one portal order under two order numbers, line breaks in names.

Case counts: LIEFERN_FUZZ_EXAMPLES (tests/stress/fuzzing.py); the seed is fixed, so CI tries
the same files every time.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from typer.testing import CliRunner, Result

from cli.main import app
from core.settings import Settings
from core.textfile import detect_delimiter, detect_encoding, first_line
from db.models import ImportRejection, Order, OrderItem, Parcel, TrackingImport
from db.session import session_scope
from simulators.samples import generate_orders, orders_csv, orders_jsonl
from tests.stress.fuzzing import fuzz
from tests.test_fuzz_orders_file import csv_orders, jsonl_orders
from tests.test_fuzz_tracking_import import csv_file
from tests.test_web_uploads import client, upload
from web.imports import drain

__all__ = ["client"]

SEED = 20261204
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def fuzz_here(share: float) -> settings:
    """The project's fuzz settings; the store is shared by the cases of one test."""
    return settings(
        fuzz(share),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


# --- damaged order files ------------------------------------------------------------------


@st.composite
def hostile_orders(draw: st.DrawFn) -> tuple[str, bytes]:
    """A sample file with one of the damages fuzzing found, as CSV or JSON lines."""
    samples = list(generate_orders(draw(st.integers(2, 4)), seed=draw(st.integers(0, 999))))
    damage = draw(
        st.sampled_from(
            [
                "huge_field",
                "huge_quantity",
                "deep_json",
                "portal_id_twice",
                "order_no_twice",
                "line_break_in_name",
                "control_in_title",
            ]
        )
    )
    as_json = damage in ("deep_json", "order_no_twice") or draw(st.booleans())
    first = samples[0]
    if damage == "huge_field":
        first.order["buyer_name"] = "x" * draw(st.sampled_from([131_073, 200_000]))
    elif damage == "huge_quantity":
        first.items[0]["quantity"] = draw(st.sampled_from([2**63, 3_000_000_000, 2**31]))
    elif damage == "portal_id_twice":
        samples[1].order.update(
            {k: first.order[k] for k in ("portal", "portal_account", "portal_order_id")}
        )
    elif damage == "line_break_in_name":
        first.order["buyer_name"] += draw(st.sampled_from(["\r\nBcc: x@y.z", "\n", "\u2028"]))
    elif damage == "control_in_title":
        first.items[0]["title"] += draw(st.sampled_from(["\x00", "\x1b[2J", "\t\v"]))
    if not as_json:
        return "orders.csv", orders_csv(samples)
    data = orders_jsonl(samples)
    if damage == "deep_json":
        depth = draw(st.sampled_from([1_000, 100_000]))
        data = b"[" * depth + b"]" * depth + b"\n" + data
    elif damage == "order_no_twice":
        data += data.splitlines(keepends=True)[0]
    return "orders.jsonl", data


ORDER_FILES = st.one_of(
    hostile_orders(),
    csv_orders().map(lambda data: ("orders.csv", data)),
    jsonl_orders().map(lambda data: ("orders.jsonl", data)),
)


def items_per_order(name: str, data: bytes) -> Counter[str] | None:
    """How many items each order has in the file, read without the importer's code."""
    text = data.decode(detect_encoding(data), errors="replace")
    counts: Counter[str] = Counter()
    try:
        if name.endswith(".jsonl") or text.lstrip("\ufeff \t\r\n").startswith("{"):
            for line in re.split(r"\r\n|\r|\n", text):
                if line.strip():
                    obj = json.loads(line)
                    if isinstance(obj, dict) and isinstance(obj.get("items"), list):
                        counts[str(obj.get("order_no", "")).strip()] += len(obj["items"])
            return counts
        csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
        rows = csv.DictReader(
            io.StringIO(text, newline=""), delimiter=detect_delimiter(first_line(text))
        )
        for row in rows:
            counts[(row.get("order_no") or "").strip()] += 1
    except (ValueError, RecursionError, csv.Error):
        return None
    return counts


def stored_items(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as session:
        statement = (
            select(Order.order_no, func.count(OrderItem.id))
            .join(OrderItem, OrderItem.order_id == Order.id, isouter=True)
            .group_by(Order.order_no)
        )
        return {order_no: int(count) for order_no, count in session.execute(statement)}


def clear_orders(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.execute(delete(OrderItem))
        session.execute(delete(Order))


def answered_without_traceback(result: Result) -> None:
    assert result.exit_code in (0, 1, 2), result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@pytest.mark.slow
@seed(SEED)
@fuzz_here(0.4)
@given(file=ORDER_FILES)
def test_orders_import_answers_every_file_and_stores_orders_whole(
    settings: Settings, tmp_path: Path, file: tuple[str, bytes]
) -> None:
    name, data = file
    path = tmp_path / name
    path.write_bytes(data)
    clear_orders(settings.db_url)
    result = runner.invoke(app, ["orders", "import", str(path), "--json"])
    answered_without_traceback(result)
    stored = stored_items(settings.db_url)
    if result.exit_code == 2:
        assert stored == {} and json.loads(result.stdout)["error"]
        return
    summary = json.loads(result.stdout)
    assert summary["imported"] == len(stored)
    assert all(r["row"] >= 1 and r["code"] and r["message"] for r in summary["rejected"])
    expected = items_per_order(name, data)
    if expected is not None:  # an order of the file is stored with all its items or not at all
        assert {no: count for no, count in stored.items() if expected[no] != count} == {}


# (file, damage, orders of the three that are imported)
ORDERS_CASES = [
    ("orders.csv", "huge_field", 2),
    ("orders.jsonl", "deep_json", 3),
    ("orders.csv", "portal_id_twice", 1),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", ORDERS_CASES, ids=[c[1] for c in ORDERS_CASES])
def test_the_real_orders_command_prints_no_traceback(
    tmp_path: Path, case: tuple[str, str, int]
) -> None:
    """A real process: what the operator's terminal shows (SQLite is enough here)."""
    name, damage, imported = case
    samples = list(generate_orders(3, seed=5))
    if damage == "huge_field":
        samples[0].order["buyer_name"] = "x" * 200_000
    elif damage == "portal_id_twice":
        samples[1].order["portal_order_id"] = samples[0].order["portal_order_id"]
        samples[1].order["portal"] = samples[0].order["portal"]
        samples[1].order["portal_account"] = samples[0].order["portal_account"]
    data = orders_csv(samples) if name.endswith(".csv") else orders_jsonl(samples)
    if damage == "deep_json":
        data = b"[" * 100_000 + b"]" * 100_000 + b"\n" + data
    path = tmp_path / name
    path.write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIEFERN_")} | {
        "LIEFERN_HOME": str(tmp_path / "home"),
        "LIEFERN_DEMO": "true",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "orders", "import", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    assert f"{imported} imported" in done.stdout and "Traceback" not in done.stdout


# --- tracking files -------------------------------------------------------------------


@st.composite
def hostile_tracking(draw: st.DrawFn) -> bytes:
    """CSV-shaped tracking files, some with a field over 128 KiB or no header we know."""
    data, _ = draw(csv_file())
    damage = draw(st.sampled_from(["none", "none", "huge_field", "binary", "empty"]))
    if damage == "huge_field":
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + b"9" * 140_000 + data[cut:]
    elif damage == "binary":
        data = data[: draw(st.integers(0, len(data)))] + b"\x00\x01\xff"
    elif damage == "empty":
        data = b""
    return data


def open_imports(db_url: str) -> list[str]:
    with session_scope(db_url) as session:
        statement = select(TrackingImport.status).where(
            TrackingImport.status.in_(("running", "queued"))
        )
        return list(session.scalars(statement))


def clear_imports(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.execute(delete(ImportRejection))
        session.execute(delete(Parcel))
        session.execute(delete(TrackingImport))


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@seed(SEED)
@fuzz_here(0.075)  # a flow run costs a third of a second; the parser has its own fuzz test
@given(data=hostile_tracking(), carrier=st.sampled_from([None, "dhl"]))
def test_tracking_import_answers_every_file_and_leaves_no_import_running(
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    carrier: str | None,
) -> None:
    """The flow as `liefern tracking import` runs it (in this process: Prefect's console
    handler and typer's CliRunner do not mix; tests/test_tracking_import_failures.py runs
    the real command)."""
    from flows.tracking_import import tracking_import

    path = tmp_path / "tracking.csv"
    path.write_bytes(data)
    clear_imports(settings.db_url)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        state = asyncio.run(
            tracking_import(  # type: ignore[call-overload]
                file=str(path), carrier=carrier, source="cli", return_state=True
            )
        )
    assert state.is_completed() or (state.is_failed() and state.message), state
    assert "encountered an exception" not in (state.message or "")
    assert not [r.getMessage() for r in caplog.records if r.exc_info]
    assert open_imports(settings.db_url) == []


@pytest.mark.usefixtures("prefect_harness")
@seed(SEED)
@fuzz_here(0.2)
@given(data=hostile_tracking(), carrier=st.sampled_from(["", "dhl"]))
def test_the_upload_endpoint_answers_every_file_and_leaves_no_import_running(
    settings: Settings, client: object, data: bytes, carrier: str
) -> None:
    response = upload(client, data, **({"carrier": carrier} if carrier else {}))  # type: ignore[arg-type]
    assert 200 <= response.status_code < 500, response.text
    drain(timeout=120)
    assert open_imports(settings.db_url) == []
