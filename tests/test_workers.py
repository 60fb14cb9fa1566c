"""Scale-out, for real: a Prefect server, the deployments of prefect.yaml, two process workers
sharing one work pool, the liefern database on PostgreSQL. Runs of one carrier never overlap,
and no mail or confirmation is done twice. Also: no configured secret in logs or artifacts."""

from __future__ import annotations

import asyncio
import email
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from cli.local_stack import LocalPrefect
from core.settings import Settings, get_settings, reset_settings
from db.models import Confirmation, ShippingMail
from db.session import session_scope
from simulators.server import free_port
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack, portal_orders_from_store
from tests.helpers import numbers, seed_orders

pytestmark = pytest.mark.slow  # a Prefect server and two process workers

SMTP_PASSWORD = "smtp-Pa55word-never-logged"
SECRET_KEY = "link-secret-key-never-logged-0123456789"


@pytest.fixture
def pg_settings(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    from tests.conftest import _truncate

    _truncate(postgres_database)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LIEFERN_HOME", str(home))
    monkeypatch.setenv("LIEFERN_DATABASE_URL", postgres_database)
    monkeypatch.setenv("LIEFERN_SECRET_KEY", SECRET_KEY)
    # six runs seconds apart each send an Amazon feed: with Amazon's 20-minute interval all
    # but the first would wait (as tests/conftest.py `settings` does it)
    monkeypatch.setenv("LIEFERN_AMAZON_FEED_INTERVAL_MINUTES", "0")
    reset_settings()
    yield get_settings()
    reset_settings()


def add_parcels(db_url: str, count: int) -> list[str]:
    from core.carriers.numbers import normalise_tracking_number
    from core.tracking_rows import ParcelRow
    from db.types import utcnow
    from tasks.parcels import attach_parcels

    samples = seed_orders(db_url, count, seed=21)
    dhl, dpd = numbers("dhl", count, seed=4), numbers("dpd", count, seed=4)
    with session_scope(db_url) as session:
        rows = [
            ParcelRow(
                i,
                s.order["order_no"],
                carrier,
                normalise_tracking_number(carrier, (dhl if carrier == "dhl" else dpd)[i]),
                utcnow().date(),
            )
            for i, s in enumerate(samples)
            for carrier in (["dhl"] if i % 2 else ["dpd"])
        ]
        attach_parcels(session, rows=rows, source="test")
    return [s.order["order_no"] for s in samples]


async def start_runs(api_url: str) -> list[str]:
    from prefect.deployments import run_deployment

    ids = []
    for name in ["deliver/deliver-dhl", "deliver/deliver-dpd"] * 3:
        run = await run_deployment(name, timeout=0)
        ids.append(str(run.id))
    return ids


async def wait_for(api_url: str, ids: list[str], timeout: float) -> list[object]:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            runs = [await client.read_flow_run(i) for i in ids]  # type: ignore[arg-type]
            if all(r.state and r.state.is_final() for r in runs):
                return runs
            assert time.monotonic() < deadline, [r.state for r in runs]
            await asyncio.sleep(1)


async def logs_and_artifacts(ids: list[str]) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
    return "\n".join(
        [
            *(log.message for log in logs),
            *(str(a.data) for a in artifacts),
            *(str(r.parameters) for r in runs),
        ]
    )


def test_two_workers_share_one_pool_without_overlap_or_duplicates(
    pg_settings: Settings, tmp_path: Path
) -> None:
    db_url = pg_settings.db_url
    order_nos = add_parcels(db_url, 30)
    prefect = LocalPrefect(pg_settings, port=free_port(), log_dir=tmp_path / "logs")
    with FaultySmtpServer(auth=("shop", SMTP_PASSWORD)) as smtp, PortalStack() as portals:
        portals.seed(portal_orders_from_store(db_url))
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(portals.accounts_toml())
        worker_env = {
            **portals.environment(),
            "LIEFERN_ACCOUNTS_FILE": str(accounts),
            "LIEFERN_SMTP_URL": f"smtp://shop:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        try:
            prefect.start_server()
            prefect.deploy(["deliver-dhl", "deliver-dpd"])
            prefect.start_worker("worker-a", limit=1, **worker_env)
            prefect.start_worker("worker-b", limit=1, **worker_env)
            # this server, even when another test's temporary Prefect server is active
            with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
                ids = asyncio.run(start_runs(prefect.api_url))
                runs = asyncio.run(wait_for(prefect.api_url, ids, timeout=400))
                text = asyncio.run(logs_and_artifacts(ids))
        finally:
            prefect.stop()

    assert all(r.state.is_completed() for r in runs), [r.state for r in runs]  # type: ignore[attr-defined]
    for carrier in ("dhl", "dpd"):
        spans = sorted(
            (r.start_time, r.end_time)
            for r in runs  # type: ignore[attr-defined]
            if f"carrier:{carrier}" in r.tags
        )  # type: ignore[attr-defined]
        assert len(spans) == 3
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"{carrier} runs overlapped"
    served = {
        name: (tmp_path / "logs" / f"{name}.log").read_text() for name in ("worker-a", "worker-b")
    }
    assert all(
        "submitting flow run" in log.lower() or "Submitting flow run" in log
        for log in served.values()
    ), "both workers ran flow runs"

    message_ids = Counter(
        email.message_from_bytes(data, policy=default)["Message-ID"] for _, _, data in smtp.messages
    )
    with session_scope(db_url) as session:
        mails = list(session.scalars(select(ShippingMail)))
        confirmations = list(session.scalars(select(Confirmation)))
    sent = [m for m in mails if m.status == "sent"]
    assert len(mails) == len(order_nos)
    assert sorted(message_ids) == sorted(m.message_id for m in sent)
    assert max(message_ids.values()) == 1
    # Amazon's feeds wait for the polling deployment; every other portal answered at once
    assert {c.status for c in confirmations if c.portal != "amazon"} <= {"confirmed", "skipped"}
    assert {c.status for c in confirmations if c.portal == "amazon"} <= {"submitted", "skipped"}
    assert len({(c.order_id, c.parcel_id) for c in confirmations}) == len(confirmations)
    for secret in (SMTP_PASSWORD, SECRET_KEY, *portals.environment().values()):
        assert secret not in text
        for log in served.values():
            assert secret not in log
