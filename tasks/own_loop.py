"""Run async I/O work on an event loop of its own in a worker thread: uvloop where installed.

Sending mails and calling portals is CPU-bound in the protocol handling (aiosmtplib, aiohttp),
and on uvloop the same work goes over half again as fast as on the default loop
(bench/shipping_mails.py), whatever loop the caller (a Prefect task, the CLI) runs. Each portal
on its own loop also means one portal's database writes never stall another's requests.
The caller's loop only waits meanwhile; connections, callbacks and database writes all live on
the new loop, and an error raised there is raised here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def on_own_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return await asyncio.to_thread(run_loop, work)


def run_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`work()` on a new event loop in this thread, until it is done."""
    try:
        import uvloop
    except ImportError:  # not on every platform: the default loop does the same, slower
        return asyncio.run(work())
    return uvloop.run(work())
