"""The run guard under time and death: a heartbeat holds locks and order claims for as long as
the work runs, a holder killed with SIGKILL frees them at once, a refusal is one line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings, reset_settings
from db.queries.mails import orders_to_mail
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from tasks.guard import RunOverlap, run_guard, waiting_run_guard
from tasks.mails import send_shipping_mails
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, shop_orders
from tests.test_run_claims import dhl_and_dpd_orders, ledger_statuses, mails_per_order

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT = 0.25  # seconds; an owner silent for 4 of them (1 s) is dead
HOLDER = """
import sys, time
from tasks.guard import run_guard
with run_guard(sys.argv[1], [sys.argv[2]]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def short_heartbeat(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LIEFERN_LOCK_HEARTBEAT_SECONDS", str(HEARTBEAT))
    reset_settings()
    return settings


@pytest.fixture
def slow_smtp(
    short_heartbeat: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultySmtpServer]:
    """A relay that takes 0.25 s per mail on one connection (the 0.67 mails/s relay, faster)."""
    with FaultySmtpServer() as server:
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("LIEFERN_SMTP_CONNECTIONS", "1")
        monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
        reset_settings()
        yield server


def carrier_run(db_url: str, carrier: str) -> Counter[str]:
    """A deliver run of one carrier: its lock, then one batch of its orders."""
    with run_guard(db_url, [f"deliver:{carrier}"]):
        with session_scope(db_url) as session:
            ids = orders_to_mail(session, carriers=[carrier])
        return asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier=carrier)).counts


@pytest.mark.slow
def test_a_batch_longer_than_the_grace_keeps_its_lock_and_its_orders(
    db_url: str, slow_smtp: FaultySmtpServer
) -> None:
    order_nos = dhl_and_dpd_orders(db_url, 12)
    slow_smtp.delay_next(12, 0.25, stage="data")  # the batch takes about 3 s
    first: dict[str, Counter[str]] = {}
    running = threading.Thread(target=lambda: first.update(dpd=carrier_run(db_url, "dpd")))
    running.start()
    time.sleep(1.8)  # 7 heartbeats, nearly twice the grace, and the batch is still sending
    assert 0 < len(slow_smtp.messages) < 12

    with pytest.raises(RunOverlap, match="deliver:dpd is held by"):
        carrier_run(db_url, "dpd")
    other_carrier = carrier_run(db_url, "dhl")
    running.join(timeout=30)

    assert other_carrier["sent"] == 0 and first["dpd"]["sent"] == 12
    assert mails_per_order(slow_smtp) == Counter(dict.fromkeys(order_nos, 1))
    assert ledger_statuses(db_url) == {"sent": 12}


def test_a_confirmation_lock_outlives_the_grace_while_its_work_runs(
    db_url: str, short_heartbeat: Settings
) -> None:
    async def slow_confirmation() -> None:
        async with waiting_run_guard(db_url, ["confirm:amazon"], wait_seconds=0):
            await asyncio.sleep(2.0)  # twice the grace
            with (
                pytest.raises(RunOverlap, match="confirm:amazon"),
                run_guard(db_url, ["confirm:amazon"]),
            ):
                pass

    asyncio.run(slow_confirmation())


@pytest.fixture
def killed_holder(settings: Settings) -> Iterator[subprocess.Popen[str]]:
    """A process holding deliver:ups (default heartbeat: it would live 60 s after its last)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, settings.db_url, "deliver:ups"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_holder_killed_with_sigkill_frees_its_lock_at_once(
    db_url: str, killed_holder: subprocess.Popen[str]
) -> None:
    with (
        pytest.raises(RunOverlap, match=f"pid {killed_holder.pid}"),
        run_guard(db_url, ["deliver:ups"]),
    ):
        pass
    killed_holder.send_signal(signal.SIGKILL)
    killed_holder.wait()

    started = time.monotonic()
    with run_guard(db_url, ["deliver:ups"]) as guard:
        assert guard.names == ["deliver:ups"]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_refused_deliver_answers_with_one_line_and_exit_2(
    db_url: str, settings: Settings, as_json: bool
) -> None:
    [order_no] = shop_orders(db_url, 1)
    add_parcel(db_url, order_no, "dpd", numbers("dpd", 1)[0])

    with run_guard(db_url, ["deliver:dpd"]):
        result = CliRunner().invoke(
            app, ["deliver", "--carrier", "dpd"] + (["--json"] if as_json else [])
        )

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    where = f"on host {socket.gethostname()}, pid {os.getpid()}"
    if as_json:
        answer = json.loads(result.stdout)
        assert set(answer) == {"error", "hint"}
        assert answer["error"].startswith("deliver:dpd is held by another run " + where)
        assert "wait for it" in answer["hint"] and f"ps -p {os.getpid()}" in answer["hint"]
    else:
        [line] = result.output.strip().splitlines()
        assert line.startswith(f"error: deliver:dpd is held by another run {where}, since ")
        assert "wait for it and run again" in line


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_deliver_flow_run_ends_failed_with_the_one_line(
    db_url: str, settings: Settings
) -> None:
    from flows.deliver import deliver

    [order_no] = shop_orders(db_url, 1)
    add_parcel(db_url, order_no, "dpd", numbers("dpd", 1)[0])

    with run_guard(db_url, ["deliver:dpd"]):  # taken after the command's own check, say
        state = asyncio.run(deliver(carriers=["dpd"], return_state=True))

    assert state.is_failed()
    assert state.message is not None and "\n" not in state.message
    assert state.message.startswith("deliver:dpd is held by another run on host ")
    with pytest.raises(RunOverlap):
        state.result()
