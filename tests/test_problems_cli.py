"""`liefern problems [--json]` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from typer.testing import CliRunner

from cli.main import app
from db.types import utcnow
from flows.results import DelayMails, ProtocolCounts, TrackResult, Watchlist
from tests.watch_seed import Shipped, ship

runner = CliRunner()


def test_the_list_as_json_and_as_text(settings):
    now = utcnow()
    late, _fresh, lost = ship(
        settings.db_url,
        [
            Shipped(now - timedelta(hours=49)),
            Shipped(now - timedelta(hours=1)),
            Shipped(
                now - timedelta(days=4),
                {
                    "delivery_status": "lost",
                    "status_text": "Sendung verloren",
                    "last_event_at": now - timedelta(days=1),
                },
            ),
        ],
    )
    result = runner.invoke(app, ["problems", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["count"] == 2 and answer["thresholds"]["first_scan_hours"] == 48
    assert [(p["order_no"], p["problem"]) for p in answer["parcels"]] == [
        (lost, "exception"),
        (late, "no_first_scan"),
    ]
    text = runner.invoke(app, ["problems"])
    assert text.exit_code == 0
    assert text.stdout.startswith("2 parcels on the problems list")
    assert f"{late}" in text.stdout and "no first scan 48 h after the mail" in text.stdout
    assert "lost: Sendung verloren" in text.stdout


def test_an_empty_list_says_so(settings, monkeypatch):
    monkeypatch.setenv("LIEFERN_WATCH_FIRST_SCAN_HOURS", "72")
    from core.settings import reset_settings

    reset_settings()
    ship(settings.db_url, [Shipped(utcnow() - timedelta(hours=49))])
    result = runner.invoke(app, ["problems"])
    assert result.exit_code == 0 and "no parcel on the problems list" in result.stdout


def test_liefern_track_names_the_problems_and_the_delay_mails():
    from cli.track_cmd import format_tracking

    summary = TrackResult(
        sources=(),
        calls=0,
        parcels_asked=0,
        delivered=0,
        arrived=(),
        problems=(),
        errors=(),
        protocol=ProtocolCounts(orders=0, problems=0),
        watchlist=Watchlist(count=1, parcels=()),
        delay_mails=DelayMails(counts={"sent": 1}, sent=("AU100001",), problems=()),
    )
    text = format_tracking(summary)
    assert "problems list: 1 parcel needs a look (liefern problems)" in text
    assert "delay mail sent: AU100001" in text
    quiet = format_tracking(
        replace(
            summary,
            watchlist=Watchlist(count=0, parcels=()),
            delay_mails=DelayMails(counts={}, sent=(), problems=()),
        )
    )
    assert "problems list" not in quiet and "delay mail" not in quiet
