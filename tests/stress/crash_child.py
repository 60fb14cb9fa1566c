"""The process the crash tests kill: one round of the chain, in a child of a fork server.

Starting Python with prefect, SQLAlchemy and the connectors takes seconds; a fork server that
imported all of that once forks a fresh child per run in milliseconds. The child takes its
whole environment (database, SMTP, portals, credentials, LIEFERN_CRASH_AT) from the test.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from multiprocessing.context import ForkServerContext
from pathlib import Path

from tests.stress import chain

TRACKING_FILE = "LIEFERN_STRESS_TRACKING_FILE"
# imported once in the fork server, not again in every child
PRELOAD = (
    "flows.deliver",
    "connectors.amazon.connector",
    "connectors.ebay.connector",
    "connectors.kaufland.connector",
    "connectors.hood.connector",
    "connectors.rakuten.connector",
)

_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    """The fork server, started once per test session with the chain's modules loaded."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__, *PRELOAD])
    return _context


def run_round(env: dict[str, str]) -> None:
    """One round of the chain with exactly `env` as environment (the child's entry point)."""
    os.environ.clear()
    os.environ.update(env)
    from core.settings import get_settings, reset_settings

    reset_settings()
    tracking = Path(env[TRACKING_FILE]).read_bytes()
    asyncio.run(chain.one_round(get_settings().db_url, tracking, chain.RoundLog()))


def run_child(
    env: dict[str, str], *, kill_after: float | None = None, timeout: float = 120.0
) -> int:
    """Run one round in a child; SIGKILL it after `kill_after` seconds. The exit code."""
    process = context().Process(target=run_round, args=(env,), name="liefern-crash-child")
    process.start()
    if kill_after is not None:
        process.join(kill_after)
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    process.join(max(0.0, deadline - time.monotonic()))
    if process.exitcode is None:
        process.kill()
        process.join()
        raise AssertionError(f"the child did not finish within {timeout} s")
    assert process.exitcode is not None
    return process.exitcode
