"""`liefern serve` stopped with a run in flight, and started again: no run stays Running for
ever, and the deployment's concurrency slot is free for the next run.

Slow (a real Prefect server, started three times): one deployment, three short runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from cli.local_stack import PROJECT_DIR, WORK_POOL, LocalPrefect, descendants
from core.settings import Settings, get_settings, reset_settings
from simulators.server import free_port

pytestmark = pytest.mark.prefect_server

HOLD_DEPLOYMENT = f"""
name: liefern-test
prefect-version: 3.9.1
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{PROJECT_DIR}"
deployments:
  - name: hold
    entrypoint: tests/prefect_hold.py:hold
    concurrency_limit: 1
    work_pool: {{name: {WORK_POOL}, work_queue_name: default}}
"""


@pytest.fixture
def home_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("LIEFERN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIEFERN_SECRET_KEY", "a-real-secret-key-for-tests-0123456789")
    reset_settings()
    yield get_settings()
    reset_settings()


def start(stack: LocalPrefect, yaml: Path | None = None) -> list[str]:
    stack.start_server()
    crashed = stack.crash_stale_runs()
    if yaml:
        stack.deploy(["hold"], prefect_file=yaml)
    stack.start_worker("liefern-worker", PREFECT_WORKER_QUERY_SECONDS="1")
    return crashed


def kill_hard(stack: LocalPrefect) -> None:
    """What a power cut (or kill -9 of everything) leaves behind: no process had a word."""
    runs = [pid for p in stack.processes for pid in descendants(p.pid)]
    for pid in [*runs, *(p.pid for p in stack.processes)]:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    for process in stack.processes:
        process.wait()
    stack.processes.clear()


async def run_hold(api_url: str, seconds: float) -> str:
    from prefect.deployments import run_deployment

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run = await run_deployment("hold/hold", parameters={"seconds": seconds}, timeout=0)
    return str(run.id)


async def state_of(api_url: str, run_id: str) -> Any:
    from prefect.client.orchestration import get_client

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            return (await client.read_flow_run(run_id)).state  # type: ignore[arg-type]


def wait_for_state(api_url: str, run_id: str, names: set[str], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        state = asyncio.run(state_of(api_url, run_id))
        if state and state.name in names:
            return state
        assert time.monotonic() < deadline, f"{run_id}: {state and state.name}, want {names}"
        time.sleep(1)


def test_a_killed_serve_leaves_no_run_running_and_the_next_run_gets_the_slot(
    home_settings: Settings, tmp_path: Path
) -> None:
    yaml = tmp_path / "prefect.yaml"
    yaml.write_text(HOLD_DEPLOYMENT)
    stack = LocalPrefect(home_settings, port=free_port(), log_dir=tmp_path / "logs")
    try:
        start(stack, yaml)
        stale = asyncio.run(run_hold(stack.api_url, 600))
        wait_for_state(stack.api_url, stale, {"Running"})
        kill_hard(stack)

        assert start(stack) == [stale]
        assert wait_for_state(stack.api_url, stale, {"Crashed"}).type.value == "CRASHED"
        following = asyncio.run(run_hold(stack.api_url, 600))
        wait_for_state(stack.api_url, following, {"Running"})  # not AwaitingConcurrencySlot

        stack.stop()  # graceful: the worker reports its run before the server goes
        stack.start_server()
        state = asyncio.run(state_of(stack.api_url, following))
        assert state.name == "Crashed", state  # said by the run itself, or by stop for it
        assert stack.crash_stale_runs() == []
    finally:
        stack.stop()
