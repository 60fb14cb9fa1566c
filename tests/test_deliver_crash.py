"""Kill a mail run with SIGKILL mid-batch, run again: every order mailed, repeats accounted for.

And a deliver run killed while it confirms leaves nothing behind that still calls a portal.

Documented rule: a mail the server took but whose outcome was not yet committed when the
process died is sent again with the same Message-ID. Those are the only repeats allowed, and
there are at most as many as the run had SMTP connections: a connection's next mail starts only
once the previous one's outcome is committed.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.crashpoints import ENV_VARIABLE
from core.settings import Settings, reset_settings
from db.models import ShippingMail
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, deliver, shop_orders

pytestmark = pytest.mark.slow  # each test runs a child process and kills it with SIGKILL

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 2
ORDERS = 50
SCRIPT = """
import asyncio, sys
from db.queries.mails import orders_to_mail
from db.session import session_scope
from tasks.mails import send_shipping_mails
from core.settings import get_settings
url = get_settings().db_url
with session_scope(url) as session:
    ids = orders_to_mail(session, carriers=["dpd"])
asyncio.run(send_shipping_mails(url, order_ids=ids, carrier="dpd"))
"""


@pytest.fixture
def slow_smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as server:
        monkeypatch.setenv("LIEFERN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("LIEFERN_SMTP_CONNECTIONS", str(CONNECTIONS))
        monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
        reset_settings()
        yield server


def sent_in_ledger(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count()).where(ShippingMail.status == "sent")) or 0)


def dpd_orders(db_url: str) -> None:
    orders = shop_orders(db_url, ORDERS)
    for order_no, number in zip(orders, numbers("dpd", ORDERS), strict=True):
        add_parcel(db_url, order_no, "dpd", number)


def rerun_and_count_repeats(db_url: str, server: FaultySmtpServer) -> int:
    """The next run after the kill; every order mailed once, plus the repeats it returns."""
    server.clear_faults()
    deliver(db_url, "dpd")
    ids = Counter(
        email.message_from_bytes(data, policy=default)["Message-ID"]
        for _, _, data in server.messages
    )
    assert len(ids) == ORDERS
    assert sent_in_ledger(db_url) == ORDERS
    assert all(count <= 2 for count in ids.values())
    return sum(ids.values()) - len(ids)


@pytest.mark.parametrize("kill_after", [5, 23, 41])
def test_killed_run_repeats_at_most_one_mail_per_connection(
    db_url: str, slow_smtp: FaultySmtpServer, kill_after: int
) -> None:
    dpd_orders(db_url)
    slow_smtp.delay_next(1000, 0.02, stage="data")
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(slow_smtp.messages) < kill_after:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    in_flight = len(slow_smtp.messages) - sent_in_ledger(db_url)  # held, outcome not committed
    assert sent_in_ledger(db_url) < ORDERS
    assert in_flight <= CONNECTIONS

    assert rerun_and_count_repeats(db_url, slow_smtp) == in_flight
    print(f"\nkilled after {kill_after} messages: {in_flight} in flight, sent again")


MAIL_CRASH_POINTS = (
    "mails.prepared:1",
    "mails.before_attempted:9",
    "mails.attempted:9",
    "mails.result:9",
    "mails.flush:9",
    "mails.flushed:9",
    "mails.sent_all:1",
)


@pytest.mark.parametrize("point", MAIL_CRASH_POINTS)
def test_killed_at_a_mail_crash_point_repeats_at_most_one_mail_per_connection(
    db_url: str, slow_smtp: FaultySmtpServer, point: str
) -> None:
    dpd_orders(db_url)
    slow_smtp.delay_next(1000, 0.005, stage="data")
    env = {**os.environ, ENV_VARIABLE: point}
    process = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, timeout=120)
    assert process.returncode == -signal.SIGKILL, f"{point} was never reached"
    in_flight = len(slow_smtp.messages) - sent_in_ledger(db_url)
    assert in_flight <= CONNECTIONS

    assert rerun_and_count_repeats(db_url, slow_smtp) == in_flight
    print(f"\nkilled at {point}: {in_flight} in flight, sent again")


DELIVER_SCRIPT = """
import asyncio
from flows.deliver import deliver
asyncio.run(deliver(carriers=["dhl"]))
"""


def _descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not reaped it yet


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_a_deliver_run_killed_while_confirming_leaves_nothing_that_calls_a_portal(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    from simulators import ebay
    from tests.test_confirmation_gate import configure, shipped_orders

    shipped_orders(db_url, "ebay", 6)
    configure(portals, settings, monkeypatch)
    sim = ebay.simulator(portals.apps["ebay"])
    sim.slow_next(1000, 0.4)  # one call after the other (batches of one), each answered late
    env = {
        **os.environ,
        "LIEFERN_CONFIRM_BATCH_SIZE": "1",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    run = subprocess.Popen([sys.executable, "-c", DELIVER_SCRIPT], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not [c for c in sim.calls if c.method == "POST"]:
            assert run.poll() is None, "the run ended before it called eBay"
            assert time.monotonic() < deadline, "the run never called eBay"
            time.sleep(0.01)
        below = _descendants(run.pid)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    told = len(sim.calls)
    assert told < 6  # killed mid-pass: a pass left running would call on for 2 s

    time.sleep(2.0)

    assert len(sim.calls) == told
    assert not [pid for pid in below if _alive(pid)]
