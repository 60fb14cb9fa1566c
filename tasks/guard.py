"""The run guard: Prefect's deployment concurrency limit keeps runs of one deployment apart;
this database guard also covers runs started another way (CLI, another deployment, a second
worker or machine), for deliver runs per carrier and for confirmations per portal.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

from prefect.runtime import flow_run

from db.queries.locks import Holder, refresh, release, try_acquire
from db.session import session_scope

LOCK_TTL = timedelta(minutes=15)
RETRY_SECONDS = 0.5


class RunOverlap(RuntimeError):
    pass


def run_owner() -> str:
    run_id = flow_run.id or "no-run"
    return f"{run_id}@{socket.gethostname()}:{os.getpid()}"[:128]


def _try(db_url: str, name: str, owner: str, ttl: timedelta = LOCK_TTL) -> Holder | None:
    with session_scope(db_url) as session:
        return try_acquire(session, name=name, owner=owner, ttl=ttl)


def _overlap(name: str, holder: Holder) -> RunOverlap:
    return RunOverlap(
        f"another run holds {name} since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({holder.owner}); it is released when that run ends, or expires at "
        f"{holder.expires_at:%H:%M:%S} UTC if that run died"
    )


def _release(db_url: str, names: list[str], owner: str) -> None:
    if names:
        with session_scope(db_url) as session:
            release(session, names=names, owner=owner)


@contextmanager
def run_guard(db_url: str, names: list[str]) -> Iterator[RunGuard]:
    """Hold every named lock for the duration, or refuse at once (sorted: no deadlock)."""
    owner, held = run_owner(), []
    try:
        for name in sorted(set(names)):
            holder = _try(db_url, name, owner)
            if holder is not None:
                raise _overlap(name, holder)
            held.append(name)
        yield RunGuard(db_url, held, owner)
    finally:
        _release(db_url, held, owner)


@asynccontextmanager
async def waiting_run_guard(
    db_url: str, names: list[str], *, wait_seconds: float
) -> AsyncIterator[RunGuard]:
    """The same, waiting up to `wait_seconds` for a held lock without blocking the loop."""
    owner, held = run_owner(), []
    try:
        for name in sorted(set(names)):
            deadline = time.monotonic() + wait_seconds
            while (holder := _try(db_url, name, owner)) is not None:
                if time.monotonic() >= deadline:
                    raise _overlap(name, holder)
                await asyncio.sleep(RETRY_SECONDS)
            held.append(name)
        yield RunGuard(db_url, held, owner)
    finally:
        _release(db_url, held, owner)


class RunGuard:
    def __init__(self, db_url: str, names: list[str], owner: str) -> None:
        self.db_url, self.names, self.owner = db_url, names, owner

    def keep_alive(self) -> None:
        """Called between batches: a long run keeps its locks, a dead one loses them."""
        with session_scope(self.db_url) as session:
            refresh(session, names=self.names, owner=self.owner, ttl=LOCK_TTL)


@contextmanager
def short_lock(db_url: str, name: str, *, wait_seconds: float, ttl: timedelta) -> Iterator[None]:
    """One named lock around a short step of this thread (it blocks while waiting), for
    every process and machine on the database. Each call is an owner of its own, so two
    threads of one process keep apart too; a holder that died loses it after `ttl`."""
    owner = f"{uuid.uuid4().hex[:12]}@{socket.gethostname()}:{os.getpid()}"[:128]
    deadline = time.monotonic() + wait_seconds
    while (holder := _try(db_url, name, owner, ttl)) is not None:
        if time.monotonic() >= deadline:
            raise _overlap(name, holder)
        time.sleep(0.2)  # each try is a write transaction: not too often
    try:
        yield
    finally:
        _release(db_url, [name], owner)
