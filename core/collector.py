"""The cyclic garbage collector during a run: the objects every run starts with stay out of it.

A run's process begins with a quarter of a million objects that live as long as it does: the
modules of Prefect, SQLAlchemy, pydantic and liefern, their classes and functions. Each full
collection walks all of them again, though none will ever be garbage. The process of a
10,000-order chain on PostgreSQL (import, deliver, poll) did four of them at ~95 ms each, a
tenth of its CPU, and it sends the mails: the run's critical path. In a forked confirmation
worker a full collection also writes to every page the worker shares with its forkserver, so
each one copies them.

`gc.freeze()` moves the objects that exist at the call to a generation the collector skips;
objects made later are collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def start_frozen() -> Iterator[None]:
    """Collector skips the objects that exist now, until the block ends.

    They go back to the collector afterwards, so a process that runs many flows (the tests, a
    served web app) does not keep a cycle that became garbage while it was frozen.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
