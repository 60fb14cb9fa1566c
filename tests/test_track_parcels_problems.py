"""The track-parcels flow ends with the problems list (SQLite and PostgreSQL): the
`parcel-problems` artifact, the count in its log and summary, and the delay mails."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.settings import reset_settings
from db.models import Order, ShippingMail
from db.session import session_scope
from db.types import utcnow
from simulators import dhl_tracking
from tests.test_track_parcels import dhl  # noqa: F401 - the DHL tracking simulator fixture
from tests.watch_seed import Shipped, ship


async def problems_artifact() -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        (artifact,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["parcel-problems"])),
            limit=1,
            sort="CREATED_DESC",
        )
    return artifact


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_run_publishes_the_problems_and_sends_the_delay_mail_once(settings, dhl, smtp):  # noqa: F811
    from flows.track_parcels import track_parcels

    url, _sim = dhl
    mailed = utcnow() - timedelta(hours=50)
    late, fresh = ship(
        settings.db_url,
        [Shipped(mailed, order={"portal": "ebay"}), Shipped(utcnow(), order={"portal": "ebay"})],
    )
    settings.accounts_path.write_text(
        f'[tracking.main]\nsource = "dhl_tracking"\ndaily_quota = 5\nsimulator = true\n'
        f'base_url = "{url}{dhl_tracking.TRACKING_PATH}"\n'
        "[portals.ebay]\ndelay_mail = true\n",
        encoding="utf-8",
    )
    reset_settings()

    summary = asyncio.run(track_parcels())  # DHL does not know the numbers: no scan

    assert summary.watchlist.count == 1
    [line] = summary.watchlist.parcels
    assert (line.order_no, line.problem) == (late, "no_first_scan")
    artifact = asyncio.run(problems_artifact())
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert table["order_no"] == [late] and table["problem"] == ["no_first_scan"]
    assert summary.delay_mails.sent == (late,) and len(smtp.messages) == 1

    again = asyncio.run(track_parcels())
    assert again.delay_mails.sent == () and len(smtp.messages) == 1
    with session_scope(settings.db_url) as session:
        told = session.scalars(
            select(Order.order_no)
            .join(ShippingMail, ShippingMail.order_id == Order.id)
            .where(ShippingMail.kind == "delay")
        ).all()
    assert told == [late] and fresh not in told
