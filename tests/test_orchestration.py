"""Run guard, run labels and deployments: what keeps runs apart and makes them findable."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from db.queries.locks import holders, release, try_acquire
from db.session import session_scope
from tasks.guard import RunOverlap, run_guard

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_holder_is_refused_until_release(db_url: str) -> None:
    with session_scope(db_url) as session:
        assert try_acquire(session, name="deliver:dhl", owner="a", ttl=timedelta(minutes=5)) is None
    with session_scope(db_url) as session:
        refused = try_acquire(session, name="deliver:dhl", owner="b", ttl=timedelta(minutes=5))
    assert refused is not None and refused.owner == "a"
    with session_scope(db_url) as session:
        release(session, names=["deliver:dhl"], owner="a")
    with session_scope(db_url) as session:
        assert try_acquire(session, name="deliver:dhl", owner="b", ttl=timedelta(minutes=5)) is None


def test_an_expired_lock_of_a_dead_run_is_taken_over(db_url: str) -> None:
    with session_scope(db_url) as session:
        try_acquire(session, name="deliver:ups", owner="dead", ttl=timedelta(seconds=-1))
    with session_scope(db_url) as session:
        assert (
            try_acquire(session, name="deliver:ups", owner="new", ttl=timedelta(minutes=5)) is None
        )
        assert [h.owner for h in holders(session)] == ["new"]


def test_guard_names_the_holder_and_releases_on_exit(db_url: str) -> None:
    with run_guard(db_url, ["deliver:dpd"]):
        with session_scope(db_url) as session:
            try_acquire(session, name="deliver:gls", owner="other", ttl=timedelta(minutes=5))
        with pytest.raises(RunOverlap, match="deliver:gls"), run_guard(db_url, ["deliver:gls"]):
            pass
    with session_scope(db_url) as session:
        assert [h.name for h in holders(session)] == ["deliver:gls"]


def test_prefect_yaml_has_a_deliver_deployment_per_carrier_limited_to_one_run() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    for carrier in ("dhl", "dpd", "ups", "gls", "hermes", "deutsche-post"):
        deliver = deployments[f"deliver-{carrier}"]
        assert deliver["concurrency_limit"] == 1
        assert deliver["schedules"][0]["timezone"] == "Europe/Berlin"
        assert deliver["tags"] == [f"carrier:{carrier.replace('-', '_')}"]
        assert deliver["parameters"]["carriers"] == [carrier.replace("-", "_")]
    assert deployments["poll-portals"]["schedules"][0]["interval"] == 300
    assert deployments["close-day-dhl"]["schedules"][0]["cron"] == "30 18 * * 1-6"
    assert "tracking-import-upload" in deployments
    text = (ROOT / "prefect.yaml").read_text().lower()
    assert "password" not in text and "secret:" not in text and "token:" not in text
    for d in deployments.values():
        assert (ROOT / d["entrypoint"].split(":")[0]).is_file(), d["entrypoint"]


@pytest.mark.usefixtures("prefect_harness")
def test_deliver_run_is_named_and_tagged_by_carrier_and_trigger(settings: Settings) -> None:
    from prefect.client.orchestration import get_client

    from flows.deliver import deliver

    state = asyncio.run(deliver(carriers=["hermes"], dry_run=True, return_state=True))

    async def find() -> object:
        async with get_client() as client:
            return await client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]

    run = asyncio.run(find())
    assert run.name == "deliver-hermes-dry-run"  # type: ignore[attr-defined]
    assert {"carrier:hermes", "trigger:cli"} <= set(run.tags)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("outside", "expected"), [(None, "2"), ("8", "8")])
def test_workers_cap_malloc_arenas_unless_the_operator_chose(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outside: str | None,
    expected: str,
) -> None:
    from cli import local_stack

    started: list[dict[str, str]] = []

    class Recorded:
        pid = 0

        def __init__(self, args: list[str], **options: object) -> None:
            started.append(options["env"])  # type: ignore[arg-type]

    if outside is None:
        monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    else:
        monkeypatch.setenv("MALLOC_ARENA_MAX", outside)
    monkeypatch.setattr(local_stack.subprocess, "Popen", Recorded)
    stack = local_stack.LocalPrefect(settings, log_dir=tmp_path)
    stack.start_worker("w1")
    assert started[0]["MALLOC_ARENA_MAX"] == expected
