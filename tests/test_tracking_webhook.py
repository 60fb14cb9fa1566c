"""POST /webhooks/tracking/{source}: signed, fresh, idempotent pushes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import func, select

from core.settings import Settings
from db.models import ParcelEvent
from db.session import session_scope
from tests.test_track_parcels import order_of, parcel, shipped
from tests.test_web_app import WebClient, web_settings
from web.app import create_app
from web.webhooks import signature

SECRET = "whsec-parcelhub-0123456789"
URL = "/webhooks/tracking/parcelhub"


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> WebClient:
    monkeypatch.setenv("LIEFERN_WEBHOOK_PARCELHUB_SECRET", SECRET)
    return WebClient(create_app(web_settings(settings)))


def push(client: WebClient, event: dict[str, object], *, secret: str = SECRET, age: int = 0):
    body = json.dumps(event).encode()
    stamp = str(int(time.time()) - age)
    headers = {
        "X-Liefern-Timestamp": stamp,
        "X-Liefern-Signature": signature(secret, stamp, body),
        "Content-Type": "application/json",
    }
    return client.post(URL, content=body, headers=headers)


def event(number: str, status: str = "delivered", event_id: str = "ev-1", **more: object):
    return {
        "event_id": event_id,
        "tracking_number": number,
        "status": status,
        "at": "2026-12-04T10:02:00+01:00",
        "code": "DLV",
        "text": "Zugestellt an Nachbarn",
        **more,
    }


def events(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count()).select_from(ParcelEvent)) or 0)


def test_a_signed_delivery_sets_the_order_arrived(settings, client):
    (number,) = shipped(settings.db_url, [1])[0]
    answer = push(client, event(number, expected_delivery="2026-12-04"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] is True
    row = parcel(settings.db_url, number)
    assert row.delivery_status == "delivered" and row.status_source == "webhook:parcelhub"
    assert row.delivered_at is not None and row.delivered_at.hour == 9  # 10:02 CET in UTC
    order = order_of(settings.db_url, number)
    assert order.status == "arrived" and order.arrived_source == "carrier:webhook:parcelhub"


def test_the_same_event_twice_is_stored_once(settings, client):
    (number,) = shipped(settings.db_url, [1])[0]
    assert push(client, event(number, "in_transit")).json()["stored"] is True
    again = push(client, event(number, "in_transit"))
    assert again.status_code == 200 and again.json() == {"stored": False, "duplicate": True}
    assert events(settings.db_url) == 1


def test_a_bad_signature_or_a_replay_is_refused_and_the_secret_never_logged(
    settings, client, caplog
):
    (number,) = shipped(settings.db_url, [1])[0]
    caplog.set_level(logging.DEBUG)
    assert push(client, event(number), secret="guessed").status_code == 401
    assert push(client, event(number), age=600).status_code == 401
    body = json.dumps(event(number)).encode()
    tampered = client.post(
        URL,
        content=body.replace(b"delivered", b"lost"),
        headers={
            "X-Liefern-Timestamp": str(int(time.time())),
            "X-Liefern-Signature": signature(SECRET, str(int(time.time())), body),
        },
    )
    assert tampered.status_code == 401
    assert events(settings.db_url) == 0
    assert parcel(settings.db_url, number).delivery_status is None
    assert SECRET not in caplog.text


def test_unknown_sources_numbers_and_bodies(settings, client):
    (number,) = shipped(settings.db_url, [1])[0]
    assert client.post("/webhooks/tracking/nobody", content=b"{}").status_code == 404
    assert push(client, event("NOPE123")).json() == {
        "stored": False,
        "reason": "unknown tracking number",
    }
    assert push(client, event(number, status="teleported")).status_code == 422
