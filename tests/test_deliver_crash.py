"""Kill a mail run with SIGKILL mid-batch, run again: every order mailed, repeats accounted for.

Documented rule: a mail the server took but whose outcome was not yet committed when the
process died is sent again with the same Message-ID. Those are the only repeats allowed.
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

from core.settings import Settings, reset_settings
from db.models import ShippingMail
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from tests.helpers import numbers
from tests.test_deliver_mails import add_parcel, deliver, shop_orders

ROOT = Path(__file__).resolve().parents[1]
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
        monkeypatch.setenv("LIEFERN_SMTP_CONNECTIONS", "2")
        monkeypatch.setenv("LIEFERN_SMTP_BACKOFF_SECONDS", "0.01")
        reset_settings()
        yield server


def sent_in_ledger(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count()).where(ShippingMail.status == "sent")) or 0)


@pytest.mark.parametrize("kill_after", [5, 23, 41])
def test_killed_run_then_rerun_mails_every_order_once_plus_unrecorded(
    db_url: str, slow_smtp: FaultySmtpServer, kill_after: int
) -> None:
    orders = shop_orders(db_url, 50)
    for order_no, number in zip(orders, numbers("dpd", 50), strict=True):
        add_parcel(db_url, order_no, "dpd", number)
    slow_smtp.delay_next(1000, 0.02, stage="data")
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(slow_smtp.messages) < kill_after:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    received_before = len(slow_smtp.messages)
    recorded_before = sent_in_ledger(db_url)
    assert recorded_before < 50

    slow_smtp.clear_faults()
    deliver(db_url, "dpd")

    ids = Counter(
        email.message_from_bytes(data, policy=default)["Message-ID"]
        for _, _, data in slow_smtp.messages
    )
    repeats = sum(ids.values()) - len(ids)
    assert len(ids) == 50
    assert sent_in_ledger(db_url) == 50
    assert repeats <= received_before - recorded_before
    assert all(count <= 2 for count in ids.values())
