"""The operator's buttons and uploads keep the event loop free: their database work runs in a
worker thread, so one slow statement never holds up the other requests of the web process.

Each statement is recorded with the thread that ran it (a SQLAlchemy event on the real
engine); the app's event loop thread is the one that receives the requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import lxml.html
import pytest
from sqlalchemy import event

from core.settings import Settings, get_settings
from db.models import Order
from db.session import get_engine
from simulators.smtp import FaultySmtpServer
from tests.test_order_actions import ebay_order
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_order_actions import action_form
from web.app import create_app

__all__ = ["ebay_order"]  # the shared fixture


class Threads:
    """The threads that ran the app's event loop and those that ran SQL statements."""

    def __init__(self) -> None:
        self.loop: set[int] = set()
        self.statements: list[tuple[int, str]] = []

    def on_loop(self) -> list[str]:
        return [sql for thread, sql in self.statements if thread in self.loop]


@pytest.fixture
def threads(db_url: str) -> Iterator[Threads]:
    seen = Threads()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.statements.append((threading.get_ident(), statement.split("\n", 1)[0][:80]))

    engine = get_engine(db_url)
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def recording_client(threads: Threads) -> WebClient:
    app = create_app(web_settings(get_settings()))

    async def entry(scope: Any, receive: Any, send: Any) -> None:
        threads.loop.add(threading.get_ident())
        await app(scope, receive, send)

    client = WebClient(app)
    client.app = entry  # type: ignore[assignment]
    return client


def test_an_action_button_runs_its_database_work_off_the_event_loop(
    smtp: FaultySmtpServer, ebay_order: Order, threads: Threads
) -> None:
    client = recording_client(threads)
    fields = action_form(client, ebay_order.order_no, "action-deliver")
    threads.statements.clear()

    answer = client.post(f"/orders/{ebay_order.order_no}/actions", data=fields, auth=OPERATOR)

    assert answer.status_code == 303
    assert len(smtp.messages) == 1
    assert threads.statements, "the action ran no statement at all"
    assert threads.on_loop() == []


def test_a_bulk_action_runs_its_database_work_off_the_event_loop(
    smtp: FaultySmtpServer, ebay_order: Order, threads: Threads
) -> None:
    client = recording_client(threads)
    page = lxml.html.fromstring(client.get("/orders", auth=OPERATOR).text)
    [nonce] = page.xpath('//form[@id="bulk-actions"]/input[@name="nonce"]/@value')
    threads.statements.clear()

    fields = {"nonce": nonce, "action": "arrived", "order": ebay_order.order_no}
    answer = client.post("/orders/bulk", data=fields, auth=OPERATOR)

    assert answer.status_code == 303
    assert "done=1" in answer.headers["location"]
    assert threads.statements and threads.on_loop() == []


def test_a_refused_upload_renders_the_imports_page_off_the_event_loop(
    settings: Settings, threads: Threads
) -> None:
    client = recording_client(threads)
    page = lxml.html.fromstring(client.get("/imports", auth=OPERATOR).text)
    [nonce] = page.xpath('//form[@id="upload"]/input[@name="nonce"]/@value')
    threads.statements.clear()

    answer = client.post(
        "/imports/upload",
        data={"nonce": nonce},
        files={"file": ("README.md", b"# not a tracking file\n", "text/plain")},
        auth=OPERATOR,
    )

    assert answer.status_code == 422
    assert threads.statements and threads.on_loop() == []
