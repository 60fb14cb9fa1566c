"""Run a piece of a run in a process of its own: each portal's confirmations use a core each.

A deliver run is CPU-bound in one process (mails, then portal calls: aiohttp and the
connectors), so on a machine with several cores the portals' confirmations go to worker
processes, one per portal, side by side. The workers are forked from a forkserver that
imported the confirmation code once, started when the run begins, so a worker costs
milliseconds, not the second and a half of imports a fresh interpreter would.

What the workers share with the run, and what they must not outlive:

- the environment as it is at the call (settings, credentials, `LIEFERN_CRASH_AT`), not as it
  was when the forkserver started: it is handed over with every call;
- nothing else: each call gets a fresh worker (no engine, cache or connection is reused
  across calls), and the result comes back pickled;
- the run's life: a worker watches the run's process (a pidfd) and kills itself when the
  run has ended, so a run killed with SIGKILL leaves nothing behind that could still call a
  portal while the next run starts. (The forkserver cannot do it: every worker holds its
  keep-alive pipe, so it lives as long as they do.) A crash point reached in a worker kills
  the run's process first (core/crashpoints.py).

Only on Linux (forkserver and pidfd); elsewhere, and with
`LIEFERN_CONFIRM_IN_PROCESSES=false`, the work runs on a thread of the run's process instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from core import crashpoints

T = TypeVar("T")

# imported once by the forkserver, so that every worker starts with them loaded
PRELOAD = [
    "tasks.confirmations",
    "connectors.registry",
    "connectors.amazon.connector",
    "connectors.ebay.connector",
    "connectors.hood.connector",
    "connectors.kaufland.connector",
    "connectors.otto.connector",
    "connectors.rakuten.connector",
    "tasks.worker_preload",  # last: warms what the modules above load lazily
]
# Portals (5) with room. A worker serves one call and is replaced at once by a fresh fork.
# One call per worker also keeps clear of CPython's max_tasks_per_child deadlock
# (gh-115634, 3.11 to 3.13): it needs a worker that finished a call and stayed.
MAX_WORKERS = 8
WORKER_NICENESS = 10

_pool: ProcessPoolExecutor | None = None


def supported() -> bool:
    return (
        sys.platform == "linux"
        and hasattr(os, "pidfd_open")
        and "forkserver" in multiprocessing.get_all_start_methods()
    )


def enabled() -> bool:
    """Confirmations go to worker processes: supported here and not switched off."""
    from core.settings import get_settings

    return supported() and get_settings().confirm_in_processes


def warm_up() -> None:
    """Start the forkserver now (it imports the confirmation code while the run sends mails)."""
    if enabled():
        _context()
        from multiprocessing import forkserver

        forkserver.ensure_running()


async def in_own_process(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a fresh worker process; its result, or its exception, comes back here.
    `work` and its arguments must be picklable (a module-level function, plain values)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            MAX_WORKERS,
            mp_context=_context(),
            initializer=_join_run,
            initargs=(os.getpid(),),
            max_tasks_per_child=1,
        )
    pool = _pool
    try:
        # submit() forks the worker and waits for the forkserver, which may still be loading
        # the code: on a thread, so that the run's own loop (its mails) goes on meanwhile
        future = await asyncio.to_thread(pool.submit, _call, dict(os.environ), work, args)
        return await asyncio.wrap_future(future)
    except BrokenProcessPool:
        # a worker died without answering (killed, out of memory): the next call gets a new
        # pool; this one's work is in the ledger as attempted, as after any crash
        if _pool is pool:
            _pool = None
        raise


def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _join_run(run_pid: int) -> None:
    """In the worker, first thing: die with the run; a crash point kills the run too.

    Workers run at a lower priority than the run: its mails are the run's critical path (the
    portals of a carrier group wait for them), and where cores are short the portal work
    takes what the mails leave (a 10,000-order chain on 2 cores: 12.3-14.0 s before, 9.8 s)."""
    try:
        run = os.pidfd_open(run_pid)
    except ProcessLookupError:  # the run ended before this worker started
        os._exit(1)
    threading.Thread(target=_die_with, args=(run,), name="run-watch", daemon=True).start()
    os.nice(WORKER_NICENESS)
    crashpoints.kill_also(run_pid)


def _die_with(run: int) -> None:
    select.select([run], [], [])  # readable once the run's process has ended
    os.kill(os.getpid(), signal.SIGKILL)


def _call(environment: dict[str, str], work: Callable[..., T], args: tuple[Any, ...]) -> T:
    os.environ.clear()
    os.environ.update(environment)
    return work(*args)
